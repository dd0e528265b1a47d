"""The Docker backend, one concern per module:

- `engine`: the Docker engine, reached through the user's `docker` command (why: its docstring).
- `compose`: which Compose (v2 preferred, v1 fallback, run to be sure) and how it is called.
- `broker_setup`: what the broker's container is given (mosquitto.conf, secure override).
- `backend`: `DockerBackend`, what `services.*` drive.

Importing it is cheap (no Docker SDK): `BROKER_BACKEND=auto` asks `engine_answers()`.
"""

from __future__ import annotations

from .backend import DockerBackend
from .broker_setup import (
    FINGERPRINT_LABEL,
    SECURE_OVERRIDE,
    fingerprint,
    render_config,
    secure_override,
)
from .compose import (
    COMPOSE_FILE,
    EXTRAS,
    SERVICE,
    Compose,
    compose_args,
    compose_env,
    compose_plugin,
    discover,
    project_name,
)
from .engine import Container, Engine, no_engine_hint

__all__ = [
    "COMPOSE_FILE",
    "EXTRAS",
    "FINGERPRINT_LABEL",
    "SECURE_OVERRIDE",
    "SERVICE",
    "Compose",
    "Container",
    "DockerBackend",
    "Engine",
    "compose_args",
    "compose_env",
    "compose_plugin",
    "discover",
    "engine_answers",
    "fingerprint",
    "no_engine_hint",
    "project_name",
    "render_config",
    "secure_override",
]


def engine_answers(timeout: float = 5.0) -> bool:
    """True when a Docker engine answers the user's `docker` command (never raises)."""
    return Engine().answers(timeout)
