"""The native broker's lifecycle, as a user drives it with `inv`: idempotence, crashes, data."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import psutil
import pytest

from adeline_infra import mqtt

from ..conftest import settings_from
from ..helpers import assert_one_line_error, inv, inv_here, running_task

pytestmark = pytest.mark.integration


def _pid(env: dict[str, str]) -> int:
    status = json.loads(inv_here("services.status", "--json", env=env).stdout)
    return int(status["detail"]["pid"])


def _mosquittos_for(env: dict[str, str]) -> list[psutil.Process]:
    """This state folder's brokers: `-c` names its config, in full (POSIX) or relative to the
    broker's working folder (Windows, see native.broker_argv)."""
    folder = Path(env["ADELINE_STATE_DIR"]) / "native"
    found = []
    for proc in psutil.process_iter(["cmdline", "status", "cwd"]):
        cmd = proc.info["cmdline"] or []
        ours = str(folder / "mosquitto.conf") in cmd or (
            "mosquitto.conf" in cmd and proc.info["cwd"] and Path(proc.info["cwd"]) == folder
        )
        if ours and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


@pytest.fixture
def started(env: dict[str, str]):
    result = inv_here("services.up", env=env)
    assert result.returncode == 0, result.stderr
    yield env
    inv_here("services.down", env=env)


def test_up_twice_is_one_broker(started: dict[str, str]) -> None:
    first = _pid(started)
    again = inv_here("services.up", env=started)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert _pid(started) == first
    assert [p.pid for p in _mosquittos_for(started)] == [first]


def test_retained_message_survives_down_up(started: dict[str, str]) -> None:
    s = settings_from(started)
    with mqtt.session(s, "test-pub") as client:
        info = client.publish("adeline/test/retained", b"kept", qos=1, retain=True)
        info.wait_for_publish(timeout=5)
        assert info.is_published()
    assert inv_here("services.down", env=started).returncode == 0
    assert inv_here("services.status", env=started).returncode == 3
    assert inv_here("services.up", env=started).returncode == 0
    assert mqtt.retained(s, ["adeline/test/#"]) == {"adeline/test/retained": b"kept"}


def test_kill_9_is_seen_as_stopped_and_up_recovers(started: dict[str, str]) -> None:
    pid = _pid(started)
    proc = psutil.Process(pid)
    proc.kill()  # SIGKILL; TerminateProcess on Windows
    proc.wait(timeout=10)
    status = inv_here("services.status", "--json", env=started)
    assert status.returncode == 3, status.stdout
    assert json.loads(status.stdout)["running"] is False
    again = inv_here("services.up", env=started)
    assert again.returncode == 0, again.stderr
    assert "ready" in again.stdout
    assert mqtt.probe(settings_from(started)).ok


def test_reused_pid_is_not_mistaken_for_the_broker(started: dict[str, str]) -> None:
    """broker.json pointing at a live process that is not our broker: stopped, not running."""
    record_path = Path(started["ADELINE_STATE_DIR"]) / "native" / "broker.json"
    inv_here("services.down", env=started)
    record = {"pid": os.getpid(), "create_time": 1.0, "port": 1, "ws_port": 2}
    record_path.write_text(json.dumps(record), encoding="utf-8")
    status = inv_here("services.status", "--json", env=started)
    assert status.returncode == 3
    assert inv_here("services.down", env=started).returncode == 0  # and it does not kill us


