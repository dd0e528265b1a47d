"""The native backend: a mosquitto binary from the user's OS, run as a tracked background process.

Everything it writes lives in `ADELINE_STATE_DIR/native/` (git-ignored):
`mosquitto.conf` (rendered from settings at every start), `broker.json` (pid, the process's start
time, ports), `mosquitto.log` and `data/` (persistence, kept until `services.clean --yes`).

A pid alone is not identity: `broker.json` also records the process's start time, and a
recorded process is ours only while its command line runs our `mosquitto.conf`, so a crashed
broker whose pid was reused by another program is seen as stopped and never stopped by us.

Tracked from birth: `services` holds the state folder's lock (locks.state_lock) around start and
stop, and the record is written right after the spawn. If this process dies in between
(`kill -9`), the broker runs without a record: a mosquitto whose command line runs our config
file is ours, and the next `up`/`down`/`status` adopts it.

A stop asks mosquitto to save and exit (procs.request_stop: SIGTERM, or the named event on
Windows), waits MOSQUITTO_STOP_TIMEOUT plus time for the database's size, and only then kills.
It then confirms the save (the database was rewritten, the log has no save error). A hard link
`data/mosquitto.db.last-good` keeps the last good database, at no cost in space, for when a save
fails (a full disk): the next start puts it back.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any

from .. import broker_config, procs
from ..broker_config import NO_SPACE, save_failure, save_failure_hint
from ..errors import ConfigError, InfraError
from ..files import tail_lines, write_atomic
from .base import Backend, BrokerState

# Folders where package managers put mosquitto that are often not on PATH.
_POSIX_DIRS = (
    "/usr/sbin",
    "/usr/local/sbin",
    "/opt/homebrew/sbin",
    "/opt/homebrew/opt/mosquitto/sbin",
    "/usr/local/opt/mosquitto/sbin",
)


def search_dirs(environ: Mapping[str, str], *, windows: bool = procs.WINDOWS) -> list[str]:
    """Where to look for mosquitto after PATH, in order.

    Windows: its installer does not touch PATH; it sets MOSQUITTO_DIR and installs into
    %ProgramFiles%\\mosquitto (Chocolatey and winget run that installer), so look there.
    """
    if not windows:
        return list(_POSIX_DIRS)
    found = [environ.get("MOSQUITTO_DIR", "")]
    for var in ("ProgramFiles", "ProgramW6432", "ProgramFiles(x86)"):
        base = environ.get(var) or environ.get(var.upper())
        if base:
            found.append(str(PureWindowsPath(base) / "mosquitto"))
    found += [r"C:\Program Files\mosquitto", r"C:\Program Files (x86)\mosquitto"]
    return list(dict.fromkeys(d for d in found if d))  # in order, once each


def install_hint(platform: str = sys.platform) -> str:
    """How to get mosquitto on this system; MOSQUITTO_BIN for a binary we do not find."""
    if platform == "darwin":
        return "install it with `brew install mosquitto`, or set MOSQUITTO_BIN to its path"
    if platform == "win32":
        return (
            "install it with `winget install EclipseFoundation.Mosquitto` (or `choco install "
            "mosquitto`; found through MOSQUITTO_DIR or %ProgramFiles%\\mosquitto), "
            "or set MOSQUITTO_BIN to mosquitto.exe"
        )
    return (
        "install it with `sudo apt install mosquitto` (Debian/Ubuntu) or "
        "`sudo dnf install mosquitto` (Fedora), or set MOSQUITTO_BIN to its path"
    )


def find_mosquitto(configured: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """MOSQUITTO_BIN when set (a path, or a name on PATH); else PATH, then `search_dirs`."""
    if configured:
        path = Path(configured).expanduser()
        try:
            is_file = path.is_file()
        except OSError:  # e.g. a name longer than the file system allows: not a program
            return None
        return str(path) if is_file else procs.which(configured)
    return procs.which("mosquitto", search_dirs(os.environ if environ is None else environ))


def not_executable(
    binary: str, *, windows: bool = procs.WINDOWS, pathext: str | None = None
) -> str | None:
    """What to do when `binary` cannot be started as a program, else None.

    POSIX: the execute bit. Windows has none: CreateProcess runs what its extension says is a
    program (PATHEXT: .exe, .cmd ...); anything else (a `mosquitto` file without .exe, the
    config) failed at the spawn with WinError 193 instead of this one line.
    """
    if windows:
        known = (pathext or os.environ.get("PATHEXT") or ".COM;.EXE;.BAT;.CMD").upper()
        if PureWindowsPath(binary).suffix.upper() in known.split(";"):
            return None
        return "point MOSQUITTO_BIN at mosquitto.exe (Windows runs only .exe, .cmd, ... files)"
    if os.access(binary, os.X_OK):
        return None
    return f"`chmod +x {binary}`, or point MOSQUITTO_BIN at the mosquitto program"


def broker_paths(
    settings: Any, workdir: Path, data: Path, *, windows: bool = procs.WINDOWS
) -> broker_config.BrokerPaths:
    """The files as the native broker opens them: relative to its working folder, `workdir`.

    mosquitto on Windows opens files with ANSI calls and expands %VAR% in paths, so an absolute
    path under C:\\Users\\José\\ (or any name outside the code page) silently loses the
    persistence file and breaks the password and TLS files. The broker runs with `workdir` as its
    current folder, so a relative path avoids the user's folder names. Where none exists (another
    drive) the absolute path stays, and on Windows one mosquitto cannot open is a ConfigError.
    """

    def where(path: Path, used: bool = True) -> PurePath:
        # a file the settings do not use is not rendered: no reason to refuse its path
        return broker_relative(path, workdir, windows=windows) if used else path

    tls = bool(settings.use_tls)
    return broker_config.BrokerPaths(
        data_dir=where(data),
        passwd_file=where(settings.passwd_file, not settings.allow_anonymous),
        ca_file=where(settings.ca_file, tls),
        cert_file=where(settings.tls_dir / "server.crt", tls),
        key_file=where(settings.tls_dir / "server.key", tls),
    )


def broker_relative(path: Path, workdir: Path, *, windows: bool = procs.WINDOWS) -> PurePath:
    """`path` relative to `workdir` when one exists (`..` allowed), else absolute.

    Both are resolved first: `..` is followed physically by the OS, so a symlinked state folder
    would otherwise lead the broker elsewhere.
    """
    target = path.resolve()
    try:
        relative = os.path.relpath(target, workdir.resolve())
    except ValueError:  # Windows: another drive, no relative path
        relative = str(target)
    shown = PurePath(relative)
    if windows and (not relative.isascii() or "%" in relative):
        raise ConfigError(
            f"mosquitto on Windows cannot open {target}: it reads paths in the ANSI code page "
            "and expands %VAR% in them",
            hint="keep ADELINE_STATE_DIR and the secrets on one drive, in folders whose names "
            "are plain ASCII without %",
        )
    return shown


def broker_argv(binary: str, conf: Path, *, windows: bool = procs.WINDOWS) -> list[str]:
    """The broker's command line; it runs with `conf`'s folder as its working folder.

    Windows: the config is named relative to it, for the reason of `broker_paths` (mosquitto
    gets its arguments in the ANSI code page). Elsewhere the full path stays, so `ps` shows
    which checkout's broker a process is.
    """
    return [binary, "-c", conf.name if windows else str(conf)]


SAVE_BYTES_PER_S = 20 * 1024 * 1024  # assumed save speed at shutdown; slow disks get the base
DB_NAME = "mosquitto.db"


def stop_grace(base: float, db_size: int) -> float:
    """Seconds to wait for mosquitto's save before killing it: the setting plus the db's size."""
    return base + db_size / SAVE_BYTES_PER_S


def no_space(exc: OSError, where: Path) -> InfraError | None:
    import errno

    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return InfraError(
            f"no space left on the device holding {where}",
            hint="free some space and run the command again",
        )
    return None


class NativeBackend(Backend):
    name = "native"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.dir: Path = settings.state_dir / "native"
        self.conf = self.dir / "mosquitto.conf"
        self.record = self.dir / "broker.json"
        self.log = self.dir / "mosquitto.log"
        self.data = self.dir / "data"

    # --- process identity -------------------------------------------------------------------

    def on_record(self) -> bool:
        """Whether a broker started here is on record (one file's existence: no process scan).
        `state()` is the answer; this is only a cheap hint (`BROKER_BACKEND=auto`)."""
        return self.record.is_file()

    def _read_record(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None

    def runs_our_config(self, cmdline: list[str], cwd: Callable[[], str] | None = None) -> bool:
        """A command line that runs mosquitto with our config file (`... -c <our conf>`).

        On Windows the config is named relative to the broker's working folder (broker_argv):
        then `cwd` (the process's, asked only for such a candidate) completes it.
        """
        ours = os.path.normcase(os.path.abspath(self.conf))
        for flag, value in zip(cmdline, cmdline[1:], strict=False):
            if flag not in ("-c", "--config-file"):
                continue
            full = value
            if not os.path.isabs(value):
                if cwd is None or os.path.basename(value) != self.conf.name:
                    continue
                try:
                    full = os.path.join(cwd(), value)
                except Exception:  # psutil.Error: gone, or not ours to inspect
                    continue
            if os.path.normcase(os.path.abspath(full)) == ours:
                return True
        return False

    def _process(self, record: dict[str, Any] | None) -> Any:
        """The live psutil.Process of our broker, or None (gone, zombie, pid reused, or a process
        that does not run our config)."""
        if not record:
            return None
        import psutil

        try:
            proc = psutil.Process(record["pid"])
            if abs(proc.create_time() - float(record.get("create_time", 0))) > 0.5:
                return None  # the pid now belongs to another process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            if not self.runs_our_config(proc.cmdline(), proc.cwd):
                return None  # same pid and start time, but not our mosquitto
            return proc
        except (psutil.Error, ValueError, TypeError):
            return None

    def _orphans(self) -> list[Any]:
        """Mosquittos running our config that the record does not name (started by an `inv`
        that died before writing the record). Ours, to adopt or stop."""
        import psutil

        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            try:
                cmd = proc.info["cmdline"] or []
                if proc.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                if not self.runs_our_config(cmd, proc.cwd):
                    continue
                found.append(proc)
            except (psutil.Error, TypeError):
                continue
        return found

    def _current(self) -> tuple[Any, dict[str, Any] | None]:
        """Our running broker (psutil.Process) and its record; an adopted orphan gets a record
        built from what it runs (not written: the locked paths do that)."""
        record = self._read_record()
        proc = self._process(record)
        if proc is not None:
            return proc, record
        orphans = self._orphans()
        if not orphans:
            return None, None
        return orphans[0], self._record_for(orphans[0], adopted=True)

    def _record_for(self, proc: Any, *, adopted: bool = False, **extra: Any) -> dict[str, Any]:
        import psutil

        try:
            create_time = proc.create_time()
        except psutil.Error:
            create_time = time.time()
        record: dict[str, Any] = {
            "pid": proc.pid,
            "create_time": create_time,
            "port": self.settings.mqtt_port,
            "ws_port": self.settings.ws_port,
            "local_port": self.settings.local_port,
        }
        if adopted:
            record["adopted"] = True
            with contextlib.suppress(OSError):  # what it runs is the config file on disk
                record["config_sha"] = self._fingerprint(self.conf.read_text(encoding="utf-8"))
        record.update(extra)
        return record

    def _write_record(self, record: dict[str, Any]) -> None:
        try:
            write_atomic(self.record, json.dumps(record, indent=2))
        except OSError as exc:
            raise no_space(exc, self.dir) or InfraError(
                f"cannot write {self.record}: {exc.strerror or exc}"
            ) from None

    def state(self) -> BrokerState:
        proc, record = self._current()
        if proc is None or record is None:
            return BrokerState(self.name, False)
        detail = {
            "pid": record["pid"],
            "port": record.get("port"),
            "ws_port": record.get("ws_port"),
            "local_port": record.get("local_port"),
            "config": str(self.conf),
            "log": str(self.log),
            "data": str(self.data),
        }
        if record.get("adopted"):
            detail["adopted"] = "yes: started by an inv that did not finish"
        return BrokerState(self.name, True, started_at=float(record["create_time"]), detail=detail)

    def alive(self) -> bool:
        return self._current()[0] is not None

    def config_mismatch(self) -> str | None:
        proc, record = self._current()
        if proc is None or not record:
            return None
        if record.get("config_sha") != self._fingerprint(self._render()):
            return (
                f"the running native broker (port {record.get('port')}) was started with "
                "other settings: run `inv services.restart` to apply .env"
            )
        return None

    def running_surface(self) -> broker_config.RunningSurface | None:
        """The config file our running broker was started with (written at its start, before
        the spawn) and the sockets the OS says it holds."""
        proc, _ = self._current()
        if proc is None:
            return None
        try:
            text = self.conf.read_text(encoding="utf-8")
        except OSError:
            return None
        try:
            wanted: str | None = self._render()
        except (ConfigError, InfraError):
            wanted = None
        sockets = procs.listening_sockets(proc) or None  # none seen: its config stands for them
        return broker_config.running_surface(str(self.conf), text, sockets, wanted)

    # --- lifecycle --------------------------------------------------------------------------

    def _fingerprint(self, config_text: str) -> str:
        """The config and the secrets' contents: either changing means a restart is due."""
        files = broker_config.required_files(self.settings)
        return _sha(config_text + broker_config.secrets_digest(files))

    def _render(self) -> str:
        s = self.settings
        run_as = "root" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        paths = broker_paths(s, self.dir, self.data)
        # As root, mosquitto would drop to the `mosquitto` user and then fail to write the
        # data folder (losing retained messages, exit 0) or read the secrets: stay who we are.
        return broker_config.render(
            s,
            paths,
            port=s.mqtt_port,
            ws_port=s.ws_port,
            local_port=s.local_port,
            addresses=broker_config.bind_addresses(s),
            run_as=run_as,
        )

    def start(self, *, extras: frozenset[str] = frozenset()) -> None:
        """Start mosquitto unless ours runs (an orphan of ours is adopted). The caller holds the
        state folder's lock (services.up)."""
        s = self.settings
        if extras:
            raise InfraError(
                f"the native backend cannot start {', '.join(sorted(extras))}",
                hint="use the Docker backend (BROKER_BACKEND=docker) or run it yourself",
            )
        proc, record = self._current()
        if proc is not None and record is not None:
            if record.get("adopted"):
                self._write_record(record)
            self._rotate_log(running=True)
            return
        binary = self.binary()
        secrets = broker_config.check_required_files(s)
        # mosquitto 2.0.16+ warns about secrets others can read (later versions refuse them),
        # e.g. a password file made by `mosquitto_passwd`, which writes mode 0644.
        broker_config.tighten_modes(secrets)
        for listener in broker_config.listeners(s):  # MQTT, WebSockets (unless 0), local
            bind = None if listener.loopback_only else listener.addresses[0]
            busy = procs.port_busy_message(listener.port, listener.variable, bind=bind)
            if busy:
                raise InfraError(busy)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.data.mkdir(parents=True, exist_ok=True)
            self.restore_last_good()
            self._rotate_log(running=False)
            text = self._render()
            write_atomic(self.conf, text)
            with open(self.log, "a", encoding="utf-8") as log:
                log.write(
                    f"--- adeline-infra: starting {binary} ({time.strftime('%Y-%m-%dT%H:%M:%S')})\n"
                )
        except OSError as exc:
            raise no_space(exc, self.dir) or InfraError(
                f"cannot write the broker's files in {self.dir}: {exc.strerror or exc}",
                hint="fix the folder's permissions or point ADELINE_STATE_DIR elsewhere",
            ) from None
        child = procs.spawn_detached(broker_argv(binary, self.conf), log=self.log, cwd=self.dir)
        # The Popen object is dropped on purpose: the broker outlives this process.
        child.returncode = 0  # keep Popen.__del__ from warning about a "still running" child
        import psutil

        try:
            born = psutil.Process(child.pid)
        except psutil.Error:
            return  # it died at once: services.up reports its log
        record = self._record_for(born, binary=binary, config_sha=self._fingerprint(text))
        try:
            self._write_record(record)
        except InfraError:
            with contextlib.suppress(InfraError):  # an untracked broker is worse than none
                procs.kill(born)
            procs.wait_gone(born, 5)
            raise

    def binary(self) -> str:
        """The mosquitto program services.up would start; InfraError/ConfigError when it cannot."""
        s = self.settings
        binary = find_mosquitto(s.mosquitto_bin)
        if binary is None:
            what = f"MOSQUITTO_BIN={s.mosquitto_bin}" if s.mosquitto_bin else "mosquitto"
            hint = install_hint()
            if s.backend == "auto":
                hint += ", or start Docker (BROKER_BACKEND=auto uses it when its engine answers)"
            raise InfraError(f"{what} was not found", hint=hint)
        fix = not_executable(binary)
        if fix:
            raise ConfigError(f"MOSQUITTO_BIN={binary} is not executable", hint=fix)
        return binary

    # --- the database -----------------------------------------------------------------------

    @property
    def db(self) -> Path:
        return self.data / DB_NAME

    @property
    def last_good(self) -> Path:
        return self.data / (DB_NAME + ".last-good")

    def _db_size(self) -> int:
        try:
            return self.db.stat().st_size
        except OSError:
            return 0

    def keep_last_good(self) -> None:
        """Hard-link the current database as the last good one (no extra space: mosquitto saves
        to mosquitto.db.new and renames it over, so the old file lives on under this name)."""
        if self._db_size() == 0:
            return  # an empty or missing database is not "good": keep the previous one
        tmp = self.data / (DB_NAME + ".last-good.tmp")
        try:
            tmp.unlink(missing_ok=True)
            os.link(self.db, tmp)
            os.replace(tmp, self.last_good)
        except OSError:  # no hard links here (some file systems): copy when there is room
            with contextlib.suppress(OSError):
                import shutil

                shutil.copy2(self.db, tmp)
                os.replace(tmp, self.last_good)

    def restore_last_good(self) -> bool:
        """Put the last good database back when the current one is missing or empty (a failed
        save). True when it did."""
        with contextlib.suppress(OSError):
            (self.data / (DB_NAME + ".new")).unlink(missing_ok=True)  # a failed save's leftover
        try:
            good = self.last_good.stat().st_size > 0
        except OSError:
            return False
        if not good or self._db_size() > 0:
            return False
        tmp = self.data / (DB_NAME + ".restore.tmp")
        try:
            tmp.unlink(missing_ok=True)
            try:
                os.link(self.last_good, tmp)
            except OSError:
                import shutil

                shutil.copy2(self.last_good, tmp)
            os.replace(tmp, self.db)
        except OSError:
            return False
        return True

    def preflight_stop(self, task: str = "services.down") -> None:
        """Refuse a stop whose save cannot fit on the disk (`inv TASK --force` skips it; the hint
        names the task that refused, so `restart` does not send the user to `down`)."""
        proc, _ = self._current()
        if proc is None:
            return
        import shutil

        need = int(self._db_size() * 1.1) + 64 * 1024  # the new file is written beside the old
        try:
            free = shutil.disk_usage(self.data).free
        except OSError:
            return
        if free < need:
            raise InfraError(
                f"not enough free space to save the broker's data: the device holding "
                f"{self.data} has {_size(free)} free, the save needs about {_size(need)}",
                hint=f"free some space, or `inv {task} --force` "
                "(keeps the last good database, loses the changes since)",
            )

    # --- stop -------------------------------------------------------------------------------

    def stop(self) -> bool:
        """Stop our broker (recorded or orphaned). False when none ran. InfraError (exit 1) when
        it had to be killed or its save failed: the data was not all kept."""
        proc, record = self._current()
        if proc is None:
            self.record.unlink(missing_ok=True)
            return False
        targets = [proc] + [p for p in self._orphans() if p.pid != proc.pid]
        for target in targets:
            self._stop_one(target)
        return True

    def _stop_one(self, proc: Any) -> None:
        self.keep_last_good()
        grace = stop_grace(self.settings.stop_timeout, self._db_size())
        try:
            log_mark = self.log.stat().st_size
        except OSError:
            log_mark = 0
        asked_at = time.time()
        # mosquitto saves its persistence file and exits; not asked = still starting (Windows)
        asked = procs.request_stop(proc, wait=grace)
        if not asked or not procs.wait_gone(proc, timeout=grace):
            suspended = _suspended(proc)
            procs.kill(proc)
            procs.wait_gone(proc, timeout=5)
            self.record.unlink(missing_ok=True)
            self.restore_last_good()
            raise InfraError(
                f"killed after {grace:.0f} s: changes since the last save are lost",
                hint="it was suspended (SIGSTOP, Ctrl+Z, a debugger) and could not save"
                if suspended
                else "a large database needs longer: raise MOSQUITTO_STOP_TIMEOUT",
            )
        self.record.unlink(missing_ok=True)
        problem = self._save_problem(log_mark, asked_at)
        if problem:
            restored = self.restore_last_good()
            kept = "the last good database is kept" if restored or self._db_size() else ""
            raise InfraError(
                f"the broker stopped but its save failed: {problem}"
                + (f"; {kept}" if kept else ""),
                hint=save_failure_hint(problem, self.data, self.log),
            )
        self._rotate_log(running=False)

    def _save_problem(self, log_mark: int, asked_at: float) -> str | None:
        """Why the save at shutdown did not happen, or None when it did."""
        try:
            with open(self.log, "rb") as f:
                f.seek(log_mark)
                since = f.read(1024 * 1024).decode("utf-8", "replace")
        except OSError:
            since = ""
        failure = save_failure(since)
        if failure == NO_SPACE:
            return f"no space left on the device holding {self.data}"
        if failure:
            return failure
        try:
            st = self.db.stat()
        except OSError:
            return f"{self.db} was not written"
        if st.st_size == 0:
            return f"{self.db} is empty"
        if st.st_mtime < asked_at - 2:
            return f"{self.db} was not rewritten at the stop"
        return None

    # --- log rotation -----------------------------------------------------------------------

    def _rotate_log(self, *, running: bool) -> None:
        """Keep mosquitto.log under MOSQUITTO_LOG_MAX_MB: past it, it becomes mosquitto.log.1.

        A stopped broker's log is renamed. A running broker on POSIX appends (O_APPEND) to the
        file it was given, so its log is copied then truncated in place (logrotate's
        copytruncate; a line written in between can be lost). On Windows a running broker's log
        waits for the next start.
        """
        limit = self.settings.log_max_mb * 1024 * 1024
        try:
            if self.log.stat().st_size <= limit:
                return
        except OSError:
            return
        old = self.log.with_name(self.log.name + ".1")
        with contextlib.suppress(OSError):
            if not running:
                os.replace(self.log, old)
            elif os.name != "nt":
                import shutil

                with open(self.log, "rb") as src, open(old, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                os.truncate(self.log, 0)

    def clean(self) -> list[str]:
        import shutil

        if self.data.is_symlink():
            raise InfraError(
                f"{self.data} is a symbolic link: services.clean does not delete what it points to",
                hint="delete the files there yourself, or remove the link",
            )
        if self.data.exists() and not self.data.is_dir():
            raise InfraError(f"{self.data} is a file, not the broker's data folder")
        removed = []
        try:
            if self.data.exists():
                shutil.rmtree(self.data)
                removed.append(str(self.data))
            for log in (self.log, self.log.with_name(self.log.name + ".1")):
                if log.exists():
                    log.unlink()
                    removed.append(str(log))
        except OSError as exc:
            raise InfraError(
                f"cannot delete {exc.filename or self.data}: {exc.strerror or exc}"
            ) from None
        return removed

    # --- logs -------------------------------------------------------------------------------

    def log_tail(self, lines: int) -> list[str]:
        return tail_lines(self.log, lines)

    def follow_logs(self, tail: int) -> Iterator[str]:
        yield from self.log_tail(tail)
        position = self.log.stat().st_size if self.log.exists() else 0
        pending = ""
        while True:
            try:
                size = self.log.stat().st_size
            except OSError:
                size = 0
            if size < position:  # cleaned or truncated: start over
                position = 0
            if size > position:
                with open(self.log, encoding="utf-8", errors="replace") as f:
                    f.seek(position)
                    chunk = f.read()
                    position = f.tell()
                pending += chunk
                *complete, pending = pending.split("\n")
                yield from complete
            else:
                time.sleep(0.2)  # a file has no "new data" event that works on every OS

    def version(self) -> str | None:
        binary = find_mosquitto(self.settings.mosquitto_bin)
        if not binary:
            return None
        try:
            out = procs.run([binary, "-h"], check=False, timeout=5).stdout
        except InfraError:
            return None
        first = out.strip().splitlines()[0] if out.strip() else ""
        return first.rsplit(" ", 1)[-1] if "version" in first else None


def _suspended(proc: Any) -> bool:
    """A process stopped by a signal: it cannot save however long we wait, so raising
    MOSQUITTO_STOP_TIMEOUT (the usual hint after a kill) would not help."""
    import psutil

    try:
        return bool(proc.status() == psutil.STATUS_STOPPED)
    except psutil.Error:
        return False


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
