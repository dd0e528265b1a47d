"""The broker's state on a full file system: never a false "data kept", never lost data.

A small tmpfs mounted by the test (this machine and CI run as root; elsewhere the tests skip,
saying why).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra import mqtt

from ..conftest import settings_from
from ..helpers import inv
from .lifecycle_helpers import kill_all, ours, status_json

pytestmark = pytest.mark.integration

PAYLOAD = b"r" * 20_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
        )
    except FileNotFoundError:  # Windows
        pytest.skip("no mount command here: a 1 MB tmpfs needs Linux")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs here (needs root): {done.stderr.strip()!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def disk_env(env: dict[str, str], small_disk: Path) -> Iterator[dict[str, str]]:
    env["ADELINE_STATE_DIR"] = str(small_disk / "state")
    env["MOSQUITTO_STOP_TIMEOUT"] = "5"
    yield env
    inv("services.down", "--force", env=env)
    kill_all(env)


def _publish(env: dict[str, str], prefix: str, count: int) -> None:
    with mqtt.session(settings_from(env), "test-fill") as client:
        for i in range(count):
            info = client.publish(f"adeline/{prefix}/{i}", PAYLOAD, qos=1, retain=True)
            info.wait_for_publish(timeout=5)
            assert info.is_published()


def _fill(disk: Path, leave: int) -> Path:
    """Fill the file system until `leave` bytes are free."""
    import shutil

    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_full_disk_down_refuses_or_fails_loudly_and_keeps_the_last_save(
    disk_env: dict[str, str], small_disk: Path
) -> None:
    assert inv("services.up", env=disk_env).returncode == 0
    _publish(disk_env, "saved", 10)  # ~200 KB
    first = inv("services.down", env=disk_env)
    assert first.returncode == 0 and "data kept" in first.stdout, first.stderr

    assert inv("services.up", env=disk_env).returncode == 0
    _publish(disk_env, "later", 10)
    filler = _fill(small_disk, leave=40_000)

    refused = inv("services.down", env=disk_env)
    assert refused.returncode == 1
    line = refused.stderr.strip()
    assert "\n" not in line and "not enough free space" in line and "--force" in line
    assert status_json(disk_env)[0] == 0  # still running: nothing lost yet

    forced = inv("services.down", "--force", env=disk_env)
    assert "data kept" not in forced.stdout
    if forced.returncode == 0:  # the save fit after all: it must be complete
        expected = {f"adeline/later/{i}" for i in range(10)}
    else:
        assert forced.returncode == 1
        line = forced.stderr.strip()
        assert "\n" not in line and "no space left on the device holding" in line, line
        expected = set()
    assert ours(disk_env) == []

    filler.unlink()
    back = inv("services.up", env=disk_env)
    assert back.returncode == 0, back.stderr
    kept = mqtt.retained(settings_from(disk_env), ["adeline/#"], timeout=5)
    assert {f"adeline/saved/{i}" for i in range(10)} <= set(kept)  # everything saved before
    assert expected <= set(kept)
    assert all(v == PAYLOAD for v in kept.values())


def test_full_disk_during_up_is_one_line_and_leaves_no_broker(
    disk_env: dict[str, str], small_disk: Path
) -> None:
    _fill(small_disk, leave=0)
    result = inv("services.up", env=disk_env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "no space left" in line, line
    assert ours(disk_env) == []
    assert status_json(disk_env)[0] == 3


def test_full_disk_restart_refuses_naming_restart_and_keeps_the_broker_running(
    disk_env: dict[str, str], small_disk: Path
) -> None:
    assert inv("services.up", env=disk_env).returncode == 0
    pid = status_json(disk_env)[1]["detail"]["pid"]  # type: ignore[index]
    _publish(disk_env, "kept", 10)
    _fill(small_disk, leave=40_000)

    refused = inv("services.restart", env=disk_env)
    assert refused.returncode == 1
    line = refused.stderr.strip()
    assert "\n" not in line and "not enough free space" in line, line
    assert "services.restart --force" in line, line  # not `down --force`: that would stop it
    assert "data kept" not in refused.stdout
    code, info = status_json(disk_env)
    assert code == 0 and info["detail"]["pid"] == pid  # type: ignore[index]
