"""The Docker backend with Compose v2 and v1 on a real engine: the file is valid for both,
errors name the service and image, a switch between them is never called "already running",
a plugin that does not run falls back to v1 with a note.

The integration_docker nox session runs every Docker test under DOCKER_COMPOSE=v2 (CI's plugin
folder as DOCKER_CONFIG, or the machine's own plugin) and again under DOCKER_COMPOSE=v1 where
docker-compose is installed; the tests below that need a given Compose find v2 the same way
(ADELINE_COMPOSE_V2_CONFIG or .ci/docker-v2, else `docker compose` as installed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra.backends import docker as dk

from ..conftest import settings_from
from ..docker_helpers import IMAGE, docker_env, remove_project, unavailable
from ..helpers import ROOT, assert_one_line_error, base_env, free_port, inv, inv_here

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def _v2_config() -> Path | None:
    """CI's plugin folder (.ci/install-compose-v2.sh), when it holds the plugin."""
    folder = Path(os.environ.get("ADELINE_COMPOSE_V2_CONFIG") or ROOT / ".ci" / "docker-v2")
    return folder if (folder / "cli-plugins" / "docker-compose").is_file() else None


def _v2_env() -> dict[str, str] | None:
    """An environment where `docker compose` runs: CI's plugin folder, else the machine's own
    plugin (GitHub's runners, Docker Desktop); None when v2 is not installed."""
    folder = _v2_config()
    if folder is not None:
        return {**os.environ, "DOCKER_CONFIG": str(folder)}
    docker = shutil.which("docker")
    if docker is None:
        return None
    result = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60
    )
    return dict(os.environ) if result.returncode == 0 else None


