"""pipeline.run: start Adeline's pipeline with the environment the Makefile gave it, portably.

The Makefile prefixed `python -m adeline` with a dozen `NAME_ENABLED=False` assignments, which
only a POSIX shell understands. Here they go into the child's environment directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import procs
from .errors import InfraError

if TYPE_CHECKING:
    from .settings import Settings

# Run in the pipeline's own interpreter, so it sees exactly what `python -m` would (cwd included).
_FIND_SPEC = (
    "import importlib.util, sys\n"
    "try:\n"
    "    found = importlib.util.find_spec(sys.argv[1]) is not None\n"
    "except (ImportError, ValueError):\n"
    "    found = False\n"
    "sys.exit(0 if found else 3)\n"
)


def environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: ours) plus NAME_ENABLED=False for every disabled model."""
    env = dict(os.environ if base is None else base)
    for name in settings.pipeline_disabled_models:
        env[f"{name}_ENABLED"] = "False"
    return env


def command(settings: Settings, args: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", settings.pipeline_module, *args]


def installed(settings: Settings) -> bool:
    """Whether `python -m PIPELINE_MODULE` would find the module (checked in a child Python)."""
    result = procs.run(
        [sys.executable, "-c", _FIND_SPEC, settings.pipeline_module],
        cwd=settings.root,
        check=False,
        timeout=30,
    )
    return result.returncode == 0


def not_installed_error(settings: Settings) -> InfraError:
    return InfraError(
        f"the pipeline module {settings.pipeline_module!r} is not installed in {sys.executable}",
        hint=(
            "install Adeline into this environment (from its checkout: "
            f"`{sys.executable} -m pip install -e .`), or set PIPELINE_MODULE"
        ),
    )


def run(settings: Settings, args: Sequence[str] = ()) -> int:
    """Run the pipeline in the foreground; returns its exit code (130 after Ctrl+C)."""
    if not installed(settings):
        raise not_installed_error(settings)
    code = procs.run_foreground(
        command(settings, args), env=environment(settings), cwd=settings.root
    )
    return procs.exit_code(code)
