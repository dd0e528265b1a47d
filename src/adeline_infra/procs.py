"""The one place that spawns and inspects processes, portably (argument lists, never a shell)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InfraError

WINDOWS = os.name == "nt"


def cannot_start(program: str, exc: OSError) -> InfraError:
    """One line for a program the OS would not start. Not only a missing one: a file without
    the execute bit, a dangling symlink, a non-program (ENOEXEC) or a 5000-character name each
    raise their own OSError from subprocess."""
    shown = program if len(program) <= 200 else f"{program[:200]}... ({len(program)} characters)"
    if isinstance(exc, FileNotFoundError):
        return InfraError(f"{shown} is not installed or not on PATH")
    return InfraError(
        f"{shown} cannot be started: {exc.strerror or exc}",
        hint="check that it is the program meant and that it is executable",
    )


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    capture: bool = True,
    timeout: float | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion. A missing program is an `InfraError`, not a traceback.

    Its output is read as UTF-8, undecodable bytes replaced: what docker (a Go program) writes
    whatever the console. `text=True` alone decodes with the locale's code page and strictly,
    so on Windows (cp1252: 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined) a path like
    C:\\Users\\Ёлка in docker's output raised UnicodeDecodeError out of `subprocess.run`.
    """
    argv = [os.fspath(a) for a in args]
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            text=True,
            encoding="utf-8",
            errors="replace",
            capture_output=capture,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except OSError as exc:
        raise cannot_start(argv[0], exc) from None
    except subprocess.TimeoutExpired:
        raise InfraError(
            f"`{' '.join(argv[:3])} ...` did not finish within {timeout:g} s"
        ) from None
    if check and result.returncode != 0:
        detail = last_line(result.stderr or result.stdout or "")
        raise InfraError(
            f"`{' '.join(argv[:3])}` failed with exit code {result.returncode}"
            + (f": {detail}" if detail else "")
        )
    return result


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def spawn_detached(
    args: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-lived process that outlives this one and ignores our Ctrl+C.

    Its stdout and stderr are appended to `log`; its stdin is closed.
    """
    argv = [os.fspath(a) for a in args]
    kwargs: dict[str, object] = {}
    if sys.platform == "win32":  # sys.platform, not WINDOWS: mypy --platform narrows on it
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
    else:
        kwargs["start_new_session"] = True
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            return subprocess.Popen(  # type: ignore[call-overload]
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                close_fds=True,
                **kwargs,
            )
        except OSError as exc:
            raise cannot_start(argv[0], exc) from None


def stop_method(os_name: str = os.name) -> str:
    """How `request_stop` asks mosquitto to stop on this OS (pure logic, unit-tested).

    "sigterm" on POSIX: mosquitto saves its persistence file and exits. "event" on Windows: a
    process without a console gets no signal there, but mosquitto waits on the named event
    `mosq<PID>_shutdown` (its src/signals.c) and, once it is set, saves and exits like SIGINT.
    TerminateProcess would save nothing.
    """
    return "event" if os_name == "nt" else "sigterm"


def shutdown_event_name(pid: int) -> str:
    """The named event mosquitto on Windows waits on to stop cleanly."""
    return f"mosq{pid}_shutdown"


ERROR_FILE_NOT_FOUND = 2  # OpenEventW: no event of that name (yet)


def set_windows_event(
    name: str,
    kernel32: Any = None,
    *,
    wait: float = 0.0,
    alive: Callable[[], bool] = lambda: True,
    last_error: Callable[[], int] | None = None,
) -> bool:
    """SetEvent on a named event; True when set, False when it did not appear within `wait`
    seconds while `alive()`. InfraError when it exists but cannot be opened or set.

    mosquitto creates its `mosq<PID>_shutdown` event in a thread it starts only after reading
    its config, loading its database and opening its listeners (signal__setup in its main), so
    a stop asked during a slow start finds no event yet: that is waited for, and is not an
    "another user" refusal (ERROR_ACCESS_DENIED). `kernel32` and
    `last_error` are injectable so the call sequence is unit-tested off Windows.
    """
    import ctypes

    if kernel32 is None:
        kernel32 = _kernel32()
    if last_error is None:
        last_error = getattr(ctypes, "get_last_error", lambda: 0)
    event_modify_state = 0x0002  # all SetEvent needs
    deadline = time.monotonic() + wait
    while True:
        handle = kernel32.OpenEventW(event_modify_state, False, name)
        if handle:
            break
        code = last_error()
        if code != ERROR_FILE_NOT_FOUND:
            raise InfraError(
                f"cannot open the event {name} to stop mosquitto (Windows error {code})",
                hint="was it started by another user or elevated? stop it from that account",
            )
        if not alive():
            return True  # it ended meanwhile: nothing left to stop
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    try:
        if not kernel32.SetEvent(handle):
            raise InfraError(f"cannot set the event {name} to stop mosquitto")
    finally:
        kernel32.CloseHandle(handle)
    return True


def _kernel32() -> Any:
    """kernel32 with the prototypes of the three calls used: without them ctypes passes and
    returns HANDLEs as C ints."""
    import ctypes
    from ctypes import wintypes

    k = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    k.OpenEventW.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.LPCWSTR)
    k.OpenEventW.restype = wintypes.HANDLE
    k.SetEvent.argtypes = (wintypes.HANDLE,)
    k.SetEvent.restype = wintypes.BOOL
    k.CloseHandle.argtypes = (wintypes.HANDLE,)
    k.CloseHandle.restype = wintypes.BOOL
    return k


def request_stop(proc: Any, *, method: str | None = None, wait: float = 10.0) -> bool:
    """Ask a process (psutil.Process) to stop cleanly; InfraError when the OS refuses.

    False when it could not be asked yet: on Windows, a mosquitto still starting has no stop
    event for `wait` seconds (the caller then kills it, as SIGTERM's default action would end a
    POSIX one that early). A refusal (e.g. a broker started by another user or elevated) is an
    error, never a silent success: the caller keeps its record of the broker.
    """
    import psutil

    how = method or stop_method()
    try:
        if how == "event":
            alive = getattr(proc, "is_running", lambda: True)
            return set_windows_event(shutdown_event_name(proc.pid), wait=wait, alive=alive)
        proc.send_signal(signal.SIGTERM)
    except psutil.NoSuchProcess:
        return True
    except (psutil.AccessDenied, PermissionError):
        raise InfraError(
            f"not allowed to stop process {proc.pid}",
            hint="it was started by another user: stop it from that account",
        ) from None
    return True


def kill(proc: Any) -> None:
    """Kill a process (psutil.Process) that did not stop when asked; InfraError if refused."""
    import psutil

    try:
        proc.kill()
    except psutil.NoSuchProcess:
        return
    except (psutil.AccessDenied, PermissionError):
        raise InfraError(f"not allowed to kill process {proc.pid}") from None


def which(name: str, extra_dirs: Sequence[str | Path] = ()) -> str | None:
    """`shutil.which`, then a few well-known folders that are often missing from PATH."""
    found = shutil.which(name)
    if found:
        return found
    for folder in extra_dirs:
        candidate = Path(folder) / (name + (".exe" if WINDOWS else ""))
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _bind_fails(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return False  # no IPv6 on this machine: nothing can listen there either
    with sock:
        if not WINDOWS:  # so a just-stopped broker's TIME_WAIT sockets do not count as "busy"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            # EADDRNOTAVAIL: no such address here (e.g. ::1 disabled): not "in use"
            return exc.errno not in (errno.EADDRNOTAVAIL, getattr(errno, "WSAEADDRNOTAVAIL", -1))
    return False


def known_pid(pid: int | None, *, windows: bool = sys.platform == "win32") -> int | None:
    """`pid` when it names a program; None for what is never one of ours: pid 0 (what psutil
    reports when the OS will not say, e.g. under Wine, and Windows' System Idle Process) and,
    on Windows, pid 4 (System, which holds ports for http.sys and SMB)."""
    if pid is None or pid == 0 or (windows and pid == 4):
        return None
    return pid


def _listeners(port: int) -> list[tuple[str, int | None]] | None:
    """(address, pid) of every TCP listener on `port`; None when the OS does not tell us
    (macOS without root)."""
    try:
        import psutil

        return [
            (c.laddr.ip, known_pid(c.pid))
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        ]
    except Exception:  # AccessDenied on macOS, or psutil cannot tell
        return None


def port_in_use(port: int, host: str = "") -> bool:
    """True when something listens on `port` where our clients would reach it.

    `host` "" means: the loopback addresses (127.0.0.1, ::1) and the wildcard. Binding the
    wildcard alone misses a loopback-only listener on Windows and macOS (what the Windows
    installer's service and `brew services` run), so each address is tried, and the OS's list of
    listening sockets is read where it is readable.
    """
    return port_conflict(port, bind=host or None) is not None


def port_conflict(
    port: int, *, bind: str | None = None, platform: str = sys.platform
) -> tuple[str, int | None] | None:
    """(address, pid or None) of a listener that takes `port` from a broker bound on `bind`
    (and loopback), else None.

    Linux refuses a bind past any listener our broker would collide with (a wildcard one
    included), so there the test binds alone decide and the OS's socket list, ~15 ms a port
    with psutil, is read only to name the owner of a busy port. Windows and macOS let a bind on
    loopback succeed beside a wildcard listener: there the list is read first. macOS hides the
    list from non-root users (psutil raises AccessDenied), and its SO_REUSEADDR bind on
    127.0.0.1 succeeds beside the same user's 0.0.0.0 listener (the kernel then looks for an
    exact address match only), so there the wildcards are bound too: an exact match fails.
    """
    from .addresses import LOOPBACK_ADDRESSES, WILDCARDS

    wanted = {*LOOPBACK_ADDRESSES, *WILDCARDS}
    if bind:
        wanted.add(bind)
    hosts = [
        "127.0.0.1" if host == "localhost" else host
        for host in (
            *LOOPBACK_ADDRESSES,
            *([bind] if bind and bind not in LOOPBACK_ADDRESSES else []),
        )
        if host not in ("", "*")
    ]
    if platform == "darwin":
        hosts += [host for host in WILDCARDS if host not in hosts]

    def listed() -> tuple[str, int | None] | None:
        for ip, pid in _listeners(port) or []:
            if ip in wanted or ip.startswith("127.") or ip.startswith("::ffff:127."):
                return ip, pid
        return None

    if platform.startswith("linux"):
        failed = next((host for host in hosts if _bind_fails(host, port)), None)
        return None if failed is None else (listed() or (failed, None))
    found = listed()
    if found is not None:
        return found
    failed = next((host for host in hosts if _bind_fails(host, port)), None)
    return None if failed is None else (failed, None)


def owner_hint(os_name: str = os.name, platform: str = sys.platform) -> str:
    """How to stop the usual owner of a busy MQTT port, a system mosquitto, on this OS."""
    if os_name == "nt":
        return "a mosquitto service? `sc stop mosquitto` (as administrator)"
    if platform == "darwin":
        return "a Homebrew service? `brew services stop mosquitto`"
    return "a system mosquitto service? `sudo systemctl stop mosquitto`"


def port_busy(port: int, variable: str, *, bind: str | None = None) -> tuple[str, str] | None:
    """(what is wrong, what to do) when `port` is busy, else None: who holds it, and how to get
    it back. The one wording every module uses (native and Docker backends, doctor)."""
    found = port_conflict(port, bind=bind)
    if found is None:
        return None
    address, pid = found
    owner = _describe(pid) if pid is not None else port_owner(port)
    by = f" by {owner}" if owner else " by another program"
    extra = f" ({owner_hint()})" if owner and owner.startswith("mosquitto") else ""
    return (
        f"port {port} is already in use on {address}{by}{extra}",
        f"stop it or choose another port with {variable} in .env",
    )


def port_busy_message(port: int, variable: str, *, bind: str | None = None) -> str | None:
    """`port_busy` as the one line an error prints (None when the port is free)."""
    busy = port_busy(port, variable, bind=bind)
    return f"{busy[0]}: {busy[1]}" if busy else None


def _describe(pid: int) -> str:
    try:
        import psutil

        return f"{psutil.Process(pid).name()} (pid {pid})"
    except Exception:
        return f"pid {pid}"


def listening_sockets(proc: Any) -> list[tuple[str, int]] | None:
    """The (address, port) TCP sockets `proc` listens on; None when the OS does not say."""
    try:
        import psutil

        return [
            (c.laddr.ip, c.laddr.port)
            for c in proc.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr
        ]
    except Exception:  # AccessDenied (macOS, another user), gone
        return None


def port_owner(port: int) -> str | None:
    """Name and pid of the process listening on `port`, when the OS lets us see it."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                pid = known_pid(conn.pid)
                if pid is None:
                    return None
                try:
                    name = psutil.Process(pid).name()
                except psutil.Error:
                    name = "?"
                return f"{name} (pid {pid})"
    except Exception:  # permissions (macOS needs root), or psutil cannot tell
        return None
    return None


def wait_gone(proc: Any, timeout: float) -> bool:
    """Wait until a process (psutil.Process) has exited; True if it did within `timeout`.

    psutil's `Process.wait` (pidfd on Linux, kqueue on macOS since 7.2.2) wakes the moment the
    process exits and reaps it when it is our child. A process that is another living
    program's unreaped child stays a zombie: it is waited for in short slices so that case is
    seen as gone too.
    """
    import psutil

    deadline = time.monotonic() + timeout
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE and not _is_our_child(proc):
                return True
        except psutil.Error:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            proc.wait(timeout=min(remaining, 0.5))
            return True
        except psutil.TimeoutExpired:
            continue
        except psutil.Error:
            return True
        except OSError:  # psutil < 7.2.3: pidfd EINVAL race (giampaolo/psutil#2715)
            time.sleep(0.05)


def _is_our_child(proc: Any) -> bool:
    try:
        return bool(proc.ppid() == os.getpid())
    except Exception:
        return False


def run_foreground(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    grace: float = 10.0,
) -> int:
    """Run a command attached to our terminal and return its exit code.

    Ctrl+C reaches the child too (same console / process group): we give it `grace` seconds to
    finish cleanly, then terminate it, then kill it. The exit code is the child's in every case.
    """
    argv = [os.fspath(a) for a in args]
    try:
        child = subprocess.Popen(argv, cwd=cwd, env=dict(env) if env is not None else None)
    except OSError as exc:
        raise cannot_start(argv[0], exc) from None
    try:
        return wait_interruptible(child)
    except KeyboardInterrupt:
        for stop in (None, child.terminate, child.kill):
            if stop is not None:
                stop()
            try:
                return wait_interruptible(child, timeout=grace)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                continue
        return child.wait()


def wait_interruptible(
    child: subprocess.Popen[Any], timeout: float | None = None, *, poll: bool = WINDOWS
) -> int:
    """`child.wait(timeout)` during which Ctrl+C raises KeyboardInterrupt on every OS.

    Windows: `Popen.wait()` blocks in WaitForSingleObject(INFINITE), which Ctrl+C does not
    interrupt, so the task could only end with the child's 0xC000013A. Waiting in short steps
    returns to the interpreter, which raises the pending KeyboardInterrupt. POSIX: a signal
    interrupts the plain wait, which is kept (Popen's timed wait polls with sleeps).
    """
    if not poll:
        return child.wait(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))
        try:
            return child.wait(step)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise


# What a Windows process ended by Ctrl+C exits with (STATUS_CONTROL_C_EXIT); Python there exits
# with it too after an unhandled KeyboardInterrupt.
STATUS_CONTROL_C_EXIT = 0xC000013A


def exit_code(returncode: int) -> int:
    """A child's exit status as a shell reports it (killed by signal N -> 128 + N).

    Ended by Ctrl+C is 130 on every OS, as README's exit codes promise.
    """
    if returncode in (STATUS_CONTROL_C_EXIT, STATUS_CONTROL_C_EXIT - 2**32):
        return 130
    return 128 - returncode if returncode < 0 else returncode


def stream(
    args: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start a command whose output (stdout and stderr merged, text lines) the caller reads as
    it comes, e.g. `docker logs --follow`. The caller ends it (terminate, then wait)."""
    argv = [os.fspath(a) for a in args]
    try:
        return subprocess.Popen(
            argv,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
    except OSError as exc:
        raise cannot_start(argv[0], exc) from None
