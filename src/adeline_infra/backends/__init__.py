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
    one `docker version` call (~14-35 ms; no Docker SDK). When no native broker is on record, it
    runs while the native broker is looked for (psutil, ~30 ms, for one started by an `inv` that
    died before writing the record): one after the other they took `inv services.up` ~47 ms
    beyond BROKER_BACKEND=docker, together ~27 ms. With a record, the native broker is looked at
    first, as before: a native user's `inv` never calls `docker` (whose context may be a remote
    host) while that broker runs.
    """
    if settings.backend == "external":
        from .external import ExternalBackend

        return ExternalBackend(settings), "BROKER_BACKEND=external"
    if settings.backend == "docker":  # the native module is not imported: ~5 ms
        from .docker import DockerBackend

        return DockerBackend(settings), "BROKER_BACKEND=docker"
    from .native import NativeBackend

    if settings.backend == "native":
        return NativeBackend(settings), "BROKER_BACKEND=native"
    from ..background import beside
    from .docker import DockerBackend, engine_answers

    native = NativeBackend(settings)
    asking = None if native.on_record() else beside(engine_answers)
    if native.state().running:
        return native, "auto: this checkout's native broker is running"
    # engine_answers gives up after 5 s
    answers = engine_answers() if asking is None else asking.result(timeout=10)
    if answers:
        return DockerBackend(settings), "auto: a Docker engine answers"
    return native, "auto: no Docker engine answers, using the mosquitto binary"
