"""Helpers shared by the test suites: free ports, isolated settings, running `inv`."""

from __future__ import annotations

import contextlib
import io
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from adeline_infra.settings import Settings

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Variables that would leak a developer's configuration into a test.
_SCRUB = ("BROKER_BACKEND", "ADELINE_ENV_FILE", "ADELINE_STATE_DIR")


# The broker the tests run, chosen by variables of the suite's own (MOSQUITTO_* are settings,
# which base_env drops so a developer's .env never leaks in): ADELINE_TEST_MOSQUITTO is the
# native broker's binary (e.g. a mosquitto 2.1.2 from scripts/build-mosquitto.sh), unset: what
# the native backend finds (PATH, ...). ADELINE_TEST_MOSQUITTO_IMAGE: see docker_helpers.IMAGE.
def chosen_mosquitto() -> str | None:
    """The mosquitto binary the suite runs (ADELINE_TEST_MOSQUITTO), None for the default."""
    return os.environ.get("ADELINE_TEST_MOSQUITTO") or None


_HANDED_OUT: set[int] = set()
# Below every OS's ephemeral range (Linux 32768-60999, Windows and macOS 49152-65535): no
# outgoing connection of any program takes one of these between our check and the broker's
# bind. A port from the OS (bind to 0) is an ephemeral one, and on a busy machine one was taken
# that way (mosquitto: "Unable to create websockets listener").
_TEST_PORTS = range(20000, 32768)


def free_port() -> int:
    """A TCP port nothing listens on now, never 1883, outside the ephemeral range, and never one
    this process handed out before (two settings of one test would collide)."""
    for _ in range(200):
        port = random.choice(_TEST_PORTS)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("", port))
            except OSError:
                continue  # in use (or in TIME_WAIT): another one
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {_TEST_PORTS}")


# `nox -s wine` (scripts/wine_env.py): Windows' CPython and a mosquitto.exe without TLS or
# WebSockets under Wine; tests/integration/conftest.py skips what Wine cannot run.
UNDER_WINE = os.environ.get("ADELINE_UNDER_WINE") == "1"


def base_env(tmp: Path, **values: str) -> dict[str, str]:
    """An environment isolated from the developer's .env, with its own state and free ports."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(("MQTT_", "MOSQUITTO_", "TOPIC_", "GO2RTC_")) or k in _SCRUB)
        or k == "MOSQUITTO_DIR"  # the Windows installer's, where mosquitto.exe is: not a setting
    }
    env_file = tmp / "test.env"
    if not env_file.exists():
        env_file.write_text("", encoding="utf-8")
    env.update(
        ADELINE_ENV_FILE=str(env_file),
        ADELINE_STATE_DIR=str(tmp / "state"),
        # Never the checkout's secrets/: a test adding a user must not edit the developer's
        # password file, nor race another test (they run in parallel) over one shared file.
        MOSQUITTO_PASSWD_FILE=str(tmp / "secrets" / "passwd"),
        MQTT_TLS_DIR=str(tmp / "secrets" / "tls"),
        BROKER_BACKEND="native",
        MQTT_BROKER_HOST="127.0.0.1",
        MQTT_BROKER_PORT=str(free_port()),
        # Wine's mosquitto.exe (nox -s wine) has no WebSockets: its tests turn them off.
        MQTT_WS_PORT="0" if UNDER_WINE else str(free_port()),
        # the pipeline's config of this checkout (if any) must not leak in: absent by default
        PIPELINE_CONFIG=str(tmp / "pipeline" / "config" / "adeline" / "config.yaml"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    binary = chosen_mosquitto()
    if binary:
        env["MOSQUITTO_BIN"] = binary
    env.update(values)
    return env


def inv(
    *args: str, env: Mapping[str, str], timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `inv ARGS` from the project root, as a user would, and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def inv_here(
    *args: str, env: Mapping[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`inv ARGS` run by invoke's own `Program` in this process, as `inv()` runs it.

    The same task loading (the tasks package, found from the project root), argument parsing,
    output, exit code and one-line errors, with `env` as the whole environment and no terminal,
    without the new interpreter and `import invoke` each `inv()` pays (0.2-1 s a call). For
    tests whose subject is what a task does; keep `inv()` where the subject is the process itself
    (Ctrl+C, what it imports at start-up, what a fresh interpreter prints).
    """
    from invoke import Program, __version__

    program = Program(
        name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"], version=__version__
    )
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    saved_env, saved_cwd, saved_stdin = dict(os.environ), os.getcwd(), sys.stdin
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(ROOT)
        sys.stdin = io.StringIO(input or "")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                program.run(["inv", *args])
            except SystemExit as exc:
                if isinstance(exc.code, str):  # Python prints such a message and exits 1
                    print(exc.code, file=sys.stderr)
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["inv", *args], code, out.getvalue(), err.getvalue())


