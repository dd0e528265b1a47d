"""Adeline's infrastructure tasks: `inv --list` shows them, `inv --help TASK` explains one.

This file stays thin and cheap to import, because every `inv` call pays for what it imports:
the library under src/adeline_infra (and paho, rich, docker, cryptography through it) is
imported inside the task bodies. Expected failures end in one line and an exit code:
0 ok, 1 failed, 2 bad configuration or usage, 3 `services.status` found the broker stopped.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from invoke import Collection, Context, Exit, task

ROOT = Path(__file__).resolve().parent
if str(ROOT / "src") not in sys.path:  # the checkout's code, even before `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

from adeline_infra.errors import InfraError  # noqa: E402  (stdlib only: costs nothing)

if TYPE_CHECKING:
    from adeline_infra.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn expected failures into one line on stderr and their exit code; Ctrl+C into 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from adeline_infra import console  # stdlib only at import

        console.protect_streams()
        console.break_interrupts()
        try:
            return func(*args, **kwargs)
        except InfraError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]


def load_settings(**flags: Any) -> Settings:
    """Settings from .env, the environment, and these task flags (by variable name)."""
    from adeline_infra import settings

    return settings.load(ROOT, flags)


def _usage_errors_exit_2() -> None:
    """Our contract says usage errors exit 2; invoke exits 1 on a bad task option or name.

    Task arguments are parsed after this file is loaded, by `Program.parse_tasks`: wrap it so a
    ParseError becomes `Exit(message, 2)`, which invoke prints as the one line it already was.
    """
    from invoke.parser import ParseError
    from invoke.program import Program

    original = getattr(Program, "parse_tasks", None)
    if original is None or getattr(original, "adeline_wrapped", False):
        return

    def parse_tasks(self: Program) -> None:
        try:
            original(self)
        except ParseError as exc:
            raise Exit(str(exc), code=2) from None
        except ValueError as exc:  # invoke casts `--days x` with int(): not a ParseError
            raise Exit(_cast_error(str(exc)), code=2) from None

    parse_tasks.adeline_wrapped = True  # type: ignore[attr-defined]
    Program.parse_tasks = parse_tasks  # type: ignore[method-assign]


def _cast_error(message: str) -> str:
    """`invalid literal for int() with base 10: 'x'` -> `error: --days 'x' is not a number`."""
    import re

    match = re.search(r": '(.*)'$", message)
    value = match.group(1) if match else ""
    args = sys.argv[1:]
    option = next(
        (args[i - 1] for i in range(len(args) - 1, 0, -1) if args[i] == value), "an option"
    )
    kind = "a whole number" if "int()" in message else "a number"
    return f"error: {option} {value!r} is not valid: expected {kind} (see `inv --help TASK`)"


_usage_errors_exit_2()

BACKEND_HELP = "auto, docker, native or external (overrides BROKER_BACKEND)"


# ---------------------------------------------------------------------------------------------
# services.*
# ---------------------------------------------------------------------------------------------


@task(
    help={
        "timeout": "seconds to wait for the broker to answer an MQTT CONNECT (default 15)",
        "with_": "also start an optional service, e.g. --with go2rtc (Docker backend)",
        "backend": BACKEND_HELP,
    },
    iterable=["with_"],
)
@friendly
def up(
    c: Context, timeout: float = 15.0, with_: list[str] | None = None, backend: str | None = None
) -> None:
    """Start the MQTT broker and wait until it answers (no-op when it already runs)."""
    from adeline_infra import cli, console, services

    cli.seconds("timeout", timeout)
    s = load_settings(BROKER_BACKEND=backend)
    extras = frozenset(with_ or ()) | (frozenset({"go2rtc"}) if s.go2rtc_enabled else frozenset())
    doing = "Starting the MQTT broker" if s.backend != "external" else "Waiting for the broker"
    with console.spinner(f"{doing}, waiting for CONNACK at {s.endpoint} ...") as say:
        result = services.up(s, timeout=timeout, extras=extras, waiting=say)
    if not result.managed:
        console.out(
            f"external MQTT broker answers at {s.endpoint} ({result.ready_after:.2f} s; "
            "nothing started)"
        )
        return
    verb = "already running" if result.already_running else "ready"
    console.out(
        f"MQTT broker {verb} at {s.endpoint} ({result.backend}, {result.ready_after:.2f} s)"
    )
    if result.warning:
        console.err(f"warning: {result.warning}")


FORCE_HELP = (
    "stop even when the disk has no room for the broker's save "
    "(the last good database is kept; changes since it are lost)"
)


@task(help={"backend": BACKEND_HELP, "force": FORCE_HELP})
@friendly
def down(c: Context, backend: str | None = None, force: bool = False) -> None:
    """Stop the MQTT broker; its data is kept (only services.clean deletes it)."""
    from adeline_infra import console, services

    s = load_settings(BROKER_BACKEND=backend)
    with console.spinner("Stopping the MQTT broker (it saves its data first) ...") as say:
        stopped = services.down(s, force=force, waiting=say)
    console.out("MQTT broker stopped (data kept)" if stopped else "MQTT broker was not running")


@task(
    help={
        "timeout": "seconds to wait for the broker to answer after the start (default 15)",
        "backend": BACKEND_HELP,
        "force": FORCE_HELP,
    }
)
@friendly
def restart(
    c: Context, timeout: float = 15.0, backend: str | None = None, force: bool = False
) -> None:
    """Stop and start the MQTT broker, applying the current .env (data kept)."""
    from adeline_infra import cli, console, services

    cli.seconds("timeout", timeout)  # before the stop, not after it
    s = load_settings(BROKER_BACKEND=backend)
    extras = frozenset({"go2rtc"}) if s.go2rtc_enabled else frozenset()
    with console.spinner(f"Restarting the MQTT broker at {s.endpoint} ...") as say:
        stopped, result = services.restart(
            s, timeout=timeout, extras=extras, force=force, waiting=say
        )
    if stopped:
        console.out("MQTT broker stopped (data kept)")
    console.out(f"MQTT broker ready at {s.endpoint} ({result.backend}, {result.ready_after:.2f} s)")
    if result.warning:
        console.err(f"warning: {result.warning}")


@task(help={"json": "print JSON instead of a table", "backend": BACKEND_HELP})
@friendly
def status(c: Context, json: bool = False, backend: str | None = None) -> None:
    """Show the broker's state. Exit 0 healthy, 1 running but not answering, 3 stopped."""
    from adeline_infra import console, services

    s = load_settings(BROKER_BACKEND=backend)
    info, code = services.status(s)
    if json:
        console.print_json(info)
    else:
        state = "running" if info["running"] else "stopped"
        if info["backend"] == "external":
            state = "run elsewhere (BROKER_BACKEND=external): only its answer is known"
        rows = [
            ("backend", f"{info['backend']}  ({info['backend_reason']})"),
            ("state", state),
            ("healthy", console.mark(info["healthy"]) if info["running"] else "-"),
            ("endpoint", info["endpoint"]),
            ("websockets", info["websockets"] or "off (MQTT_WS_PORT=0)"),
            ("listens on", ", ".join(info["addresses"]) or "-"),
            ("version", info["version"] or "-"),
            ("uptime", console.duration(info["uptime_s"])),
        ]
        if info["local"]:
            rows.append(("local (plaintext)", info["local"]))
        rows += [(k, v) for k, v in info["detail"].items() if v is not None]
        console.key_values("MQTT broker", rows)
        if "go2rtc" in info:
            g = info["go2rtc"]
            streams = ", ".join(
                f"{x['name']} ({x['producers']} producers, {x['consumers']} consumers)"
                for x in g["streams"]
            )
            console.key_values(
                "go2rtc",
                [
                    ("api", g["url"]),
                    ("reachable", console.mark(g["reachable"])),
                    ("version", g["version"] or "-"),
                    ("streams", streams or "-"),
                ]
                + ([("problem", g["error"])] if g["error"] else []),
            )
    if info["problem"]:  # JSON or not: a failing exit code always comes with its one line
        console.err(info["problem"])
    if info["warning"]:  # every time, JSON or not: the user accepted it, not forgot it
        console.err(f"warning: {info['warning']}")
    if code:
        raise Exit(code=code)


