from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def native_broker(env: dict[str, str]) -> Iterator[Settings]:
    """A real mosquitto on random ports (native backend), ready (CONNACK) when the test starts."""
    s = settings_from(env)
    services.up(s, timeout=15)
    try:
        yield s
    finally:
        services.down(s)


@pytest.fixture
def shared_broker(tmp_path: Path) -> Iterator[Settings]:
    """The broker the `integration` nox session started (ADELINE_TEST_BROKER=host:port), reused
    as it is; without one, a broker of our own. For tests that leave no retained state behind."""
    import os

    shared = os.environ.get("ADELINE_TEST_BROKER")
    if not shared:
        env = base_env(tmp_path)
        s = settings_from(env)
        services.up(s, timeout=15)
        try:
            yield s
        finally:
            services.down(s)
        return
    host, _, port = shared.rpartition(":")
    yield settings_from(base_env(tmp_path, MQTT_BROKER_HOST=host, MQTT_BROKER_PORT=port))
