"""Docker Desktop in Windows containers mode cannot run the broker's Linux image: say so, in one
line, instead of "could not be pulled". A stand-in `docker` command answers as such an engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from adeline_infra import doctor
from adeline_infra.backends.docker import Engine

PULL_ERROR = "no matching manifest for windows/amd64 10.0.19045 in the manifest list entries"


def _docker(folder: Path, server_os: str) -> None:
    """A `docker` on PATH (a Python script) whose engine runs `server_os` containers and
    cannot pull anything."""
    folder.mkdir(exist_ok=True)
    script = folder / "fake_docker.py"
    script.write_text(
        "import sys\n"
        "args = ' '.join(sys.argv[1:])\n"
        "if 'Server.Version' in args:\n"
        "    print('24.0.7')\n"
        "elif 'Server.Os' in args:\n"
        f"    print({server_os!r})\n"
        "else:\n"
        f"    sys.exit({PULL_ERROR!r})\n",
        encoding="utf-8",
    )
    if os.name == "nt":
        (folder / "docker.cmd").write_text(f'@"{sys.executable}" "{script}" %*\r\n')
    else:
        launcher = folder / "docker"
        launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
        launcher.chmod(0o755)


@pytest.fixture
def windows_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _docker(tmp_path / "bin", "windows")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))


def test_windows_containers_mode_is_named_with_the_way_out(windows_engine: None) -> None:
    problem = Engine().linux_containers_problem()
    assert problem is not None
    line = str(problem)
    assert "Windows containers" in line and "Switch to Linux containers" in line
    assert "BROKER_BACKEND=native" in line and "\n" not in line


def test_doctor_engine_row_says_windows_containers(windows_engine: None) -> None:
    rows = {row.name: row for row in doctor.check_docker(None, True, needed=True)}
    engine = rows["docker engine"]
    assert engine.status == doctor.FAIL and "Windows containers" in engine.detail


def test_a_linux_engine_has_no_such_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _docker(tmp_path / "bin", "linux")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert Engine().linux_containers_problem() is None
