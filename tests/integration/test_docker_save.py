"""`services.down` under Docker never says "data kept" when the broker's save did not happen.

The broker is stopped on its own first, so the stopped container tells how it ended: killed by
the engine after the grace period (exit 137), or a save its log reports as failed (a data
volume on a tmpfs too small for the database).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra import mqtt

from ..conftest import settings_from
from ..docker_helpers import docker_env, remove_project
from ..helpers import assert_one_line_error, inv

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.fixture
def denv(engine: object, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = docker_env(tmp_path, MOSQUITTO_STOP_TIMEOUT="1")
    try:
        yield env
    finally:
        inv("services.clean", "--yes", env=env)
        remove_project(engine, env["COMPOSE_PROJECT_NAME"])


def _broker_container(engine: object, project: str) -> object:
    filters = {
        "label": [f"com.docker.compose.project={project}", "com.docker.compose.service=mosquitto"]
    }
    (container,) = engine.containers.list(filters=filters)  # type: ignore[attr-defined]
    return container


def _up(env: dict[str, str]) -> None:
    result = inv("services.up", env=env, timeout=120)
    assert result.returncode == 0, result.stderr


def test_a_broker_killed_by_the_engine_is_not_reported_as_kept(
    engine: object, denv: dict[str, str]
) -> None:
    _up(denv)
    container = _broker_container(engine, denv["COMPOSE_PROJECT_NAME"])
    # A stopped process cannot answer SIGTERM: the engine kills it after the grace period.
    container.kill(signal="SIGSTOP")  # type: ignore[attr-defined]
    result = inv("services.down", env=denv, timeout=120)
    assert "data kept" not in result.stdout
    assert_one_line_error(result, "killed after 1 s: changes since the last save are lost")
    # The cleanup still happened: nothing of the project runs.
    assert inv("services.status", env=denv).returncode == 3


@pytest.fixture
def small_data_volume(engine: object, denv: dict[str, str]) -> Iterator[None]:
    """The broker's data volume on a 256 KiB tmpfs: made by a first up/down, then a tmpfs is
    mounted over its folder on the engine's host, which the next container start mounts."""
    _up(denv)
    assert inv("services.down", env=denv, timeout=120).returncode == 0
    name = f"{denv['COMPOSE_PROJECT_NAME']}_mosquitto_data"
    volume = engine.volumes.get(name)  # type: ignore[attr-defined]
    folder = Path(volume.attrs["Mountpoint"])
    if not folder.is_dir():
        pytest.skip(f"the engine's volumes are not on this host ({folder}), e.g. Docker Desktop")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0777", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield
    finally:
        inv("services.down", env=denv, timeout=120)
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def test_a_failed_save_is_reported_with_its_reason(
    small_data_volume: None, denv: dict[str, str]
) -> None:
    denv["MOSQUITTO_STOP_TIMEOUT"] = "20"
    _up(denv)
    s = settings_from(denv)
    with mqtt.session(s, purpose="test") as client:
        for i in range(4):
            info = client.publish(f"test/big/{i}", b"x" * 200_000, qos=1, retain=True)
            info.wait_for_publish(timeout=10)
            assert info.is_published()
    result = inv("services.down", env=denv, timeout=120)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "data kept" not in result.stdout
    assert "save at shutdown failed: no space left on the device" in result.stderr


def test_a_clean_stop_still_says_data_kept(denv: dict[str, str]) -> None:
    _up(denv)
    result = inv("services.down", env=denv, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "MQTT broker stopped (data kept)" in result.stdout
