"""services.* through the Docker backend on a real engine, as a user runs them (`inv ...`).

The same behaviours as the native backend's tests. A test that changes the broker's state has
its own compose project (COMPOSE_PROJECT_NAME) and random host ports; the tests that only look
at a running broker share one per module (`docker_broker`). Whatever a project made (containers,
network, volumes) is removed through the engine's API at teardown.

Without an engine (or without the broker image) these tests skip and say why; with
ADELINE_REQUIRE_DOCKER=1 (CI, after .ci/start-docker.sh) they fail instead, so a CI run
can never pass by skipping them.
"""

from __future__ import annotations

import json
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adeline_infra import mqtt

from ..conftest import settings_from
from ..docker_helpers import IMAGE, docker_env, remove_project
from ..helpers import (
    ROOT,
    assert_one_line_error,
    base_env,
    free_port,
    inv,
    inv_background,
    inv_here,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.fixture
def denv(engine: object, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for `inv`: the Docker backend, its own compose project and ports.

    Teardown removes the project's containers, network and volumes through the engine's API:
    what `services.clean --yes` would do, without a Compose call per test.
    """
    env = docker_env(tmp_path)
    try:
        yield env
    finally:
        remove_project(engine, env["COMPOSE_PROJECT_NAME"])


@pytest.fixture(scope="module")
def docker_broker(
    engine: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], subprocess.CompletedProcess[str]]]:
    """A broker started once with `inv services.up` for the tests that only look at it:
    (its environment, what `services.up` printed)."""
    env = docker_env(tmp_path_factory.mktemp("docker-broker"))
    try:
        yield env, _up(env)
    finally:
        remove_project(engine, env["COMPOSE_PROJECT_NAME"])


def _status(env: dict[str, str]) -> tuple[int, dict[str, object]]:
    result = inv_here("services.status", "--json", env=env)
    return result.returncode, json.loads(result.stdout)


def _up(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = inv_here("services.up", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result


# --- the behaviours -----------------------------------------------------------------------------


def test_up_answers_connack_at_once(docker_broker: tuple[dict[str, str], Any]) -> None:
    env, result = docker_broker
    assert "ready" in result.stdout and "docker" in result.stdout
    assert mqtt.probe(settings_from(env), timeout=2).ok


def test_up_and_status_do_not_load_the_docker_sdk(denv: dict[str, str]) -> None:
    """The SDK costs ~0.1 s to import: the engine is asked over its socket directly."""
    for task in ("services.up", "services.status", "services.down"):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "invoke", task],
            cwd=ROOT,
            env=denv,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (task, result.stderr[-2000:])
        loaded = re.findall(r"\|\s+(docker(?:\.\S+)?)\s*$", result.stderr, re.MULTILINE)
        assert loaded == [], (task, loaded[:5])


def test_up_is_idempotent(docker_broker: tuple[dict[str, str], Any]) -> None:
    env, _ = docker_broker
    first = _status(env)[1]["detail"]
    again = inv_here("services.up", env=env)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert _status(env)[1]["detail"]["id"] == first["id"]  # type: ignore[index]


def test_up_with_other_settings_asks_for_a_restart(denv: dict[str, str]) -> None:
    _up(denv)
    changed = dict(denv, MQTT_CONNECT_TIMEOUT="4", MQTT_WS_PORT=str(free_port()))
    result = inv_here("services.up", env=changed)
    assert result.returncode == 1
    assert "services.restart" in result.stderr
    restarted = inv_here("services.restart", env=changed)
    assert restarted.returncode == 0, restarted.stderr
    assert "already running" in _up(changed).stdout


def test_status_of_a_stopped_broker(denv: dict[str, str]) -> None:
    result = inv("services.status", "--json", env=denv)  # the command line's exit code
    assert result.returncode == 3
    data = json.loads(result.stdout)
    assert data["backend"] == "docker" and data["running"] is False


def test_status_json_and_healthcheck(
    docker_broker: tuple[dict[str, str], Any], engine: object
) -> None:
    denv, _ = docker_broker
    code, data = _status(denv)
    assert code == 0
    assert data["backend"] == "docker"
    assert data["running"] is True and data["healthy"] is True
    assert str(data["version"]).startswith("2.")
    detail = data["detail"]
    assert isinstance(detail, dict)
    assert detail["project"] == denv["COMPOSE_PROJECT_NAME"]
    assert detail["container_state"] == "running"
    assert detail["health"] in ("starting", "healthy")
    # The compose healthcheck (an MQTT round trip inside the container) turns healthy.
    container = engine.containers.get(detail["id"])  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while container.attrs["State"]["Health"]["Status"] != "healthy":
        assert container.attrs["State"]["Health"]["Status"] != "unhealthy"
        assert time.monotonic() < deadline, "healthcheck never turned healthy"
        time.sleep(0.5)  # Docker runs the check on its own clock (every 5 s)
        container.reload()
    assert _status(denv)[1]["detail"]["health"] == "healthy"  # type: ignore[index]


def test_logs_show_the_start_line_while_it_runs(
    docker_broker: tuple[dict[str, str], Any],
) -> None:
    denv, _ = docker_broker
    # The shared broker has logged healthchecks since it started: a tail that reaches back to
    # its start line.
    tail = inv_here("services.logs", "--tail", "1000", env=denv)
    assert tail.returncode == 0, tail.stderr
    assert "mosquitto version 2." in tail.stdout and "running" in tail.stdout

    if sys.platform == "win32":
        return
    follow = inv_background("services.logs", "--follow", "--tail", "1000", env=denv)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in follow.stdout],  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        _wait_for_line(lines, "running", 30)
        # A new client shows up in the followed log while the broker keeps running.
        mqtt.probe(settings_from(denv), timeout=2)
        _wait_for_line(lines, "New client connected", 30)
        follow.send_signal(signal.SIGINT)  # Ctrl+C
        assert follow.wait(timeout=15) == 0
        assert "Traceback" not in follow.stderr.read()  # type: ignore[union-attr]
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()


def _wait_for_line(lines: queue.Queue[str], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"no log line with {text!r} within {timeout} s") from None
        if text in line:
            return line


def test_retained_message_survives_down_up_and_clean_removes_it(denv: dict[str, str]) -> None:
    s = settings_from(denv)
    topic = f"adeline/test/{secrets.token_hex(4)}"
    _up(denv)
    with mqtt.session(s, "test") as client:
        client.publish(topic, b"kept", qos=1, retain=True).wait_for_publish(5)

    down = inv_here("services.down", env=denv)
    assert down.returncode == 0, down.stderr
    assert "data kept" in down.stdout
    assert _status(denv)[0] == 3
    _up(denv)
    assert mqtt.retained(s, [topic]) == {topic: b"kept"}

    cleaned = inv_here("services.clean", "--yes", env=denv)
    assert cleaned.returncode == 0, cleaned.stderr
    assert "volume" in cleaned.stdout
    _up(denv)
    assert mqtt.retained(s, [topic]) == {}


def test_busy_port_is_one_clear_line(denv: dict[str, str]) -> None:
    with socket.socket() as holder:
        holder.bind(("", int(denv["MQTT_BROKER_PORT"])))
        holder.listen(1)
        result = inv("services.up", env=denv)
    assert_one_line_error(result, f"port {denv['MQTT_BROKER_PORT']} is already in use")


def test_with_go2rtc_starts_the_profile_and_down_removes_it(
    denv: dict[str, str], engine: object
) -> None:
    # go2rtc's image cannot be pulled here: any local image stands in for it, because what is
    # tested is the wiring (profile started on request, published ports, removed by down).
    env = dict(
        denv,
        GO2RTC_IMAGE=IMAGE,
        GO2RTC_RTSP_PORT=str(free_port()),
        GO2RTC_API_URL=f"http://localhost:{free_port()}",
    )
    _up(env, "--with", "go2rtc")
    label = {"label": f"com.docker.compose.project={env['COMPOSE_PROJECT_NAME']}"}
    services = {
        c.labels["com.docker.compose.service"]
        for c in engine.containers.list(all=True, filters=label)  # type: ignore[attr-defined]
    }
    assert services == {"mosquitto", "go2rtc"}
    assert inv_here("services.down", env=env).returncode == 0
    assert engine.containers.list(all=True, filters=label) == []  # type: ignore[attr-defined]


def test_unknown_extra_service_is_a_usage_error(denv: dict[str, str]) -> None:
    result = inv("services.up", "--with", "nope", env=denv)
    assert result.returncode == 2
    assert "go2rtc" in result.stderr


# --- without an engine ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["unix:///nonexistent.sock", "tcp"])
def test_engine_down_is_one_line_naming_docker(tmp_path: Path, where: str) -> None:
    host = f"tcp://127.0.0.1:{free_port()}" if where == "tcp" else where
    env = base_env(tmp_path, BROKER_BACKEND="docker", DOCKER_HOST=host)
    for task in ("services.up", "services.status", "services.down"):
        result = inv(task, env=env)
        assert_one_line_error(result, "Docker engine", host)


# The compose-file validity tests, under Compose v2 and v1: test_docker_compose_versions.py
