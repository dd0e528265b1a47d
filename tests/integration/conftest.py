from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..docker_helpers import engine_client
from ..helpers import UNDER_WINE


@pytest.fixture(scope="session")
def engine() -> Any:
    """A live Docker engine's SDK client (with the broker image and Compose), else skip."""
    return engine_client()


# What `nox -s wine` cannot run: its mosquitto.exe (Debian's source cross-compiled with mingw)
# has neither TLS nor WebSockets. Ctrl+Break skips in tests/helpers.interrupt. The workflow's
# Windows runner runs all of these.
_NO_TLS = "TLS: the mosquitto.exe built for Wine has none (Windows runner only)"
_NO_WEBSOCKETS = "WebSockets: the mosquitto.exe built for Wine has none (Windows runner only)"
WINE_CANNOT = {
    "test_pipeline_tls.py": _NO_TLS,
    "test_tls_mismatch.py": _NO_TLS,
    "test_secure_broker.py": _NO_TLS,
    "test_monitor_control_secure.py": _NO_TLS,
    "test_doctor.py::test_tls_": _NO_TLS,
    "test_doctor.py::test_running_broker_answers_and_holds_its_ports": _NO_WEBSOCKETS,
    "test_json_contract.py::test_json_keys_stay[tls.": _NO_TLS,
    "test_network_surface.py": _NO_WEBSOCKETS + "; and TLS",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not UNDER_WINE:
        return
    for item in items:
        for where, reason in WINE_CANNOT.items():
            if where in item.nodeid:
                item.add_marker(pytest.mark.skip(reason=f"under Wine: {reason}"))
                break


@pytest.fixture
def docker_surface(engine: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The Docker backend with its own compose project and ports; removed afterwards."""
    from ..docker_helpers import docker_env, remove_project

    env = docker_env(tmp_path)
    try:
        yield env
    finally:
        remove_project(engine, env["COMPOSE_PROJECT_NAME"])  # containers, network, volumes