@task(
    help={
        "tail": "how many of the last lines to show first (default 50)",
        "follow": "keep printing new lines until Ctrl+C",
        "backend": BACKEND_HELP,
    }
)
@friendly
def logs(c: Context, tail: int = 50, follow: bool = False, backend: str | None = None) -> None:
    """Show the broker's log (-f to follow it; Ctrl+C ends cleanly)."""
    from adeline_infra import cli, console, services

    cli.count("tail", tail)
    s = load_settings(BROKER_BACKEND=backend)
    printed = False
    try:
        for line in services.logs(s, tail=tail, follow=follow):
            print(line, flush=True)
            printed = True
    except KeyboardInterrupt:
        pass  # the normal way to stop following
    if not printed and not follow:
        console.err("the broker has written no log yet: start it with `inv services.up`")


@task(help={"yes": "really delete the broker's persisted data", "backend": BACKEND_HELP})
@friendly
def clean(c: Context, yes: bool = False, backend: str | None = None) -> None:
    """Stop the broker and DELETE its persisted data (retained messages, sessions)."""
    from adeline_infra import console, services

    s = load_settings(BROKER_BACKEND=backend)
    services.ensure_managed(s, "clean")
    if not yes and not console.confirm("Delete the broker's persisted data?"):
        raise Exit(
            "error: nothing deleted: services.clean deletes the broker's data, "
            "confirm with `inv services.clean --yes`",
            code=2,
        )
    with console.spinner("Stopping the MQTT broker and deleting its data ...") as say:
        stopped, removed = services.clean(s, waiting=say)
    if stopped:
        console.out("MQTT broker stopped")
    console.out("deleted: " + ", ".join(removed) if removed else "no persisted data to delete")


