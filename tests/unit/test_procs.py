"""procs: the one process launcher, checked through what callers see (exit codes, one-line
errors, files), with tiny Python children instead of mocks."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from adeline_infra import procs
from adeline_infra.errors import InfraError

PY = sys.executable


def test_run_captures_output() -> None:
    result = procs.run([PY, "-c", "print('hello')"], timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "hello"


def test_run_reads_utf8_and_never_fails_on_undecodable_output() -> None:
    # "Ё" is D0 81 in UTF-8: 0x81 has no character in cp1252, Windows' usual locale code page
    raw = [PY, "-c", r"import sys; sys.stdout.buffer.write(b'\xd0\x81 \xff\n')"]
    assert procs.run(raw, timeout=30).stdout == "\u0401 \ufffd\n"


def test_run_feeds_input_and_never_inherits_stdin() -> None:
    echo = [PY, "-c", "import sys; print(sys.stdin.read().upper())"]
    assert procs.run(echo, input="abc", timeout=30).stdout.strip() == "ABC"
    assert procs.run(echo, timeout=30).stdout.strip() == ""  # stdin is closed, not ours


def test_run_failure_is_one_line_with_the_last_line_of_stderr() -> None:
    code = "import sys; print('noise', file=sys.stderr); print('the cause', file=sys.stderr); "
    code += "sys.exit(4)"
    with pytest.raises(InfraError) as err:
        procs.run([PY, "-c", code], timeout=30)
    message = str(err.value)
    assert "failed with exit code 4: the cause" in message and "\n" not in message
    unchecked = procs.run([PY, "-c", code], check=False, timeout=30)
    assert unchecked.returncode == 4


def test_run_missing_program_and_timeout_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="is not installed or not on PATH"):
        procs.run([tmp_path / "no-such-program"])
    with pytest.raises(InfraError, match=r"did not finish within 0\.2 s"):
        procs.run([PY, "-c", "import time; time.sleep(30)"], timeout=0.2)


@pytest.mark.parametrize(("text", "last"), [("a\nb\n\n  \n", "b"), ("", ""), ("  only  ", "only")])
def test_last_line(text: str, last: str) -> None:
    assert procs.last_line(text) == last


def test_spawn_detached_appends_to_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "child.log"
    for word in ("first", "second"):
        child = procs.spawn_detached(
            [PY, "-c", f"import sys; print({word!r}); print('err', file=sys.stderr)"], log=log
        )
        assert child.wait(timeout=30) == 0
    assert log.read_text().split() == ["first", "err", "second", "err"]


def test_spawn_detached_missing_program(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="is not installed"):
        procs.spawn_detached([tmp_path / "nope"], log=tmp_path / "x.log")


def test_which_looks_in_extra_folders(tmp_path: Path) -> None:
    assert procs.which("adeline-surely-not-on-path") is None
    if os.name == "nt":
        pytest.skip("an executable script on Windows needs a .exe")
    tool = tmp_path / "adeline-surely-not-on-path"
    tool.write_text("#!/bin/sh\n")
    assert procs.which(tool.name, [tmp_path]) is None  # not executable: not a candidate
    tool.chmod(0o755)
    assert procs.which(tool.name, [tmp_path / "elsewhere", tmp_path]) == str(tool)


def test_port_in_use_and_its_owner() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = int(sock.getsockname()[1])
        assert procs.port_in_use(port, "127.0.0.1")
        owner = procs.port_owner(port)
        assert owner is None or f"pid {os.getpid()}" in owner  # None where the OS hides it


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEADDR sharing is Linux's rule")
def test_port_bound_but_not_listening_is_free() -> None:
    # Not "close a port, then check it": on a busy machine another program may take it at once.
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", 0))
        port = int(held.getsockname()[1])
        assert not procs.port_in_use(port, "127.0.0.1")
        assert procs.port_owner(port) is None


def test_run_foreground_returns_the_child_exit_code(tmp_path: Path) -> None:
    assert procs.run_foreground([PY, "-c", "import sys; sys.exit(7)"]) == 7
    env = {**os.environ, "ADELINE_PROBE": "seen"}
    script = "import os, sys; sys.exit(0 if os.environ['ADELINE_PROBE'] == 'seen' else 1)"
    assert procs.run_foreground([PY, "-c", script], env=env, cwd=tmp_path) == 0
    with pytest.raises(InfraError, match="is not installed"):
        procs.run_foreground([tmp_path / "nope"])


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_port_conflict_names_the_listener_on_every_platform_path(platform: str) -> None:
    """Linux decides by binding and reads the socket list only to name the owner; Windows and
    macOS read the list first. Either way a listener on loopback is found, with its pid."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        held.listen()
        found = procs.port_conflict(port, platform=platform)
        assert found is not None and found[0] == "127.0.0.1"
        assert found[1] in (os.getpid(), None)  # None where the OS hides the owner
    assert procs.port_conflict(port, platform=platform) is None  # closed: free again


