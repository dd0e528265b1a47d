"""Races and crashes around services.up/down/restart/clean and auth edits (issue 10).

Each test drives real `inv` subprocesses on a real mosquitto with its own state folder and ports,
as users do in two terminals at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from adeline_infra import mqtt, passwd

from ..conftest import settings_from
from ..helpers import inv, inv_background
from .lifecycle_helpers import await_true, conf_of, kill_all, ours, status_json

pytestmark = pytest.mark.integration


@pytest.fixture
def lenv(env: dict[str, str]) -> Iterator[dict[str, str]]:
    yield env
    inv("services.down", "--force", env=env)
    kill_all(env)


def _all_at_once(
    env: dict[str, str], *tasks: tuple[str, ...]
) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(len(tasks)) as pool:
        return list(pool.map(lambda args: inv(*args, env=env), tasks))


@pytest.mark.parametrize("trial", range(3))
def test_concurrent_ups_leave_one_tracked_broker(lenv: dict[str, str], trial: int) -> None:
    results = _all_at_once(lenv, *[("services.up",)] * 4)
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
    assert sum("ready at" in r.stdout for r in results) == 1
    running = ours(lenv)
    assert len(running) == 1
    code, info = status_json(lenv)
    assert code == 0, info
    assert info["detail"]["pid"] == running[0].pid  # type: ignore[index]
    down = inv("services.down", env=lenv)
    assert down.returncode == 0 and "data kept" in down.stdout, down.stderr
    assert ours(lenv) == []


def test_up_while_down_runs_ends_in_a_true_state(lenv: dict[str, str]) -> None:
    assert inv("services.up", env=lenv).returncode == 0
    results = _all_at_once(lenv, ("services.down",), ("services.up",))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    code, info = status_json(lenv)
    running = ours(lenv)
    # whichever went second acted on what the first left, and status says what is true
    if code == 0:
        assert [p.pid for p in running] == [info["detail"]["pid"]]  # type: ignore[index]
        assert mqtt.probe(settings_from(lenv)).ok
    else:
        assert code == 3 and running == []


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_kill_9_of_inv_during_up_leaves_status_telling_the_truth(lenv: dict[str, str]) -> None:
    proc = inv_background("services.up", env=lenv)
    try:
        # the broker exists: kill `inv` now, before or after it wrote the record
        assert await_true(lambda: bool(ours(lenv))), "no broker was started"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate(timeout=30)
    code, info = status_json(lenv)
    running = ours(lenv)
    if code == 0:
        assert [p.pid for p in running] == [info["detail"]["pid"]]  # type: ignore[index]
    else:
        assert code in (1, 3), info
        if code == 3:
            assert running == []
    again = inv("services.up", env=lenv)
    assert again.returncode == 0, again.stderr
    assert "in use" not in again.stderr
    assert len(ours(lenv)) == 1
    assert inv("services.down", env=lenv).returncode == 0
    assert ours(lenv) == []


def test_an_untracked_broker_of_ours_is_adopted(lenv: dict[str, str]) -> None:
    assert inv("services.up", env=lenv).returncode == 0
    pid = ours(lenv)[0].pid
    (Path(lenv["ADELINE_STATE_DIR"]) / "native" / "broker.json").unlink()  # inv died before it
    code, info = status_json(lenv)
    assert code == 0 and info["detail"]["pid"] == pid  # type: ignore[index]
    again = inv("services.up", env=lenv)
    assert again.returncode == 0 and "already running" in again.stdout, again.stderr
    down = inv("services.down", env=lenv)
    assert down.returncode == 0 and "data kept" in down.stdout
    assert ours(lenv) == []


def test_a_recorded_process_that_does_not_run_our_config_is_never_stopped(
    lenv: dict[str, str],
) -> None:
    """pid and start time match (a reused pid), but it is not our mosquitto: left alone."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = Path(lenv["ADELINE_STATE_DIR"]) / "native" / "broker.json"
        record.parent.mkdir(parents=True)
        create_time = psutil.Process(stranger.pid).create_time()
        record.write_text(
            f'{{"pid": {stranger.pid}, "create_time": {create_time}, "port": 1}}', "utf-8"
        )
        assert status_json(lenv)[0] == 3
        down = inv("services.down", env=lenv)
        assert down.returncode == 0 and "was not running" in down.stdout
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait(10)


def test_restart_with_auto_keeps_a_running_native_broker_native(lenv: dict[str, str]) -> None:
    assert inv("services.up", env=lenv).returncode == 0
    auto = dict(lenv, BROKER_BACKEND="auto")
    restarted = inv("services.restart", env=auto)
    assert restarted.returncode == 0, restarted.stderr
    assert "(native," in restarted.stdout
    code, info = status_json(auto)
    assert code == 0 and info["backend"] == "native"
    assert len(ours(lenv)) == 1


