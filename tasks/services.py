"""services.*: start, stop, inspect and clean the MQTT broker (`adeline_infra.services`)."""

from __future__ import annotations

from invoke import Collection, Context, Exit

from ._boundary import BACKEND_HELP, load_settings, task

FORCE_HELP = (
    "stop even when the disk has no room for the broker's save "
    "(the last good database is kept; changes since it are lost)"
)


@task(
    help={
        "timeout": "seconds to wait for the broker to answer an MQTT CONNECT (default 15)",
        "with_": "also start an optional service, e.g. --with go2rtc (Docker backend)",
        "backend": BACKEND_HELP,
    },
    iterable=["with_"],
)
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


@task(help={"backend": BACKEND_HELP, "force": FORCE_HELP})
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
def status(c: Context, json: bool = False, backend: str | None = None) -> None:
    """Show the broker's state. Exit 0 healthy, 1 running but not answering, 3 stopped."""
    from adeline_infra import console, services, views
    from adeline_infra.background import preload

    if not json:
        preload("rich.console", "rich.table")  # while the broker and the engine answer
    s = load_settings(BROKER_BACKEND=backend)
    info = services.status(s)
    if json:
        console.print_json(info.as_dict())
    else:
        views.broker_status(info)
    if info.problem:  # JSON or not: a failing exit code always comes with its one line
        console.err(info.problem)
    if info.warning:  # every time, JSON or not: the user accepted it, not forgot it
        console.err(f"warning: {info.warning}")
    if info.exit_code:
        raise Exit(code=info.exit_code)


@task(
    help={
        "tail": "how many of the last lines to show first (default 50)",
        "follow": "keep printing new lines until Ctrl+C",
        "backend": BACKEND_HELP,
    }
)
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


ns = Collection("services", up, down, restart, status, logs, clean)
