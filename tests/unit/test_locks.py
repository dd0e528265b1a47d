from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from adeline_infra import locks
from adeline_infra.errors import ConfigError, InfraError

from ..helpers import make_settings


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_lock_that_cannot_be_created_fails_at_once_instead_of_polling() -> None:
    # filelock takes "cannot create" for "held by someone" and polls until the timeout.
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
