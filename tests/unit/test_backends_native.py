"""Which branch each OS takes for the native broker: its paths, finding mosquitto, the hints.

Only Linux runs here; Windows and macOS take the same functions with `windows=`/`platform=`,
so the branch each one takes is checked on every machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adeline_infra import broker_config, settings
from adeline_infra.backends import native
from adeline_infra.backends.native import find_mosquitto
from adeline_infra.errors import ConfigError

from ..helpers import make_settings


def make(root: Path, **environ: str) -> settings.Settings:
    env = {"ADELINE_ENV_FILE": str(root / "none.env"), **environ}
    return settings.load(root, environ=env)


def rendered(s: settings.Settings, workdir: Path, *, windows: bool) -> list[str]:
    paths = native.broker_paths(s, workdir, workdir / "data", windows=windows)
    return broker_config.render(s, paths, port=1884, ws_port=9002).splitlines()


SECURE = {"MQTT_ALLOW_ANONYMOUS": "false", "MQTT_USE_TLS": "true"}


@pytest.mark.parametrize("windows", [False, True])
def test_default_layout_gives_the_broker_relative_paths(tmp_path: Path, windows: bool) -> None:
    s = make(tmp_path, **SECURE)
    lines = rendered(s, s.state_dir / "native", windows=windows)
    assert "persistence_location data/" in lines
    assert "password_file ../../secrets/passwd" in lines
    assert "cafile ../../secrets/tls/ca.crt" in lines
    assert "keyfile ../../secrets/tls/server.key" in lines


def test_the_user_s_folder_name_never_reaches_a_windows_broker(tmp_path: Path) -> None:
    """C:\\Users\\José\\... (or a name outside the ANSI code page): only relative names remain."""
    root = tmp_path / "José" / "Документы" / "adeline"
    root.mkdir(parents=True)
    s = make(root, **SECURE)
    text = "\n".join(rendered(s, s.state_dir / "native", windows=True))
    assert text.isascii() and str(root) not in text
    assert native.broker_argv(
        "mosquitto.exe", s.state_dir / "native" / "mosquitto.conf", windows=True
    ) == [
        "mosquitto.exe",
        "-c",
        "mosquitto.conf",
    ]


def test_posix_keeps_the_config_s_full_path_in_the_command_line(tmp_path: Path) -> None:
    conf = tmp_path / "native" / "mosquitto.conf"
    assert native.broker_argv("mosquitto", conf, windows=False) == ["mosquitto", "-c", str(conf)]


def test_relative_paths_follow_a_symlinked_state_folder(tmp_path: Path) -> None:
    """`..` is followed physically: a relative path made from the link's name would be wrong."""
    real = tmp_path / "elsewhere" / "deep" / "state"
    real.mkdir(parents=True)
    root = tmp_path / "checkout"
    root.mkdir()
    try:
        (root / ".state").symlink_to(real, target_is_directory=True)
    except OSError as exc:  # Windows without the symlink privilege (developer mode)
        pytest.skip(f"cannot make a symlink here: {exc}")
    s = make(root, **SECURE)
    workdir = s.state_dir / "native"
    workdir.mkdir(parents=True)
    paths = native.broker_paths(s, workdir, workdir / "data", windows=False)
    assert paths.passwd_file is not None
    opened = Path(os.path.normpath(real / "native" / paths.passwd_file))
    assert opened == (root / "secrets" / "passwd").resolve()


def test_windows_path_mosquitto_cannot_open_is_one_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On another drive there is no relative path: a non-ASCII or %-path is refused, not lost."""

    def other_drive(path: str, start: str) -> str:
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(native.os.path, "relpath", other_drive)
    for name in ("José", "100%"):
        folder = tmp_path / name
        with pytest.raises(ConfigError, match="ANSI code page") as caught:
            native.broker_relative(folder / "passwd", tmp_path / "state", windows=True)
        assert "\n" not in str(caught.value)
        # elsewhere the same path is fine: POSIX paths are bytes
        assert native.broker_relative(folder / "passwd", tmp_path, windows=False).is_absolute()
    plain = native.broker_relative(tmp_path / "passwd", tmp_path / "state", windows=True)
    assert plain.is_absolute()
    # a file the settings do not use (anonymous, no TLS) is not refused
    s = make(tmp_path, MOSQUITTO_PASSWD_FILE=str(tmp_path / "José" / "passwd"))
    native.broker_paths(s, tmp_path / "state", tmp_path / "data", windows=True)
    s = make(
        tmp_path,
        MQTT_ALLOW_ANONYMOUS="false",
        MOSQUITTO_PASSWD_FILE=str(tmp_path / "José" / "passwd"),
    )
    with pytest.raises(ConfigError, match="ANSI code page"):
        native.broker_paths(s, tmp_path / "state", tmp_path / "data", windows=True)


def test_windows_looks_in_mosquitto_dir_then_program_files() -> None:
    environ = {
        "MOSQUITTO_DIR": r"D:\tools\mosquitto",
        "ProgramFiles": r"C:\Program Files",
        "ProgramFiles(x86)": r"C:\Program Files (x86)",
    }
    found = native.search_dirs(environ, windows=True)
    assert found == [
        r"D:\tools\mosquitto",
        r"C:\Program Files\mosquitto",
        r"C:\Program Files (x86)\mosquitto",
    ]
    bare = native.search_dirs({}, windows=True)  # no variables at all: the installer's default
    assert bare[0] == r"C:\Program Files\mosquitto"


def test_posix_looks_in_sbin_and_homebrew() -> None:
    found = native.search_dirs({"MOSQUITTO_DIR": "/ignored"}, windows=False)
    assert "/usr/sbin" in found and "/opt/homebrew/sbin" in found and "/ignored" not in found


def test_mosquitto_dir_is_searched_after_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search itself, with this OS's file names: MOSQUITTO_DIR finds a binary off PATH."""
    folder = tmp_path / "installed"
    folder.mkdir()
    binary = folder / ("mosquitto.exe" if native.procs.WINDOWS else "mosquitto")
    binary.write_text("", encoding="utf-8")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(native, "search_dirs", lambda environ: [environ["MOSQUITTO_DIR"]])
    assert native.find_mosquitto(None, {"MOSQUITTO_DIR": str(folder)}) == str(binary)
    assert native.find_mosquitto(str(binary)) == str(binary)  # MOSQUITTO_BIN wins