# ---------------------------------------------------------------------------------------------
# auth.*  (the password file: MOSQUITTO_PASSWD_FILE)
# ---------------------------------------------------------------------------------------------


@task(
    help={
        "user": "the user name to add, or whose password to change",
        "password_stdin": "read the password from one line of stdin instead of asking twice",
        "iterations": "PBKDF2 iterations (default 101, what mosquitto_passwd 2.0 writes)",
    }
)
@friendly
def add_user(c: Context, user: str, password_stdin: bool = False, iterations: int = 101) -> None:
    """Add a broker user, or change its password (asked twice, hidden; never an argument)."""
    from adeline_infra import console, passwd

    s = load_settings()
    passwd.validate_user(user)
    passwd.validate_iterations(iterations)
    password = passwd.read_password(from_stdin=password_stdin)
    with console.spinner(f"Writing {s.passwd_file} ...") as say:
        is_new = passwd.add_user(s.passwd_file, user, password, iterations=iterations, waiting=say)
    console.out(f"{'added' if is_new else 'updated'} user {user} in {s.passwd_file}")
    if s.allow_anonymous:
        console.out("the broker only asks for it with MQTT_ALLOW_ANONYMOUS=false in .env")
    console.out("a running broker reads the file at its start: `inv services.restart`")


@task(help={"user": "the user name to remove"})
@friendly
def remove_user(c: Context, user: str) -> None:
    """Remove a broker user from the password file."""
    from adeline_infra import console, passwd

    s = load_settings()
    with console.spinner(f"Writing {s.passwd_file} ...") as say:
        passwd.delete_user(s.passwd_file, user, waiting=say)
    console.out(f"removed user {user} from {s.passwd_file}")
    console.out("a running broker reads the file at its start: `inv services.restart`")


@task(help={"json": "print JSON instead of a table"})
@friendly
def list_users(c: Context, json: bool = False) -> None:
    """List the users of the password file (names and hash scheme, never hashes)."""
    from adeline_infra import console, passwd

    s = load_settings()
    pw = passwd.PasswordFile.load(s.passwd_file)
    rows = pw.entries()
    if json:
        console.print_json(
            {"file": str(s.passwd_file), "users": [{"user": u, "scheme": k} for u, k in rows]}
        )
        return
    if not rows:
        console.out(f"no users in {s.passwd_file}: add one with `inv auth.add-user NAME`")
        return
    console.table(str(s.passwd_file), ("user", "hash"), rows)
    warning = passwd.file_mode_problem(s.passwd_file)
    if warning:
        console.err(f"warning: {warning}")


