"""Output never crashes on the console's encoding (Windows: cp1252 when redirected)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT, base_env, inv

PRINT = (
    "import sys; sys.path.insert(0, {src!r})\n"
    "from adeline_infra import console\n"
    "{protect}"
    "console.out('client Документы ✓')\n"
    "console.err('error: José ✗')\n"
)


ENCODINGS = ["cp1252", "cp1252:surrogateescape"]


def run(protect: bool, encoding: str) -> subprocess.CompletedProcess[bytes]:
    code = PRINT.format(
        src=str(ROOT / "src"), protect="console.protect_streams()\n" if protect else ""
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONIOENCODING": encoding, "PYTHONUTF8": "0"},
        capture_output=True,
        timeout=30,
    )


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_character_outside_the_code_page_is_escaped_not_fatal(encoding: str) -> None:
    unprotected = run(protect=False, encoding=encoding)
    assert unprotected.returncode == 1 and b"UnicodeEncodeError" in unprotected.stderr
    result = run(protect=True, encoding=encoding)
    assert result.returncode == 0, result.stderr
    escaped = b"client \\u0414\\u043e\\u043a\\u0443\\u043c\\u0435\\u043d\\u0442\\u044b \\u2713"
    assert result.stdout.splitlines() == [escaped]
    assert result.stderr.startswith("error: José \\u2717".encode("cp1252"))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_task_lists_a_user_name_outside_the_code_page(tmp_path: Path, encoding: str) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("Документы:$7$101$abc$def\n", encoding="utf-8")
    env = base_env(tmp_path, MOSQUITTO_PASSWD_FILE=str(passwd), PYTHONIOENCODING=encoding)
    listed = inv("auth.list-users", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    assert "\\u0414" in listed.stdout


def test_a_script_prints_a_folder_outside_the_code_page(tmp_path: Path) -> None:
    """gen_passwd runs without invoke (and without site-packages): its output is protected too."""
    target = tmp_path / "Документы" / "passwd"
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            str(ROOT / "scripts" / "gen_passwd.py"),
            "--password-stdin",
            str(target),
            "alice",
        ],
        input="pw\n",
        env={**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0"},
        capture_output=True,
        text=True,
        encoding="cp1252",
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "\\u0414" in result.stdout and target.is_file()


@pytest.mark.parametrize("task", ["services.status", "doctor"])
def test_status_and_doctor_in_a_folder_outside_the_code_page(tmp_path: Path, task: str) -> None:
    """A user folder like C:\\Users\\Ёлка, output to a pipe, Windows' handler: no traceback."""
    home = tmp_path / "Ёлка"
    home.mkdir()
    env = base_env(home, PYTHONIOENCODING="cp1252:surrogateescape", PYTHONUTF8="0")
    result = inv(task, env=env)
    assert "Traceback" not in result.stderr and "UnicodeEncodeError" not in result.stderr
    assert result.returncode in (0, 1, 3), result.stderr
    if task == "doctor":  # it shows the .env's path: the folder's name, escaped
        assert "\\u0401" in result.stdout


SPIN = (
    "import sys; sys.path.insert(0, {src!r})\n"
    "from adeline_infra import console\n"
    "with console.spinner('Working on it ...') as say:\n"
    "    {body}\n"
    "console.out('finished')\n"
)


def _in_a_terminal(body: str, answer: bytes = b"") -> str:
    """What the spinner's block `body` writes to a terminal (a pty), answering `answer` once
    the spinner's text has appeared (the block reads it from stdin)."""
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", SPIN.format(src=str(ROOT / "src"), body=body)],
        stdin=subprocess.PIPE,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, f"no output for 30 s: {seen!r}"
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if answer and b"Working on it" in seen and proc.stdin is not None:
                proc.stdin.write(answer)
                proc.stdin.close()
                answer = b""
    finally:
        os.close(leader)
        proc.wait(30)
    assert proc.returncode == 0, seen
    return seen.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="a pty is POSIX's")
def test_the_spinner_shows_while_its_block_waits_then_gives_way_to_the_result() -> None:
    # The block waits for its stdin, which the test answers only once the spinner is seen.
    seen = _in_a_terminal("sys.stdin.readline(); say('Now this ...')", answer=b"go\n")
    assert "Working on it" in seen and seen.rstrip().endswith("finished")


@pytest.mark.skipif(sys.platform == "win32", reason="a pty is POSIX's")
def test_a_block_done_before_the_spinner_could_show_leaves_nothing_behind() -> None:
    seen = _in_a_terminal("pass")
    assert seen.strip().endswith("finished")
