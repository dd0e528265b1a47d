from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import (
    services,
)
from adeline_infra.errors import ConfigError

from ..helpers import pipeline_settings


@pytest.mark.parametrize("name", ["a\nb", "nope", "../go2rtc"])
def test_an_unknown_with_service_is_refused_on_every_backend(name: str) -> None:
    with pytest.raises(ConfigError, match="unknown service") as caught:
        services.check_extras(frozenset({name}))
    assert "\n" not in str(caught.value)


def test_external_is_chosen_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adeline_infra import backends
    from adeline_infra.backends import docker as docker_backend
    from adeline_infra.backends.external import ExternalBackend
    from adeline_infra.backends.native import NativeBackend

    s = pipeline_settings(tmp_path, None, BROKER_BACKEND="external")
    backend, reason = backends.resolve(s)
    assert isinstance(backend, ExternalBackend) and not backend.managed
    with pytest.raises(ConfigError, match="not run by this project"):
        backend.stop()
    with pytest.raises(ConfigError, match="not run by this project"):
        backend.clean()
    monkeypatch.setattr(NativeBackend, "state", lambda self: backend.state().__class__("n", False))
    monkeypatch.setattr(docker_backend, "engine_answers", lambda: False)
    auto, _ = backends.resolve(pipeline_settings(tmp_path, None, BROKER_BACKEND="auto"))
    assert auto.name == "native"


@pytest.mark.parametrize(
    ("native_runs", "engine", "chosen", "why"),
    [
        (True, True, "native", "native broker is running"),
        (False, True, "docker", "a Docker engine answers"),
        (False, False, "native", "no Docker engine answers"),
    ],
)
def test_auto_asks_the_engine_while_it_looks_for_the_native_broker(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    native_runs: bool,
    engine: bool,
    chosen: str,
    why: str,
) -> None:
    import threading

    from adeline_infra import backends
    from adeline_infra.backends import docker as docker_backend
    from adeline_infra.backends.base import BrokerState
    from adeline_infra.backends.native import NativeBackend

    asked = threading.Event()

    def engine_answers() -> bool:
        asked.set()
        return engine

    def state(self: NativeBackend) -> BrokerState:
        assert asked.wait(5), "the engine is asked before the native look ends"
        return BrokerState("native", native_runs)

    monkeypatch.setattr(NativeBackend, "state", state)
    monkeypatch.setattr(docker_backend, "engine_answers", engine_answers)
    backend, reason = backends.resolve(pipeline_settings(tmp_path, None, BROKER_BACKEND="auto"))
    assert backend.name == chosen and why in reason


@pytest.mark.parametrize("native_runs", [True, False])
def test_auto_with_a_native_broker_on_record_looks_at_it_before_asking_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native_runs: bool
) -> None:
    from adeline_infra import backends
    from adeline_infra.backends import docker as docker_backend
    from adeline_infra.backends.base import BrokerState
    from adeline_infra.backends.native import NativeBackend

    asked: list[str] = []
    monkeypatch.setattr(NativeBackend, "on_record", lambda self: True)
    monkeypatch.setattr(
        NativeBackend,
        "state",
        lambda self: asked.append("native") or BrokerState("native", native_runs),
    )
    monkeypatch.setattr(docker_backend, "engine_answers", lambda: asked.append("docker") or True)
    backend, _ = backends.resolve(pipeline_settings(tmp_path, None, BROKER_BACKEND="auto"))
    assert asked == (["native"] if native_runs else ["native", "docker"])
    assert backend.name == ("native" if native_runs else "docker")
