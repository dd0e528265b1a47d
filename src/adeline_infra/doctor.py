"""`inv doctor`: the design document's Troubleshooting section, run as checks.

Each check is a row: name, status (ok | warn | fail | skip), what was found, and how to fix it.
`fail` is reserved for what stops the configured backend from running or being used (a bad
`.env` value, a missing binary or engine, a busy port, a broker that refuses us, a missing or
expired certificate, a missing password file); `warn` is worth knowing but not blocking (broker
stopped, certificate expiring soon, loose file mode, go2rtc not answering); `skip` is a check
that does not apply to this configuration. The exit code is 1 when any row fails, else 0.

Nothing here raises for a broken setup: a problem is a row, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import procs
from . import settings as settings_mod
from .addresses import is_loopback
from .errors import ConfigError, InfraError

if TYPE_CHECKING:
    from .backends.base import Backend, BrokerState
    from .settings import Settings

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    backend: str | None = None  # the backend `services.*` would use, when it can be known
    # where the settings the tasks share with the pipeline come from: name -> (value, source)
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def summary(self) -> str:
        if self.failures:
            names = ", ".join(c.name for c in self.failures)
            return f"{len(self.failures)} failing check(s): {names}"
        warns = sum(c.status == WARN for c in self.checks)
        backend = f"the {self.backend} backend" if self.backend else "the broker"
        return f"{backend} can run" + (f" ({warns} warning(s))" if warns else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failures,
            "exit_code": self.exit_code,
            "backend": self.backend,
            "summary": self.summary(),
            "checks": [asdict(c) for c in self.checks],
            "sources": {k: {"value": v, "source": src} for k, (v, src) in self.sources.items()},
        }


# --- the run ------------------------------------------------------------------------------


def run(
    root: Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Report:
    """Every check, in the order a person would troubleshoot."""
    report = Report()
    add = report.checks.append
    add(check_python())
    add(check_env_file(settings_mod.env_file_for(Path(root).resolve(), environ)))
    s, problems, repaired = load_settings(root, overrides, environ)
    report.checks += problems or [
        Check("settings", OK, f"all {len(settings_mod.VARIABLES)} settings are valid")
    ]
    if s is None:
        # Tools can still be checked (with defaults standing in for the bad values); what
        # depends on the broker's settings waits until .env is fixed.
        engine = docker_engine()
        report.checks += check_docker(repaired, engine, needed=None)
        if repaired is not None:
            add(check_mosquitto(repaired, needed=None))
        add(Check("broker", SKIP, "not checked until the settings above are valid"))
        return report

    backend, reason = resolve_backend(s)
    if backend is None:
        add(Check("backend", FAIL, reason, "set BROKER_BACKEND=native (or auto) in .env"))
        return report
    report.backend = backend.name
    report.sources = shared_sources(s)
    report.checks += check_pipeline_config(s)
    add(Check("backend", OK, f"{backend.name} ({reason})"))
    state = _state(backend)
    if backend.managed:
        engine = docker_engine()
        report.checks += check_docker(s, engine, needed=backend.name == "docker")
        add(check_mosquitto(s, needed=backend.name == "native"))
        report.checks += check_ports(s, backend, state)
        report.checks += check_listeners(s)
    else:
        add(
            Check(
                "local broker",
                SKIP,
                "BROKER_BACKEND=external: Docker, mosquitto and local ports are not needed",
            )
        )
    report.checks += check_broker(s, backend, state)
    if backend.managed and state is not None and state.running:
        running = check_running(s, backend)
        if any(c.name == "running vs settings" for c in running):  # not what runs: say so
            report.checks = [
                dataclasses.replace(c, detail=f"the settings ask for {c.detail}")
                if c.name.startswith("listener ")
                else c
                for c in report.checks
                if c.name != "broker config"  # the row below names what differs
            ]
        report.checks += running
    report.checks += check_certificates(s, server=backend.managed)
    add(
        check_password_file(s)
        if backend.managed
        else Check("password file", SKIP, "BROKER_BACKEND=external: its users are kept there")
    )
    secrets_row = check_secrets_acl(s)
    if secrets_row is not None:
        add(secrets_row)
    go2rtc_row = check_go2rtc(s, backend.name)
    if go2rtc_row is not None:
        add(go2rtc_row)
    return report


# --- Python and settings ------------------------------------------------------------------


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    shown = ".".join(str(v) for v in version)
    if version[:2] < MIN_PYTHON:
        return Check(
            "python",
            FAIL,
            f"Python {shown} is too old ({sys.executable})",
            "install Python 3.10 or newer and run `python scripts/bootstrap.py` with it",
        )
    return Check("python", OK, f"Python {shown} ({sys.executable})")


def check_env_file(env_file: Path) -> Check:
    if env_file.is_file():
        return Check(".env", OK, f"{env_file} is present")
    return Check(
        ".env",
        WARN,
        f"{env_file} does not exist: defaults and the environment are used",
        "`inv dev` creates it from .env.example",
    )


def load_settings(
    root: Path,
    overrides: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None,
) -> tuple[Settings | None, list[Check], Settings | None]:
    """(settings, one failing row per problem, settings with defaults for the bad values).

    `settings.load` names every problem in one pass, each with its variable: one row each.
    """
    try:
        loaded = settings_mod.load(root, overrides, environ=environ)
    except settings_mod.SettingsError as exc:
        return None, [_setting_row(p) for p in exc.problems], exc.partial
    except ConfigError as exc:  # the pipeline's config could not be read at all
        return None, [_setting_row(exc)], None
    return loaded, [], loaded


def _setting_row(problem: ConfigError) -> Check:
    var = problem.variable
    return Check(
        f"setting {var}" if var else "settings",
        FAIL,
        str(problem),
        f"correct {var} (.env.example explains it)" if var else "",
    )


def resolve_backend(s: Settings) -> tuple[Backend | None, str]:
    """`backends.resolve`; (None, why) when the chosen backend cannot be used."""
    from . import backends

    try:
        return backends.resolve(s)
    except InfraError as exc:
        return None, str(exc)


def _state(backend: Backend) -> BrokerState | None:
    try:
        return backend.state()
    except Exception:  # a backend that cannot even tell must not end the report
        return None


# --- the pipeline's config ----------------------------------------------------------------

# The settings the tasks share with the pipeline, shown with where each value came from.
SHARED = ("BROKER_BACKEND", "PIPELINE_CONFIG", "MQTT_BROKER_HOST", "MQTT_BROKER_PORT",
          "MQTT_USERNAME", "MQTT_USE_TLS", "TOPIC_COMMANDS", "TOPIC_STATUS",
          "TOPIC_DETECTIONS", "TOPIC_METRICS")  # fmt: skip


def shared_sources(s: Settings) -> dict[str, tuple[str, str]]:
    out = {}
    for name in SHARED:
        var = settings_mod.BY_NAME[name]
        value = getattr(s, var.attr)
        shown = "-" if value is None else str(value)
        if isinstance(value, bool):
            shown = "true" if value else "false"
        out[name] = (shown, s.sources.get(name, "?"))
    return out


def check_pipeline_config(s: Settings) -> list[Check]:
    """Does the pipeline (which reads only its config.yaml) use the broker and topics we do?"""
    from . import pipeline

    name = "pipeline config"
    config = s.pipeline
    if config is None:
        return [Check(name, SKIP, "PIPELINE_CONFIG is empty: the pipeline's config is not read")]
    shown = settings_mod._display(config.path, s.root)
    if not config.exists:
        return [
            Check(
                name,
                SKIP,
                f"{shown} does not exist: the tasks use their own settings",
                "the pipeline needs it: copy config/adeline/config.yaml.example there",
            )
        ]
    rows = [
        Check(
            f"pipeline {d.var}",
            FAIL,
            d.line(),
            f"set it in one place: the pipeline reads only {shown}; remove {d.var} from "
            f"{d.tasks_source} or change {shown}",
        )
        for d in pipeline.disagreements(s)
    ]
    door = pipeline.local_door(s)
    host, port = door if door else (s.mqtt_host, s.mqtt_port)
    if not rows:
        rows.append(
            Check(
                name,
                OK,
                f"{shown}: the pipeline uses {host}:{port} and the same 4 topics as the tasks",
            )
        )
    if door is not None:
        rows.append(
            Check(
                "pipeline TLS",
                OK,
                f"MQTT_USE_TLS=true: the pipeline (no TLS in its client) uses the plaintext "
                f"loopback port MQTT_LOCAL_PORT={door[1]}",
            )
        )
    elif s.use_tls:
        rows.append(
            Check(
                "pipeline TLS",
                WARN,
                "MQTT_USE_TLS=true but the pipeline has no TLS support: it cannot connect",
                f"set MQTT_LOCAL_PORT (plaintext, loopback only) and use that port as "
                f"mqtt.broker.port in {shown}",
            )
        )
    return rows


# --- Docker -------------------------------------------------------------------------------


def docker_engine() -> bool:
    """Does a Docker engine answer (through the Docker backend's own engine access)?"""
    from .backends.docker import engine_answers

    return engine_answers()


def _engine_details(image: str) -> tuple[str | None, bool | None, str | None]:
    """(engine version, image present, why the engine does not answer) from the Docker
    backend's own engine access (the user's `docker` command); None where it cannot tell."""
    from .backends.docker import Engine

    engine = Engine()
    try:
        version = engine.server_version(timeout=10) or None
    except InfraError as exc:
        return None, None, str(exc)
    windows = engine.linux_containers_problem(timeout=10)
    if windows is not None:
        return version, None, str(windows)
    try:
        present: bool | None = engine.image_present(image)
    except InfraError:
        present = None
    return version, present, None


def find_compose(s: Settings | None) -> tuple[Check | None, str | None]:
    """The `docker compose` row from the backend's own Compose discovery (run afresh)."""
    from .backends.docker import discover

    choice = s.docker_compose if s is not None else "auto"
    try:
        found = discover(choice, fresh=True, v1_version=True)
    except InfraError as exc:
        return None, str(exc)
    version = f" version {found.version}" if found.version else ""
    detail = f"`{found.shown}`{version}"
    if found.note:
        return Check(
            "docker compose", WARN, f"{detail}: {found.note}", "reinstall the plugin"
        ), None
    return Check("docker compose", OK, detail), None


def _missing(needed: bool | None, other: str) -> tuple[str, str]:
    """Status and detail suffix for something absent: fail when the backend in use needs it,
    skip when it does not, warn when the backend is unknown (bad settings)."""
    if needed is None:
        return WARN, ""
    return (FAIL, "") if needed else (SKIP, f" (not needed: the {other} backend is used)")


def check_docker(s: Settings | None, engine: bool, *, needed: bool | None) -> list[Check]:
    """Engine, Compose and image rows. Missing pieces fail only when the Docker backend is used."""
    missing, unused = _missing(needed, "native")
    rows = []
    image = s.mosquitto_image if s else settings_mod.BY_NAME["MOSQUITTO_IMAGE"].default
    version, present, why = _engine_details(image)
    engine = engine and why is None
    if engine:
        rows.append(
            Check("docker engine", OK, "answers" + (f" (Docker {version})" if version else ""))
        )
    else:
        rows.append(
            Check(
                "docker engine",
                missing,
                (why or "no Docker engine answers") + unused,
                "start Docker Desktop / `sudo systemctl start docker`; check DOCKER_HOST"
                if needed is not False
                else "",
            )
        )
    compose, problem = find_compose(s)
    if compose:
        rows.append(compose)
    else:
        rows.append(
            Check(
                "docker compose",
                missing,
                (problem or "Docker Compose was not found") + unused,
                "install the Docker Compose plugin (Docker Desktop includes it)"
                if needed is not False
                else "",
            )
        )
    if not engine:
        rows.append(Check("docker image", SKIP, f"{image}: no engine to ask"))
    elif present:
        rows.append(Check("docker image", OK, f"{image} is present"))
    elif present is False:
        rows.append(
            Check(
                "docker image",
                WARN if needed else SKIP,
                f"{image} is not present locally",
                f"`docker pull {image}` (services.up pulls it when a registry answers)"
                if needed
                else "",
            )
        )
    else:
        rows.append(Check("docker image", WARN if needed else SKIP, f"{image}: could not tell"))
    return rows


# --- native -------------------------------------------------------------------------------


def check_mosquitto(s: Settings, *, needed: bool | None) -> Check:
    from .backends.native import NativeBackend, find_mosquitto, install_hint

    binary = find_mosquitto(s.mosquitto_bin)
    if binary is None:
        what = (
            f"MOSQUITTO_BIN={s.mosquitto_bin} was not found"
            if s.mosquitto_bin
            else ("no mosquitto binary on PATH or in the usual folders")
        )
        status, unused = _missing(needed, "Docker")
        return Check("mosquitto", status, what + unused, "" if unused else install_hint())
    backend = NativeBackend(s)
    try:
        backend.binary()  # the checks services.up makes (e.g. the execute bit)
    except InfraError as exc:
        status, unused = _missing(needed, "Docker")
        return Check("mosquitto", status, exc.message + unused, "" if unused else exc.hint or "")
    version = backend.version()
    return Check("mosquitto", OK, binary + (f" (version {version})" if version else ""))


# --- ports and the broker -----------------------------------------------------------------


def check_ports(
    s: Settings,
    backend: Backend,
    state: BrokerState | None,
    *,
    busy_of: Callable[[int, str, str | None], tuple[str, str] | None] | None = None,
    owner_of: Callable[[int], str | None] = procs.port_owner,
) -> list[Check]:
    """One row per listener's port: free, held by our broker, or busy in the words
    `procs.port_busy` gives the tasks (the same check `services.up` makes)."""
    from .broker_config import listeners

    def busy_default(port: int, variable: str, bind: str | None) -> tuple[str, str] | None:
        return procs.port_busy(port, variable, bind=bind)

    busy_at = busy_of or busy_default
    rows = []
    running = bool(state and state.running)
    ours_ports = (
        {state.detail.get(k) for k in ("port", "ws_port", "local_port")} if state else set()
    )
    what_of = {"mqtt": "MQTT port", "websockets": "WebSockets port", "local": "local MQTT port"}
    for listener in listeners(s):
        port = listener.port
        name = f"{what_of[listener.role]} {port}"
        bind = None if listener.loopback_only else listener.addresses[0]
        busy = busy_at(port, listener.variable, bind)
        if busy is None:
            rows.append(Check(name, OK, "free"))
            continue
        if running and (backend.name != "native" or port in ours_ports):
            owner = owner_of(port)
            by = f" ({owner})" if owner else ""
            rows.append(Check(name, OK, f"held by this checkout's {backend.name} broker{by}"))
            continue
        rows.append(Check(name, FAIL, busy[0], busy[1]))
    return rows


def check_listeners(s: Settings) -> list[Check]:
    """One row per listener the settings make (address, port, protocol, TLS, login, client
    certificate), failing for a door weaker than the settings promise: anonymous beyond loopback
    without MQTT_EXPOSE_ANONYMOUS, passwords in plaintext beyond loopback, WebSockets weaker
    than MQTT. An accepted anonymous broker beyond loopback warns."""
    from .broker_config import listener_problems, listeners
    from .settings import exposure_warning

    problems: dict[str, list[str]] = {}
    for listener, why in listener_problems(s):
        problems.setdefault(listener.role, []).append(why)
    if s.use_tls:  # the running broker, as it answers: e.g. plain ws:// left from before TLS
        from .broker_config import tls_listener_problems

        try:
            live = tls_listener_problems(s)
        except InfraError:
            live = []  # no server.crt: the certificate rows say so
        for listener in listeners(s):
            if not listener.tls:
                continue
            mark = f"the {listener.scheme} listener on port {listener.port} "
            problems.setdefault(listener.role, []).extend(
                p.removeprefix(mark) for p in live if p.startswith(mark)
            )
        problems = {role: found for role, found in problems.items() if found}
    fixes = {
        "mqtt": "MQTT_ALLOW_ANONYMOUS=false and MQTT_USE_TLS=true, or MQTT_BIND_ADDRESS=loopback",
        "websockets": "the same as for MQTT, or MQTT_WS_PORT=0 to turn WebSockets off",
        "local": "",
    }
    rows = []
    warning = exposure_warning(s)
    for listener in listeners(s):
        name = f"listener {listener.role}"
        found = problems.get(listener.role)
        if found:
            rows.append(
                Check(
                    name, FAIL, f"{listener.describe()} ({'; '.join(found)})", fixes[listener.role]
                )
            )
        elif warning and not listener.loopback_only and listener.anonymous:
            rows.append(Check(name, WARN, f"{listener.describe()} ({warning})"))
        else:
            rows.append(Check(name, OK, listener.describe()))
    if not s.ws_port:
        rows.append(Check("listener websockets", SKIP, "off (MQTT_WS_PORT=0)"))
    return rows


def check_broker(s: Settings, backend: Backend, state: BrokerState | None) -> list[Check]:
    """Is the broker running, and does it answer CONNACK with our credentials and TLS?"""
    from . import mqtt

    running = bool(state and state.running)
    who = f"as {s.username!r}" if s.username else "anonymously"
    how = f"{who}, TLS {'on' if s.use_tls else 'off'}"
    if not running and is_loopback(s.mqtt_host) and not procs.port_in_use(s.mqtt_port):
        return [
            Check(
                "broker",
                WARN,
                f"not running (the {backend.name} backend would start it at {s.endpoint})",
                "`inv services.up`",
            )
        ]
    rows = []
    try:
        result = mqtt.probe(s, timeout=min(s.connect_timeout, 3.0))
    except InfraError as exc:  # e.g. TLS on but no CA to trust
        rows.append(Check("broker", FAIL, str(exc)))
    else:
        if result.ok:
            rows.append(
                Check(
                    "broker",
                    OK,
                    f"answers CONNACK at {s.endpoint} {how} ({result.elapsed * 1000:.0f} ms)",
                )
            )
            rows.append(check_sys(s))
        else:
            rows.append(
                Check(
                    "broker",
                    FAIL,
                    mqtt.describe_failure(s, result.reason) + f" ({how})",
                    "`inv services.logs`" if running else "",
                )
            )
    if running:
        try:
            mismatch = backend.config_mismatch()
        except Exception:
            mismatch = None
        if mismatch:
            rows.append(Check("broker config", WARN, mismatch, "`inv services.restart`"))
    return rows


def check_running(s: Settings, backend: Backend) -> list[Check]:
    """The broker that runs, as it is (its own configuration file and the sockets it holds),
    whatever the current settings say: one started with one-off values is judged by what it
    does. Anonymous beyond loopback fails unless the current settings accept exactly that."""
    try:
        surface = backend.running_surface()
    except InfraError as exc:
        return [Check("running broker", SKIP, f"its surface could not be read: {exc}")]
    if surface is None:
        return []
    rows = []
    accepted = s.expose_anonymous and s.allow_anonymous and not surface.differences
    if surface.exposed_anonymous and not accepted:
        rows.append(
            Check(
                "running broker",
                FAIL,
                f"anonymous and listening beyond loopback on {', '.join(surface.exposed)} "
                f"(config {surface.config_file}): anyone who reaches this machine can read the "
                "detections and command the pipeline",
                "`inv services.restart` to apply the settings (MQTT_ALLOW_ANONYMOUS=false, or "
                "MQTT_BIND_ADDRESS=loopback)",
            )
        )
    elif surface.exposed_anonymous:
        rows.append(Check("running broker", WARN, f"{surface.describe()} ({surface.exposure()})"))
    else:
        rows.append(Check("running broker", OK, surface.describe()))
    if surface.differences:
        rows.append(
            Check(
                "running vs settings",
                WARN,
                "the running broker was started with other settings: "
                + "; ".join(surface.differences),
                "`inv services.restart` applies the current settings",
            )
        )
    return rows


def check_sys(s: Settings) -> Check:
    """What the broker's `$SYS` tells (mosquitto's, EMQX's): a broker without one is healthy,
    only less described, so its absence is a skip, never a warning."""
    from . import mqtt
    from .monitor import broker_info
    from .services import STATUS_SYS

    try:
        known = broker_info(mqtt.retained(s, STATUS_SYS, purpose="doctor", timeout=2.0))
    except InfraError as exc:
        return Check("broker $SYS", SKIP, f"not read: {exc}")
    if known["sys_tree"] is None:
        return Check(
            "broker $SYS",
            SKIP,
            "none published (not mosquitto, $SYS off, or denied to this user): version and "
            "uptime unknown; status, monitor and control work without it",
        )
    tree = (
        "mosquitto's $SYS/broker/" if known["sys_tree"] == "mosquitto" else "EMQX's $SYS/brokers/"
    )
    version = known["version"] or "unknown version"
    return Check("broker $SYS", OK, f"{tree}: {version}")


# --- secrets ------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def certificate_row(
    name: str, path: Path, *, fix: str, host: str | None = None, now: dt.datetime | None = None
) -> Check:
    """One certificate: present, parseable, valid now, not expiring soon, (server) names `host`.

    Read, dated and matched by `certs` (as `inv tls.check` does), never parsed again here.
    """
    from . import certs

    if not path.is_file():
        return Check(name, FAIL, f"{path} does not exist", fix)
    try:
        start = certs.load_cert(path).not_valid_before_utc
        info = certs.describe(path, now=now)
    except InfraError as exc:  # unreadable, or not a PEM certificate: says which file
        return Check(name, FAIL, exc.message, fix)
    now = now or _now()
    end = info.not_after[:10]
    if now < start:
        return Check(name, FAIL, f"{path} is not valid before {start:%Y-%m-%d %H:%M} UTC", fix)
    if info.days_left < 0:
        return Check(name, FAIL, f"{path} expired on {end}", fix)
    if host is not None and not certs.host_matches(info.sans, host):
        return Check(
            name,
            WARN,
            f"{path} does not name MQTT_BROKER_HOST={host}: clients will reject it",
            "reissue it for that host (`inv tls.certs --hosts ...`) or change MQTT_BROKER_HOST",
        )
    if info.days_left < certs.WARN_DAYS:
        return Check(name, WARN, f"{path} expires in {info.days_left} day(s), on {end}", fix)
    return Check(name, OK, f"{path} valid until {end} ({info.days_left} days)")