# ---------------------------------------------------------------------------------------------
# tls.*  (the certificates: MQTT_TLS_DIR)
# ---------------------------------------------------------------------------------------------

KEY_TYPE_HELP = "type of NEW keys: ec (P-256, default) or rsa (2048); existing keys are kept"


def _print_written(report: Any) -> None:
    from adeline_infra import console

    for name, action in report.actions:
        console.out(f"{report.out / name}: {action}")
    for warning in report.warnings:
        console.err(f"warning: {warning}")


@task(
    help={
        "hosts": "comma-separated names/IPs the server certificate is valid for "
        "(default: localhost,127.0.0.1,::1,mosquitto and MQTT_BROKER_HOST)",
        "key_type": KEY_TYPE_HELP,
        "days": "validity of the server certificate in days (default 825)",
        "force": "replace the CA and the server key (every client must get the new ca.crt)",
    }
)
@friendly
def certs(
    c: Context,
    hosts: str | None = None,
    key_type: str | None = None,
    days: int = 825,
    force: bool = False,
) -> None:
    """Create the CA (or keep it) and (re)issue the server certificate in MQTT_TLS_DIR."""
    from adeline_infra import certs as certs_mod
    from adeline_infra import console

    s = load_settings()
    host_list = certs_mod.parse_hosts(hosts or [*certs_mod.DEFAULT_HOSTS, s.mqtt_host])
    report = certs_mod.make_tls_dir(
        s.tls_dir, hosts=host_list, key_type=key_type, days=days, force=force
    )
    _print_written(report)
    if not certs_mod.host_matches(host_list, s.mqtt_host):
        console.err(f"warning: MQTT_BROKER_HOST={s.mqtt_host} is not among the hosts")
    if not s.use_tls:
        console.out("the broker uses them with MQTT_USE_TLS=true in .env")


@task(
    help={
        "name": "the client's name: NAME.crt/NAME.key, CN=NAME",
        "key_type": KEY_TYPE_HELP,
        "days": "validity in days (default 825)",
        "force": "replace NAME.key (the CA is never replaced from here)",
    }
)
@friendly
def client(
    c: Context, name: str, key_type: str | None = None, days: int = 825, force: bool = False
) -> None:
    """Issue a client certificate NAME.crt/NAME.key from the CA in MQTT_TLS_DIR."""
    from adeline_infra import certs as certs_mod

    s = load_settings()
    _print_written(certs_mod.add_client(s.tls_dir, name, key_type=key_type, days=days, force=force))


@task(
    help={
        "json": "print JSON instead of text",
        "days": "warn (exit 1) when a certificate expires within this many days (default 30)",
    }
)
@friendly
def check(c: Context, json: bool = False, days: int = 30) -> None:
    """Show the certificates (subject, SANs, expiry); exit 1 if expiring or not for the host."""
    from adeline_infra import broker_config, cli, console
    from adeline_infra import certs as certs_mod

    cli.count("days", days, maximum=36500)
    s = load_settings()
    result = certs_mod.check(s.tls_dir, s.mqtt_host, client_name=s.tls_client_name, warn_days=days)
    tls_listeners = broker_config.tls_listeners(s)
    if tls_listeners:
        result.problems.extend(broker_config.tls_listener_problems(s))
    if json:
        console.print_json(
            {
                "tls_dir": str(s.tls_dir),
                "host": s.mqtt_host,
                "ok": result.ok,
                "certificates": [i.as_dict() for i in result.certificates],
                "problems": result.problems,
                "listeners": [x.describe() for x in tls_listeners],
            }
        )
    else:
        for info in result.certificates:
            rows = [
                ("subject", info.subject),
                ("issuer", info.issuer),
                ("SANs", ", ".join(info.sans) or "-"),
                ("expires", f"{info.not_after} ({info.days_left} days)"),
                ("key", info.key_type),
            ]
            console.key_values(str(s.tls_dir / info.file), rows)
        for listener in tls_listeners:
            console.out(f"listener: {listener.describe()}")
        if not s.use_tls:
            console.out("no listener uses them: MQTT_USE_TLS is false")
        for problem in result.problems:
            console.err(f"problem: {problem}")
        if result.ok:
            console.out(f"ok: valid for {s.mqtt_host}, signed by ca.crt, none expiring soon")
    if not result.ok:
        raise Exit(code=1)


