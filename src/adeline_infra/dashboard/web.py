"""The dashboard as a local page (`--web`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..settings import Settings


def serve(
    settings: Settings, *, window: float, source: str | None, port: int, duration: float
) -> None:
    raise ConfigError("--web is not available yet")
