"""Mosquitto password files, in pure Python (no `mosquitto_passwd` needed).

Writes Mosquitto 2.0's format exactly as `mosquitto_passwd` does::

    user:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512(password, salt)>

with a 12-byte salt (read by both 2.0 and 2.1) and 101 iterations by default. Every line this
module does not touch is kept byte for byte: other users, legacy `$6$` lines, comments.

Imports the standard library only (the edit lock is `locks.file_lock`, the OS's own lock), so
`scripts/gen_passwd.py` runs without the package installed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .errors import ConfigError, InfraError
from .files import write_atomic
from .text import control_character, printable

DEFAULT_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes
SALT_BYTES = 12  # 2.0 and 2.1 both read 12-byte salts
MAX_ITERATIONS = 2**31 - 1  # the broker parses the count as a C int
MAX_USER_BYTES = 65535  # the longest user name MQTT can carry
MAX_PASSWORD_BYTES = 65535


def validate_user(user: str) -> str:
    """The user name unchanged, or ConfigError (exit 2) for one the broker would mis-read."""
    if not user:
        raise ConfigError("the user name is empty")
    if ":" in user:
        raise ConfigError(
            f"the user name {user!r} contains ':', which ends a user name in the file"
        )
    bad = control_character(user)
    if bad is not None:
        raise ConfigError(
            f"the user name {printable(user)!r} contains a control character, line break or "
            f"bidi control ({bad}): the file and terminals would not show it as it is"
        )
    if user != user.strip():
        # the broker trims blanks around the name it reads, so it would never match
        raise ConfigError(f"the user name {user!r} starts or ends with a blank")
    if user.startswith("#"):
        raise ConfigError(
            f"the user name {user!r} starts with '#': the broker reads it as a comment"
        )
    if len(user.encode("utf-8")) > MAX_USER_BYTES:
        raise ConfigError(f"the user name is longer than {MAX_USER_BYTES} bytes")
    return user


def validate_password(password: str) -> str:
    """The password unchanged, or ConfigError (exit 2) when it cannot be used."""
    if not password:
        raise ConfigError("the password is empty")
    bad = control_character(password)
    if bad is not None:  # MQTT_PASSWORD refuses them too: nobody could log in with it from .env
        raise ConfigError(
            f"the password contains a control character or line break ({bad}), which "
            "MQTT_PASSWORD cannot hold: choose another"
        )
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigError("the password is not valid text (UTF-8)") from None
    if size > MAX_PASSWORD_BYTES:
        raise ConfigError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    return password


def validate_iterations(iterations: int) -> int:
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ConfigError(f"--iterations {iterations} is not valid: expected 1 to {MAX_ITERATIONS}")
    return iterations


def hash_password(
    password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """The `$7$...` field for `password` (what follows `user:` on the line)."""
    validate_iterations(iterations)
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, dklen=64)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode('ascii')}${b64(digest).decode('ascii')}"


def verify_password(hashed: str, password: str) -> bool:
    """True when `password` matches a `$7$` or `$6$` field (as the broker would decide)."""
    parts = hashed.strip().split("$")
    try:
        if len(parts) == 5 and parts[0] == "" and parts[1] == "7":
            iterations = int(parts[2])
            salt, want = base64.b64decode(parts[3]), base64.b64decode(parts[4])
            got = hashlib.pbkdf2_hmac(
                "sha512", password.encode("utf-8"), salt, iterations, dklen=len(want)
            )
            return hmac.compare_digest(got, want)
        if len(parts) == 4 and parts[0] == "" and parts[1] == "6":
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            got = hashlib.sha512(password.encode("utf-8") + salt).digest()
            return hmac.compare_digest(got, want)
    except (ValueError, TypeError):
        return False
    return False


def scheme_of(hashed: str) -> str:
    """`$7$` (PBKDF2-SHA512), `$6$` (legacy SHA512) or `unknown`."""
    h = hashed.strip()
    if h.startswith("$7$"):
        return "pbkdf2-sha512"
    if h.startswith("$6$"):
        return "sha512"
    return "unknown"


# What C's isspace() is in the broker's locale: mosquitto trims these around a name and a hash
# (Python's str.strip would also trim U+0085, U+00A0, U+2028 ... and see another name).
_C_BLANKS = " \t\n\v\f\r"


def split_lines(text: str) -> list[str]:
    """The file's lines, each with its `\n`, split where mosquitto splits them: only at `\n`
    (`str.splitlines` also splits at \r, \v, \f, \x1c-\x1e, U+0085, U+2028, U+2029)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _parse(line: str) -> tuple[str, str] | None:
    """(user, hash) of a line, read the way the broker reads it; None for lines it skips.

    mosquitto: a line starting with `#` or without `:` is skipped; `strtok(":")` gives the user
    and the hash (empty fields skipped), each trimmed of C blanks; a line without a hash or with
    an empty user is skipped.
    """
    text = line[:-1] if line.endswith("\n") else line
    if text.startswith("#") or ":" not in text:
        return None
    fields = [f for f in text.split(":") if f]
    if len(fields) < 2:
        return None
    user = fields[0].strip(_C_BLANKS)
    return (user, fields[1].strip(_C_BLANKS)) if user else None


