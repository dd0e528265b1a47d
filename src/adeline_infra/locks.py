"""One lock per thing two `inv` calls must not change at once: the OS's own file lock.

`state_lock(settings)` serialises services.up/down/restart/clean over one state folder;
`file_lock(path)` serialises edits of one file (the password file). A second caller waits and,
when a `waiting` callback is given, says what for (the task's spinner), then acts on what the
first one left. The wait is bounded: past it, one line names who holds the lock.

Why not the `filelock` library, which the project used until this measurement: filelock 4.x
takes 13-24 ms to import beside what `inv` has already imported (median 19 ms of 9 runs on
this 2-core machine, bytecode cached; `python -X importtime` puts most of it in its soft-lock,
fork and settings modules, which pull in `platform` and `decimal`). That was half of what
`inv services.up` spends before it can start Compose, against a budget of 100 ms for all of
`inv`'s own work (issue 19, `nox -s bench`). What the project needs is small: one exclusive,
non-blocking lock per file, held by this process, released when it ends or crashes. That is
`flock` on POSIX (the call filelock makes there) and `msvcrt.locking` on Windows (the C
runtime's LockFile, where filelock calls LockFileEx); both refuse a second holder in the same
process too. A waiter polls every 50 ms, as filelock does. What filelock adds is not
needed here: reentrancy, thread-local and singleton locks, asyncio, and a soft-lock fallback
for file systems without locks, where this module says so in one line instead (at once on
POSIX; on Windows, whose C runtime's errno cannot tell "held" from "refused", after the wait).
"""

from __future__ import annotations

import contextlib
import errno
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

    Next to the lock, `<lock>.holder` names the holder (task and pid) for the waiter's message.
    """
    guarded = guards or str(lock_path)
    holder = lock_path.with_name(lock_path.name + ".holder")
    lock = _OSLock(lock_path, guards)
    if not lock.try_acquire():
        who = _holder(holder)
        if waiting is not None:
            waiting(f"Waiting for {who} to finish with {guarded} ...")
        if not lock.acquire(timeout):
            raise InfraError(
                f"{_holder(holder)} has held the lock on {guarded} for over {timeout:g} s",
                hint="let it finish, or stop it and run the command again",
            )
    try:
        with contextlib.suppress(OSError):
            holder.write_text(f"{what}, pid {os.getpid()}", encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        lock.release()


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"another inv ({text})" if text else "another inv"


# What flock raises when another open file holds the lock (EWOULDBLOCK, EAGAIN; EACCES on some
# file systems); any other error is the file system refusing locks (ENOLCK on NFS without lockd).
_HELD = frozenset({errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK})


def _is_held(exc: OSError, platform: str = sys.platform) -> bool:
    """Whether a failed non-blocking lock means "another holds it" (else: the file system refused).

    On Windows every failure of `msvcrt.locking` counts as held: its errno cannot be trusted.
    Microsoft's C runtime sets EACCES or EDEADLOCK, but Wine's `_locking` sets none, so the errno
    Python reports is whatever an earlier call of that thread left (0, or ENOENT after reading a
    holder file that was not there: seen in CI). A lock the file system refuses then waits out
    the timeout and says so, instead of a held lock being reported as a refusing file system.
    """
    return platform == "win32" or exc.errno in _HELD


_POLL = 0.05  # seconds between attempts while another inv holds the lock


class _OSLock:
    """An exclusive lock on `path` (created when missing, never truncated or removed): `flock`
    on POSIX, `msvcrt.locking` of its first byte on Windows. Released by `release()`, or by the
    OS when the process ends however it ends."""

    def __init__(self, path: Path, guards: str | None) -> None:
        self.path = path
        self.guards = guards
        # Never through a symlink someone planted where the lock file goes (POSIX).
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            self.fd: int | None = os.open(path, flags, 0o644)
        except OSError as exc:
            raise self._failure(exc, "create") from None

    def try_acquire(self) -> bool:
        """True when the lock is now ours, False when another holds it; one line otherwise."""
        assert self.fd is not None
        try:
            _os_lock(self.fd)
        except OSError as exc:
            if _is_held(exc):
                return False
            self.release()
            raise self._failure(exc, "lock") from None
        return True

    def acquire(self, timeout: float) -> bool:
        """Poll until the lock is ours (True) or `timeout` seconds have passed (False)."""
        import time

        deadline = time.monotonic() + timeout
        try:
            while not self.try_acquire():
                if time.monotonic() >= deadline:
                    self.release()
                    return False
                time.sleep(_POLL)
        except BaseException:  # Ctrl+C while waiting: nothing held, nothing left open
            self.release()
            raise
        return True

    def release(self) -> None:
        """Unlock and close (closing alone would unlock too; unlocking first is explicit)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            _os_unlock(self.fd)
        os.close(self.fd)
        self.fd = None

    def _failure(self, exc: OSError, doing: str) -> InfraError:
        if self.guards is not None and doing == "create":
            return _unusable(self.path.parent, exc)
        if doing == "create":
            return InfraError(
                f"cannot create the lock file {self.path} ({exc.strerror or exc})",
                hint="that folder must be writable: fix its permissions or choose another path",
            )
        return InfraError(
            f"cannot lock {self.path}: its file system refused ({exc.strerror or exc})",
            hint="use a folder on a local disk (network file systems may have no file locks)",
        )


def _os_lock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt.locking locks from the current position
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _os_unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)
