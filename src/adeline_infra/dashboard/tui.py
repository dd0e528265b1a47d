"""The terminal screen of `inv monitor.dashboard`: rich, redrawn in place, 80×24 and up.

`view(doc, ...)` turns a snapshot of the figures into one renderable (tested through rich's
recording console); `run()` drains the feed, redraws twice a second and reads keys between
redraws: p, r, s send pause, resume and status through `control.send` (the path the
`control.*` tasks take) in a thread, and the broker's acknowledgement is shown on screen.
q or Ctrl+C ends it (exit 0). Drawing may skip under load; counting never does (see `feed`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..text import printable

if TYPE_CHECKING:
    from ..settings import Settings

KEYS = {"p": "pause", "r": "resume", "s": "status"}
BLOCKS = " ▁▂▃▄▅▆▇█"
REDRAW_S = 0.5
MAX_SOURCES_SHOWN = 5
MAX_CLASSES_SHOWN = 5


def sparkline(values: Sequence[float | None], width: int) -> str:
    """The last `width` values as block characters scaled to their maximum (None: a gap)."""
    tail = list(values)[-width:] if width > 0 else []
    top = max((v for v in tail if v is not None), default=0) or 1
    return "".join(
        " " if v is None else BLOCKS[min(int(round(v / top * 8)), 8)] for v in tail
    ).rjust(width)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _stage(stage: Mapping[str, Any]) -> str:
    return f"{_ms(stage['last'])}/{_ms(stage['p50'])}/{_ms(stage['p95'])}"


def _per_s(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _age(seconds: Any) -> str:
    from ..console import duration

    return "" if seconds is None else f" ({duration(seconds)} ago)"


def view(doc: Mapping[str, Any], *, endpoint: str, note: str = "", width: int = 80) -> Any:
    """The whole screen for one snapshot: at most 23 lines at any width of 80 or more."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    status = doc["status"]
    word = status["status"] or ("(structured)" if status.get("fields") else "no status")
    title = Text.assemble(
        ("Adeline ", "bold"),
        (printable(endpoint), "cyan"),
        "  pipeline ",
        (printable(str(word))[:24], "bold green" if word == "running" else "bold yellow"),
        _age(status["age_s"]),
        f"  window {doc['window_s']:g} s" + (f"  source {doc['source']}" if doc["source"] else ""),
    )
    fps = doc["fps"]
    head = f"fps {fps['observed']:.1f} (pipeline {_per_s(fps['pipeline'])}) "
    plot = Text.assemble(head, (sparkline(fps["series"], max(width - len(head) - 1, 8)), "green"))

    lat = Table(
        box=None,
        padding=(0, 1),
        show_edge=False,
        header_style="bold",
        title="latency ms: last/p50/p95",
        title_justify="left",
        title_style="bold",
    )
    lat.add_column("source", max_width=14, no_wrap=True)
    for name in ("decode", "inference", "e2e"):
        lat.add_column(name, no_wrap=True, justify="right", min_width=14)
    sources = list(doc["latency"].items())
    for source, stages in sources[:MAX_SOURCES_SHOWN]:
        lat.add_row(printable(source), *(_stage(stages[k]) for k in ("decode", "inference", "e2e")))
    if len(sources) > MAX_SOURCES_SHOWN:
        lat.add_row(f"+{len(sources) - MAX_SOURCES_SHOWN} more", "", "", "")
    if not sources:
        lat.add_row("(none yet)", "", "", "")

    cls = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    cls.add_column("class", max_width=24, no_wrap=True)
    cls.add_column("det/s", justify="right")
    cls.add_column("count", justify="right")
    cls.add_column("mean conf", justify="right")
    classes = doc["classes"]
    for row in classes[:MAX_CLASSES_SHOWN]:
        conf = row["mean_confidence"]
        cls.add_row(
            printable(row["class"]),
            f"{row['per_s']:.1f}",
            str(row["count"]),
            "-" if conf is None else f"{conf:.2f}",
        )
    if len(classes) > MAX_CLASSES_SHOWN:
        cls.add_row(f"+{len(classes) - MAX_CLASSES_SHOWN} more", "", "", "")
    if not classes:
        cls.add_row("(no detections yet)", "", "", "")

    b, t = doc["broker"], doc["totals"]
    broker = Text(
        f"broker: {'up' if doc.get('connected', True) else 'RECONNECTING'}, "
        f"{b['clients_connected'] if b['clients_connected'] is not None else '-'} clients, "
        f"msg/s in {_per_s(b['messages_received_per_s'])} out {_per_s(b['messages_sent_per_s'])}"
        f", dropped/s {_per_s(b['publish_dropped_per_s'])}"
    )
    counts = Text(
        f"messages {t['messages']:,}  frames {t['detections_messages']:,}  "
        f"malformed {t['malformed']:,}  invalid {t['invalid']:,}  no bbox {t['without_bbox']:,}",
        style="red" if t["malformed"] or t["invalid"] else "",
    )
    keys = Text("keys: p pause  r resume  s status  q quit (Ctrl+C)", style="dim")
    parts: list[Any] = [title, plot, lat, Text(""), cls, Text(""), broker, counts]
    parts.append(Text(printable(note)[: width - 1], style="bold") if note else Text(""))
    parts.append(keys)
    return Group(*parts)


