#!/usr/bin/env python3
"""Set up a fresh clone in one command: `python scripts/bootstrap.py`.

Standard library only (it runs before anything is installed) and idempotent (run it again any
time): creates `.venv`, installs the project and its dev tools (the `dev` dependency group of
pyproject.toml) into it, creates `.env` from `.env.example` when missing, then runs `inv dev`
inside the venv (broker up, how to connect).
"""

from __future__ import annotations

import argparse
import hashlib
import locale
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".adeline-bootstrap"
MIN_PYTHON = (3, 10)


def say(message: str) -> None:
    print(f"bootstrap: {message}", flush=True)


def fail(message: str, code: int = 1) -> None:
    print(f"bootstrap: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def run(args: list[str], what: str) -> None:
    try:
        result = subprocess.run(args, cwd=ROOT)
    except OSError as exc:
        fail(f"{what} could not start: {exc}")
    if result.returncode != 0:
        fail(f"{what} failed (exit code {result.returncode}); the lines above say why")


def editable_install_problem(root: Path, version: tuple[int, int], encoding: str) -> str | None:
    """Why `pip install -e .` cannot work here, if it cannot. Python 3.10-3.12 read an editable
    install's `.pth` in the locale's encoding (Windows: the ANSI code page, e.g. cp1252) and
    setuptools writes it in that encoding, so a checkout path it cannot hold (C:\\Users\\Ёлка)
    fails the install; Python 3.13 reads `.pth` files as UTF-8."""
    if version >= (3, 13):
        return None
    try:
        str(root).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        python = "py -3.13" if os.name == "nt" else "python3.13"
        return (
            f"Python {version[0]}.{version[1]} cannot install the project from {root}: its path "
            f"has characters the code page {encoding} cannot hold; run `{python} "
            "scripts/bootstrap.py` (Python 3.13 or newer), or move the checkout to a path "
            "without them (e.g. C:\\src\\adeline-infra)"
        )
    return None


def ensure_venv() -> None:
    if venv_python().exists():
        say(f"virtual environment {VENV.name} exists")
        return
    say(f"creating the virtual environment {VENV.name} with Python {sys.version.split()[0]}")
    try:
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(VENV)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        hint = " (on Debian/Ubuntu: sudo apt install python3-venv)" if os.name != "nt" else ""
        fail(f"could not create {VENV}: {exc}{hint}")


def install(force: bool) -> None:
    fingerprint = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not force and STAMP.exists() and STAMP.read_text(encoding="utf-8").strip() == fingerprint:
        say("project and dev tools already installed (pyproject.toml unchanged)")
        return
    say("installing the project and its dev tools (pip install -e . --group dev)")
    py = str(venv_python())
    # PEP 735 dependency groups (`--group`) need pip 25.1 or newer; a venv made by an older
    # Python comes with an older pip.
    run([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1"], "upgrading pip")
    run(
        [py, "-m", "pip", "install", "--quiet", "-e", ".", "--group", "dev"],
        "installing the project",
    )
    STAMP.write_text(fingerprint + "\n", encoding="utf-8")


def ensure_env_file() -> None:
    # The package's own helper: it needs only the standard library, so it works before install.
    sys.path.insert(0, str(ROOT / "src"))
    from adeline_infra.devenv import ensure_env_file as create

    if create(ROOT):
        private = (
            "it takes its folder's permissions (Windows has no mode 0600; see README)"
            if os.name == "nt"
            else "mode 0600"
        )
        say(f"created .env from .env.example ({private}: it will hold credentials)")
    else:
        say(".env exists (kept as it is)")


class _OneLineParser(argparse.ArgumentParser):
    """A usage error in one line, exit 2 (as adeline_infra.cli.OneLineParser, which this script
    cannot import: it runs before the project is installed)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(description=__doc__.splitlines()[1] if __doc__ else None)
    parser.add_argument(
        "--no-broker", action="store_true", help="set up only; do not start the broker (inv dev)"
    )
    parser.add_argument(
        "--reinstall", action="store_true", help="reinstall the project even if nothing changed"
    )
    args = parser.parse_args(argv)
    if sys.version_info < MIN_PYTHON:
        fail(
            f"Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed, this is "
            f"{sys.version.split()[0]}: run bootstrap with a newer python",
            code=2,
        )
    problem = editable_install_problem(
        ROOT, (sys.version_info[0], sys.version_info[1]), locale.getpreferredencoding(False)
    )
    if problem:
        fail(problem)
    ensure_venv()
    install(args.reinstall)
    ensure_env_file()
    bin_dir = venv_python().parent
    if not args.no_broker:
        say("starting the broker: inv dev")
        run([str(venv_python()), "-m", "invoke", "dev"], "inv dev")
    activate = (
        rf"{VENV.name}\Scripts\activate" if os.name == "nt" else f"source {VENV.name}/bin/activate"
    )
    say(f"done. Activate the venv with `{activate}`, then `inv --list`; run the tests with `nox`")
    say(f"(or without activating: {bin_dir.relative_to(ROOT) / 'nox'})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bootstrap: interrupted", file=sys.stderr)
        sys.exit(130)
