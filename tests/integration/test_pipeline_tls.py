"""The secure broker and the real pipeline's client, which has no TLS: the pipeline comes in
through MQTT_LOCAL_PORT (plaintext, loopback only, same login) while the tasks use TLS.

The stand-in reads its broker only from config.yaml and its credentials from the environment,
as the real pipeline does (tests/integration/standin.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..conftest import running_broker
from ..helpers import base_env, free_port, inv_here
from .secure_setup import prepare
from .standin import ConfiguredPipeline
from .test_pipeline_config import write_config

pytestmark = pytest.mark.integration


def _doctor_rows(env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    result = inv_here("doctor", "--json", env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {row["name"]: row for row in json.loads(result.stdout)["checks"]}


def test_pipeline_without_tls_reaches_a_tls_broker_through_the_local_port(
    tmp_path: Path,
) -> None:
    local = free_port()
    workdir = tmp_path / "checkout"
    secure = prepare(base_env(tmp_path), tmp_path)
    secure["MQTT_LOCAL_PORT"] = str(local)
    secure["PIPELINE_CONFIG"] = str(write_config(workdir, local, host="127.0.0.1"))
    with running_broker(secure), ConfiguredPipeline(workdir, secure) as pipeline:
        pipeline.publish_status("running")
        paused = inv_here("control.pause", "--wait", "--json", env=secure)  # the tasks: over TLS
        assert paused.returncode == 0, paused.stderr
        assert json.loads(paused.stdout)["status"]["status"] == "paused"
        assert pipeline.next_command() == {"command": "pause"}

        _, rows = _doctor_rows(secure)
        assert rows["pipeline TLS"]["status"] == "ok"
        assert f"MQTT_LOCAL_PORT={local}" in rows["pipeline TLS"]["detail"]
        assert not [r for name, r in rows.items() if name.startswith("pipeline MQTT_BROKER")]


def test_doctor_names_the_local_port_when_the_pipeline_points_at_the_tls_port(
    tmp_path: Path,
) -> None:
    secure = prepare(base_env(tmp_path), tmp_path)
    secure["MQTT_LOCAL_PORT"] = str(free_port())
    tls_port = secure["MQTT_BROKER_PORT"]
    secure["PIPELINE_CONFIG"] = str(write_config(tmp_path / "checkout", int(tls_port)))
    code, rows = _doctor_rows(secure)
    assert code == 1
    row = rows["pipeline MQTT_BROKER_PORT"]
    assert row["status"] == "fail" and "MQTT_LOCAL_PORT" in row["detail"]
    assert tls_port in row["detail"]


def test_tls_without_a_local_port_warns_how_to_let_the_pipeline_in(tmp_path: Path) -> None:
    secure = prepare(base_env(tmp_path), tmp_path)
    secure["PIPELINE_CONFIG"] = str(
        write_config(tmp_path / "checkout", int(secure["MQTT_BROKER_PORT"]))
    )
    _, rows = _doctor_rows(secure)
    assert rows["pipeline TLS"]["status"] == "warn"
    assert "MQTT_LOCAL_PORT" in rows["pipeline TLS"]["fix"]