def _remote_names_row(s: Settings) -> list[Check]:
    """Bound beyond loopback: which names clients from other machines must use (warn when the
    server certificate names only loopback: they would all reject it)."""
    from . import certs

    path = s.tls_dir / "server.crt"
    if s.loopback_only or not path.is_file():
        return []
    try:
        sans = certs.describe(path).sans
    except InfraError:
        return []  # the server certificate row says why
    names, warning = certs.remote_clients(sans, s.bind_address)
    if warning:
        return [Check("names for other machines", WARN, warning, "`inv tls.certs --hosts ...`")]
    return [Check("names for other machines", OK, f"clients connect with {', '.join(names)}")]


def check_certificates(
    s: Settings, *, now: dt.datetime | None = None, server: bool = True
) -> list[Check]:
    """`server`: False for a broker we do not run (only the CA we trust it with is ours)."""
    if not s.use_tls:
        return [Check("certificates", SKIP, "MQTT_USE_TLS=false")]
    renew = "`inv tls.certs` (then `inv tls.check`)"
    if not server:
        renew = "put the CA that signed the broker's certificate there as ca.crt"
    rows = [certificate_row("CA certificate", s.ca_file, fix=renew, now=now)]
    if server:
        rows.append(
            certificate_row(
                "server certificate",
                s.tls_dir / "server.crt",
                fix=renew,
                host=s.mqtt_host,
                now=now,
            )
        )
        rows += _remote_names_row(s)
        key = s.tls_dir / "server.key"
        rows.append(
            Check("server key", OK, f"{key} is present")
            if key.is_file()
            else Check("server key", FAIL, f"{key} does not exist", renew)
        )
    if s.tls_require_client_cert or s.client_cert.exists():
        rows.append(
            certificate_row(
                "client certificate",
                s.client_cert,
                fix=f"`inv tls.client {s.tls_client_name}`",
                now=now,
            )
        )
    return rows


