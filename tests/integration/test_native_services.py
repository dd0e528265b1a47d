"""services.* against a real mosquitto through the native backend, as a user runs them."""

from __future__ import annotations

import json

import pytest

from adeline_infra import mqtt

from ..conftest import settings_from
from ..helpers import inv

pytestmark = pytest.mark.integration


def test_up_then_connack_immediately(env: dict[str, str]) -> None:
    try:
        result = inv("services.up", env=env)
        assert result.returncode == 0, result.stderr
        assert "ready" in result.stdout
        assert mqtt.probe(settings_from(env), timeout=2).ok
    finally:
        inv("services.down", env=env)


def test_status_exit_codes_and_json(env: dict[str, str]) -> None:
    stopped = inv("services.status", "--json", env=env)
    assert stopped.returncode == 3
    assert json.loads(stopped.stdout)["running"] is False
    try:
        assert inv("services.up", env=env).returncode == 0
        running = inv("services.status", "--json", env=env)
        assert running.returncode == 0, running.stderr
        data = json.loads(running.stdout)
        assert data["backend"] == "native"
        assert data["running"] is True and data["healthy"] is True
        assert data["version"].startswith("2.")
    finally:
        inv("services.down", env=env)


def test_probe_and_sys_snapshot_on_a_running_broker(shared_broker) -> None:  # type: ignore[no-untyped-def]
    result = mqtt.probe(shared_broker, timeout=2)
    assert result.ok, result.reason
    sys_tree = mqtt.retained(shared_broker, ["$SYS/broker/version"])
    assert sys_tree["$SYS/broker/version"].startswith(b"mosquitto version 2.")


def test_probe_says_refused_when_nothing_listens(env: dict[str, str]) -> None:
    result = mqtt.probe(settings_from(env), timeout=2)
    assert not result.ok
    assert "inv services.up" in result.reason
