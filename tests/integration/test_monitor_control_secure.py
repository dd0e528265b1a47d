"""monitor.* and control.* against a broker that requires a user and speaks TLS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import running_broker, settings_from
from ..helpers import assert_one_line_error, inv, inv_background, inv_here, wait_for_line
from . import secure_setup
from .standin import StandInPipeline, detection_payload

pytestmark = pytest.mark.integration


@pytest.fixture
def secure_env(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real mosquitto with password file + TLS (files from secure_setup, see its docstring)."""
    secured = secure_setup.prepare(env, tmp_path)
    with running_broker(secured):
        yield secured


def test_status_data_and_control_with_auth_and_tls(secure_env: dict[str, str]) -> None:
    s = settings_from(secure_env)
    with StandInPipeline(s) as pipeline:
        pipeline.publish_status("running")
        status = inv_here("monitor.status", "--json", env=secure_env)
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["broker"]["endpoint"].startswith("mqtts://")
        assert data["pipeline"]["status"] == "running"

        proc = inv_background("monitor.data", "--json", "--count", "1", env=secure_env)
        wait_for_line(proc.stderr, "listening to")
        pipeline.publish(s.topic_detections, detection_payload(1))
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert json.loads(out)["frame"]["frame_id"] == 1

        sent = inv_here("control.pause", "--wait", env=secure_env)
        assert sent.returncode == 0, sent.stderr
        assert pipeline.next_command() == {"command": "pause"}
        assert "pipeline status: paused" in sent.stdout


def test_wrong_password_is_one_line_exit_1(secure_env: dict[str, str]) -> None:
    bad = {**secure_env, "MQTT_PASSWORD": "wrong"}
    for args in (("monitor.status",), ("control.pause",), ("monitor.data", "--count", "1")):
        result = inv(*args, env=bad)
        assert_one_line_error(result, "refused", "MQTT_USERNAME/MQTT_PASSWORD")
        assert "wrong" not in result.stderr  # the password never appears


def test_no_tls_against_a_tls_listener_is_one_line_exit_1(secure_env: dict[str, str]) -> None:
    # The TLS listener ignores a plain CONNECT: the CONNACK wait ends at the connect timeout.
    plain = {**secure_env, "MQTT_USE_TLS": "false", "MQTT_CONNECT_TIMEOUT": "0.5"}
    result = inv("control.status", env=plain)
    assert_one_line_error(result, "MQTT broker at")
