"""Broker backends and the choice between them (`BROKER_BACKEND=auto|docker|native|external`)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .base import Backend, BrokerState

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["Backend", "BrokerState", "resolve", "select"]


def resolve(settings: Settings) -> tuple[Backend, str]:
    """The backend to use and why (the reason is shown by `doctor` and `services.status`).

    `auto`: the native broker if this checkout's is running, else Docker when an engine answers,
    else native (never external: a broker we do not run must be asked for). Asking the engine is
    one `docker version` call (~14-35 ms; no Docker SDK); it runs while the native broker is
    looked for (psutil, ~30 ms), which took `inv services.up` ~47 ms beyond BROKER_BACKEND=docker
    when the two ran one after the other, and is left unread when the native broker runs.
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
    from .docker import DockerBackend, engine_answers

    answers: list[bool] = []
    asking = threading.Thread(target=lambda: answers.append(engine_answers()), daemon=True)
    asking.start()
    native = NativeBackend(settings)
    if native.state().running:
        return native, "auto: this checkout's native broker is running"
    asking.join(timeout=10)  # engine_answers gives up after 5 s
    if answers and answers[0]:
        return DockerBackend(settings), "auto: a Docker engine answers"
    return native, "auto: no Docker engine answers, using the mosquitto binary"
