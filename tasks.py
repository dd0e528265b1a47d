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


BACKEND_HELP = "auto, docker or native (overrides BROKER_BACKEND)"


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
    from adeline_infra import console, services

    s = load_settings(BROKER_BACKEND=backend)
    extras = frozenset(with_ or ()) | (frozenset({"go2rtc"}) if s.go2rtc_enabled else frozenset())
    with console.spinner(f"Starting the MQTT broker, waiting for CONNACK at {s.endpoint} ..."):
        result = services.up(s, timeout=timeout, extras=extras)
    verb = "already running" if result.already_running else "ready"
    console.out(
        f"MQTT broker {verb} at {s.endpoint} ({result.backend}, {result.ready_after:.2f} s)"
    )


@task(help={"backend": BACKEND_HELP})
@friendly
def down(c: Context, backend: str | None = None) -> None:
    """Stop the MQTT broker; its data is kept (only services.clean deletes it)."""
    from adeline_infra import console, services

    s = load_settings(BROKER_BACKEND=backend)
    stopped = services.down(s)
    console.out("MQTT broker stopped (data kept)" if stopped else "MQTT broker was not running")


@task(
    help={
        "timeout": "seconds to wait for the broker to answer after the start (default 15)",
        "backend": BACKEND_HELP,
    }
)
@friendly
def restart(c: Context, timeout: float = 15.0, backend: str | None = None) -> None:
    """Stop and start the MQTT broker, applying the current .env (data kept)."""
    down(c, backend=backend)
    up(c, timeout=timeout, backend=backend)


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
        rows = [
            ("backend", f"{info['backend']}  ({info['backend_reason']})"),
            ("state", state),
            ("healthy", console.mark(info["healthy"]) if info["running"] else "-"),
            ("endpoint", info["endpoint"]),
            ("websockets", info["websockets"]),
            ("version", info["version"] or "-"),
            ("uptime", console.duration(info["uptime_s"])),
        ]
        rows += [(k, v) for k, v in info["detail"].items() if v is not None]
        console.key_values("MQTT broker", rows)
        if info["problem"]:
            console.err(info["problem"])
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
    from adeline_infra import console, services

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
    if not yes and not console.confirm("Delete the broker's persisted data?"):
        raise Exit(
            "error: nothing deleted: services.clean deletes the broker's data, "
            "confirm with `inv services.clean --yes`",
            code=2,
        )
    stopped, removed = services.clean(s)
    if stopped:
        console.out("MQTT broker stopped")
    console.out("deleted: " + ", ".join(removed) if removed else "no persisted data to delete")


# ---------------------------------------------------------------------------------------------
# dev
# ---------------------------------------------------------------------------------------------


@task(help={"timeout": "seconds to wait for the broker (default 15)"})
@friendly
def dev(c: Context, timeout: float = 15.0) -> None:
    """Set up for development: .env from .env.example if missing, broker up, how to connect."""
    from adeline_infra import console, devenv

    created = devenv.ensure_env_file(ROOT)
    if created:
        console.out(f"created {created.name} from .env.example (edit it to change settings)")
    up(c, timeout=timeout)
    s = load_settings()
    for line in devenv.connection_help(s):
        console.out(line)


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
# The namespace
# ---------------------------------------------------------------------------------------------

services = Collection("services", up, down, restart, status, logs, clean)

ns = Collection(services, dev, doctor)
