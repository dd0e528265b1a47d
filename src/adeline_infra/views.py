"""The one output layer: each result the library returns, drawn as the tasks show it.

Tasks hand a result here (or print its `as_dict()` as JSON with `console.print_json`); nothing
else prints results. rich is imported only when a table is drawn (through `console`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import console

if TYPE_CHECKING:
    from .certs import CheckResult
    from .control import SendResult
    from .doctor import Report
    from .go2rtc import Go2rtcStatus
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
