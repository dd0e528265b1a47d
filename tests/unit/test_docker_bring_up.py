"""What `services.up` asks the engine before `compose up` (Docker backend): nothing on the way.

The one look (`container inspect` by the names Compose gives) runs beside `compose up -d
--no-recreate`; what it saw decides afterwards. The engine and compose are replaced by
recorders: the subject is which calls are made, in which order, not what Docker does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from adeline_infra.backends import docker as dk
from adeline_infra.backends.docker import broker_setup
from adeline_infra.backends.docker.backend import DockerBackend
from adeline_infra.backends.docker.engine import Container
from adeline_infra.errors import InfraError

from ..helpers import make_settings


class Recorder:
    """A fake engine and compose that log every call."""

    def __init__(self, seen: dict[str, Any] | None) -> None:
        self.seen = seen
        self.calls: list[str] = []

    def inspect(self, ids: list[str]) -> list[Container]:
        self.calls.append("inspect")
        return [Container(self.seen)] if self.seen else []

    def containers(self, labels: list[str]) -> list[Container]:
        self.calls.append("ps")
        return []

    def compose(self, *action: str, **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append("compose " + " ".join(action))
        return subprocess.CompletedProcess(list(action), 0, "", "")


def backend(tmp_path: Path, seen: dict[str, Any] | None) -> tuple[DockerBackend, Recorder]:
    s = make_settings(tmp_path, BROKER_BACKEND="docker", COMPOSE_PROJECT_NAME="p")
    rec = Recorder(seen)
    b = DockerBackend(s, engine=rec)  # type: ignore[arg-type]
    b.compose = rec.compose  # type: ignore[method-assign]
    return b, rec


def container(b: DockerBackend, status: str, fingerprint: str | None = None) -> dict[str, Any]:
    want = broker_setup.fingerprint(b.settings, broker_setup.render_config(b.settings))
    labels = {
        "com.docker.compose.project": "p",
        "com.docker.compose.service": dk.SERVICE,
        broker_setup.FINGERPRINT_LABEL: fingerprint or want,
    }
    return {
        "Id": "c" * 64,
        "Name": "/p-mosquitto-1",
        "State": {"Status": status, "StartedAt": "2024-01-02T03:04:05Z"},
        "Config": {"Labels": labels, "Image": "eclipse-mosquitto:2.0"},
        "RestartCount": 1,
    }


def test_from_down_compose_is_the_only_call_on_the_way(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)
    assert b.bring_up() is False
    assert "ps" not in rec.calls  # the label search the old look fell back to
    assert rec.calls.count("inspect") == 1
    assert "compose up -d --no-recreate" in rec.calls


def test_a_running_broker_with_these_settings_is_left_as_it_is(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)
    rec.seen = container(b, "running")
    assert b.bring_up() is True
    assert rec.calls.count("compose up -d --no-recreate") == 1 and "compose up -d" not in rec.calls


def test_a_running_broker_with_other_settings_is_the_mismatch_error(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)
    rec.seen = container(b, "running", fingerprint="old")
    with pytest.raises(InfraError, match="services.restart"):
        b.bring_up()
    assert "compose up -d" not in rec.calls  # --no-recreate left it alone


def test_a_stopped_container_of_older_settings_is_replaced(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)
    rec.seen = container(b, "exited", fingerprint="old")
    assert b.bring_up() is False
    assert rec.calls[-1] == "compose up -d"  # recreated with the current settings


def test_an_engine_that_does_not_answer_is_the_error_not_composes_wording(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)

    def down(ids: list[str]) -> list[Container]:
        raise InfraError("the Docker engine at unix:///x does not answer")

    def failing(*action: str, **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(action), 1, "", "unable to get image")

    rec.inspect = down  # type: ignore[method-assign]
    b.compose = failing  # type: ignore[method-assign]
    with pytest.raises(InfraError, match="Docker engine"):
        b.bring_up()
