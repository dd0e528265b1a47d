"""up / down / restart / status / logs / clean, the same over every backend.

A backend knows how to start and stop its broker; this module decides when the broker is ready
(an MQTT CONNECT answered by CONNACK, through the same host and port the users' clients use).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import mqtt
from .backends import Backend, resolve
from .errors import InfraError

if TYPE_CHECKING:
    from .settings import Settings

EXIT_OK, EXIT_UNHEALTHY, EXIT_STOPPED = 0, 1, 3


@dataclass
class UpResult:
    backend: str
    already_running: bool
    ready_after: float  # seconds from the call to CONNACK
    managed: bool = True  # False: an external broker we only waited for


def up(
    settings: Settings,
    *,
    timeout: float = 15.0,
    extras: frozenset[str] = frozenset(),
    backend: Backend | None = None,
) -> UpResult:
    """Start the broker unless it runs, then wait until it answers CONNACK or fail in one line."""
    start = time.monotonic()
    backend = backend or resolve(settings)[0]
    already = backend.state().running
    if already:
        mismatch = backend.config_mismatch()
        if mismatch:
            raise InfraError(mismatch)
    backend.start(extras=extras)
    result = mqtt.wait_ready(settings, timeout, alive=backend.alive)
    if result.ok:
        return UpResult(
            backend.name, already and backend.managed, time.monotonic() - start, backend.managed
        )
    if result.refused:
        raise result.error(settings)
    if not backend.managed:
        raise InfraError(
            mqtt.describe_failure(
                settings, f"(external) did not answer an MQTT CONNECT within {timeout:g} s"
            )
            + f": {result.reason.split(':')[0]}",
            hint="is it running and reachable? check MQTT_BROKER_HOST/PORT and MQTT_USE_TLS",
        )
    tail = [line for line in backend.log_tail(3) if line.strip() and not line.startswith("---")]
    log = f"; its log ends: {' | '.join(tail)}" if tail else ""
    if not backend.alive():
        raise InfraError(f"the {backend.name} broker exited before it answered{log}")
    raise InfraError(
        f"the {backend.name} broker did not answer an MQTT CONNECT within {timeout:g} s{log}",
        hint="see `inv services.logs`",
    )


def down(settings: Settings, backend: Backend | None = None) -> bool:
    """Stop the broker, keep its data. False when nothing was running."""
    backend = backend or resolve(settings)[0]
    return backend.stop()


def status(settings: Settings, backend: Backend | None = None) -> tuple[dict[str, Any], int]:
    """The broker's status as a JSON-able dict, and the exit code `services.status` uses."""
    backend, reason = (backend, "given") if backend else resolve(settings)
    info, code = _broker_status(settings, backend, reason)
    from . import go2rtc

    if go2rtc.configured(settings):
        info["go2rtc"] = go2rtc.status(settings)
    return info, code


def _broker_status(settings: Settings, backend: Backend, reason: str) -> tuple[dict[str, Any], int]:
    state = backend.state()
    info: dict[str, Any] = {
        "backend": backend.name,
        "backend_reason": reason,
        "running": state.running,
        "healthy": False,
        "endpoint": settings.endpoint,
        "websockets": f"ws://{settings.mqtt_host}:{settings.ws_port}",
        "version": None,
        "uptime_s": None,
        "detail": state.detail,
        "problem": None,
    }
    if not state.running:
        info["problem"] = "the broker is not running: start it with `inv services.up`"
        return info, EXIT_STOPPED
    if state.started_at:
        info["uptime_s"] = max(0, round(time.time() - state.started_at))
    probe = mqtt.probe(settings)
    info["healthy"] = probe.ok
    if not probe.ok:
        info["problem"] = mqtt.describe_failure(settings, probe.reason)
        info["version"] = backend.version()
        return info, EXIT_UNHEALTHY
    try:
        sys_values = mqtt.retained(
            settings, ["$SYS/broker/version", "$SYS/broker/uptime"], purpose="status", timeout=1.0
        )
    except InfraError:
        sys_values = {}
    version = sys_values.get("$SYS/broker/version", b"").decode("utf-8", "replace")
    info["version"] = version.removeprefix("mosquitto version ").strip() or backend.version()
    uptime = sys_values.get("$SYS/broker/uptime", b"").decode("utf-8", "replace").split(" ")[0]
    if uptime.isdigit():
        info["uptime_s"] = int(uptime)
    return info, EXIT_OK


def logs(settings: Settings, *, tail: int, follow: bool) -> Iterator[str]:
    backend = resolve(settings)[0]
    if follow:
        yield from backend.follow_logs(tail)
    else:
        yield from backend.log_tail(tail)


def ensure_managed(settings: Settings, what: str) -> None:
    """Refuse (ConfigError, exit 2) to `what` a broker this project does not run."""
    if settings.backend == "external":
        from .backends.external import ExternalBackend

        raise ExternalBackend(settings).not_ours(what)


def clean(settings: Settings) -> tuple[bool, list[str]]:
    """Stop the broker if it runs, then delete its persisted data. Returns (stopped, removed)."""
    ensure_managed(settings, "clean")
    backend = resolve(settings)[0]
    stopped = backend.stop()
    return stopped, backend.clean()