def test_busy_port_gives_one_clear_line(env: dict[str, str]) -> None:
    port = int(env["MQTT_BROKER_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("", port))
        squatter.listen()
        result = inv("services.up", env=env)
    lines = [assert_one_line_error(result)]
    assert f"port {port} is already in use" in lines[0]
    assert "MQTT_BROKER_PORT" in lines[0]
    assert "Traceback" not in result.stderr
    assert inv_here("services.status", env=env).returncode == 3


@pytest.mark.parametrize(
    ("line", "variable"),
    [
        ("MQTT_BROKER_PORT=abc", "MQTT_BROKER_PORT"),
        ("MQTT_BROKER_PORT=70000", "MQTT_BROKER_PORT"),
        ("MQTT_WS_PORT=-1", "MQTT_WS_PORT"),
        ("BROKER_BACKEND=foo", "BROKER_BACKEND"),
        ("MQTT_USE_TLS=maybe", "MQTT_USE_TLS"),
        ("MQTT_ALLOW_ANONYMOUS=perhaps", "MQTT_ALLOW_ANONYMOUS"),
    ],
)
def test_bad_env_file_value_exits_2_naming_the_variable(
    env: dict[str, str], line: str, variable: str
) -> None:
    Path(env["ADELINE_ENV_FILE"]).write_text(line + "\n", encoding="utf-8")
    env = {k: v for k, v in env.items() if k != variable}  # let the .env file speak
    # the command line (a new process: one line, exit 2), then the same check in-process
    for run, task in ((inv, "services.up"), (inv_here, "services.status")):
        result = run(task, env=env)
        assert_one_line_error(result, variable, code=2)
        assert "Traceback" not in result.stderr


def test_clean_without_yes_deletes_nothing(started: dict[str, str]) -> None:
    s = settings_from(started)
    with mqtt.session(s, "test-pub") as client:
        client.publish("adeline/test/keep", b"1", qos=1, retain=True).wait_for_publish(5)
    refused = inv_here("services.clean", env=started)  # no terminal: cannot ask, so it refuses
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert mqtt.probe(s).ok  # still running
    inv_here("services.down", env=started)
    inv_here("services.up", env=started)
    assert mqtt.retained(s, ["adeline/test/#"]) == {"adeline/test/keep": b"1"}
    cleaned = inv_here("services.clean", "--yes", env=started)
    assert cleaned.returncode == 0, cleaned.stderr
    assert inv_here("services.status", env=started).returncode == 3
    inv_here("services.up", env=started)
    assert mqtt.retained(s, ["adeline/test/#"]) == {}


def test_logs_follow_ends_cleanly_on_ctrl_c(started: dict[str, str]) -> None:
    with running_task("services.logs", "--follow", "--tail", "5", env=started) as (out, _err):
        out.wait_for("running", 15)  # the broker's start line arrives from the tail
        # A new client connecting shows up while we follow.
        assert mqtt.probe(settings_from(started)).ok
        out.wait_for("adeline-probe", 15)


def test_missing_binary_says_how_to_install(env: dict[str, str], tmp_path: Path) -> None:
    env["MOSQUITTO_BIN"] = str(tmp_path / "no-such-mosquitto")
    result = inv("services.up", env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and "was not found" in line and "install" in line


def test_auto_without_docker_or_mosquitto_names_both_ways_out(
    env: dict[str, str], tmp_path: Path
) -> None:
    env.update(
        BROKER_BACKEND="auto",
        DOCKER_HOST=f"unix://{tmp_path / 'no-engine.sock'}",
        MOSQUITTO_BIN=str(tmp_path / "no-such-mosquitto"),
    )
    result = inv("services.up", env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and "install" in line and "start Docker" in line


def test_broker_that_dies_at_start_shows_its_last_log_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    if os.name == "nt":  # a batch file stands in for mosquitto.exe
        broken = tmp_path / "broken-mosquitto.cmd"
        broken.write_text("@echo Error: Unable to open config file\r\n@exit /b 1\r\n")
    else:
        broken = tmp_path / "broken-mosquitto"
        broken.write_text("#!/bin/sh\necho 'Error: Unable to open config file'\nexit 1\n")
        broken.chmod(0o755)
    env["MOSQUITTO_BIN"] = str(broken)
    result = inv("services.up", "--timeout", "5", env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line
    assert "exited before it answered" in line and "Unable to open config file" in line
