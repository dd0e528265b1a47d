"""What `inv monitor.dashboard` runs: its options checked, then the screen, the page or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..settings import Settings

DEFAULT_WINDOW = 300.0


def check_options(*, json: bool, duration: float, web: bool, port: int, interactive: bool) -> None:
    """Refuse what cannot work, in one line (exit 2), before connecting to anything."""
    if json and web:
        raise ConfigError("--json and --web do not go together: choose one")
    if json and duration <= 0:
        raise ConfigError("--json needs --duration S: the figures are printed after S seconds")
    if port and not web:
        raise ConfigError("--port is the page's port: give it with --web")
    if not (json or web or interactive):
        raise ConfigError(
            "monitor.dashboard draws on a terminal and this is none: use --json --duration S "
            "for a JSON document, or --web for a page"
        )


def run(
    settings: Settings,
    *,
    window: float,
    source: str | None,
    json: bool,
    duration: float,
    web: bool,
    port: int,
) -> None:
    from .. import console
    from . import feed

    if json:
        doc = feed.collect(
            settings,
            window=window,
            source=source,
            duration=duration,
            on_ready=lambda: console.err(
                f"dashboard: listening on {settings.endpoint} for {duration:g} s"
            ),
        )
        console.print_json(doc)
    elif web:
        from . import web as web_mod

        web_mod.serve(settings, window=window, source=source, port=port, duration=duration)
    else:
        from . import tui

        tui.run(settings, window=window, source=source, duration=duration)
