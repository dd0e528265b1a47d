from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adeline_infra import services
from adeline_infra import settings as settings_mod
from adeline_infra.settings import Settings

from .helpers import ROOT, base_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for `inv` subprocesses: isolated state, a test .env, random free ports."""
    return base_env(tmp_path)


def settings_from(env: dict[str, str]) -> Settings:
    return settings_mod.load(ROOT, environ=env)


@contextmanager
def running_broker(env: dict[str, str]) -> Iterator[Settings]:
    """A real mosquitto on the env's random ports (native backend), stopped afterwards."""
    s = settings_from(env)
    services.up(s, timeout=15)
    try:
        yield s
    finally:
        services.down(s)


@pytest.fixture
def native_broker(env: dict[str, str]) -> Iterator[Settings]:
    """A real mosquitto on random ports (native backend), ready (CONNACK) when the test starts."""
    with running_broker(env) as s:
        yield s


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: a connection to it is refused, and nobody can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# Every test has pytest-timeout's limit (`timeout` in pyproject.toml); a test on a real Docker
# engine gets this one unless it sets its own with `@pytest.mark.timeout(N)`: Compose and the
# engine's healthcheck clock make those legitimately slower, never unbounded.
DOCKER_TIMEOUT = 240


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("docker") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(DOCKER_TIMEOUT))
