"""services.* against a real mosquitto through the native backend, as a user runs them."""

from __future__ import annotations

import json

import pytest

from adeline_infra import mqtt

from ..conftest import settings_from
from ..helpers import inv, inv_here

pytestmark = pytest.mark.integration


def test_up_then_connack_immediately(env: dict[str, str]) -> None:
    try:
        result = inv("services.up", env=env)
        assert result.returncode == 0, result.stderr
        assert "ready" in result.stdout
        assert mqtt.probe(settings_from(env), timeout=2).ok
    finally:
        inv_here("services.down", env=env)


def test_status_exit_codes_and_json(env: dict[str, str]) -> None:
    stopped = inv("services.status", "--json", env=env)
    assert stopped.returncode == 3
    assert json.loads(stopped.stdout)["running"] is False
    try:
        assert inv_here("services.up", env=env).returncode == 0
        running = inv_here("services.status", "--json", env=env)
        assert running.returncode == 0, running.stderr
        data = json.loads(running.stdout)
        assert data["backend"] == "native"
        assert data["running"] is True and data["healthy"] is True
        assert data["version"].startswith("2.")
    finally:
        inv_here("services.down", env=env)


def test_probe_and_sys_snapshot_on_a_running_broker(native_broker) -> None:  # type: ignore[no-untyped-def]
    result = mqtt.probe(native_broker, timeout=2)
    assert result.ok, result.reason
    sys_tree = mqtt.retained(native_broker, ["$SYS/broker/version"])
    assert sys_tree["$SYS/broker/version"].startswith(b"mosquitto version 2.")


def test_probe_says_refused_when_nothing_listens(env: dict[str, str]) -> None:
    result = mqtt.probe(settings_from(env), timeout=2)
    assert not result.ok
    assert "inv services.up" in result.reason


def test_status_shows_go2rtc_when_configured(env: dict[str, str]) -> None:
    from ..unit.test_go2rtc import Go2rtcHandler, serve

    with serve(Go2rtcHandler) as url:
        env["GO2RTC_API_URL"] = url
        result = inv_here("services.status", "--json", env=env)
        table = inv_here("services.status", env=env)
    assert result.returncode == 3  # the broker is stopped; go2rtc is reported all the same
    g = json.loads(result.stdout)["go2rtc"]
    assert g["reachable"] is True and g["version"]
    assert {s["name"] for s in g["streams"]} == {"camera", "idle", "busy"}
    assert "secret" not in result.stdout  # camera credentials in producer URLs never shown
    assert "go2rtc" in table.stdout and "camera" in table.stdout


def test_status_leaves_go2rtc_out_when_not_configured(env: dict[str, str]) -> None:
    result = inv_here("services.status", "--json", env=env)
    assert "go2rtc" not in json.loads(result.stdout)
