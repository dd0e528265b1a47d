"""The password file read as mosquitto reads it (lines end at `\n` only, names trimmed of C
blanks), edited through a symlink, and shown escaped: add, list and remove agree."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from adeline_infra import passwd

from ..helpers import assert_one_line_error, base_env, inv_here

HASH = passwd.hash_password("pw", salt=b"0123456789ab")


def env_for(tmp_path: Path, passwd_file: Path) -> dict[str, str]:
    return base_env(tmp_path, MOSQUITTO_PASSWD_FILE=str(passwd_file))


@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\x85", "\r", "\x0b", "\x0c", "\x1c", "\x1e"])
def test_lines_end_only_at_newline_as_mosquitto_reads_them(tmp_path: Path, odd: str) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(f"ls{odd}ep:{HASH}\nbob:{HASH}\n".encode())
    pw = passwd.PasswordFile.load(path)
    assert pw.users() == [f"ls{odd}ep", "bob"]  # str.splitlines saw three lines and user "ep"
    assert pw.hash_of("bob") == HASH
    pw.save()
    assert path.read_bytes() == f"ls{odd}ep:{HASH}\nbob:{HASH}\n".encode()  # byte for byte


def test_names_are_trimmed_of_c_blanks_only(tmp_path: Path) -> None:
    # mosquitto trims isspace() (space, \t, \n, \v, \f, \r); U+00A0 is part of the name
    path = tmp_path / "passwd"
    path.write_text(f" \talice \r:{HASH}\n\u00a0bob:{HASH}\n:carol:{HASH}\ndave:\n", "utf-8")
    assert passwd.PasswordFile.load(path).users() == ["alice", "\u00a0bob", "carol"]


def test_list_users_shows_an_odd_name_escaped_and_remove_takes_it(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(f"evil\u202egpj:{HASH}\nls\u2028ep:{HASH}\nbob:{HASH}\n".encode())
    env = env_for(tmp_path, path)
    listed = inv_here("auth.list-users", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "\u202e" not in listed.stdout and "\u2028" not in listed.stdout
    assert "evil\\u202egpj" in listed.stdout and "ls\\u2028ep" in listed.stdout
    users = json.loads(inv_here("auth.list-users", "--json", env=env).stdout)["users"]
    assert [u["user"] for u in users] == ["evil\u202egpj", "ls\u2028ep", "bob"]
    removed = inv_here("auth.remove-user", "ls\u2028ep", env=env)
    assert removed.returncode == 0, removed.stderr
    assert "\u2028" not in removed.stdout
    assert passwd.PasswordFile.load(path).users() == ["evil\u202egpj", "bob"]
    # a name that can never be in the file, or one add-user refuses, is a usage error (exit 2)
    for name in ("a:b", "x\u202ey"):
        assert_one_line_error(inv_here("auth.remove-user", name, env=env), code=2)


@pytest.mark.parametrize("user", ["ls\u2028ep", "evil\u202egpj", "cr\rx", "ff\x0cx", "gs\x1dx"])
def test_add_user_refuses_names_with_line_breaks_or_controls(tmp_path: Path, user: str) -> None:
    env = env_for(tmp_path, tmp_path / "passwd")
    result = inv_here("auth.add-user", user, "--password-stdin", env=env, input="pw\n")
    assert_one_line_error(result, code=2)
    assert not (tmp_path / "passwd").exists()


def test_password_stdin_refuses_an_escape(tmp_path: Path) -> None:
    env = env_for(tmp_path, tmp_path / "passwd")
    result = inv_here("auth.add-user", "bob", "--password-stdin", env=env, input="p\x1b[2Jw\n")
    assert_one_line_error(result, code=2)
    assert "\x1b" not in result.stderr
    assert not (tmp_path / "passwd").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need a privilege on Windows")
def test_a_symlinked_password_file_is_edited_through_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real" / "passwd"
    target.parent.mkdir()
    target.write_text(f"alice:{HASH}\n", "utf-8")
    link = tmp_path / "secrets" / "passwd"
    link.parent.mkdir()
    link.symlink_to(target)
    env = env_for(tmp_path, link)
    added = inv_here("auth.add-user", "bob", "--password-stdin", env=env, input="pw\n")
    assert added.returncode == 0, added.stderr
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert passwd.PasswordFile.load(target).users() == ["alice", "bob"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert inv_here("auth.remove-user", "alice", env=env).returncode == 0
    assert link.is_symlink() and passwd.PasswordFile.load(target).users() == ["bob"]
    assert not [p for p in os.listdir(link.parent) if p != "passwd" and not p.endswith(".lock")]
