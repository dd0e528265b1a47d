"""procs: the one process launcher, checked through what callers see (exit codes, one-line
errors, files), with tiny Python children instead of mocks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from adeline_infra import procs
from adeline_infra.errors import InfraError

from ..helpers import free_port

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


@pytest.mark.parametrize(
    ("returncode", "code"),
    [
        (0, 0),
        (1, 1),
        (3, 3),
        (-2, 130),
        (-9, 137),
        (-15, 143),
        (0xC000013A, 130),
        (-1073741510, 130),
    ],
)
def test_exit_code_as_a_shell_reports_it(returncode: int, code: int) -> None:
    assert procs.exit_code(returncode) == code


@pytest.mark.parametrize("poll", [False, True])
def test_wait_interruptible_returns_the_code_and_honours_the_timeout(poll: bool) -> None:
    """The Windows way (short waits) and the POSIX way give the same answers."""
    slow = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            procs.wait_interruptible(slow, timeout=0.3, poll=poll)
        assert slow.poll() is None
        assert slow.stdin is not None
        slow.stdin.close()  # now it ends, with code 0
        assert procs.wait_interruptible(slow, poll=poll) == 0
    finally:
        slow.kill()
        slow.wait(10)
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    assert procs.wait_interruptible(done, timeout=30, poll=poll) == 7


def test_waiting_in_steps_lets_a_pending_ctrl_c_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows the interpreter raises KeyboardInterrupt between two short waits."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    calls = []
    real_wait = child.wait

    def wait(timeout: float | None = None) -> int:
        calls.append(timeout)
        if len(calls) == 3:
            raise KeyboardInterrupt  # where the interpreter would raise it
        return real_wait(timeout)

    monkeypatch.setattr(child, "wait", wait)
    try:
        with pytest.raises(KeyboardInterrupt):
            procs.wait_interruptible(child, poll=True)
        assert calls[:2] == [0.1, 0.1]  # never an unbounded wait
    finally:
        child.kill()
        real_wait(10)


NOT_FOUND, DENIED = 2, 5


class Kernel32:
    """OpenEventW answers 0 with the scripted error codes first, then a handle."""

    def __init__(self, errors: list[int]) -> None:
        self.errors = list(errors)
        self.code = 0
        self.calls: list[str] = []

    def OpenEventW(self, access: int, inherit: bool, name: str) -> int:
        self.calls.append("open")
        if self.errors:
            self.code = self.errors.pop(0)
            return 0
        return 7

    def SetEvent(self, handle: int) -> bool:
        self.calls.append("set")
        return True

    def CloseHandle(self, handle: int) -> bool:
        self.calls.append("close")
        return True


def set_event(k: Kernel32, **kwargs: Any) -> bool:
    name = "mosq9_shutdown"
    return procs.set_windows_event(name, kernel32=k, last_error=lambda: k.code, **kwargs)


def test_an_event_not_created_yet_is_waited_for_then_set() -> None:
    k = Kernel32([NOT_FOUND, NOT_FOUND])
    assert set_event(k, wait=30) is True
    assert k.calls == ["open", "open", "open", "set", "close"]


def test_an_event_that_never_appears_is_not_asked_not_a_refusal() -> None:
    k = Kernel32([NOT_FOUND] * 1000)
    assert set_event(k, wait=0) is False
    assert "set" not in k.calls


def test_a_broker_that_ends_while_we_wait_needs_no_stop() -> None:
    k = Kernel32([NOT_FOUND] * 1000)
    assert set_event(k, wait=30, alive=lambda: False) is True
    assert k.calls == ["open"]


def test_access_denied_is_the_other_user_error_at_once() -> None:
    k = Kernel32([DENIED])
    with pytest.raises(InfraError, match="Windows error 5"):
        set_event(k, wait=30)
    assert k.calls == ["open"]


class Proc:
    pid = 9

    def is_running(self) -> bool:
        return True


@pytest.mark.parametrize(("found", "asked"), [(True, True), (False, False)])
def test_request_stop_on_windows_passes_the_wait_and_says_whether_it_asked(
    monkeypatch: pytest.MonkeyPatch, found: bool, asked: bool
) -> None:
    seen: dict[str, Any] = {}

    def fake(name: str, **kwargs: Any) -> bool:
        seen.update(kwargs, name=name)
        return found

    monkeypatch.setattr(procs, "set_windows_event", fake)
    assert procs.request_stop(Proc(), method="event", wait=12.5) is asked
    assert seen["name"] == "mosq9_shutdown" and seen["wait"] == 12.5 and seen["alive"]()


def test_request_stop_on_posix_always_asks() -> None:
    class Signalled(Proc):
        def send_signal(self, sig: int) -> None:
            self.sig = sig

    assert procs.request_stop(Signalled(), method="sigterm", wait=0) is True


posix_only = pytest.mark.skipif(os.name == "nt", reason="FIFOs and the execute bit are POSIX")


@posix_only
def test_a_program_that_cannot_be_run_is_one_line(tmp_path: Path) -> None:
    not_a_program = tmp_path / "mosquitto"
    not_a_program.write_text("not a program", encoding="utf-8")
    with pytest.raises(InfraError, match="cannot be started"):
        procs.run([not_a_program, "-h"])
    with pytest.raises(InfraError) as caught:
        procs.run(["x" * 5000])
    assert len(str(caught.value)) < 400


class FakeKernel32:
    def __init__(self, handle: int = 7, set_ok: bool = True) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.handle, self.set_ok = handle, set_ok

    def OpenEventW(self, access: int, inherit: bool, name: str) -> int:
        self.calls.append(("open", access, inherit, name))
        return self.handle

    def SetEvent(self, handle: int) -> bool:
        self.calls.append(("set", handle))
        return self.set_ok

    def CloseHandle(self, handle: int) -> bool:
        self.calls.append(("close", handle))
        return True


class FakeProc:
    pid = 99

    def __init__(self, error: Exception | None = None) -> None:
        self.signals: list[int] = []
        self.error = error

    def send_signal(self, sig: int) -> None:
        if self.error:
            raise self.error
        self.signals.append(sig)


def test_posix_stops_with_sigterm_and_windows_with_the_named_event() -> None:
    assert procs.stop_method("posix") == "sigterm"
    assert procs.stop_method("nt") == "event"
    assert procs.shutdown_event_name(4242) == "mosq4242_shutdown"


def test_windows_stop_opens_sets_and_closes_the_event() -> None:
    k = FakeKernel32()
    procs.set_windows_event("mosq5_shutdown", kernel32=k)
    assert k.calls == [("open", 0x0002, False, "mosq5_shutdown"), ("set", 7), ("close", 7)]


def test_windows_stop_that_cannot_open_the_event_is_an_error_not_a_success() -> None:
    with pytest.raises(InfraError, match="cannot open the event mosq5_shutdown"):
        procs.set_windows_event("mosq5_shutdown", kernel32=FakeKernel32(handle=0))
    k = FakeKernel32(set_ok=False)
    with pytest.raises(InfraError, match="cannot set"):
        procs.set_windows_event("mosq5_shutdown", kernel32=k)
    assert k.calls[-1] == ("close", 7)


def test_request_stop_takes_the_platform_path(monkeypatch: pytest.MonkeyPatch) -> None:
    proc = FakeProc()
    procs.request_stop(proc, method="sigterm")
    assert proc.signals == [signal.SIGTERM]
    events: list[str] = []
    monkeypatch.setattr(procs, "set_windows_event", lambda name, **_: events.append(name) or True)
    assert procs.request_stop(FakeProc(), method="event")
    assert events == ["mosq99_shutdown"]


def test_a_refused_stop_is_an_error() -> None:
    with pytest.raises(InfraError, match="not allowed to stop process 99"):
        procs.request_stop(FakeProc(psutil.AccessDenied(99)), method="sigterm")
    procs.request_stop(FakeProc(psutil.NoSuchProcess(99)), method="sigterm")  # gone: fine


def test_owner_hints_per_os() -> None:
    assert "sc stop mosquitto" in procs.owner_hint("nt", "win32")
    assert "brew services stop mosquitto" in procs.owner_hint("posix", "darwin")
    assert "sudo systemctl stop mosquitto" in procs.owner_hint("posix", "linux")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_port_check_sees_a_loopback_only_listener(address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    port = free_port()
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((address, port))
    except OSError:
        pytest.skip(f"no {address} here")
    with sock:
        sock.listen()
        message = procs.port_busy_message(port, "MQTT_BROKER_PORT")
        assert message and f"port {port} is already in use on {address}" in message
        assert "MQTT_BROKER_PORT" in message
    assert procs.port_busy_message(port, "MQTT_BROKER_PORT") is None
