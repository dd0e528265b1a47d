"""The one output layer: each result the library returns, drawn as the tasks show it.

Tasks hand a result here (or print its `as_dict()` as JSON with `console.print_json`); nothing
else prints results. rich is imported only when a table is drawn (through `console`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import console
from .text import printable

if TYPE_CHECKING:
    from .certs import CheckResult
    from .control import SendResult
    from .doctor import Report
    from .go2rtc import Go2rtcStatus
    from .monitor import Snapshot
    from .services import BrokerStatus
    from .settings import Settings


# --- services.status ----------------------------------------------------------------------


def broker_status(info: BrokerStatus) -> None:
    state = "running" if info.running else "stopped"
    if info.backend == "external":
        state = "run elsewhere (BROKER_BACKEND=external): only its answer is known"
    rows = [
        ("backend", f"{info.backend}  ({info.backend_reason})"),
        ("state", state),
        ("healthy", console.mark(info.healthy) if info.running else "-"),
        ("endpoint", info.endpoint),
        ("websockets", info.websockets or "off (MQTT_WS_PORT=0)"),
        ("listens on", ", ".join(info.addresses) or "-"),
        ("version", info.version or ("unknown (no $SYS)" if info.healthy else "-")),
        ("uptime", console.duration(info.uptime_s)),
    ]
    if info.local:
        rows.append(("local (plaintext)", info.local))
    if info.differs:
        rows.append(
            (
                "differs from settings",
                "; ".join(info.differs) + " (`inv services.restart` applies the settings)",
            )
        )
    rows += [(k, v) for k, v in info.detail.items() if v is not None]
    console.key_values("MQTT broker", rows)
    if info.go2rtc is not None:
        go2rtc(info.go2rtc)


def go2rtc(g: Go2rtcStatus) -> None:
    streams = ", ".join(
        f"{x['name']} ({x['producers']} producers, {x['consumers']} consumers)" for x in g.streams
    )
    console.key_values(
        "go2rtc",
        [
            ("api", g.url),
            ("reachable", console.mark(g.reachable)),
            ("version", g.version or "-"),
            ("streams", streams or "-"),
        ]
        + ([("problem", g.error)] if g.error else []),
    )


# --- monitor.status / monitor.broker ----------------------------------------------------


def _rate(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:,.1f} {unit}/min"


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


def status_rows(snap: Snapshot) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(broker rows, pipeline rows) of the status view, as text."""
    from .console import duration
    from .monitor import flat_fields

    b, p = snap.broker, snap.pipeline
    broker = [
        ("endpoint", b["endpoint"]),
        ("reachable", "yes" if b["reachable"] else "NO (reconnecting)"),
        ("version", _show(b["version"])),
        ("uptime", duration(b["uptime_s"])),
        ("clients connected", _show(b["clients_connected"])),
        (
            "messages in / out",
            f"{_rate(b['messages_received_per_min'], 'msg')} / "
            f"{_rate(b['messages_sent_per_min'], 'msg')}",
        ),
        (
            "bytes in / out",
            f"{_rate(b['bytes_received_per_min'], 'B')} / {_rate(b['bytes_sent_per_min'], 'B')}",
        ),
        ("retained messages", _show(b["retained_messages"])),
        ("subscriptions", _show(b["subscriptions"])),
    ]
    if b.get("sys_note"):
        broker.append(("$SYS", b["sys_note"]))
    if p.status is None and p.fields:
        pipeline = [("status", "(a structured status: the fields below)")]
        if p.timestamp or p.client_id:
            pipeline.append(("since", _show(p.timestamp)))
            pipeline.append(("client id", _show(p.client_id)))
    elif p.status is None:
        pipeline = [("status", p.problem or "unknown")]
    else:
        age = "" if p.age_s is None else f" ({duration(p.age_s)} ago)"
        pipeline = [
            ("status", p.status),
            ("since", f"{_show(p.timestamp)}{age}"),
            ("client id", _show(p.client_id)),
        ]
    pipeline += flat_fields(p.fields)
    pipeline.append(("topic", snap.topic))
    return broker, pipeline


