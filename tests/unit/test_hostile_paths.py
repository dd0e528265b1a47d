"""Paths and names a careless user (or an attacker) gives: each is one line, never a traceback
or a hang. Found by a hostile-input sweep of every task, option and setting."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from adeline_infra import certs, doctor, locks, procs, services
from adeline_infra import settings as settings_mod
from adeline_infra.backends.native import find_mosquitto
from adeline_infra.errors import ConfigError, InfraError
from adeline_infra.passwd import PasswordFile

from ..helpers import ROOT, base_env

posix_only = pytest.mark.skipif(os.name == "nt", reason="FIFOs and the execute bit are POSIX")


@posix_only
def test_a_password_file_that_is_a_fifo_is_refused_not_read_forever(tmp_path: Path) -> None:
    fifo = tmp_path / "passwd"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        PasswordFile.load(fifo)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_lock_that_cannot_be_created_fails_at_once_instead_of_polling() -> None:
    # filelock takes "cannot create" for "held by someone" and polls until the timeout.
    lock = locks.file_lock(Path("/proc/version.lock"), "test")
    with pytest.raises(InfraError, match="cannot create the lock file"), lock:
        pass


@pytest.mark.parametrize("kind", ["file", "dangling symlink", "under a file"])
def test_a_certificate_folder_that_is_not_one_is_a_config_error(tmp_path: Path, kind: str) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("x", encoding="utf-8")
    out = {"file": a_file, "under a file": a_file / "tls", "dangling symlink": tmp_path / "l"}[kind]
    if kind == "dangling symlink":
        try:
            out.symlink_to(tmp_path / "nothing")
        except OSError:
            pytest.skip("no permission to create symlinks")
    with pytest.raises(ConfigError, match="certificates") as caught:
        certs.make_tls_dir(out)
    assert "\n" not in str(caught.value)


@posix_only
def test_a_program_that_cannot_be_run_is_one_line(tmp_path: Path) -> None:
    not_a_program = tmp_path / "mosquitto"
    not_a_program.write_text("not a program", encoding="utf-8")
    with pytest.raises(InfraError, match="cannot be started"):
        procs.run([not_a_program, "-h"])
    with pytest.raises(InfraError) as caught:
        procs.run(["x" * 5000])
    assert len(str(caught.value)) < 400


def test_a_mosquitto_bin_longer_than_a_file_name_is_not_found() -> None:
    assert find_mosquitto("x" * 5000) is None


@posix_only
def test_doctor_fails_a_mosquitto_bin_without_the_execute_bit(tmp_path: Path) -> None:
    binary = tmp_path / "mosquitto"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o644)
    s = settings_mod.load(ROOT, environ=base_env(tmp_path, MOSQUITTO_BIN=str(binary)))
    row = doctor.check_mosquitto(s, needed=True)
    assert row.status == doctor.FAIL
    assert "not executable" in row.detail


@pytest.mark.parametrize("name", ["a\nb", "nope", "../go2rtc"])
def test_an_unknown_with_service_is_refused_on_every_backend(name: str) -> None:
    with pytest.raises(ConfigError, match="unknown service") as caught:
        services.check_extras(frozenset({name}))
    assert "\n" not in str(caught.value)


def test_bootstrap_reports_a_usage_error_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import runpy

    bootstrap = runpy.run_path(str(ROOT / "scripts" / "bootstrap.py"), run_name="bootstrap")
    with pytest.raises(SystemExit) as caught:
        bootstrap["main"](["--bogus"])
    assert caught.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def _bootstrap() -> dict[str, object]:
    import runpy

    return runpy.run_path(str(ROOT / "scripts" / "bootstrap.py"), run_name="bootstrap")


@pytest.mark.parametrize(
    ("version", "path", "refused"),
    [
        ((3, 11), r"C:\Users\Ёлка\adeline-infra", True),
        ((3, 10), r"C:\Users\Ёлка\adeline-infra", True),
        ((3, 13), r"C:\Users\Ёлка\adeline-infra", False),  # 3.13 reads .pth files as UTF-8
        ((3, 11), r"C:\Users\José\adeline-infra", False),  # é is in code page 1252
    ],
)
def test_bootstrap_knows_when_an_editable_install_cannot_work(
    version: tuple[int, int], path: str, refused: bool
) -> None:
    """Python 3.10-3.12 write and read an editable install's .pth in the ANSI code page: a
    checkout path outside it fails `pip install -e .` (issue 17, defect 2)."""
    problem = _bootstrap()["editable_install_problem"]
    assert callable(problem)
    message = problem(Path(path), version, "cp1252")
    assert (message is not None) == refused
    if message:
        assert "\n" not in message and "3.13" in message and "cp1252" in message


def test_bootstrap_explains_a_checkout_path_outside_the_code_page_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import locale

    main = _bootstrap()["main"]
    assert callable(main)
    bootstrap = main.__globals__  # run_path returns a copy of the script's globals
    created: list[bool] = []
    bootstrap["ROOT"] = tmp_path / "Ёлка проект"
    bootstrap["ensure_venv"] = lambda: created.append(True)
    bootstrap["install"] = lambda force: None
    bootstrap["ensure_env_file"] = lambda: None
    monkeypatch.setattr(locale, "getpreferredencoding", lambda do_setlocale=True: "cp1252")
    if sys.version_info >= (3, 13):
        assert main(["--no-broker"]) == 0 and created
        return
    with pytest.raises(SystemExit) as caught:
        main(["--no-broker"])
    assert caught.value.code == 1 and not created
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Ёлка проект" in err
