"""Writing files that must never be half-written or readable by others (secrets, state)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, mode: int = 0o600) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then replace.

    The file is created with `mode` (0600: owner only) before any byte is written, so a secret is
    never visible to others, and a crash leaves either the old file or the new one. Replacing a
    file keeps its owner where we may (e.g. a secret chowned to the broker's user stays its).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # os.open's mode is filtered by the umask
        _keep_owner(path, tmp)
        replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


REPLACE_RETRY_S = 1.0  # pip retries its replace as long, for the same reason


def replace(
    src: Path,
    dst: Path,
    *,
    windows: bool = sys.platform == "win32",
    rename: Callable[[Path, Path], None] = os.replace,
    retry_for: float = REPLACE_RETRY_S,
) -> None:
    """`os.replace`, retried for a moment on Windows while the target is held open.

    Windows refuses to replace a file another process has open without FILE_SHARE_DELETE (what
    every Python `open()` does): a second `inv` reading broker.json or .env, an antivirus or
    the search indexer scanning the file just written. That is PermissionError (access denied,
    WinError 5) and lasts milliseconds. POSIX replaces an open file, so an error there is real.
    """
    deadline = time.monotonic() + retry_for
    while True:
        try:
            rename(src, dst)
            return
        except PermissionError:
            if not windows or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _keep_owner(old: Path, new: Path) -> None:
    if sys.platform == "win32":  # no POSIX owners: a file belongs to whoever wrote it
        return
    try:
        st = old.stat()
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            os.chown(new, st.st_uid, st.st_gid)
    except (FileNotFoundError, PermissionError):
        pass  # a new file, or not ours to give away: it stays the writer's


def tail_lines(path: Path, count: int, *, block: int = 64 * 1024) -> list[str]:
    """The last `count` lines of a text file, read backwards from its end in blocks.

    Memory grows with the lines returned, not with the file (a 440 MB log is not read whole).
    Missing or unreadable file: []. Undecodable bytes are replaced.
    """
    if count <= 0:
        return []
    chunks: list[bytes] = []
    try:
        with open(path, "rb") as f:
            position = f.seek(0, os.SEEK_END)
            newlines = 0
            while position > 0 and newlines <= count:
                step = min(block, position)
                position -= step
                f.seek(position)
                chunk = f.read(step)
                chunks.append(chunk)
                newlines += chunk.count(b"\n")
    except OSError:
        return []
    data = b"".join(reversed(chunks))
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-count:]


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be (or become) a folder, as words that follow the path ("is a file",
    "is under the file X", "is a symbolic link to nothing"); None when it is one or can be made.
    Each case was seen ending in a traceback from mkdir or unlink."""
    try:
        if path.is_symlink() and not path.exists():
            return "is a symbolic link to nothing"
        for part in (path, *path.parents):
            if part.exists():
                if not part.is_dir():
                    return "is a file" if part == path else f"is under the file {part}"
                return None
    except OSError as exc:  # e.g. a name longer than the file system allows
        return f"cannot be used ({exc.strerror or exc})"
    return None
