"""The native backend: a mosquitto binary from the user's OS, run as a tracked background process.

Everything it writes lives in `ADELINE_STATE_DIR/native/` (git-ignored):
`mosquitto.conf` (rendered from settings at every start), `broker.json` (pid, the process's start
time, ports), `mosquitto.log` and `data/` (persistence, kept until `services.clean --yes`).

A pid alone is not identity: `broker.json` also records the process's start time, so a crashed
broker whose pid was reused by another program is seen as stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any

from .. import broker_config, procs
from ..errors import ConfigError, InfraError
from ..files import write_atomic
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
        return str(path) if path.is_file() else procs.which(configured)
    return procs.which("mosquitto", search_dirs(os.environ if environ is None else environ))


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

    def _read_record(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None

    def _process(self, record: dict[str, Any] | None) -> Any:
        """The live psutil.Process of our broker, or None (gone, zombie, or pid reused)."""
        if not record:
            return None
        import psutil

        try:
            proc = psutil.Process(record["pid"])
            if abs(proc.create_time() - float(record.get("create_time", 0))) > 0.5:
                return None  # the pid now belongs to another process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.Error, ValueError, TypeError):
            return None

    def state(self) -> BrokerState:
        record = self._read_record()
        proc = self._process(record)
        if proc is None or record is None:
            return BrokerState(self.name, False)
        return BrokerState(
            self.name,
            True,
            started_at=float(record["create_time"]),
            detail={
                "pid": record["pid"],
                "port": record.get("port"),
                "ws_port": record.get("ws_port"),
                "config": str(self.conf),
                "log": str(self.log),
                "data": str(self.data),
            },
        )

    def alive(self) -> bool:
        return self._process(self._read_record()) is not None

    def config_mismatch(self) -> str | None:
        record = self._read_record()
        if not record or self._process(record) is None:
            return None
        if record.get("config_sha") != self._fingerprint(self._render()):
            return (
                f"the running native broker (port {record.get('port')}) was started with "
                "other settings: run `inv services.restart` to apply .env"
            )
        return None

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
        return broker_config.render(s, paths, port=s.mqtt_port, ws_port=s.ws_port, run_as=run_as)

    def start(self, *, extras: frozenset[str] = frozenset()) -> None:
        s = self.settings
        if extras:
            raise InfraError(
                f"the native backend cannot start {', '.join(sorted(extras))}",
                hint="use the Docker backend (BROKER_BACKEND=docker) or run it yourself",
            )
        if self.alive():
            return
        binary = find_mosquitto(s.mosquitto_bin)
        if binary is None:
            what = f"MOSQUITTO_BIN={s.mosquitto_bin}" if s.mosquitto_bin else "mosquitto"
            hint = install_hint()
            if s.backend == "auto":
                hint += ", or start Docker (BROKER_BACKEND=auto uses it when its engine answers)"
            raise InfraError(f"{what} was not found", hint=hint)
        secrets = broker_config.check_required_files(s)
        # mosquitto 2.0.16+ warns about secrets others can read (later versions refuse them),
        # e.g. a password file made by `mosquitto_passwd`, which writes mode 0644.
        broker_config.tighten_modes(secrets)
        for port, var in ((s.mqtt_port, "MQTT_BROKER_PORT"), (s.ws_port, "MQTT_WS_PORT")):
            if procs.port_in_use(port):
                owner = procs.port_owner(port)
                by = f" by {owner}" if owner else " by another program"
                extra = ""
                if owner and owner.startswith("mosquitto"):
                    extra = " (a system mosquitto service? `sudo systemctl stop mosquitto`)"
                raise InfraError(
                    f"port {port} is already in use{by}{extra}",
                    hint=f"stop it or choose another port with {var} in .env",
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        text = self._render()
        write_atomic(self.conf, text)
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(
                f"--- adeline-infra: starting {binary} ({time.strftime('%Y-%m-%dT%H:%M:%S')})\n"
            )
        proc = procs.spawn_detached(broker_argv(binary, self.conf), log=self.log, cwd=self.dir)
        import psutil

        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = time.time()
        record = {
            "pid": proc.pid,
            "create_time": create_time,
            "port": s.mqtt_port,
            "ws_port": s.ws_port,
            "binary": binary,
            "config_sha": self._fingerprint(text),
        }
        write_atomic(self.record, json.dumps(record, indent=2))
        # The Popen object is dropped on purpose: the broker outlives this process.
        proc.returncode = 0  # keep Popen.__del__ from warning about a "still running" child

    def stop(self) -> bool:
        record = self._read_record()
        proc = self._process(record)
        if proc is None:
            self.record.unlink(missing_ok=True)
            return False
        import psutil

        procs.terminate(proc)  # mosquitto saves its persistence file and exits
        if not procs.wait_gone(proc, timeout=10):
            with contextlib.suppress(psutil.Error):
                proc.kill()
            procs.wait_gone(proc, timeout=5)
        self.record.unlink(missing_ok=True)
        return True

    def clean(self) -> list[str]:
        import shutil

        removed = []
        if self.data.exists():
            shutil.rmtree(self.data)
            removed.append(str(self.data))
        if self.log.exists():
            self.log.unlink()
            removed.append(str(self.log))
        return removed

    # --- logs -------------------------------------------------------------------------------

    def log_tail(self, lines: int) -> list[str]:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return [line.rstrip("\n") for line in f.readlines()[-lines:]] if lines > 0 else []
        except OSError:
            return []

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


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