def test_concurrent_add_user_loses_no_user(lenv: dict[str, str]) -> None:
    names = [f"user{i}" for i in range(6)]
    with ThreadPoolExecutor(len(names)) as pool:
        results = list(
            pool.map(
                lambda n: inv("auth.add-user", n, "--password-stdin", env=lenv, input="pw\n"),
                names,
            )
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    s = settings_from(lenv)
    assert sorted(passwd.PasswordFile.load(s.passwd_file).users()) == names


def test_concurrent_gen_passwd_loses_no_user(tmp_path: Path) -> None:
    import sys

    from ..helpers import ROOT

    path = tmp_path / "passwd"
    script = str(ROOT / "scripts" / "gen_passwd.py")

    def add(name: str) -> int:
        return subprocess.run(
            [sys.executable, script, "--password-stdin", str(path), name],
            input="pw\n",
            capture_output=True,
            text=True,
            timeout=60,
        ).returncode

    names = [f"u{i}" for i in range(6)]
    with ThreadPoolExecutor(len(names)) as pool:
        assert list(pool.map(add, names)) == [0] * len(names)
    assert sorted(passwd.PasswordFile.load(path).users()) == names


@pytest.mark.skipif(os.name == "nt", reason="SIGSTOP is POSIX")
def test_a_broker_slower_than_the_grace_period_is_never_called_kept(
    lenv: dict[str, str],
) -> None:
    assert inv("services.up", env=lenv).returncode == 0
    broker = ours(lenv)[0]
    broker.suspend()  # it cannot save now: stands for a save longer than the grace period
    down = inv("services.down", env=dict(lenv, MOSQUITTO_STOP_TIMEOUT="1"))
    assert down.returncode == 1
    assert "data kept" not in down.stdout
    line = down.stderr.strip()
    assert "\n" not in line and "killed after 1 s: changes since the last save are lost" in line
    assert ours(lenv) == [] and status_json(lenv)[0] == 3


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_a_loopback_only_listener_is_seen(env: dict[str, str], address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    port = int(env["MQTT_BROKER_PORT"])
    try:
        squatter = socket.socket(family, socket.SOCK_STREAM)
        squatter.bind((address, port))
    except OSError:
        pytest.skip(f"cannot listen on {address} here")
    with squatter:
        squatter.listen()
        result = inv("services.up", env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and f"port {port} is already in use on {address}" in line
    assert ours(env) == []


def test_state_folder_that_is_a_file_is_one_line(env: dict[str, str]) -> None:
    Path(env["ADELINE_STATE_DIR"]).write_text("not a folder")
    for task in ("services.up", "services.down", "services.clean"):
        result = inv(task, "--yes" if task == "services.clean" else "--backend=native", env=env)
        assert result.returncode == 2, (task, result.stderr)
        line = result.stderr.strip()
        assert "\n" not in line and "is a file, not a folder" in line


def test_read_only_state_folder_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)])
    except FileNotFoundError:  # Windows
        pytest.skip("no mount command here: a read-only tmpfs needs Linux")
    if mounted.returncode:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        env["ADELINE_STATE_DIR"] = str(ro / "state")
        result = inv("services.up", env=env)
        assert result.returncode == 1
        line = result.stderr.strip()
        assert "\n" not in line and "read-only" in line and "Traceback" not in line
    finally:
        subprocess.run(["umount", str(ro)])


def test_mosquitto_bin_not_executable_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    fake = tmp_path / "mosquitto"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o644)
    env["MOSQUITTO_BIN"] = str(fake)
    result = inv("services.up", env=env)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "is not executable" in line


def test_clean_refuses_a_data_symlink(env: dict[str, str], tmp_path: Path) -> None:
    elsewhere = tmp_path / "precious"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("x")
    native = Path(env["ADELINE_STATE_DIR"]) / "native"
    native.mkdir(parents=True)
    (native / "data").symlink_to(elsewhere, target_is_directory=True)
    result = inv("services.clean", "--yes", env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and "symbolic link" in line
    assert (elsewhere / "keep.txt").exists()


def test_logs_tail_and_rotation(lenv: dict[str, str]) -> None:
    log = Path(lenv["ADELINE_STATE_DIR"]) / "native" / "mosquitto.log"
    log.parent.mkdir(parents=True)
    with open(log, "w", encoding="utf-8") as f:
        for i in range(40_000):
            f.write(f"old line {i:08d} {'x' * 40}\n")  # ~2.2 MB
    lenv["MOSQUITTO_LOG_MAX_MB"] = "1"
    tail = inv("services.logs", "--tail", "2", env=lenv)
    assert tail.stdout.splitlines() == [f"old line {i:08d} {'x' * 40}" for i in (39_998, 39_999)]
    assert inv("services.up", env=lenv).returncode == 0
    rotated = log.with_name("mosquitto.log.1")
    assert rotated.stat().st_size > 2_000_000
    assert log.stat().st_size < 100_000
    assert "starting" in inv("services.logs", "--tail", "50", env=lenv).stdout
    assert conf_of(lenv)
