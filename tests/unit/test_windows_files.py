"""Files as Windows users make them: a .env saved by Notepad, secrets without POSIX modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import settings


def test_env_file_saved_by_notepad_keeps_its_first_key(tmp_path: Path) -> None:
    """Notepad writes a BOM; python-dotenv before 1.2.3 dropped the key after it."""
    env_file = tmp_path / "bom.env"
    env_file.write_text("MQTT_BROKER_PORT=5001\r\nMQTT_WS_PORT=5002\r\n", encoding="utf-8-sig")
    s = settings.load(tmp_path, environ={"ADELINE_ENV_FILE": str(env_file)})
    assert (s.mqtt_port, s.ws_port) == (5001, 5002)


def test_doctor_says_what_protects_secrets_on_windows(tmp_path: Path) -> None:
    from adeline_infra import doctor

    home = tmp_path / "Users" / "me"
    checkout = home / "src" / "adeline"
    checkout.mkdir(parents=True)
    s = settings.load(checkout, environ={"ADELINE_ENV_FILE": str(checkout / ".env")})
    assert doctor.check_secrets_acl(s, windows=False, home=home) is None  # POSIX: modes say it
    inside = doctor.check_secrets_acl(s, windows=True, home=home)
    assert inside is not None and inside.status == doctor.OK
    assert "no mode 0600" in inside.detail
    shared = tmp_path / "src" / "adeline"  # C:\src\adeline: readable by every local user
    shared.mkdir(parents=True)
    s = settings.load(shared, environ={"ADELINE_ENV_FILE": str(shared / ".env")})
    outside = doctor.check_secrets_acl(s, windows=True, home=home)
    assert outside is not None and outside.status == doctor.WARN
    assert "MQTT_TLS_DIR" in outside.detail and str(home) in outside.fix
    assert "\n" not in outside.detail + outside.fix


def test_the_printed_mosquitto_sub_works_in_cmd_powershell_and_sh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adeline_infra import devenv

    monkeypatch.setattr(devenv.shutil, "which", lambda name: f"/bin/{name}")
    s = settings.load(tmp_path, environ={"ADELINE_ENV_FILE": str(tmp_path / ".env")})
    (line,) = [x for x in devenv.connection_help(s) if "mosquitto_sub" in x]
    assert '-t "#"' in line and "'" not in line  # cmd.exe would pass '#' with its quotes


class HeldOpen:
    """os.replace as Windows answers it while another process has the target open."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls = 0

    def __call__(self, src: Path, dst: Path) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise PermissionError(13, "Access is denied")
        src.replace(dst)


def test_replacing_a_file_held_open_is_retried_on_windows(tmp_path: Path) -> None:
    from adeline_infra import files

    src, dst = tmp_path / "new", tmp_path / "broker.json"
    src.write_text("new")
    dst.write_text("old")
    held = HeldOpen(refusals=2)
    files.replace(src, dst, windows=True, rename=held, retry_for=30)
    assert held.calls == 3 and dst.read_text() == "new"


def test_a_refused_replace_is_an_error_at_once_on_posix_and_after_the_retry_on_windows(
    tmp_path: Path,
) -> None:
    from adeline_infra import files

    src, dst = tmp_path / "new", tmp_path / "broker.json"
    src.write_text("new")
    posix = HeldOpen(refusals=1)
    with pytest.raises(PermissionError):
        files.replace(src, dst, windows=False, rename=posix, retry_for=30)
    assert posix.calls == 1
    windows = HeldOpen(refusals=10**6)
    with pytest.raises(PermissionError):
        files.replace(src, dst, windows=True, rename=windows, retry_for=0)
    assert windows.calls == 1
