from __future__ import annotations

import errno
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from adeline_infra import locks
from adeline_infra.errors import ConfigError, InfraError

from ..helpers import make_settings


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_lock_that_cannot_be_created_fails_at_once_instead_of_polling() -> None:
    # "cannot create" is not "held by someone": no polling until the timeout.
    lock = locks.file_lock(Path("/proc/version.lock"), "test")
    with pytest.raises(InfraError, match="cannot create the lock file"), lock:
        pass


def test_state_folder_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        locks.state_folder(make_settings(tmp_path))


def test_a_second_caller_waits_says_for_whom_and_gives_up_in_one_line(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locks.file_lock(lock, "services.up"):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        said: list[str] = []
        with (
            pytest.raises(InfraError) as info,
            locks.file_lock(lock, "services.down", waiting=said.append, timeout=0.2),
        ):
            pass
        assert said and "services.up, pid" in said[0]
        assert "services.up, pid" in str(info.value) and "\n" not in str(info.value)
    finally:
        release.set()
        thread.join(30)
    with locks.file_lock(lock, "services.down", timeout=5):
        pass  # free again once the first is done


def _hold(lock: Path) -> subprocess.Popen[str]:
    """Another process that holds `lock` from "held" on its stdout until a line on its stdin."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from adeline_infra import locks\n"
            "with locks.file_lock(Path(sys.argv[1]), 'services.up'):\n"
            "    print('held', flush=True); sys.stdin.readline()",
            str(lock),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_another_process_holding_the_lock_is_waited_for(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = _hold(lock)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        said: list[str] = []
        with (
            pytest.raises(InfraError, match="has held the lock"),
            locks.file_lock(lock, "services.down", waiting=said.append, timeout=0.2),
        ):
            pass
        assert said and f"pid {holder.pid}" in said[0]
        holder.stdin.write("\n")
        holder.stdin.flush()
        with locks.file_lock(lock, "services.down", timeout=30):
            pass  # the holder let go: ours now
    finally:
        holder.kill()
        holder.wait(30)


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = _hold(lock)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(30)
    with locks.file_lock(lock, "services.up", timeout=0):
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="O_NOFOLLOW is POSIX's")
def test_a_symlink_planted_where_the_lock_goes_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me")
    (tmp_path / "x.lock").symlink_to(target)
    with (
        pytest.raises(InfraError, match="cannot create the lock file"),
        locks.file_lock(tmp_path / "x.lock", "auth.add-user"),
    ):
        pass
    assert target.read_text() == "keep me"


@pytest.mark.parametrize(
    ("code", "platform", "held"),
    [
        (errno.EWOULDBLOCK, "linux", True),
        (errno.EACCES, "darwin", True),
        (errno.ENOLCK, "linux", False),  # NFS without lockd: refused, said at once
        (errno.EDEADLK, "win32", True),
        (errno.ENOENT, "win32", True),  # Wine's _locking leaves a stale errno (seen in CI)
        (0, "win32", True),
    ],
)
def test_which_lock_failures_mean_held(code: int, platform: str, held: bool) -> None:
    assert locks._is_held(OSError(code, "x"), platform) is held