def _each_compose(name: str) -> tuple[list[str], dict[str, str]]:
    """(argv, env) of Compose `name`. v2 missing fails under ADELINE_REQUIRE_DOCKER=1 (it is
    what users have); v1 missing skips (GitHub's runners no longer ship it)."""
    if name == "v2":
        env = _v2_env()
        docker = shutil.which("docker")
        if env is None or docker is None:
            unavailable("Compose v2 is not installed (sh .ci/install-compose-v2.sh .ci/docker-v2)")
            raise AssertionError("unreachable")
        return [docker, "compose"], env
    legacy = shutil.which("docker-compose")
    if legacy is None:
        pytest.skip("Compose v1 (docker-compose) is not installed")
    return [legacy], dict(os.environ)


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_compose_file_is_valid(kind: str) -> None:
    argv, env = _each_compose(kind)
    for profile in ([], ["--profile", "go2rtc"]):
        result = subprocess.run(
            [*argv, "-f", str(ROOT / dk.COMPOSE_FILE), *profile, "config", "--services"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        services = set(result.stdout.split())
        # v1 lists profiled services too; v2 only those of the active profiles.
        assert services == {"mosquitto", "go2rtc"} if profile else "mosquitto" in services


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_secure_override_is_valid(kind: str, tmp_path: Path) -> None:
    argv, env = _each_compose(kind)
    s = settings_from(
        base_env(
            tmp_path,
            MQTT_ALLOW_ANONYMOUS="false",
            MQTT_USE_TLS="true",
            MQTT_TLS_REQUIRE_CLIENT_CERT="true",
            MOSQUITTO_PASSWD_FILE=str(tmp_path / "auth" / "passwd"),
            MQTT_TLS_DIR=str(tmp_path / "tls"),
        )
    )
    override = tmp_path / dk.SECURE_OVERRIDE
    override.write_text(json.dumps(dk.secure_override(s)), encoding="utf-8")
    result = subprocess.run(
        [*argv, "-f", str(ROOT / dk.COMPOSE_FILE), "-f", str(override), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "/run/adeline/tls" in result.stdout and "$SYS/broker/uptime" in result.stdout


# --- services.* -----------------------------------------------------------------------------


@pytest.fixture
def denv(engine: object, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = docker_env(tmp_path)
    try:
        yield env
    finally:
        remove_project(engine, env["COMPOSE_PROJECT_NAME"])  # containers, network, volumes


def _status(env: dict[str, str]) -> dict[str, object]:
    result = inv_here("services.status", "--json", env=env)
    return dict(json.loads(result.stdout))


def test_an_unpullable_go2rtc_image_is_named_and_the_broker_still_starts(
    denv: dict[str, str],
) -> None:
    image = "adeline-test/no-such-image:0"
    env = dict(denv, GO2RTC_IMAGE=image, GO2RTC_RTSP_PORT=str(free_port()))
    env["GO2RTC_API_URL"] = f"http://localhost:{free_port()}"
    result = inv("services.up", "--with", "go2rtc", env=env, timeout=300)
    lines = [assert_one_line_error(result)]
    assert "go2rtc" in lines[0] and image in lines[0] and "GO2RTC_IMAGE" in lines[0]
    assert "broker" in lines[0]  # ... was started without it
    # The broker the user asked for runs (the pull failure happened before anything started).
    status = _status(denv)
    assert status["running"] is True, status


def test_uptime_comes_from_the_container_before_the_broker_publishes_its_own(
    denv: dict[str, str],
) -> None:
    assert inv_here("services.up", env=denv).returncode == 0
    started = time.monotonic()
    # $SYS/broker/uptime is republished every 10 s: until then it says 0 (or a second).
    deadline = started + 30
    while True:
        status = _status(denv)
        uptime = status["uptime_s"]
        assert isinstance(uptime, int)
        if time.monotonic() - started >= 3:
            break
        assert time.monotonic() < deadline
        time.sleep(0.5)  # the condition is the passing of time itself
    assert uptime >= 2, status


def test_a_compose_switch_that_recreates_the_broker_is_not_already_running(
    denv: dict[str, str],
) -> None:
    v2 = _v2_env()
    if v2 is None or not shutil.which("docker-compose"):
        pytest.skip("needs Compose v1 and v2 (sh .ci/install-compose-v2.sh)")
    extras = dict(denv, GO2RTC_IMAGE=IMAGE, GO2RTC_RTSP_PORT=str(free_port()))
    extras["GO2RTC_API_URL"] = f"http://localhost:{free_port()}"
    v1_env = dict(extras, DOCKER_COMPOSE="v1")
    assert inv("services.up", env=v1_env, timeout=120).returncode == 0
    before = _status(v1_env)["detail"]
    v2_env = dict(extras, DOCKER_COMPOSE="v2")
    if "DOCKER_CONFIG" in v2:
        v2_env["DOCKER_CONFIG"] = v2["DOCKER_CONFIG"]
    result = inv("services.up", "--with", "go2rtc", env=v2_env, timeout=120)
    assert result.returncode == 0, result.stderr
    after = _status(v2_env)["detail"]
    recreated = before["id"] != after["id"]  # type: ignore[index]
    assert ("already running" in result.stdout) == (not recreated), (result.stdout, recreated)
    assert inv("services.down", env=v2_env).returncode == 0


def test_a_plugin_that_does_not_run_falls_back_to_v1_with_a_note(
    denv: dict[str, str], tmp_path: Path
) -> None:
    if not shutil.which("docker-compose"):
        pytest.skip("Compose v1 (docker-compose) is not installed")
    config = tmp_path / "docker-config"
    plugin = config / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")  # mode 0644: does not run
    env = dict(denv, DOCKER_CONFIG=str(config), DOCKER_COMPOSE="auto")
    result = inv("services.up", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(notes) == 1 and str(plugin) in notes[0] and "v1" in notes[0], result.stderr
    doctor = inv_here("doctor", "--json", env=env)
    rows = {row["name"]: row for row in json.loads(doctor.stdout)["checks"]}
    compose_row = rows["docker compose"]
    assert "docker-compose" in compose_row["detail"] and str(plugin) in compose_row["detail"]


def test_engine_down_is_one_line_for_doctor_too(tmp_path: Path) -> None:
    host = f"tcp://127.0.0.1:{free_port()}"
    env = base_env(tmp_path, BROKER_BACKEND="docker", DOCKER_HOST=host)
    result = inv("doctor", "--json", env=env, timeout=120)
    rows = {row["name"]: row for row in json.loads(result.stdout)["checks"]}
    assert rows["docker engine"]["status"] == "fail"
    assert host in rows["docker engine"]["detail"]
