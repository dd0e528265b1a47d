"""monitor.*: watch the broker and the pipeline (`adeline_infra.monitor`)."""

from __future__ import annotations

from invoke import Collection, Context, Exit

from ._boundary import load_settings, task

WATCH_HELP = "redraw in place until Ctrl+C"
INTERVAL_HELP = "seconds between redraws with --watch (default 2)"


@task(
    help={
        "json": "print JSON: {broker: {reachable, version, uptime_s, ...}, pipeline: {status, ...}}"
        " (one object per redraw with --watch, per status with --follow)",
        "watch": WATCH_HELP,
        "interval": INTERVAL_HELP,
        "follow": "print one line per status the pipeline publishes, as it happens, until Ctrl+C "
        "(exit 0, like --watch)",
    },
)
def status(
    c: Context, json: bool = False, watch: bool = False, interval: float = 2.0, follow: bool = False
) -> None:
    """One look at the broker ($SYS: version, uptime, clients, load) and the pipeline's status."""
    from adeline_infra import cli, console, monitor, views
    from adeline_infra.errors import ConfigError

    if watch and follow:
        raise ConfigError("--watch and --follow do not go together: choose one")
    cli.seconds("interval", interval)
    s = load_settings()
    if follow:
        monitor.follow(s, as_json=json, note=console.err)
    elif watch:
        views.watch(s, interval=interval, as_json=json)
    elif json:
        console.print_json(monitor.snapshot(s).as_dict())
    else:
        from adeline_infra.background import preload

        preload("rich.console", "rich.table")  # while the broker answers
        views.show(views.status_view(monitor.snapshot(s)))


@task(
    help={
        "metrics": "also show the metrics topic (TOPIC_METRICS)",
        "verbose": "one more line per detection: class, confidence, box",
        "json": "print each payload untouched, one per line (totals and malformed ones on stderr)",
        "count": "exit after this many messages (exit 1 if --timeout comes first)",
        "timeout": "exit after this many seconds",
    },
)
def data(
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
    help={
        "json": "print the $SYS values as one JSON object",
        "watch": WATCH_HELP,
        "interval": INTERVAL_HELP,
    },
)
def broker(c: Context, json: bool = False, watch: bool = False, interval: float = 2.0) -> None:
    """The broker's whole $SYS tree: one snapshot, or a live dashboard with --watch."""
    from adeline_infra import cli, console, monitor, views

    cli.seconds("interval", interval)
    s = load_settings()
    if watch:
        views.watch(s, broker_tree=True, interval=interval, as_json=json)
    elif json:
        console.print_json(monitor.sys_tree(s))
    else:
        views.show(views.sys_view(monitor.sys_tree(s), f"$SYS of {s.endpoint}"))


@task(
    help={
        "window": "seconds of history the rates, plot and percentiles cover (default 300)",
        "source": "follow one camera: its source_id",
        "json": "print one JSON document of the figures after --duration seconds",
        "duration": "stop after this many seconds (needed with --json; 0: until Ctrl+C)",
        "web": "serve the dashboard as a live page on loopback instead",
        "port": "the page's port with --web (default: a free one)",
    },
)
def dashboard(
    c: Context,
    window: float = 300.0,
    source: str = "",
    json: bool = False,
    duration: float = 0.0,
    web: bool = False,
    port: int = 0,
) -> None:
    """Live figures: status, fps, latency per source, classes, broker; until Ctrl+C."""
    from adeline_infra import cli, console
    from adeline_infra.dashboard import app

    cli.seconds("window", window)
    cli.seconds("duration", duration, zero_ok=True)
    cli.count("port", port, maximum=65535)
    app.check_options(
        json=json, duration=duration, web=web, port=port, interactive=console.interactive()
    )
    s, which = load_settings(), source or None
    app.run(s, window=window, source=which, json=json, duration=duration, web=web, port=port)


ns = Collection("monitor", status, data, broker, dashboard)