class Commands:
    """Sends a command in a thread (never blocks the screen) and keeps its acknowledgement."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.note = ""
        self._busy = threading.Lock()

    def send(self, command: str) -> None:
        if not self._busy.acquire(blocking=False):
            self.note = f"{command}: still sending the previous command"
            return
        self.note = f"{command}: sending ..."
        threading.Thread(target=self._send, args=(command,), daemon=True).start()

    def _send(self, command: str) -> None:
        from .. import control
        from ..errors import InfraError

        try:
            result = control.send(self.settings, command)
            note = (
                f"sent {command!r} to {result.topic} (acknowledged by the broker in "
                f"{result.acknowledged_after * 1000:.0f} ms)"
            )
            if result.subscribers is False:
                note += ": nobody subscribes, is the pipeline running?"
            self.note = note
        except InfraError as exc:
            self.note = f"{command}: {exc}"
        finally:
            self._busy.release()


@contextmanager
def keyboard() -> Iterator[Any]:
    """A function `read(timeout) -> str | None`: one key pressed within `timeout` seconds.

    The terminal is in cbreak mode meanwhile (keys come without Enter, Ctrl+C still
    interrupts); without a terminal on stdin it only waits.
    """
    if sys.platform == "win32":
        import msvcrt

        def read_windows(timeout: float) -> str | None:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if msvcrt.kbhit():
                    return msvcrt.getwch()
                time.sleep(0.02)
            return None

        yield read_windows
        return
    import os
    import select

    if not sys.stdin.isatty():

        def wait_only(timeout: float) -> str | None:
            time.sleep(timeout)
            return None

        yield wait_only
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def read_posix(timeout: float) -> str | None:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        return os.read(fd, 1).decode("utf-8", "replace")

    try:
        yield read_posix
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run(settings: Settings, *, window: float, source: str | None, duration: float = 0.0) -> None:
    """The screen until q, Ctrl+C or `duration` seconds (0: no limit)."""
    from rich.console import Console
    from rich.live import Live

    from .feed import Feed
    from .figures import Figures

    figures = Figures(window, source=source)
    feed = Feed(settings, figures)
    commands = Commands(settings)
    console = Console(highlight=False)

    def screen() -> Any:
        feed.drain()
        doc = figures.snapshot(time.monotonic())
        doc["connected"] = feed.connected
        return view(doc, endpoint=settings.endpoint, note=commands.note, width=console.width)

    with feed.running():
        figures.started = time.monotonic()
        end = None if not duration else figures.started + duration
        try:
            with (
                keyboard() as read,
                Live(
                    screen(), console=console, auto_refresh=False, screen=False, transient=False
                ) as live,
            ):
                next_draw = time.monotonic()
                while end is None or time.monotonic() < end:
                    key = read(max(next_draw - time.monotonic(), 0.0))
                    if key is not None:
                        if key in ("q", "Q"):
                            break
                        if key.lower() in KEYS:
                            commands.send(KEYS[key.lower()])
                            next_draw = time.monotonic()  # show "sending" at once
                    if time.monotonic() >= next_draw:
                        live.update(screen(), refresh=True)
                        next_draw = time.monotonic() + REDRAW_S
        except KeyboardInterrupt:
            pass  # the normal way out
