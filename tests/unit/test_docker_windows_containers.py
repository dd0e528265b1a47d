"""Docker Desktop in Windows containers mode cannot run the broker's Linux image: say so, in one
line, instead of "could not be pulled". A stand-in `docker` command answers as such an engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adeline_infra import doctor
from adeline_infra.backends.docker import Engine

PULL_ERROR = "no matching manifest for windows/amd64 10.0.19045 in the manifest list entries"


def _docker(folder: Path, server_os: str) -> None:
    """A `docker` on PATH whose engine runs `server_os` containers and cannot pull."""
    folder.mkdir(exist_ok=True)
    if os.name == "nt":
        (folder / "docker.cmd").write_text(
            '@if "%1"=="version" (echo 24.0.7& echo ' + server_os + "& exit /b 0)\r\n"
            f"@echo {PULL_ERROR} 1>&2\r\n@exit /b 1\r\n"
        )
        return
    script = folder / "docker"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        "  *Server.Version*) echo 24.0.7 ;;\n"
        f"  *Server.Os*) echo {server_os} ;;\n"
        f"  *) echo '{PULL_ERROR}' >&2; exit 1 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)


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
