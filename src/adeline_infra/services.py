"""up / down / restart / status / logs / clean, the same over every backend.

A backend knows how to start and stop its broker; this module decides when the broker is ready
(an MQTT CONNECT answered by CONNACK, through the same host and port the users' clients use).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import locks, mqtt
from .backends import Backend, resolve
from .errors import ConfigError, InfraError

if TYPE_CHECKING:
    from .background import Pending
    from .broker_config import RunningSurface
    from .go2rtc import Go2rtcStatus
    from .settings import Settings

EXIT_OK, EXIT_UNHEALTHY, EXIT_STOPPED = 0, 1, 3
# The $SYS values services.status shows: mosquitto's, or EMQX's.
STATUS_SYS = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/brokers/+/version",
    "$SYS/brokers/+/uptime",
]

Waiting = Callable[[str], None] | None


@dataclass
class UpResult:
    backend: str
    already_running: bool
    ready_after: float  # seconds from the call to CONNACK
    managed: bool = True  # False: an external broker we only waited for
    warning: str | None = None  # e.g. an accepted anonymous broker beyond loopback


def check_extras(extras: frozenset[str]) -> None:
    """`--with NAME` must name an optional service, whatever the backend: checked first, so a
    typo (or a name holding a line break, seen splitting the error line) is exit 2 in one line."""
    from .backends.docker.compose import EXTRAS

    unknown = sorted(extras - set(EXTRAS))
    if unknown:
        raise ConfigError(
            f"unknown service {', '.join(map(repr, unknown))} for --with: "
            f"expected {', '.join(EXTRAS)}"
        )


def up(
    settings: Settings,
    *,
    timeout: float = 15.0,
    extras: frozenset[str] = frozenset(),
    backend: Backend | None = None,
    waiting: Waiting = None,
) -> UpResult:
    """Start the broker unless it runs, then wait until it answers CONNACK or fail in one line.

    Holds the state folder's lock throughout: a second `up`, `down` or `clean` waits for it and
    then acts on what this one left.
    """
    from .settings import check_exposure

    check_extras(extras)
    start = time.monotonic()
    backend = backend or resolve(settings)[0]
    if backend.managed:  # an external broker binds where its owner says
        check_exposure(settings)  # before anything starts: exit 2 naming both settings
        _check_local_door(settings, backend)
    with _lock(settings, "services.up", waiting):
        return _up(settings, timeout, extras, backend, start)


def _check_local_door(settings: Settings, backend: Backend) -> None:
    if backend.name == "docker":
        from .backends.docker.broker_setup import check_local_door

        check_local_door(settings)


def _up(
    settings: Settings, timeout: float, extras: frozenset[str], backend: Backend, start: float
) -> UpResult:
    already = backend.bring_up(extras=extras)
    try:
        return _ready(settings, timeout, backend, already, start)
    except InfraError as exc:
        if backend.managed and not already:  # a failed up leaves nothing of its own running
            _stop_after_failure(backend, exc)
        raise


def _stop_after_failure(backend: Backend, exc: InfraError) -> None:
    try:
        stopped = backend.stop()
    except InfraError as stop_error:
        exc.message += f"; stopping the broker it started failed too: {stop_error}"
        return
    if stopped:
        exc.message += "; the broker it started was stopped"


def _ready(
    settings: Settings, timeout: float, backend: Backend, already: bool, start: float
) -> UpResult:
    result = mqtt.wait_ready(settings, timeout, alive=backend.alive)
    if result.ok:
        from .settings import exposure_warning

        return UpResult(
            backend.name,
            already and backend.managed,
            time.monotonic() - start,
            backend.managed,
            warning=exposure_warning(settings) if backend.managed else None,
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
        f"the {backend.name} broker did not answer an MQTT CONNECT within {timeout:g} s"
        f" at {settings.endpoint}{log}",
        hint=_unreachable_hint(settings, backend),
    )


def _unreachable_hint(settings: Settings, backend: Backend) -> str:
    """The broker runs but not where the clients look: say where it listens and which setting
    sends the clients elsewhere (MQTT_BROKER_HOST against MQTT_BIND_ADDRESS)."""
    from .broker_config import reaches

    try:
        surface = backend.running_surface()
    except InfraError:
        surface = None
    if surface is not None and not reaches(settings.mqtt_host, settings.mqtt_port, surface):
        return (
            f"it listens on {surface.listens()}, which MQTT_BROKER_HOST={settings.mqtt_host} "
            "does not reach: set MQTT_BROKER_HOST to one of those addresses, or "
            "MQTT_BIND_ADDRESS to include it"
        )
    return (
        f"check that MQTT_BROKER_HOST={settings.mqtt_host} reaches MQTT_BIND_ADDRESS="
        f"{settings.bind_address}, and see `inv services.logs`"
    )


def down(
    settings: Settings,
    backend: Backend | None = None,
    *,
    force: bool = False,
    waiting: Waiting = None,
) -> bool:
    """Stop the broker, keep its data. False when nothing was running.

    InfraError (exit 1) when the data could not all be kept: no room for the save (refused
    before stopping unless `force`), the save failed, or the broker had to be killed.
    """
    with _lock(settings, "services.down", waiting):
        return _down(backend or resolve(settings)[0], force, "services.down")


def _down(backend: Backend, force: bool, task: str) -> bool:
    if not force:
        backend.preflight_stop(task)
    return backend.stop()


def restart(
    settings: Settings,
    *,
    timeout: float = 15.0,
    extras: frozenset[str] = frozenset(),
    force: bool = False,
    waiting: Waiting = None,
) -> tuple[bool, UpResult]:
    """Stop then start the broker under one lock, with the backend chosen once (a running
    native broker stays native under BROKER_BACKEND=auto). Returns (was running, up result)."""
    check_extras(extras)
    start = time.monotonic()
    with _lock(settings, "services.restart", waiting):
        backend = resolve(settings)[0]
        if backend.managed:  # a refused start must not stop the running broker first
            from .settings import check_exposure

            check_exposure(settings)
            _check_local_door(settings, backend)
        stopped = _down(backend, force, "services.restart")
        return stopped, _up(settings, timeout, extras, backend, start)


@dataclass
class BrokerStatus:
    """What `services.status` found; `as_dict` is its `--json` document (keys pinned by tests),
    `exit_code` the task's: 0 healthy, 1 running but not answering, 3 stopped."""

    backend: str
    backend_reason: str
    running: bool
    endpoint: str
    websockets: str | None
    local: str | None  # the plaintext loopback door beside TLS (MQTT_LOCAL_PORT)
    bind_address: str | None  # what we bind; an external broker's is its own business
    addresses: list[str]
    warning: str | None
    detail: dict[str, Any]
    healthy: bool = False
    version: str | None = None
    sys_tree: str | None = None  # whose $SYS tree answered: "mosquitto", "emqx", None (none)
    uptime_s: int | None = None
    problem: str | None = None  # why exit_code is not 0, in one line
    go2rtc: Go2rtcStatus | None = None
    exit_code: int = EXIT_OK
    # how the running broker differs from what the current settings would start, named
    differs: list[str] = field(default_factory=list)
    config_file: str | None = None  # the configuration the running broker was started with

    def as_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.backend,
            "backend_reason": self.backend_reason,
            "running": self.running,
            "healthy": self.healthy,
            "endpoint": self.endpoint,
            "websockets": self.websockets,
            "local": self.local,
            "bind_address": self.bind_address,
            "addresses": self.addresses,
            "warning": self.warning,
            "version": self.version,
            "sys_tree": self.sys_tree,
            "uptime_s": self.uptime_s,
            "detail": self.detail,
            "problem": self.problem,
            "differs": self.differs,
            "config_file": self.config_file,
        }
        if self.go2rtc is not None:
            info["go2rtc"] = self.go2rtc.as_dict()
        return info