def check_password_file(s: Settings) -> Check:
    """Read the way the broker and `auth.*` read it (`passwd.PasswordFile`), never parsed here."""
    from . import passwd

    name = "password file"
    path = s.passwd_file
    if s.allow_anonymous:
        return Check(name, SKIP, "MQTT_ALLOW_ANONYMOUS=true: no password file is used")
    user = s.username or "NAME"
    if not path.is_file():
        return Check(name, FAIL, f"{path} does not exist", f"`inv auth.add-user {user}`")
    try:
        users = passwd.PasswordFile.load(path, missing_ok=False).users()
    except InfraError as exc:
        return Check(name, FAIL, str(exc), f"`inv auth.add-user {user}`")
    from .broker_config import check_credentials

    try:  # the check services.up makes: MQTT_USERNAME/MQTT_PASSWORD log in with this file
        check_credentials(s)
    except InfraError as exc:
        return Check(name, FAIL, exc.message, exc.hint or "")
    count = f"{len(users)} user(s)"
    mode = passwd.loose_mode(path)
    if mode is not None:
        return Check(
            name,
            WARN,
            f"{path} is readable by others (mode {mode:o}): other users can read the hashes "
            f"({count})",
            f"chmod 600 {path}",
        )
    return Check(name, OK, f"{path}: {count}")