def inv_background(*args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start `inv ARGS` like `inv()`, without waiting: for long tasks (follow, watch, tail).

    The child gets Python's Ctrl+C handling even when this test run was started with SIGINT
    ignored (a background job of a non-interactive shell: `nox &`), which a child would inherit:
    a test that sends SIGINT would then wait for an exit that never comes.
    """
    argv = [sys.executable, "-m", "invoke", *args]
    ignored = os.name == "posix" and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:  # a handled signal is reset to the default in the child at exec; ignored stays
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Windows: its own process group, the unit `interrupt` can send Ctrl+Break to
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def running_task(*args: str, env: Mapping[str, str]) -> Iterator[tuple[Lines, Lines]]:
    """`inv ARGS` in the background, its stdout and stderr as `Lines`; on leaving, Ctrl+C must
    end it with exit 0 and no traceback (the test's own failure wins; the process never
    outlives the test)."""
    proc = inv_background(*args, env=env)
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        yield out, err
        interrupt(proc)  # Ctrl+C (Ctrl+Break on Windows)
        assert proc.wait(timeout=10) == 0, err.rest(5)
        assert "Traceback" not in err.rest(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def interrupt(proc: subprocess.Popen[str]) -> None:
    """Press Ctrl+C on a task started by `inv_background`, the way each OS can.

    POSIX: SIGINT. Windows: Ctrl+C cannot be sent to one process group, Ctrl+Break can; tasks
    treat it as Ctrl+C (console.break_interrupts).
    """
    import signal

    if sys.platform == "win32":
        if UNDER_WINE:  # the process is killed so that its test's cleanup does not wait on it
            proc.kill()
            pytest.skip("Ctrl+Break: GenerateConsoleCtrlEvent fails under Wine (Windows runner)")
        proc.send_signal(signal.CTRL_BREAK_EVENT)
    else:
        proc.send_signal(signal.SIGINT)


def socket_dir() -> Path:
    """A new, empty folder with a short path, for AF_UNIX sockets (the caller removes it).

    A socket's path is limited to 104 bytes on macOS (108 on Linux); pytest's tmp_path there
    (/private/var/folders/xx/.../T/pytest-of-USER/pytest-N/test_name0/) is about 119 already.
    """
    import tempfile

    return Path(tempfile.mkdtemp(prefix="adl-", dir="/tmp" if os.path.isdir("/tmp") else None))


class Lines:
    """The lines a child writes to one of its pipes, read by a thread so that every wait has a
    deadline: a silent child fails the test in `timeout` seconds instead of hanging it.

    `proc.stdout.readline()` blocks until a line or EOF comes, however long; use this instead.
    """

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None, "start the process with stdout/stderr=PIPE"
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._queue.put(line)
        except (OSError, ValueError):  # closed under us
            pass
        self._queue.put(None)  # EOF

    def next(self, timeout: float) -> str | None:
        """The next line (None at EOF); AssertionError when none comes within `timeout` s."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout:g} s; so far: {self.seen}") from None
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, text: str, timeout: float) -> str:
        """The first new line containing `text`; AssertionError at EOF or after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(max(deadline - time.monotonic(), 0.001))
            if line is None:
                raise AssertionError(f"output ended without {text!r}: {self.seen}")
            if text in line:
                return line

    def rest(self, timeout: float) -> str:
        """Everything up to EOF (the child has exited or closed the pipe), within `timeout` s."""
        deadline = time.monotonic() + timeout
        while self.next(max(deadline - time.monotonic(), 0.001)) is not None:
            pass
        return "".join(self.seen)


def wait_for_line(stream: IO[str] | None, text: str, timeout: float = 20) -> list[str]:
    """Read `stream` (a child's pipe) until a line containing `text`, within `timeout` s, and
    stop reading there, so `communicate()` still gets the rest. The lines read, that one last.

    For "the task is ready" (`monitor.data` says "listening to"); use `Lines` to read on."""
    assert stream is not None, "start the process with stdout/stderr=PIPE"
    seen: list[str] = []
    found = threading.Event()

    def reader() -> None:
        for line in stream:
            seen.append(line)
            if text in line:
                found.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    assert found.wait(timeout), f"{text!r} never appeared within {timeout:g} s: {seen}"
    return seen


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], *words: str, code: int | None = 1
) -> str:
    """An expected failure as users see it: exit `code` (any failure with None), no traceback,
    exactly one line on stderr, holding each of `words`. Returns that line."""
    if code is None:
        assert result.returncode != 0, (result.stdout, result.stderr)
    else:
        assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def make_settings(
    tmp: Path,
    env_text: str | None = None,
    *,
    defaults: bool = False,
    root: Path | None = None,
    overrides: Mapping[str, object] | None = None,
    **values: str,
) -> Settings:
    """The suite's one settings builder: `settings.load` as a task would call it.

    Isolated by default (`base_env`: its own state, password file, free ports, this checkout as
    the root); with `defaults=True` only `values` over the defaults (ports 1883/9001 included),
    `tmp` as the project root. `env_text` becomes the .env file's text.
    """
    from adeline_infra import settings

    if defaults:
        env = {"ADELINE_ENV_FILE": str(tmp / ".env"), **values}
        (tmp / ".env").write_text("", encoding="utf-8")
    else:
        env = base_env(tmp, **values)
    if env_text is not None:
        Path(env["ADELINE_ENV_FILE"]).write_text(env_text, encoding="utf-8")
    return settings.load(root or (tmp if defaults else ROOT), overrides, environ=env)


# A pipeline config.yaml as the real pipeline's schema has it (tests of it as a settings source).
PIPELINE_YAML = """\
# Adeline
mqtt:
  broker:
    host: 127.0.0.1
    port: 18830
  topics:
    control_commands: a/cmd
    control_status: a/status
    data: a/det
    metrics: a/metrics
  qos:
    control: 1
models:
  - yolo
"""


def pipeline_settings(
    tmp: Path,
    text: str | None = PIPELINE_YAML,
    env_file: str = "",
    *,
    flags: Mapping[str, object] | None = None,
    **environ: str,
) -> Settings:
    """Settings of a checkout at `tmp` whose PIPELINE_CONFIG is `tmp/config.yaml` holding `text`
    (None: no file), with `env_file` as its `test.env`: the suite's builder for the pipeline's
    config as a settings source."""
    from adeline_infra import settings

    if text is not None:
        (tmp / "config.yaml").write_text(text, encoding="utf-8")
    (tmp / "test.env").write_text(env_file, encoding="utf-8")
    base = {"ADELINE_ENV_FILE": str(tmp / "test.env"), "PIPELINE_CONFIG": "config.yaml"}
    return settings.load(tmp, flags, environ={**base, **environ})
