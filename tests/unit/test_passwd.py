"""The password file library and scripts/gen_passwd.py: format, editing, validation, modes."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from adeline_infra import passwd
from adeline_infra.errors import ConfigError, InfraError
from adeline_infra.passwd import PasswordFile

from ..helpers import ROOT, assert_one_line_error, base_env, inv_here

MOSQUITTO_LINE = (
    "alice:$7$101$1xKdns+8geq5Zrp2$uUg/dAg2QkoNqzjJYFee7jQHNj0v0onubBduzN3zz3ZA8gyYTSOlSXIhU"
    "jMBTF/sMLGL7MJgkvJ90HFz4RPKtA=="
)


LEGACY_LINE = (
    "dave:$6$MDEyMzQ1Njc4OWFi$o+kR64O3R9PIRAxj/pouFubH2DpGd/QHCgnAHw+gTru54VOqAOzQtUlYQ3pg"
    "NcUzyhfoF5eZLv3spn06FR8NnA=="
)


SCRIPT = ROOT / "scripts" / "gen_passwd.py"


def test_hash_is_mosquitto_2_0_format() -> None:
    hashed = passwd.hash_password("pw")
    m = re.fullmatch(r"\$7\$101\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)", hashed)
    assert m, hashed
    import base64

    assert len(base64.b64decode(m.group(1))) == 12
    assert len(base64.b64decode(m.group(2))) == 64
    assert passwd.verify_password(hashed, "pw")
    assert not passwd.verify_password(hashed, "pW")


def test_same_salt_gives_the_byte_identical_hash() -> None:
    salt = bytes(range(12))
    a = passwd.hash_password("x", salt=salt, iterations=1000)
    assert a == passwd.hash_password("x", salt=salt, iterations=1000)
    assert a.startswith("$7$1000$AAECAwQFBgcICQoL$")


def test_verifies_lines_written_by_mosquitto_passwd_and_legacy_lines() -> None:
    assert passwd.verify_password(MOSQUITTO_LINE.split(":", 1)[1], "secret1")
    assert not passwd.verify_password(MOSQUITTO_LINE.split(":", 1)[1], "secret2")
    assert passwd.verify_password(LEGACY_LINE.split(":", 1)[1], "legacy")
    assert not passwd.verify_password("garbage", "x")


def test_edit_keeps_every_untouched_line_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    original = (
        f"# made by hand\n{MOSQUITTO_LINE}\n\n{LEGACY_LINE}\r\nbob:$7$101$c2FsdA==$aGFzaA==\n"
        "weird:\xff\xfe-not-utf8\n"
    ).encode("utf-8", "surrogateescape")
    original = original.replace("\xff\xfe".encode(), b"\xff\xfe")
    path.write_bytes(original)
    pw = passwd.PasswordFile.load(path)
    assert pw.users() == ["alice", "dave", "bob", "weird"]
    assert pw.set("bob", "new") is False
    assert pw.set("erin", "e") is True
    pw.save()
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == b"# made by hand"
    assert lines[1] == MOSQUITTO_LINE.encode()
    assert lines[2] == b""
    assert lines[3] == LEGACY_LINE.encode() + b"\r"
    assert lines[4].startswith(b"bob:$7$101$") and lines[4] != b"bob:$7$101$c2FsdA==$aGFzaA=="
    assert lines[5] == b"weird:\xff\xfe-not-utf8"
    assert lines[6].startswith(b"erin:$7$101$")
    again = passwd.PasswordFile.load(path)
    assert passwd.verify_password(again.hash_of("bob") or "", "new")
    assert passwd.verify_password(again.hash_of("alice") or "", "secret1")


def test_update_drops_duplicate_lines_and_delete_removes_all(tmp_path: Path) -> None:
    pw = passwd.PasswordFile(tmp_path / "p", ["u:$7$1$a$b\n", "v:x\n", "u:$7$1$c$d\n"])
    pw.set("u", "pw")
    assert [line.split(":")[0] for line in pw.lines] == ["u", "v"]
    pw.lines.append("u:dup\n")
    assert pw.delete("u") is True
    assert pw.lines == ["v:x\n"]
    assert pw.delete("u") is False


def test_appends_after_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "p"
    path.write_text(MOSQUITTO_LINE, encoding="utf-8")
    passwd.add_user(path, "bob", "pw")
    text = path.read_text(encoding="utf-8")
    assert text.startswith(MOSQUITTO_LINE + "\nbob:$7$")
    assert text.endswith("\n")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_with_mode_0600_even_over_a_0644_file(tmp_path: Path) -> None:
    path = tmp_path / "p"
    path.write_text(MOSQUITTO_LINE + "\n", encoding="utf-8")
    path.chmod(0o644)  # what mosquitto_passwd leaves
    passwd.add_user(path, "bob", "pw")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    passwd.delete_user(path, "bob")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    left = [x for x in tmp_path.iterdir() if x.name != "p.lock"]  # the edit lock stays
    assert left == [path]  # no temporary file left behind


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_an_edit_keeps_the_owner_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p"
    passwd.add_user(path, "alice", "pw")
    os.chown(path, 1883, 1883)  # e.g. the broker's user in the container
    passwd.add_user(path, "bob", "pw")
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (1883, 1883)
    assert stat.S_IMODE(st.st_mode) == 0o600


@pytest.mark.parametrize(
    "user",
    [
        *("", "a:b", "tab\there", "new\nline", " lead", "trail ", "#comment", "nul\0", "\x7fdel"),
        *("evil\u202egpj", "ls\u2028ep", "ps\u2029", "nel\x85", "vt\x0b", "fs\x1c"),
    ],
)
def test_user_names_the_broker_would_misread_are_config_errors(user: str) -> None:
    with pytest.raises(ConfigError) as info:
        passwd.validate_user(user)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("user", ["alice", "user.name-1_x", "josé", "日本", "a b"])
def test_ordinary_user_names_are_fine(user: str) -> None:
    assert passwd.validate_user(user) == user


@pytest.mark.parametrize("password", ["", "a\nb", "nul\0", "esc\x1b", "ls\u2028"])
def test_unusable_passwords_are_config_errors(password: str) -> None:
    """What MQTT_PASSWORD can never hold (it refuses control characters) is refused here too:
    nobody could log in with it from .env."""
    with pytest.raises(ConfigError) as caught:
        passwd.validate_password(password)
    assert password not in str(caught.value) or not password


def test_delete_of_an_unknown_user_or_file_fails_with_exit_1(tmp_path: Path) -> None:
    with pytest.raises(InfraError) as info:
        passwd.delete_user(tmp_path / "missing", "bob")
    assert info.value.exit_code == 1
    passwd.add_user(tmp_path / "p", "alice", "pw")
    with pytest.raises(InfraError, match="'bob' is not in"):
        passwd.delete_user(tmp_path / "p", "bob")


def test_read_password_from_stdin_strips_only_the_line_end() -> None:
    assert passwd.read_password(from_stdin=True, stdin=io.StringIO(" pa ss \r\nrest")) == " pa ss "
    with pytest.raises(ConfigError, match="empty"):
        passwd.read_password(from_stdin=True, stdin=io.StringIO(""))
    with pytest.raises(ConfigError, match="--password-stdin"):
        passwd.read_password(from_stdin=False, stdin=io.StringIO("x\n"))  # not a terminal


def test_piped_password_is_read_as_utf8_whatever_the_locale_code_page() -> None:
    # Windows: stdin's text layer decodes with the ANSI code page (cp1252); PowerShell 7 pipes
    # UTF-8. The password must be what an MQTT client sends: its UTF-8.
    piped = io.TextIOWrapper(io.BytesIO("pässwort\r\n".encode()), encoding="cp1252")
    assert passwd.read_password(from_stdin=True, stdin=piped) == "pässwort"
    cmd_exe = io.TextIOWrapper(io.BytesIO("pässwort\n".encode("cp850")), encoding="cp1252")
    with pytest.raises(ConfigError, match="not UTF-8"):
        passwd.read_password(from_stdin=True, stdin=cmd_exe)


def run_script(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-S", str(SCRIPT), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def test_script_adds_updates_deletes_without_site_packages(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text(MOSQUITTO_LINE + "\n", encoding="utf-8")
    added = run_script("--password-stdin", str(path), "bob", input="s3cret\n")
    assert added.returncode == 0, added.stderr
    assert "added bob" in added.stdout
    assert "s3cret" not in added.stdout + added.stderr
    updated = run_script("--password-stdin", "--iterations", "500", str(path), "bob", input="n\n")
    assert updated.returncode == 0 and "updated bob" in updated.stdout
    pw = passwd.PasswordFile.load(path)
    assert (pw.hash_of("bob") or "").startswith("$7$500$")
    assert passwd.verify_password(pw.hash_of("bob") or "", "n")
    assert run_script("-D", str(path), "bob").returncode == 0
    assert path.read_text(encoding="utf-8") == MOSQUITTO_LINE + "\n"


def test_script_c_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text(MOSQUITTO_LINE + "\n", encoding="utf-8")
    assert run_script("-c", "--password-stdin", str(path), "bob", input="x\n").returncode == 0
    assert passwd.PasswordFile.load(path).users() == ["bob"]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "text"),
    [
        (("--password-stdin", "{f}", "a:b"), "x\n", 2, "contains ':'"),
        (("--password-stdin", "{f}", "bob"), "\n", 2, "password is empty"),
        (("{f}", "bob"), None, 2, "--password-stdin"),
        (("-c", "-D", "{f}", "bob"), None, 2, "cannot be used together"),
        (("--iterations", "0", "--password-stdin", "{f}", "bob"), "x\n", 2, "--iterations"),
        (("-D", "{f}", "nobody"), None, 1, "not in"),
        ((), None, 2, "required"),
    ],
)
def test_script_errors_are_one_line_with_exit_code(
    tmp_path: Path, args: tuple[str, ...], stdin: str | None, code: int, text: str
) -> None:
    path = tmp_path / "passwd"
    path.write_text(MOSQUITTO_LINE + "\n", encoding="utf-8")
    result = run_script(*(a.format(f=path) for a in args), input=stdin)
    assert_one_line_error(result, text, code=code)
    assert "Traceback" not in result.stderr
    assert path.read_text(encoding="utf-8") == MOSQUITTO_LINE + "\n"  # untouched on failure


_TERMINAL_DRIVER = r"""
import json, os, pty, select, sys