def _user_of(line: str) -> str | None:
    """The user a line defines, read the way the broker reads it; None for other lines."""
    parsed = _parse(line)
    return parsed[0] if parsed else None


def real_path(path: Path | str) -> Path:
    """The file a password file's path stands for: a symlink's target (followed to the end),
    so an edit replaces the target and keeps the link, the file the broker reads."""
    p = Path(path)
    return p.resolve() if p.is_symlink() else p


@dataclass
class PasswordFile:
    """A password file in memory: its lines verbatim, edited line by line, saved atomically."""

    path: Path
    lines: list[str] = field(default_factory=list)  # each with its own line ending (if any)

    @classmethod
    def load(cls, path: Path | str, *, missing_ok: bool = True) -> PasswordFile:
        p = Path(path)
        try:
            if p.exists() and not p.is_dir() and not p.is_file():  # a FIFO would block forever
                raise ConfigError(
                    f"the password file {p} is not a regular file: "
                    "point MOSQUITTO_PASSWD_FILE at a file"
                )
            raw = p.read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return cls(p)
            raise InfraError(f"the password file {p} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"the password file {p} is a folder") from None
        except OSError as exc:
            raise InfraError(f"cannot read the password file {p}: {exc.strerror or exc}") from None
        # surrogateescape: bytes that are not UTF-8 survive a load/save round trip untouched
        text = raw.decode("utf-8", "surrogateescape")
        return cls(p, split_lines(text))

    def users(self) -> list[str]:
        """User names in file order (first occurrence)."""
        seen: list[str] = []
        for line in self.lines:
            user = _user_of(line)
            if user is not None and user not in seen:
                seen.append(user)
        return seen

    def entries(self) -> list[tuple[str, str]]:
        """(user, scheme) per user, in file order."""
        out = []
        for user in self.users():
            out.append((user, scheme_of(self.hash_of(user) or "")))
        return out

    def hash_of(self, user: str) -> str | None:
        for line in self.lines:
            parsed = _parse(line)
            if parsed is not None and parsed[0] == user:
                return parsed[1]
        return None

    def __contains__(self, user: object) -> bool:
        return isinstance(user, str) and self.hash_of(user) is not None

    def set(self, user: str, password: str, *, iterations: int = DEFAULT_ITERATIONS) -> bool:
        """Add or update `user`. True when the user was new. Other lines stay as they are."""
        validate_user(user)
        validate_password(password)
        line = f"{user}:{hash_password(password, iterations=iterations)}"
        kept: list[str] = []
        replaced = False
        for old in self.lines:
            if _user_of(old) != user:
                kept.append(old)
            elif not replaced:  # the first line of this user takes the new hash ...
                ending = old[len(old.rstrip("\r\n")) :] or "\n"
                kept.append(line + ending)
                replaced = True
            # ... and any later duplicate goes, so no stale password keeps working
        if not replaced:
            if kept and not kept[-1].endswith("\n"):
                kept[-1] += "\n"
            kept.append(line + "\n")
        self.lines = kept
        return not replaced

    def delete(self, user: str) -> bool:
        """Remove every line of `user`. False when the user was not in the file."""
        before = len(self.lines)
        self.lines = [line for line in self.lines if _user_of(line) != user]
        return len(self.lines) != before

    def render(self) -> bytes:
        return "".join(self.lines).encode("utf-8", "surrogateescape")

    def save(self) -> None:
        """Write atomically with mode 0600 (the broker warns about files others can read).

        A symlink stays a symlink: its target is replaced (the file the broker reads)."""
        try:
            write_atomic(real_path(self.path), self.render(), mode=0o600)
        except IsADirectoryError:
            raise ConfigError(f"the password file {self.path} is a folder") from None
        except OSError as exc:
            raise InfraError(
                f"cannot write the password file {self.path}: {exc.strerror or exc}"
            ) from None


def _edit_lock(path: Path, what: str, waiting: Callable[[str], None] | None) -> Any:
    """The password file's lock (`<file>.lock` beside it): two edits at once would each write
    the file they read, and one user would be lost."""
    from . import locks

    if path.is_dir():
        raise ConfigError(f"the password file {path} is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfraError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    return locks.file_lock(path.with_name(path.name + ".lock"), what, waiting=waiting)


def add_user(
    path: Path | str,
    user: str,
    password: str,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    create: bool = False,
    waiting: Callable[[str], None] | None = None,
) -> bool:
    """Add or update `user` in the file (a new file when `create` or missing). True if new.

    Holds the file's lock from read to write, so concurrent edits all land."""
    validate_user(user)
    validate_password(password)
    validate_iterations(iterations)
    path = real_path(path)  # one lock per file, whichever link names it
    with _edit_lock(path, f"adding {user}", waiting):
        pw = PasswordFile(Path(path)) if create else PasswordFile.load(path)
        is_new = pw.set(user, password, iterations=iterations)
        pw.save()
    return is_new


def delete_user(
    path: Path | str, user: str, *, waiting: Callable[[str], None] | None = None
) -> None:
    """Remove `user`; InfraError (exit 1) when the file or the user does not exist.

    A name already in the file goes even when `add_user` would refuse it today (a line break
    or a control character in it, written by another tool): list-users shows it escaped, and
    the same name, typed with those characters, removes it."""
    if not user or ":" in user or "\n" in user:
        validate_user(user)  # can never be in the file: say why (exit 2)
    path = real_path(path)
    with _edit_lock(path, f"removing {printable(user)}", waiting):
        pw = PasswordFile.load(path, missing_ok=False)
        if not pw.delete(user):
            validate_user(user)  # a name add-user refuses is a usage error, not a missing user
            raise InfraError(f"user {user!r} is not in {pw.path}")
        pw.save()


def read_password(*, from_stdin: bool, stdin: TextIO | None = None) -> str:
    """The new password: one line of stdin, or asked twice on the terminal without echo.

    Never from argv, where `ps` would show it. Piped bytes are read as UTF-8, what MQTT clients
    send a password as: a text stdin decodes with the locale's code page, which on Windows
    (cp1252) turned `pässwort` piped by PowerShell 7 into `pÃ¤sswort`, silently hashing a
    password nobody can log in with. Bytes that are not UTF-8 are a ConfigError.
    """
    import sys

    stream = stdin if stdin is not None else sys.stdin
    if from_stdin:
        raw = getattr(stream, "buffer", None)
        if raw is not None:
            try:
                line = raw.readline().decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError(
                    "the password on stdin is not UTF-8 text",
                    hint="pipe it as UTF-8 (PowerShell 7 does; cmd.exe: `chcp 65001` first)",
                ) from None
        else:
            line = stream.readline()
        password = line[:-1] if line.endswith("\n") else line
        return validate_password(password.removesuffix("\r"))
    if not stream.isatty():
        raise ConfigError(
            "no terminal to ask the password on",
            hint="pipe it in and add --password-stdin",
        )
    import getpass

    try:
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Reenter password: ")
    except EOFError:
        raise ConfigError("no password given") from None
    if first != second:
        raise ConfigError("the passwords do not match")
    return validate_password(first)


def loose_mode(path: Path) -> int | None:
    """The file's permission bits when others can read it (POSIX only), else None."""
    if os.name != "posix":
        return None
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    return mode if mode & 0o077 else None


def file_mode_problem(path: Path) -> str | None:
    """A one-line warning when others can read the file (POSIX only), else None."""
    mode = loose_mode(path)
    if mode is None:
        return None
    return f"{path} is readable by others (mode {mode:o}): `chmod 600 {path}`"
