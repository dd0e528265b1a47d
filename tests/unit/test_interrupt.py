"""Ctrl+C ends a foreground child with 130 on every OS (Windows: STATUS_CONTROL_C_EXIT)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adeline_infra import procs


@pytest.mark.parametrize(
    ("returncode", "code"),
    [
        (0, 0),
        (1, 1),
        (3, 3),
        (-2, 130),
        (-9, 137),
        (-15, 143),
        (0xC000013A, 130),
        (-1073741510, 130),
    ],
)
def test_exit_code_as_a_shell_reports_it(returncode: int, code: int) -> None:
    assert procs.exit_code(returncode) == code


@pytest.mark.parametrize("poll", [False, True])
def test_wait_interruptible_returns_the_code_and_honours_the_timeout(poll: bool) -> None:
    """The Windows way (short waits) and the POSIX way give the same answers."""
    slow = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            procs.wait_interruptible(slow, timeout=0.3, poll=poll)
        assert slow.poll() is None
        assert slow.stdin is not None
        slow.stdin.close()  # now it ends, with code 0
        assert procs.wait_interruptible(slow, poll=poll) == 0
    finally:
        slow.kill()
        slow.wait(10)
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    assert procs.wait_interruptible(done, timeout=30, poll=poll) == 7


def test_waiting_in_steps_lets_a_pending_ctrl_c_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows the interpreter raises KeyboardInterrupt between two short waits."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    calls = []
    real_wait = child.wait

    def wait(timeout: float | None = None) -> int:
        calls.append(timeout)
        if len(calls) == 3:
            raise KeyboardInterrupt  # where the interpreter would raise it
        return real_wait(timeout)

    monkeypatch.setattr(child, "wait", wait)
    try:
        with pytest.raises(KeyboardInterrupt):
            procs.wait_interruptible(child, poll=True)
        assert calls[:2] == [0.1, 0.1]  # never an unbounded wait
    finally:
        child.kill()
        real_wait(10)