script, args, answers = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:  # the child: becomes the script, on the pseudo-terminal
    os.execv(sys.executable, [sys.executable, "-S", script, *args])
out = b""


def read_some():
    ready, _, _ = select.select([fd], [], [], 10)
    if not ready:
        sys.exit(f"no output from the script; so far: {out!r}")
    try:
        return os.read(fd, 1024)
    except OSError:  # the child has exited (EIO on Linux)
        return b""


for asked, answer in enumerate(answers, 1):
    # answer only once this prompt is shown: getpass discards what was typed before it
    while out.lower().count(b"password: ") < asked:
        chunk = read_some()
        if not chunk:
            sys.exit(f"the script ended early: {out!r}")
        out += chunk
    os.write(fd, answer.encode())
while chunk := read_some():
    out += chunk
_, status = os.waitpid(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")]))
"""


def _run_on_a_terminal(args: list[str], answers: list[bytes]) -> tuple[int, str]:
    """Run the script on a pseudo-terminal, answering each 'password:' prompt in turn.

    The fork happens in a fresh, single-threaded driver process: forking the test process
    (which has threads from other tests) could deadlock the child.
    """
    import json
    import subprocess

    driver = subprocess.run(
        [
            sys.executable,
            "-c",
            _TERMINAL_DRIVER,
            str(SCRIPT),
            json.dumps(args),
            json.dumps([a.decode() for a in answers]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert driver.returncode == 0, driver.stderr
    code, out = json.loads(driver.stdout)
    return int(code), str(out)


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
def test_script_asks_twice_on_the_terminal_without_echo(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    code, out = _run_on_a_terminal([str(path), "alice"], [b"hunter2\n", b"hunter2\n"])
    assert code == 0, out
    assert "Reenter password" in out and "hunter2" not in out
    assert passwd.verify_password(passwd.PasswordFile.load(path).hash_of("alice") or "", "hunter2")
    code, out = _run_on_a_terminal([str(path), "alice"], [b"one\n", b"two\n"])
    assert code == 2 and "do not match" in out
    assert passwd.verify_password(passwd.PasswordFile.load(path).hash_of("alice") or "", "hunter2")


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


posix_only = pytest.mark.skipif(os.name == "nt", reason="FIFOs and the execute bit are POSIX")


@posix_only
def test_a_password_file_that_is_a_fifo_is_refused_not_read_forever(tmp_path: Path) -> None:
    fifo = tmp_path / "passwd"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        PasswordFile.load(fifo)
