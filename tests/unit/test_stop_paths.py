"""Which stop each platform takes, and the pure logic around stops, locks and ports."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest

from adeline_infra import locks, procs
from adeline_infra import settings as settings_mod
from adeline_infra.backends import native
from adeline_infra.errors import ConfigError, InfraError
from adeline_infra.files import tail_lines

from ..helpers import ROOT, base_env, free_port, make_settings


def test_posix_stops_with_sigterm_and_windows_with_the_named_event() -> None:
    assert procs.stop_method("posix") == "sigterm"
    assert procs.stop_method("nt") == "event"
    assert procs.shutdown_event_name(4242) == "mosq4242_shutdown"


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


class FakeProc:
    pid = 99

    def __init__(self, error: Exception | None = None) -> None:
        self.signals: list[int] = []
        self.error = error

    def send_signal(self, sig: int) -> None:
        if self.error:
            raise self.error
        self.signals.append(sig)


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


def test_the_wait_before_a_kill_grows_with_the_database() -> None:
    assert native.stop_grace(10, 0) == 10
    assert native.stop_grace(10, 200 * 1024 * 1024) == 20
    assert native.stop_grace(10, 4 * 1024**3) > 200


@pytest.mark.parametrize(
    ("log", "problem"),
    [
        ("1: Saving in-memory database to /d/mosquitto.db.\n", None),
        ("1: Saving in-memory database to x.\n1: Error: No space left on device.\n", "no space"),
        ("1: Error saving in-memory database, unable to open x for writing.\n", "Error saving"),
        ("1: Client c disconnected.\n", None),
    ],
)
def test_a_failed_save_is_read_from_the_log(log: str, problem: str | None) -> None:
    found = native.save_failure(log)
    assert (found is None) if problem is None else (problem in (found or ""))


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


def test_tail_reads_the_end_of_a_file(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(10_000)) + b"last, no newline")
    assert tail_lines(log, 2, block=16) == ["line 9999", "last, no newline"]
    assert tail_lines(log, 0) == []
    assert len(tail_lines(log, 20_000, block=4096)) == 10_001
    assert tail_lines(tmp_path / "missing", 5) == []
    (tmp_path / "bad").write_bytes(b"\xff\xfe ok\n")
    assert tail_lines(tmp_path / "bad", 1) == ["\ufffd\ufffd ok"]


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("MOSQUITTO_STOP_TIMEOUT", v)
        for v in ("", "0", "-1", "nan", "inf", "1e9", "abc", "1\n2", "\0")
    ]
    + [("MOSQUITTO_LOG_MAX_MB", v) for v in ("", "0", "-5", "1.5", "9" * 30, "x", "1\n", "\0")],
)
def test_hostile_lifecycle_settings_are_config_errors(tmp_path: Path, name: str, raw: str) -> None:
    env = base_env(tmp_path, **{name: raw})
    with pytest.raises(ConfigError, match=name):
        settings_mod.load(ROOT, environ=env)


def test_state_folder_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        locks.state_folder(make_settings(tmp_path))


def test_a_second_caller_waits_says_for_whom_and_gives_up_in_one_line(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locks.file_lock(lock, "services.up"):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        said: list[str] = []
        with (
            pytest.raises(InfraError) as info,
            locks.file_lock(lock, "services.down", waiting=said.append, timeout=0.2),
        ):
            pass
        assert said and "services.up, pid" in said[0]
        assert "services.up, pid" in str(info.value) and "\n" not in str(info.value)
    finally:
        release.set()
        thread.join(30)
    with locks.file_lock(lock, "services.down", timeout=5):
        pass  # free again once the first is done


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


def test_the_save_failure_hint_says_free_space_only_for_a_full_disk(tmp_path: Path) -> None:
    from adeline_infra import broker_config

    data, log = tmp_path / "data", tmp_path / "mosquitto.log"
    full = broker_config.save_failure_hint(f"{broker_config.NO_SPACE} holding {data}", data, log)
    assert "free some space" in full
    other = broker_config.save_failure_hint(f"{data / 'mosquitto.db'} is empty", data, log)
    assert "free some space" not in other and str(data) in other and str(log) in other
