"""One lock per thing two `inv` calls must not change at once (the `filelock` library).

`state_lock(settings)` serialises services.up/down/restart/clean over one state folder;
`file_lock(path)` serialises edits of one file (the password file). A second caller waits and,
when a `waiting` callback is given, says what for (the task's spinner), then acts on what the
first one left. The wait is bounded: past it, one line names who holds the lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError, InfraError

if TYPE_CHECKING:
    from .settings import Settings

LOCK_TIMEOUT = 300.0  # seconds: longer than a stop of a large database, short of "forever"


def state_folder(settings: Settings) -> Path:
    """The state folder, created when missing; ConfigError/InfraError in one line when unusable."""
    folder = settings.state_dir
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"ADELINE_STATE_DIR={folder} is a file, not a folder: "
            "move it away or point ADELINE_STATE_DIR elsewhere"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(folder, exc) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InfraError(
            f"the state folder {folder} is not writable",
            hint="fix its permissions or point ADELINE_STATE_DIR elsewhere",
        )
    return folder


def _unusable(folder: Path, exc: OSError) -> InfraError:
    import errno

    why = {
        errno.EROFS: "is on a read-only file system",
        errno.EACCES: "is not writable",
        errno.EPERM: "is not writable",
        errno.ENOSPC: "cannot be written: no space left on its device",
        errno.ENOTDIR: "has a file where a folder should be",
    }.get(exc.errno or 0, f"cannot be used ({exc.strerror or exc})")
    return InfraError(
        f"the state folder {folder} {why}",
        hint="fix it or point ADELINE_STATE_DIR elsewhere",
    )


@contextlib.contextmanager
def state_lock(
    settings: Settings, what: str, *, waiting: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the state folder's lock while `what` (e.g. "services.up") runs."""
    folder = state_folder(settings)
    with file_lock(folder / ".lifecycle.lock", what, waiting=waiting, guards=str(folder)):
        yield


@contextlib.contextmanager
def file_lock(
    lock_path: Path,
    what: str,
    *,
    waiting: Callable[[str], None] | None = None,
    guards: str | None = None,
    timeout: float = LOCK_TIMEOUT,
) -> Iterator[None]:
    """Hold `lock_path` (created when missing) for `what`; waits at most `timeout` seconds.

    Next to the lock, `<lock>.holder` names the holder (task and pid) for the waiter's message:
    filelock truncates the lock file itself on every attempt, so it cannot carry that.
    """
    try:
        from filelock import FileLock, Timeout
    except ImportError:  # scripts/gen_passwd.py run by a bare Python (`python -S`)
        FileLock, Timeout = _StdlibLock, _StdlibTimeout  # type: ignore[assignment,misc]

    guarded = guards or str(lock_path)
    holder = lock_path.with_name(lock_path.name + ".holder")
    _check_creatable(lock_path, guards)
    lock = FileLock(lock_path, timeout=timeout, is_singleton=False, thread_local=False)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            who = _holder(holder)
            if waiting is not None:
                waiting(f"Waiting for {who} to finish with {guarded} ...")
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                raise InfraError(
                    f"{_holder(holder)} has held the lock on {guarded} for over {timeout:g} s",
                    hint="let it finish, or stop it and run the command again",
                ) from None
    except OSError as exc:
        raise _unusable(lock_path.parent, exc) from None
    try:
        with contextlib.suppress(OSError):
            holder.write_text(f"{what}, pid {os.getpid()}", encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        lock.release()


def _check_creatable(lock_path: Path, guards: str | None) -> None:
    """Open (create) the lock file once, so a folder where it cannot be made fails now in one
    line: filelock takes that failure for "held by someone" and polls until the timeout (seen:
    a password file in /proc hung for LOCK_TIMEOUT seconds, silently)."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if guards is not None:
            raise _unusable(lock_path.parent, exc) from None
        raise InfraError(
            f"cannot create the lock file {lock_path} ({exc.strerror or exc})",
            hint="that folder must be writable: fix its permissions or choose another path",
        ) from None
    os.close(fd)


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"another inv ({text})" if text else "another inv"


class _StdlibTimeout(Exception):
    pass


class _StdlibLock:
    """The same OS lock `filelock` takes (flock / msvcrt.locking), for one case only:
    scripts/gen_passwd.py promises to run with the bare standard library (its tests run it
    with `python -S`), where `filelock` cannot be imported. Everything else uses filelock."""

    def __init__(self, path: Path, **_: object) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, timeout: float = -1) -> None:
        import time

        deadline = time.monotonic() + timeout
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                _os_lock(fd)
                self.fd = fd
                return
            except OSError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise _StdlibTimeout(str(self.path)) from None
                time.sleep(0.05)

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                _os_unlock(self.fd)
            os.close(self.fd)
            self.fd = None


def _os_lock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _os_unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)
