"""Writing files that must never be half-written or readable by others (secrets, state)."""

from __future__ import annotations

import os
import sys
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
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _keep_owner(old: Path, new: Path) -> None:
    if sys.platform == "win32":  # no POSIX owners: a file belongs to whoever wrote it
        return
    try:
        st = old.stat()
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            os.chown(new, st.st_uid, st.st_gid)
    except (FileNotFoundError, PermissionError):
        pass  # a new file, or not ours to give away: it stays the writer's