def check_secrets_acl(
    s: Settings, *, windows: bool = os.name == "nt", home: Path | None = None
) -> Check | None:
    """Windows: mode 0600 is a no-op there; a file takes its folder's permissions (ACL).

    A user's profile folder (C:\\Users\\NAME) is private to its owner by default; a folder
    elsewhere (C:\\src) usually lets every local user read. Said as it is, not claimed.
    None on POSIX, where the password file row shows the real mode.
    """
    if not windows:
        return None
    home = Path.home() if home is None else home
    files = {".env": s.env_file, "MQTT_TLS_DIR": s.tls_dir, "MOSQUITTO_PASSWD_FILE": s.passwd_file}
    outside = [f"{name} ({path})" for name, path in files.items() if not _is_under(path, home)]
    if outside:
        return Check(
            "secrets",
            WARN,
            f"{', '.join(outside)} outside your user folder {home}: they take their folder's "
            "permissions, which may let other users read them (Windows has no mode 0600)",
            f"keep the checkout (or those settings) under {home}",
        )
    return Check(
        "secrets",
        OK,
        f"under {home}: they take its permissions, private to you by default "
        "(Windows has no mode 0600)",
    )


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


# --- go2rtc -------------------------------------------------------------------------------


def check_go2rtc(s: Settings, backend_name: str) -> Check | None:
    from . import go2rtc

    if not go2rtc.configured(s):
        return None
    if s.go2rtc_enabled and backend_name == "native":
        return Check(
            "go2rtc",
            FAIL,
            "GO2RTC_ENABLED=true but the native backend cannot start go2rtc",
            "use BROKER_BACKEND=docker, or set GO2RTC_ENABLED=false and run go2rtc yourself",
        )
    info = go2rtc.status(s)
    if not info.reachable:
        fix = "`inv services.up --with go2rtc`" if backend_name == "docker" else "start go2rtc"
        return Check("go2rtc", WARN, info.error or f"{info.url} does not answer", fix)
    streams = ", ".join(
        f"{st['name']} ({st['producers']} producer(s), {st['consumers']} consumer(s))"
        for st in info.streams
    )
    version = f"go2rtc {info.version}" if info.version else "go2rtc"
    return Check("go2rtc", OK, f"{version} at {info.url}: " + (streams or "no streams"))