# ---------------------------------------------------------------------------------------------
# dev
# ---------------------------------------------------------------------------------------------


@task(help={"timeout": "seconds to wait for the broker (default 15)"})
@friendly
def dev(c: Context, timeout: float = 15.0) -> None:
    """Set up for development: .env from .env.example if missing, broker up, how to connect."""
    from adeline_infra import cli, console, devenv

    cli.seconds("timeout", timeout)
    created = devenv.ensure_env_file(ROOT)
    if created:
        console.out(f"created {created.name} from .env.example (edit it to change settings)")
    up(c, timeout=timeout)
    s = load_settings()
    for line in devenv.connection_help(s):
        console.out(line)
    for line in devenv.pipeline_disagreements(s):
        console.err(line)


# ---------------------------------------------------------------------------------------------
# doctor
# ---------------------------------------------------------------------------------------------


@task(help={"json": "print JSON instead of a table", "backend": BACKEND_HELP})
@friendly
def doctor(c: Context, json: bool = False, backend: str | None = None) -> None:
    """Check Python, .env, Docker/mosquitto, ports, broker, certificates. Exit 1 on a failure."""
    from adeline_infra import console
    from adeline_infra import doctor as checks

    with console.spinner("Checking the setup ..."):
        report = checks.run(ROOT, {"BROKER_BACKEND": backend})
    if json:
        console.print_json(report.as_dict())
    else:
        checks.render(report)
    if report.exit_code:
        raise Exit(f"error: doctor found {report.summary()}", code=report.exit_code)


# ---------------------------------------------------------------------------------------------
# monitor.*
# ---------------------------------------------------------------------------------------------

WATCH_HELP = "redraw in place until Ctrl+C"
INTERVAL_HELP = "seconds between redraws with --watch (default 2)"


@task(
    name="status",
    help={
        "json": "print JSON: {broker: {reachable, version, uptime_s, ...}, pipeline: {status, ...}}"
        " (one object per redraw with --watch, per status with --follow)",
        "watch": WATCH_HELP,
        "interval": INTERVAL_HELP,
        "follow": "print one line per status the pipeline publishes, as it happens, until Ctrl+C "
        "(exit 0, like --watch)",
    },
)
@friendly
def monitor_status(
    c: Context, json: bool = False, watch: bool = False, interval: float = 2.0, follow: bool = False
) -> None:
    """One look at the broker ($SYS: version, uptime, clients, load) and the pipeline's status."""
    from adeline_infra import cli, console, monitor
    from adeline_infra.errors import ConfigError

    if watch and follow:
        raise ConfigError("--watch and --follow do not go together: choose one")
    cli.seconds("interval", interval)
    s = load_settings()
    if follow:
        monitor.follow(s, as_json=json, note=console.err)
    elif watch:
        monitor.watch(s, interval=interval, as_json=json)
    elif json:
        console.print_json(monitor.snapshot(s))
    else:
        monitor.show(monitor.status_view(monitor.snapshot(s)))