def status(settings: Settings, backend: Backend | None = None) -> BrokerStatus:
    """The broker's status (and go2rtc's, when it is configured)."""
    backend, reason = (backend, "given") if backend else resolve(settings)
    info = _broker_status(settings, backend, reason)
    from . import go2rtc

    if go2rtc.configured(settings):
        info.go2rtc = go2rtc.status(settings)
    return info


def _broker_status(settings: Settings, backend: Backend, reason: str) -> BrokerStatus:
    from .broker_config import bind_addresses
    from .settings import exposure_warning

    state = backend.state()
    managed = backend.managed
    info = BrokerStatus(
        backend=backend.name,
        backend_reason=reason,
        running=state.running,
        endpoint=settings.endpoint,
        websockets=settings.websockets_url,
        local=f"mqtt://127.0.0.1:{settings.local_port}"
        if settings.use_tls and settings.local_port and managed
        else None,
        bind_address=settings.bind_address if managed else None,
        addresses=list(bind_addresses(settings)) if managed else [],
        warning=exposure_warning(settings) if managed else None,
        detail=state.detail,
    )
    if not state.running:
        info.problem = "the broker is not running: start it with `inv services.up`"
        info.exit_code = EXIT_STOPPED
        return info
    truth = _running_truth(backend) if managed else None
    try:
        _answers(info, settings, backend, state.started_at)
    finally:
        if truth is not None:
            _show_running_truth(info, truth.result(timeout=120))  # the engine call has its own
    return info