def status_view(snap: Snapshot) -> Any:
    """The rich renderable of `monitor.status` (two key/value tables)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    tables = []
    for title, rows in zip(("MQTT broker", "Pipeline"), status_rows(snap), strict=True):
        t = Table(title=title, show_header=False, title_justify="left")
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        for key, value in rows:
            t.add_row(Text(printable(key)), Text(printable(value)))  # text: no markup, no ESC
        tables.append(t)
    return Group(*tables)


def sys_view(tree: Mapping[str, str], title: str = "$SYS") -> Any:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    t.add_column("topic", style="bold")
    t.add_column("value", overflow="fold")
    for topic, value in tree.items():
        t.add_row(printable(topic.removeprefix("$SYS/broker/")), printable(value))
    return t


def show(view: Any) -> None:
    from rich.console import Console

    Console(highlight=False).print(view)


def watch(
    settings: Settings, *, broker_tree: bool = False, interval: float = 2.0, as_json: bool = False
) -> None:
    """Redraw the status (or `$SYS` tree) in place every `interval` s until Ctrl+C.

    With `as_json`, one compact JSON object per refresh instead (for scripts).
    """
    import json

    from .errors import InfraError
    from .monitor import Watcher

    if interval <= 0:
        raise InfraError("--interval must be a positive number of seconds")
    watcher = Watcher(settings)

    def data() -> Any:
        return watcher.sys_tree() if broker_tree else watcher.snapshot().as_dict()

    def view() -> Any:
        title = f"$SYS of {settings.endpoint}  (Ctrl+C to stop)"
        return (
            sys_view(watcher.sys_tree(), title) if broker_tree else status_view(watcher.snapshot())
        )

    if as_json:

        def emit() -> None:
            print(json.dumps(data(), default=str), flush=True)

        watcher.run(emit, interval)
        return
    from rich.console import Console
    from rich.live import Live

    with Live(view(), console=Console(highlight=False), auto_refresh=False) as live:
        watcher.run(lambda: live.update(view(), refresh=True), interval)


# --- tls.* --------------------------------------------------------------------------------


def written(report: Any) -> None:
    """What `tls.certs` / `tls.client` wrote (or kept), and their warnings."""
    for name, action in report.actions:
        console.out(f"{report.out / name}: {action}")
    for warning in report.warnings:
        console.err(f"warning: {warning}")


def tls_check(s: Settings, result: CheckResult, listeners: list[Any]) -> None:
    for info in result.certificates:
        rows = [
            ("subject", info.subject),
            ("issuer", info.issuer),
            ("SANs", ", ".join(info.sans) or "-"),
            ("expires", f"{info.not_after} ({info.days_left} days)"),
            ("key", info.key_type),
        ]
        console.key_values(str(s.tls_dir / info.file), rows)
    for listener in listeners:
        console.out(f"listener: {listener.describe()}")
    if not s.use_tls:
        console.out("no listener uses them: MQTT_USE_TLS is false")
    for problem in result.problems:
        console.err(f"problem: {problem}")
    if result.ok:
        console.out(f"ok: valid for {s.mqtt_host}, signed by ca.crt, none expiring soon")


# --- control.* ----------------------------------------------------------------------------


def control_result(result: SendResult) -> None:
    from . import monitor

    console.out(
        f"sent {result.command!r} to {result.topic} (acknowledged by the broker in "
        f"{result.acknowledged_after * 1000:.0f} ms)"
    )
    if result.subscribers is False:
        console.err(f"warning: nobody subscribes to {result.topic}: is the pipeline running?")
    if result.status is not None:
        import json

        info = monitor.pipeline_info(json.dumps(result.status).encode())
        if info.fields:  # a structured status, e.g. the health report
            word = f" {info.status}" if info.status else ""
            console.out(console.printable(f"pipeline status{word}, as fields:"))
            for key, value in monitor.flat_fields(info.fields):
                console.out(console.printable(f"  {key}: {value}"))
        else:
            console.out(console.printable(f"pipeline status: {monitor.status_line(info)}"))
    if result.metrics is not None:
        console.out(f"pipeline metrics on {result.answer_topic}:")
        for key, value in monitor.flat_fields(result.metrics):
            console.out(console.printable(f"  {key}: {value}"))


# --- doctor -------------------------------------------------------------------------------

_COLORS = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def doctor_report(report: Report) -> None:
    """The report as a table (status coloured on a terminal) and a one-line summary."""
    from rich.markup import escape

    rows = [
        (escape(c.name), f"[{_COLORS[c.status]}]{c.status}[/]", escape(c.detail), escape(c.fix))
        for c in report.checks
    ]
    console.table("inv doctor", ("check", "status", "detail", "fix"), rows)
    if report.sources:
        console.table(
            "where the shared settings come from",
            ("setting", "value", "source"),
            [(escape(k), escape(v), escape(src)) for k, (v, src) in report.sources.items()],
        )
    if not report.failures:
        console.out(f"ok: {report.summary()}")