@task(
    name="data",
    help={
        "metrics": "also show the metrics topic (TOPIC_METRICS)",
        "verbose": "one more line per detection: class, confidence, box",
        "json": "print each payload untouched, one per line (totals and malformed ones on stderr)",
        "count": "exit after this many messages (exit 1 if --timeout comes first)",
        "timeout": "exit after this many seconds",
    },
)
@friendly
def monitor_data(
    c: Context,
    metrics: bool = False,
    verbose: bool = False,
    json: bool = False,
    count: int = 0,
    timeout: float = 0.0,
) -> None:
    """Tail the pipeline's detections (TOPIC_DETECTIONS) until Ctrl+C; totals per class at exit."""
    from adeline_infra import cli, console, monitor

    cli.count("count", count)
    cli.seconds("timeout", timeout, zero_ok=True)
    s = load_settings()
    say = console.err if json else console.out
    topics = s.topic_detections + (f" and {s.topic_metrics}" if metrics else "")
    totals = monitor.tail(
        s,
        metrics=metrics,
        as_json=json,
        verbose=verbose,
        count=count or None,
        timeout=timeout or None,
        on_ready=lambda: console.err(f"listening to {topics} on {s.endpoint} (Ctrl+C to stop)"),
    )
    for line in totals.summary_lines():
        say(line)
    if count and totals.messages < count:
        raise Exit(
            f"error: only {totals.messages} of {count} messages within {timeout:g} s", code=1
        )


@task(
    name="broker",
    help={
        "json": "print the $SYS values as one JSON object",
        "watch": WATCH_HELP,
        "interval": INTERVAL_HELP,
    },
)
@friendly
def monitor_broker(
    c: Context, json: bool = False, watch: bool = False, interval: float = 2.0
) -> None:
    """The broker's whole $SYS tree: one snapshot, or a live dashboard with --watch."""
    from adeline_infra import cli, console, monitor

    cli.seconds("interval", interval)
    s = load_settings()
    if watch:
        monitor.watch(s, broker_tree=True, interval=interval, as_json=json)
    elif json:
        console.print_json(monitor.sys_tree(s))
    else:
        monitor.show(monitor.sys_view(monitor.sys_tree(s), f"$SYS of {s.endpoint}"))


# ---------------------------------------------------------------------------------------------
# control.*
# ---------------------------------------------------------------------------------------------

CONTROL_HELP = {
    "wait": "then wait for the pipeline's answer and print it (its next status; metrics: its "
    "next metrics message)",
    "timeout": "seconds --wait waits for that answer (default 5)",
    "json": "print the result as JSON",
}


def _send(command: str, wait: bool, timeout: float, json: bool) -> None:
    from adeline_infra import cli, console, control, monitor

    if wait:  # the timeout bounds the wait only (toggle-crop sends 0: no wait)
        cli.seconds("timeout", timeout)
    s = load_settings()
    result = control.send(s, command, wait=wait, timeout=timeout)
    if json:
        console.print_json(result.as_dict())
        return
    console.out(
        f"sent {result.command!r} to {result.topic} (acknowledged by the broker in "
        f"{result.acknowledged_after * 1000:.0f} ms)"
    )
    if result.subscribers is False:
        console.err(f"warning: nobody subscribes to {result.topic}: is the pipeline running?")
    if result.status is not None:
        import json as jsonlib

        info = monitor.pipeline_info(jsonlib.dumps(result.status).encode())
        if info["fields"]:  # a structured status, e.g. the health report
            word = f" {info['status']}" if info["status"] else ""
            console.out(f"pipeline status{word}, as fields:")
            for key, value in monitor.flat_fields(info["fields"]):
                console.out(f"  {key}: {value}")
        else:
            console.out(f"pipeline status: {monitor.status_line(info)}")
    if result.metrics is not None:
        console.out(f"pipeline metrics on {result.answer_topic}:")
        for key, value in monitor.flat_fields(result.metrics):
            console.out(f"  {key}: {value}")


@task(help=CONTROL_HELP)
@friendly
def pause(c: Context, wait: bool = False, timeout: float = 5.0, json: bool = False) -> None:
    """Ask the pipeline to pause inference."""
    _send("pause", wait, timeout, json)


@task(help=CONTROL_HELP)
@friendly
def resume(c: Context, wait: bool = False, timeout: float = 5.0, json: bool = False) -> None:
    """Ask the pipeline to resume inference."""
    _send("resume", wait, timeout, json)


@task(help=CONTROL_HELP)
@friendly
def stop(c: Context, wait: bool = False, timeout: float = 5.0, json: bool = False) -> None:
    """Ask the pipeline to stop."""
    _send("stop", wait, timeout, json)