def _answers(
    info: BrokerStatus, settings: Settings, backend: Backend, started_at: float | None
) -> None:
    """The broker's own answers: CONNACK, then its version and uptime from `$SYS`."""
    if started_at:
        info.uptime_s = max(0, round(time.time() - started_at))
    probe = mqtt.probe(settings)
    info.healthy = probe.ok
    if not probe.ok:
        info.problem = mqtt.describe_failure(settings, probe.reason)
        info.version = backend.version()
        info.exit_code = EXIT_UNHEALTHY
        return
    from .monitor import broker_info

    try:
        # mosquitto's tree, or EMQX's ($SYS/brokers/<node>/); another broker may have neither
        sys_values = mqtt.retained(settings, STATUS_SYS, purpose="status", timeout=1.0)
    except InfraError:
        sys_values = {}
    known = broker_info(sys_values)
    info.version = known["version"] or backend.version()
    info.sys_tree = known["sys_tree"]
    # The backend's start time when it has one: `$SYS/broker/uptime` is republished only every
    # sys_interval (10 s), so for a while after a start it still says 0.
    if known["uptime_s"] is not None and info.uptime_s is None:
        info.uptime_s = known["uptime_s"]


def _running_truth(backend: Backend) -> Pending[RunningSurface | None]:
    """What the running broker listens on and allows, from its own config and sockets, read
    beside the MQTT answers: the Docker backend's `docker exec` (~75 ms) runs while the broker
    answers (~70 ms), which made `services.status` that much faster than one after the other.
    None when it could not be read."""
    from .background import beside

    def read() -> RunningSurface | None:
        try:
            return backend.running_surface()
        except InfraError:
            return None

    return beside(read)


def _show_running_truth(info: BrokerStatus, surface: RunningSurface | None) -> None:
    """One started with one-off values (`MQTT_BIND_ADDRESS=0.0.0.0 inv services.up`) is shown
    as it is, not as the current settings describe it."""
    if surface is None:
        return
    info.addresses = surface.addresses
    info.warning = surface.exposure()
    info.config_file = surface.config_file
    info.differs = list(surface.differences)


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


def clean(settings: Settings, *, waiting: Waiting = None) -> tuple[bool, list[str]]:
    """Stop the broker if it runs, then delete its persisted data. Returns (stopped, removed)."""
    ensure_managed(settings, "clean")
    with _lock(settings, "services.clean", waiting):
        backend = resolve(settings)[0]
        try:
            stopped = backend.stop()
        except InfraError:
            # a failed save or a kill: the data is about to be deleted anyway, but the broker
            # must be gone before it is
            if backend.alive():
                raise
            stopped = True
        return stopped, backend.clean()


def _lock(settings: Settings, what: str, waiting: Waiting) -> AbstractContextManager[None]:
    """The state folder's lock; none for an external broker (nothing of ours to protect)."""
    if settings.backend == "external":
        return contextlib.nullcontext()
    return locks.state_lock(settings, what, waiting=waiting)