@pytest.mark.parametrize(
    ("platform", "wildcards"), [("linux", False), ("win32", False), ("darwin", True)]
)
def test_macos_without_the_socket_list_also_binds_the_wildcards(
    monkeypatch: pytest.MonkeyPatch, platform: str, wildcards: bool
) -> None:
    """macOS: a non-root user cannot read the socket list, and a SO_REUSEADDR bind on 127.0.0.1
    succeeds beside the same user's 0.0.0.0 listener; binding 0.0.0.0 itself does not."""
    tried: list[str] = []
    monkeypatch.setattr(procs, "_listeners", lambda port: None)
    monkeypatch.setattr(procs, "_bind_fails", lambda host, port: tried.append(host) or False)
    assert procs.port_conflict(1883, platform=platform) is None
    assert {"127.0.0.1", "::1"} <= set(tried)
    assert ({"0.0.0.0", "::"} <= set(tried)) is wildcards
    tried.clear()
    monkeypatch.setattr(procs, "_bind_fails", lambda host, port: host == "0.0.0.0")
    found = procs.port_conflict(1883, platform=platform)
    assert (found == ("0.0.0.0", None)) is wildcards


def test_a_wildcard_listener_is_found_by_this_systems_path() -> None:
    """The real sockets of the system the test runs on (each CI system runs it): the other
    systems' paths would meet this kernel's bind rules, not theirs."""
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        port = held.getsockname()[1]
        held.listen()
        assert procs.port_conflict(port) is not None


def test_spawn_detached_of_a_file_that_is_no_program_is_one_line(tmp_path: Path) -> None:
    """EACCES on POSIX, WinError 193 on Windows: an InfraError, never a traceback."""
    not_a_program = tmp_path / "mosquitto.conf"
    not_a_program.write_text("listener 1883\n", encoding="utf-8")  # no x bit, not a .exe
    with pytest.raises(InfraError, match="cannot be started") as info:
        procs.spawn_detached([not_a_program], log=tmp_path / "x.log")
    assert "\n" not in str(info.value)


def test_system_pids_are_never_named_as_a_port_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under Wine psutil reports pid 0 for every listener; Windows' System is pid 4."""
    import collections

    import psutil

    assert procs.known_pid(0, windows=False) is None and procs.known_pid(0, windows=True) is None
    assert procs.known_pid(4, windows=True) is None and procs.known_pid(4, windows=False) == 4
    assert procs.known_pid(1234, windows=True) == 1234
    addr = collections.namedtuple("addr", "ip port")
    conn = collections.namedtuple("conn", "status laddr pid")
    listening = [conn(psutil.CONN_LISTEN, addr("127.0.0.1", 21883), 0)]
    monkeypatch.setattr(psutil, "net_connections", lambda kind: listening)
    assert procs.port_owner(21883) is None  # not "System Idle Process (pid 0)"