@task(name="status", help=CONTROL_HELP)
@friendly
def control_status(
    c: Context, wait: bool = False, timeout: float = 5.0, json: bool = False
) -> None:
    """Ask the pipeline to publish its status."""
    _send("status", wait, timeout, json)


@task(help=CONTROL_HELP)
@friendly
def metrics(c: Context, wait: bool = False, timeout: float = 5.0, json: bool = False) -> None:
    """Ask the pipeline to publish its metrics."""
    _send("metrics", wait, timeout, json)


@task(help=CONTROL_HELP)
@friendly
def health(c: Context, wait: bool = False, timeout: float = 5.0, json: bool = False) -> None:
    """Ask the pipeline for a health check."""
    _send("health", wait, timeout, json)


NO_ANSWER_HELP = {"json": "print the result as JSON"}


@task(name="toggle-crop", help=NO_ANSWER_HELP)
@friendly
def toggle_crop(c: Context, json: bool = False) -> None:
    """Toggle the adaptive ROI crop (pipelines with adaptive ROI; it answers on its log only)."""
    _send("toggle_crop", False, 0.0, json)


@task(name="stabilization-stats", help=NO_ANSWER_HELP)
@friendly
def stabilization_stats(c: Context, json: bool = False) -> None:
    """Ask for detection-stabilization statistics (pipelines with stabilization; in its log)."""
    _send("stabilization_stats", False, 0.0, json)


@task(
    help={
        "name": "the command, e.g. toggle_crop or stabilization_stats",
        **CONTROL_HELP,
        "wait": "wait for the answer (only for commands whose answer is known: "
        "pause, resume, stop, status, health, metrics; exit 2 otherwise)",
    }
)
@friendly
def send(
    c: Context, name: str, wait: bool = False, timeout: float = 5.0, json: bool = False
) -> None:
    """Send any command by NAME: publishes {"command": NAME} to TOPIC_COMMANDS."""
    _send(name, wait, timeout, json)


# ---------------------------------------------------------------------------------------------
# pipeline.*
# ---------------------------------------------------------------------------------------------


def _passthrough(c: Context) -> list[str]:
    """What came after `--` on the command line, exactly as typed (invoke joins it with spaces)."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    import shlex

    return shlex.split(c.remainder) if c.remainder else []


@task(
    name="run",
    help={
        "with_services": "start the broker first (services.up, waits for CONNACK): "
        "the Makefile's full-start",
        "timeout": "with --with-services: seconds to wait for the broker (default 15)",
    },
)
@friendly
def pipeline_run(c: Context, with_services: bool = False, timeout: float = 15.0) -> None:
    """Run the pipeline (python -m PIPELINE_MODULE) with our MQTT settings and *_ENABLED=False.

    It gets the credentials in its environment (never its arguments) and runs where it finds
    PIPELINE_CONFIG; it refuses to start when that file names another broker or topics than
    ours. `python -m adeline` reads no arguments; for another PIPELINE_MODULE, arguments after
    `--` are passed on. Its exit code is ours; Ctrl+C stops it cleanly.
    """
    from adeline_infra import pipeline

    s = load_settings()
    pipeline.check_agreement(s)
    if with_services:
        up(c, timeout=timeout)
    code = pipeline.run(s, _passthrough(c))
    if code:
        raise Exit(code=code)


# ---------------------------------------------------------------------------------------------
# The namespace
# ---------------------------------------------------------------------------------------------

services = Collection("services", up, down, restart, status, logs, clean)
monitor = Collection("monitor", monitor_status, monitor_data, monitor_broker)
control = Collection(
    "control",
    pause,
    resume,
    stop,
    control_status,
    metrics,
    health,
    toggle_crop,
    stabilization_stats,
    send,
)
pipeline = Collection("pipeline", pipeline_run)

auth = Collection("auth", add_user, remove_user, list_users)
tls = Collection("tls", certs, client, check)

ns = Collection(services, monitor, control, pipeline, auth, tls, dev, doctor)
