"""The one place that spawns and inspects processes, portably (argument lists, never a shell)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InfraError

WINDOWS = os.name == "nt"


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    capture: bool = True,
    timeout: float | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion. A missing program is an `InfraError`, not a traceback."""
    argv = [os.fspath(a) for a in args]
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            text=True,
            capture_output=capture,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise InfraError(f"{argv[0]} is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise InfraError(
            f"`{' '.join(argv[:3])} ...` did not finish within {timeout:g} s"
        ) from None
    if check and result.returncode != 0:
        detail = last_line(result.stderr or result.stdout or "")
        raise InfraError(
            f"`{' '.join(argv[:3])}` failed with exit code {result.returncode}"
            + (f": {detail}" if detail else "")
        )
    return result


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def spawn_detached(
    args: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-lived process that outlives this one and ignores our Ctrl+C.

    Its stdout and stderr are appended to `log`; its stdin is closed.
    """
    argv = [os.fspath(a) for a in args]
    kwargs: dict[str, object] = {}
    if sys.platform == "win32":  # sys.platform, not WINDOWS: mypy --platform narrows on it
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
    else:
        kwargs["start_new_session"] = True
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            return subprocess.Popen(  # type: ignore[call-overload]
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                close_fds=True,
                **kwargs,
            )
        except FileNotFoundError:
            raise InfraError(f"{argv[0]} is not installed or not on PATH") from None


def terminate(proc: Any) -> None:
    """Ask a process (psutil.Process) to stop.

    POSIX: SIGTERM, which mosquitto answers by saving its persistence file and exiting.
    Windows has no such signal for a process without a console: TerminateProcess, so what the
    broker had not autosaved yet (`autosave_interval`) is lost there.
    """
    import psutil

    with contextlib.suppress(psutil.Error, OSError):
        if WINDOWS:
            proc.kill()
        else:
            proc.send_signal(signal.SIGTERM)


def which(name: str, extra_dirs: Sequence[str | Path] = ()) -> str | None:
    """`shutil.which`, then a few well-known folders that are often missing from PATH."""
    found = shutil.which(name)
    if found:
        return found
    for folder in extra_dirs:
        candidate = Path(folder) / (name + (".exe" if WINDOWS else ""))
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def port_in_use(port: int, host: str = "") -> bool:
    """True when binding `port` fails because something already listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if not WINDOWS:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_owner(port: int) -> str | None:
    """Name and pid of the process listening on `port`, when the OS lets us see it."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    return None
                try:
                    name = psutil.Process(conn.pid).name()
                except psutil.Error:
                    name = "?"
                return f"{name} (pid {conn.pid})"
    except Exception:  # permissions (macOS needs root), or psutil cannot tell
        return None
    return None


def wait_gone(proc: Any, timeout: float) -> bool:
    """Wait until a process (psutil.Process) has exited; True if it did within `timeout`.

    Not `psutil.Process.wait`: for a process that is not our child it polls slowly (over a second
    here). On Linux a pidfd wakes us the moment the process exits; elsewhere we poll its state.
    """
    import psutil

    def gone() -> bool:
        try:
            return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return True

    def reap() -> None:  # if it was our own child (a broker started in this process)
        with contextlib.suppress(ChildProcessError, OSError, AttributeError):
            os.waitpid(proc.pid, os.WNOHANG)

    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(proc.pid)
        except OSError:
            return gone()
        try:
            readable, _, _ = select.select([fd], [], [], timeout)
            reap()
            return bool(readable) or gone()
        finally:
            os.close(fd)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while not gone():
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    reap()
    return True


def run_foreground(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    grace: float = 10.0,
) -> int:
    """Run a command attached to our terminal and return its exit code.

    Ctrl+C reaches the child too (same console / process group): we give it `grace` seconds to
    finish cleanly, then terminate it, then kill it. The exit code is the child's in every case.
    """
    argv = [os.fspath(a) for a in args]
    try:
        child = subprocess.Popen(argv, cwd=cwd, env=dict(env) if env is not None else None)
    except FileNotFoundError:
        raise InfraError(f"{argv[0]} is not installed or not on PATH") from None
    try:
        return wait_interruptible(child)
    except KeyboardInterrupt:
        for stop in (None, child.terminate, child.kill):
            if stop is not None:
                stop()
            try:
                return wait_interruptible(child, timeout=grace)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                continue
        return child.wait()


def wait_interruptible(
    child: subprocess.Popen[Any], timeout: float | None = None, *, poll: bool = WINDOWS
) -> int:
    """`child.wait(timeout)` during which Ctrl+C raises KeyboardInterrupt on every OS.

    Windows: `Popen.wait()` blocks in WaitForSingleObject(INFINITE), which Ctrl+C does not
    interrupt, so the task could only end with the child's 0xC000013A. Waiting in short steps
    returns to the interpreter, which raises the pending KeyboardInterrupt. POSIX: a signal
    interrupts the plain wait, which is kept (Popen's timed wait polls with sleeps).
    """
    if not poll:
        return child.wait(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))
        try:
            return child.wait(step)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise


# What a Windows process ended by Ctrl+C exits with (STATUS_CONTROL_C_EXIT); Python there exits
# with it too after an unhandled KeyboardInterrupt.
STATUS_CONTROL_C_EXIT = 0xC000013A


def exit_code(returncode: int) -> int:
    """A child's exit status as a shell reports it (killed by signal N -> 128 + N).

    Ended by Ctrl+C is 130 on every OS, as README's exit codes promise.
    """
    if returncode in (STATUS_CONTROL_C_EXIT, STATUS_CONTROL_C_EXIT - 2**32):
        return 130
    return 128 - returncode if returncode < 0 else returncode
