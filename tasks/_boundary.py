"""What every task shares: the error boundary, the checkout's settings, common option help.

`task` is invoke's `@task` with the boundary around the body: an `InfraError` ends in its one
line and exit code, Ctrl+C in 130, and the output streams cannot fail on a character the
console's code page lacks. Every task module uses this `task`, never invoke's directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from invoke import Exit
from invoke import task as invoke_task

from adeline_infra.errors import InfraError  # stdlib only: costs nothing

if TYPE_CHECKING:
    from adeline_infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
F = TypeVar("F", bound=Callable[..., Any])

BACKEND_HELP = "auto, docker, native or external (overrides BROKER_BACKEND)"


def boundary(func: F) -> F:
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


def task(*args: Any, **kwargs: Any) -> Callable[[F], Any]:
    """invoke's `@task(...)` around `boundary(body)`."""

    def decorate(func: F) -> Any:
        return invoke_task(*args, **kwargs)(boundary(func))

    return decorate


def load_settings(**flags: Any) -> Settings:
    """Settings from .env, the environment, and these task flags (by variable name)."""
    from adeline_infra import settings

    return settings.load(ROOT, flags)
