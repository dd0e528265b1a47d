"""Broker backends and the choice between them (`BROKER_BACKEND=auto|docker|native|external`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Backend, BrokerState

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["Backend", "BrokerState", "resolve", "select"]


def resolve(settings: Settings) -> tuple[Backend, str]:
    """The backend to use and why (the reason is shown by `doctor` and `services.status`).

    `auto`: the native broker if this checkout's is running, else Docker when an engine answers,
    else native (never external: a broker we do not run must be asked for). Asking the engine is
    one `docker version` call (~14 ms; no Docker SDK).
    """
    if settings.backend == "external":
        from .external import ExternalBackend

        return ExternalBackend(settings), "BROKER_BACKEND=external"
    from .native import NativeBackend

    if settings.backend == "native":
        return NativeBackend(settings), "BROKER_BACKEND=native"
    if settings.backend == "docker":
        from .docker import DockerBackend

        return DockerBackend(settings), "BROKER_BACKEND=docker"
    native = NativeBackend(settings)
    if native.state().running:
        return native, "auto: this checkout's native broker is running"
    from .docker import DockerBackend, engine_answers

    if engine_answers():
        return DockerBackend(settings), "auto: a Docker engine answers"
    return native, "auto: no Docker engine answers, using the mosquitto binary"
