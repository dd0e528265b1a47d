"""BROKER_BACKEND=external against a mosquitto this test runs itself, as a user's cluster would
be run by someone else: on 127.0.0.2 or ::1 (loopback, but not where our brokers listen), a random
port, TLS only, with a password. The tasks must wait for it, never stop it, and talk to it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra import mqtt
from adeline_infra.backends import native

from ..conftest import settings_from
from ..helpers import (
    assert_one_line_error,
    base_env,
    chosen_mosquitto,
    inv,
    inv_background,
    inv_here,
    wait_for_line,
)
from .secure_setup import prepare
from .standin import StandInPipeline, detection_payload

pytestmark = pytest.mark.integration


def _bindable(host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
    except OSError:
        return False
    return True


# A loopback address our brokers do not use: 127.0.0.2 (Linux, Windows), else ::1 (macOS has
# only 127.0.0.1 on lo0 unless aliased).
HOST = next((h for h in ("127.0.0.2", "::1") if _bindable(h)), "127.0.0.2")
FAMILY = socket.AF_INET6 if ":" in HOST else socket.AF_INET


def mosquitto_binary() -> str:
    # where the native backend finds it: PATH, Homebrew's sbin, %ProgramFiles%\mosquitto ...
    found = native.find_mosquitto(chosen_mosquitto())
    if found is None:
        pytest.skip("no mosquitto binary to play the external broker")
    return found


def external_conf(env: dict[str, str], tmp: Path) -> Path:
    """A broker configured by hand, not by this project: TLS + password on HOST only."""
    tls = Path(env["MQTT_TLS_DIR"])
    lines = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        lines.append("user root")  # else mosquitto drops to `mosquitto`, who cannot read 0600 keys
    lines += [
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {env['MOSQUITTO_PASSWD_FILE']}",
        "persistence false",
        "log_dest stderr",
        "sys_interval 1",
        f"listener {env['MQTT_BROKER_PORT']} {HOST}",
        f"cafile {tls / 'ca.crt'}",
        f"certfile {tls / 'server.crt'}",
        f"keyfile {tls / 'server.key'}",
        "",
    ]
    conf = tmp / "external.conf"
    conf.write_text("\n".join(lines), encoding="utf-8")
    return conf


@pytest.fixture
def xenv(tmp_path: Path) -> dict[str, str]:
    env = prepare(base_env(tmp_path, MQTT_BROKER_HOST=HOST), tmp_path)
    env["BROKER_BACKEND"] = "external"
    env["ADELINE_STATE_DIR"] = str(tmp_path / "state")
    return env


@pytest.fixture
def external(xenv: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The external broker, started only when the test asks (`start()` via the fixture's
    value); stopped here, by its pid, whatever the tasks did."""
    conf = external_conf(xenv, tmp_path)
    proc = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "external.log").open("wb"),
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_up_waits_for_it_down_and_clean_refuse(
    xenv: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # up is already knocking when the broker starts: a plain socket on the broker's address
    # takes up's first attempt (and drops it), then the broker starts in its place
    with socket.socket(FAMILY, socket.SOCK_STREAM) as stand_in:
        stand_in.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stand_in.bind((HOST, int(xenv["MQTT_BROKER_PORT"])))
        stand_in.listen(8)
        stand_in.settimeout(30)
        waiting = inv_background("services.up", "--timeout", "30", env=xenv)
        conn, _ = stand_in.accept()  # up is probing: nothing answers yet
        conn.close()
    broker = request.getfixturevalue("external")
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert f"external MQTT broker answers at mqtts://{HOST}:" in out
    assert broker.poll() is None
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())

    for args in (("services.down",), ("services.clean", "--yes"), ("services.restart",)):
        refused = inv(*args, env=xenv)
        assert_one_line_error(refused, "not run by this project", code=2)
    assert broker.poll() is None  # still running
    assert mqtt.probe(settings_from(xenv)).ok

    status = inv_here("services.status", "--json", env=xenv)
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert (info["backend"], info["healthy"]) == ("external", True)
    assert info["version"].startswith("2.")


def test_monitor_control_and_doctor_work_against_it(
    xenv: dict[str, str], external: subprocess.Popen[bytes]
) -> None:
    s = settings_from(xenv)
    assert mqtt.wait_ready(s, 20).ok
    with StandInPipeline(s) as pipeline:  # TLS + password, like our tools
        pipeline.publish_status("running")
        paused = inv_here("control.pause", "--wait", "--json", env=xenv)
        assert paused.returncode == 0, paused.stderr
        assert json.loads(paused.stdout)["status"]["status"] == "paused"
        assert pipeline.next_command() == {"command": "pause"}

        snap = inv_here("monitor.status", "--json", env=xenv)
        assert snap.returncode == 0, snap.stderr
        data = json.loads(snap.stdout)
        assert data["broker"]["reachable"] is True
        assert data["pipeline"]["status"] == "paused"

        proc = inv_background("monitor.data", "--json", "--count", "2", env=xenv)
        wait_for_line(proc.stderr, "listening to")
        for i in range(2):
            pipeline.publish(s.topic_detections, detection_payload(i))
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert len(out.splitlines()) == 2

    report = json.loads(inv_here("doctor", "--json", env=xenv).stdout)
    rows = {c["name"]: c for c in report["checks"]}
    assert report["backend"] == "external"
    assert rows["broker"]["status"] == "ok", rows["broker"]
    assert rows["local broker"]["status"] == "skip"
    assert "server certificate" not in rows  # not ours to check
    assert external.poll() is None


def test_up_against_nothing_fails_in_one_line(xenv: dict[str, str]) -> None:
    result = inv("services.up", "--timeout", "0.5", env=xenv)
    assert_one_line_error(result, "(external) did not answer")
