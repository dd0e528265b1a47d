"""`doctor` reads the password file the way the broker and `auth.*` do: never a second parser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adeline_infra import doctor, passwd
from adeline_infra import settings as settings_mod

from ..helpers import make_settings


def _settings(tmp_path: Path, path: Path, user: str = "alice") -> settings_mod.Settings:
    return make_settings(
        tmp_path,
        MQTT_ALLOW_ANONYMOUS="false",
        MOSQUITTO_PASSWD_FILE=str(path),
        MQTT_USERNAME=user,
        MQTT_PASSWORD="pw",
    )


# MQTT_PASSWORD "pw": doctor checks it against the file as services.up does
PW = passwd.hash_password("pw", iterations=1000).encode("ascii")


@pytest.mark.parametrize(
    "content",
    [
        b"  alice:PW\n",  # a user line with a leading blank
        b"# caf\xe9 (latin-1 in a comment)\nalice:PW\n",  # a non-UTF-8 byte
        b"alice:PW\r\n",  # Windows line endings
    ],
)
def test_files_the_library_accepts_pass(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(content.replace(b"PW", PW))
    path.chmod(0o600)
    assert "alice" in passwd.PasswordFile.load(path).users()  # what auth.* and the broker see
    row = doctor.check_password_file(_settings(tmp_path, path))
    assert row.status == doctor.OK, row


def test_a_folder_or_unreadable_file_is_a_failing_row(tmp_path: Path) -> None:
    folder = tmp_path / "passwd"
    folder.mkdir()
    row = doctor.check_password_file(_settings(tmp_path, folder))
    assert row.status == doctor.FAIL and "\n" not in row.detail
    if os.name == "posix" and os.geteuid() != 0:
        path = tmp_path / "locked"
        path.write_text("alice:x\n", encoding="utf-8")
        path.chmod(0)
        assert doctor.check_password_file(_settings(tmp_path, path)).status == doctor.FAIL