@pytest.mark.parametrize(
    ("platform", "says"),
    [("linux", "apt install"), ("darwin", "brew install"), ("win32", "winget install")],
)
def test_install_hint_per_system_names_mosquitto_bin(platform: str, says: str) -> None:
    hint = native.install_hint(platform)
    assert says in hint and "MOSQUITTO_BIN" in hint and "\n" not in hint
    if platform == "win32":
        assert "MOSQUITTO_DIR" in hint


@pytest.mark.parametrize(
    ("name", "windows", "runs"),
    [
        ("mosquitto.exe", True, True),
        (r"C:\Program Files\mosquitto\MOSQUITTO.EXE", True, True),
        ("broken-mosquitto.cmd", True, True),
        ("mosquitto", True, False),  # no extension: CreateProcess fails with WinError 193
        ("mosquitto.conf", True, False),
    ],
)
def test_windows_runs_a_program_by_its_extension(name: str, windows: bool, runs: bool) -> None:
    hint = native.not_executable(name, windows=windows, pathext=".COM;.EXE;.BAT;.CMD")
    assert (hint is None) is runs
    if hint:
        assert "mosquitto.exe" in hint and "\n" not in hint


def test_posix_runs_a_program_by_its_execute_bit(tmp_path: Path) -> None:
    if native.procs.WINDOWS:
        pytest.skip("no execute bit on Windows")
    binary = tmp_path / "mosquitto"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o644)
    hint = native.not_executable(str(binary), windows=False)
    assert hint is not None and "chmod +x" in hint
    binary.chmod(0o755)
    assert native.not_executable(str(binary), windows=False) is None


def test_a_mosquitto_bin_longer_than_a_file_name_is_not_found() -> None:
    assert find_mosquitto("x" * 5000) is None


def test_the_wait_before_a_kill_grows_with_the_database() -> None:
    assert native.stop_grace(10, 0) == 10
    assert native.stop_grace(10, 200 * 1024 * 1024) == 20
    assert native.stop_grace(10, 4 * 1024**3) > 200


def test_a_failed_save_gets_the_last_good_database_back(tmp_path: Path) -> None:
    backend = native.NativeBackend(make_settings(tmp_path))
    backend.data.mkdir(parents=True)
    backend.db.write_bytes(b"good database")
    backend.keep_last_good()
    # a failed save that leaves an empty file: mosquitto writes mosquitto.db.new, renames it over
    (backend.data / "empty").write_bytes(b"")
    (backend.data / "empty").replace(backend.db)
    (backend.data / "mosquitto.db.new").write_bytes(b"half")
    assert backend.restore_last_good()
    assert backend.db.read_bytes() == b"good database"
    assert not (backend.data / "mosquitto.db.new").exists()
    (backend.data / "newer").write_bytes(b"newer database")
    (backend.data / "newer").replace(backend.db)
    assert not backend.restore_last_good()  # a good current database is never replaced
    assert backend.db.read_bytes() == b"newer database"


def test_our_broker_is_recognised_by_the_config_it_runs(tmp_path: Path) -> None:
    backend = native.NativeBackend(make_settings(tmp_path))
    conf = str(backend.conf)
    assert backend.runs_our_config(["/usr/sbin/mosquitto", "-c", conf])
    assert not backend.runs_our_config(["/usr/sbin/mosquitto", "-c", conf + ".other"])
    assert not backend.runs_our_config(["/usr/sbin/mosquitto"])
    assert not backend.runs_our_config(["sleep", "60"])
    # Windows: the config is named relative to the broker's working folder (broker_argv)
    relative = ["mosquitto.exe", "-c", backend.conf.name]
    assert backend.runs_our_config(relative, cwd=lambda: str(backend.dir))
    assert not backend.runs_our_config(relative, cwd=lambda: str(tmp_path))
    assert not backend.runs_our_config(relative)  # no working folder known: not ours
