"""`inv doctor` as a user runs it, against a real mosquitto (native backend, random ports)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from adeline_infra.settings import Settings

from ..helpers import inv, inv_here

pytestmark = pytest.mark.integration


def doctor_json(env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    result = inv_here("doctor", "--json", env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def rows(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {row["name"]: row for row in report["checks"]}


def test_broker_stopped_can_still_run(env: dict[str, str]) -> None:
    code, report, _ = doctor_json(env)
    assert code == 0, report
    assert report["ok"] is True and report["backend"] == "native"
    by_name = rows(report)
    assert by_name["mosquitto"]["status"] == "ok"
    assert by_name["broker"]["status"] == "warn"
    assert by_name["broker"]["fix"] == "`inv services.up`"
    assert by_name[f"MQTT port {env['MQTT_BROKER_PORT']}"]["status"] == "ok"
    assert by_name["certificates"]["status"] == "skip"
    assert by_name["password file"]["status"] == "skip"
    assert {row["status"] for row in report["checks"]} <= {"ok", "warn", "skip"}


def test_running_broker_answers_and_holds_its_ports(
    env: dict[str, str], native_broker: Settings
) -> None:
    code, report, _ = doctor_json(env)
    assert code == 0, report
    by_name = rows(report)
    assert by_name["broker"]["status"] == "ok"
    assert "answers CONNACK" in by_name["broker"]["detail"]
    for name in (
        f"MQTT port {native_broker.mqtt_port}",
        f"WebSockets port {native_broker.ws_port}",
    ):
        assert by_name[name]["status"] == "ok"
        assert "this checkout's native broker" in by_name[name]["detail"]


def test_bad_env_value_is_a_failing_row_naming_the_variable(env: dict[str, str]) -> None:
    del env["MQTT_BROKER_PORT"]  # so the .env file's value is the one that counts
    Path(env["ADELINE_ENV_FILE"]).write_text("MQTT_BROKER_PORT=eighteen\n", encoding="utf-8")
    code, report, stderr = doctor_json(env)
    assert code == 1
    failing = [row for row in report["checks"] if row["status"] == "fail"]
    assert [row["name"] for row in failing] == ["setting MQTT_BROKER_PORT"]
    assert "eighteen" in failing[0]["detail"]
    assert stderr.strip().count("\n") == 0 and "MQTT_BROKER_PORT" in stderr

    table = inv("doctor", env=env)  # the table too: a row, not a crash
    assert table.returncode == 1
    assert "MQTT_BROKER_PORT" in table.stdout and "Traceback" not in table.stderr


def test_port_held_by_another_program_fails(env: dict[str, str]) -> None:
    port = int(env["MQTT_BROKER_PORT"])
    env["MQTT_CONNECT_TIMEOUT"] = "0.5"  # the squatter accepts but never answers CONNECT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("", port))
        squatter.listen()
        code, report, _ = doctor_json(env)
    assert code == 1
    row = rows(report)[f"MQTT port {port}"]
    assert row["status"] == "fail" and "is already in use" in row["detail"]
    assert "MQTT_BROKER_PORT" in row["fix"]


def test_missing_mosquitto_binary_fails_for_the_native_backend(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["MOSQUITTO_BIN"] = str(tmp_path / "no-such-mosquitto")
    code, report, _ = doctor_json(env)
    assert code == 1
    row = rows(report)["mosquitto"]
    assert row["status"] == "fail" and "MOSQUITTO_BIN" in row["detail"] and row["fix"]


def test_table_output(env: dict[str, str]) -> None:
    result = inv_here("doctor", env=env)
    assert result.returncode == 0, result.stderr
    assert "inv doctor" in result.stdout and "mosquitto" in result.stdout
    assert "ok: the native backend can run" in result.stdout


def write_ca_and_server(tls: Path, days: int) -> None:
    """A CA and a server certificate for localhost/127.0.0.1 (what `inv tls.certs` makes)."""
    from adeline_infra import certs, files

    ca = certs.CA.create(days=365)
    server = ca.issue_server(("localhost", "127.0.0.1"), days=days)
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "ca.crt").write_bytes(ca.cert_pem())
    (tls / "server.crt").write_bytes(server.cert_pem())
    files.write_atomic(tls / "server.key", server.key_pem())


def test_tls_broker_certificates_and_connack_over_tls(env: dict[str, str], tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    env.update(MQTT_USE_TLS="true", MQTT_TLS_DIR=str(tls))
    code, report, _ = doctor_json(env)
    assert code == 1  # TLS asked for, no certificates yet
    assert rows(report)["CA certificate"]["status"] == "fail"
    assert "inv tls.certs" in rows(report)["CA certificate"]["fix"]

    write_ca_and_server(tls, days=10)
    try:
        assert inv_here("services.up", env=env).returncode == 0
        code, report, _ = doctor_json(env)
        assert code == 0, report
        by_name = rows(report)
        assert by_name["CA certificate"]["status"] == "ok"
        assert by_name["server certificate"]["status"] == "warn"  # expires within 30 days
        assert "expires in" in by_name["server certificate"]["detail"]
        assert by_name["broker"]["status"] == "ok" and "TLS on" in by_name["broker"]["detail"]
    finally:
        inv_here("services.down", env=env)
