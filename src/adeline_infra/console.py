"""Terminal output. rich is imported only when a table or a spinner is actually drawn."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .text import printable

__all__ = ["printable"]  # re-exported: console is where output code looks for it


def protect_streams() -> None:
    """Never crash on a character the output's encoding lacks: write it as \\uXXXX instead.

    Windows, output redirected: stdout's encoding is the ANSI code page (cp1252...), where a
    path or a client id in Cyrillic raised UnicodeEncodeError mid-task. CPython gives a
    redirected stream the `surrogateescape` handler there (`strict` elsewhere), and both fail on
    such a character; stderr already backslash-escapes, and stdout becomes the same.
    Idempotent; a stream without `reconfigure` (replaced by a test harness) is left alone.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) in _FAILING_HANDLERS:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # closed, or not a text stream after all
                continue


def reader_gone() -> None:
    """stdout's reader has left (`inv --list | head -1`): point stdout at the null device, so
    that nothing more, Python's last flush included, fails on it with a traceback. Python's
    "Note on SIGPIPE" (the signal module's documentation) way; the caller exits 1, as rich does
    when a task's table meets a closed pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor: nothing to redirect
        pass


# Error handlers that raise UnicodeEncodeError on a character the encoding cannot hold.
_FAILING_HANDLERS = frozenset({"strict", "surrogateescape", "surrogatepass"})


def break_interrupts() -> None:
    """Windows: Ctrl+Break stops a task like Ctrl+C (KeyboardInterrupt, exit 130).

    Python leaves SIGBREAK to the console's default, which kills the process on the spot
    (0xC000013A, nothing cleaned up). It is also the one console event a program can send to
    another process group, which is how the tests interrupt a task on Windows.
    """
    if sys.platform != "win32":
        return
    import contextlib
    import signal

    with contextlib.suppress(ValueError):  # not the main thread: leave it as it is
        signal.signal(signal.SIGBREAK, signal.default_int_handler)


def out(message: str = "") -> None:
    print(message, flush=True)


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str), flush=True)


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


SPINNER_AFTER = 0.1  # seconds a block runs before its spinner shows


@contextmanager
def spinner(text: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while the block runs, when stderr is a terminal; silent otherwise.

    The block gets a function that changes the spinner's text (e.g. "Waiting for another inv
    ...", then back).
    """
    if not sys.stderr.isatty():
        yield lambda _text: None
        return
    import threading

    # rich is imported and the spinner started in a thread, once the block has run for
    # SPINNER_AFTER seconds: the block (a compose call, a broker's start) begins at once instead
    # of ~45 ms later, which is what importing rich costs on this machine (`python -X
    # importtime`), and does not share the GIL with that import while it prepares (an import
    # started at once still delayed `compose up` by 8-16 ms at a pty). A block done sooner
    # (the broker already runs) shows no spinner at all, as a flash of one would say nothing.
    shown: list[Any] = []
    text_now = [text]
    lock = threading.Lock()
    done = threading.Event()

    def start() -> None:
        if done.wait(SPINNER_AFTER):
            return
        from rich.console import Console

        with lock:
            if not done.is_set():
                status = Console(stderr=True).status(text_now[0], spinner="dots")
                status.start()
                shown.append(status)

    def say(new: str) -> None:
        with lock:
            text_now[0] = new
            if shown:
                shown[0].update(new)

    threading.Thread(target=start, daemon=True, name="spinner").start()
    try:
        yield say
    finally:
        with lock:
            done.set()
            if shown:
                shown[0].stop()


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    styles: Sequence[str | None] | None = None,
    show_header: bool = True,
) -> None:
    """A table on stdout (rich draws it; without a terminal it still aligns plain text)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_header=show_header, header_style="bold", title_justify="left")
    for i, name in enumerate(columns):
        t.add_column(name, style=(styles[i] if styles else None), overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else printable(str(v)) for v in row))
    Console(highlight=False).print(t)


def key_values(title: str | None, pairs: Sequence[tuple[str, Any]]) -> None:
    table(title, ("", ""), pairs, styles=("bold", None), show_header=False)


def confirm(question: str) -> bool:
    """Ask yes/no on the terminal; False when there is no terminal to ask on."""
    if not interactive():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def mark(ok: bool | None) -> str:
    return {True: "yes", False: "no", None: "-"}[ok]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {s}s"
    if minutes:
        return f"{minutes}m {s}s"
    return f"{s}s"
