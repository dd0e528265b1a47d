#!/usr/bin/env python3
"""Add, update or delete a user in a Mosquitto password file, like `mosquitto_passwd`.

    python scripts/gen_passwd.py [-c] [-D] [--password-stdin] [--iterations N] FILE USER

Without -D the user is added, or updated when it exists; the password is asked twice on the
terminal (hidden), or read from one line of stdin with --password-stdin. Never from argv: the
process list would show it. Runs without invoke and without the package installed (Python 3.10+
standard library only: FILE.lock beside the file keeps two edits from losing one).
Exit codes: 0 ok, 1 failed, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:  # this checkout's code, installed or not
    sys.path.insert(0, str(SRC))

from adeline_infra import passwd  # noqa: E402
from adeline_infra.cli import OneLineParser  # noqa: E402
from adeline_infra.errors import ConfigError, InfraError  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="gen_passwd.py",
        description="Add, update (-c: in a new file) or delete (-D) a user of a Mosquitto "
        "password file. Writes mosquitto 2.0's $7$ format; keeps every other line as it is.",
    )
    p.add_argument(
        "-c",
        dest="create",
        action="store_true",
        help="create a new file, replacing an existing one",
    )
    p.add_argument("-D", dest="delete", action="store_true", help="delete USER from FILE")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of a prompt",
    )
    p.add_argument(
        "--iterations",
        type=int,
        default=passwd.DEFAULT_ITERATIONS,
        metavar="N",
        help=f"PBKDF2 iterations (default {passwd.DEFAULT_ITERATIONS}, as mosquitto_passwd 2.0)",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="the password file")
    p.add_argument("user", metavar="USER", help="the user name")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.create and args.delete:
            raise ConfigError("-c and -D cannot be used together")
        passwd.validate_user(args.user)
        if args.delete:
            passwd.delete_user(args.file, args.user)
            print(f"deleted {args.user} from {args.file}")
            return 0
        passwd.validate_iterations(args.iterations)
        password = passwd.read_password(from_stdin=args.password_stdin)
        is_new = passwd.add_user(
            args.file, args.user, password, iterations=args.iterations, create=args.create
        )
        print(f"{'added' if is_new else 'updated'} {args.user} in {args.file}")
        return 0
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
