"""What every broker backend provides; `services` drives them all the same way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InfraError

if TYPE_CHECKING:
    from ..broker_config import RunningSurface
    from ..settings import Settings


@dataclass
class BrokerState:
    """What the backend knows without talking MQTT: is its broker process/container up?"""

    backend: str
    running: bool
    started_at: float | None = None  # epoch seconds
    detail: dict[str, Any] = field(default_factory=dict)  # pid, container state, health, ...


class Backend(ABC):
    """A way to run the broker. Readiness (CONNACK) is checked by `services`, not here."""

    name: str
    managed = True  # False: a broker we neither start nor stop (BROKER_BACKEND=external)
    # Set by `start`: True when it replaced a broker that was running (its clients were
    # dropped), so `services.up` does not call that "already running".
    recreated: bool = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def state(self) -> BrokerState:
        """The broker's process or container state; never raises for "not running"."""

    @abstractmethod
    def start(self, *, extras: frozenset[str] = frozenset()) -> None:
        """Start the broker (and `extras` such as go2rtc) and return without waiting for it.

        Raises InfraError (exit 1) when it cannot be started: port busy, binary missing, ...
        """

    def bring_up(self, *, extras: frozenset[str] = frozenset()) -> bool:
        """Start the broker unless it runs; True when it was already running (and still is).

        Raises InfraError when it runs with other settings (`config_mismatch`): replacing it
        would drop its clients, which `services.restart` does when asked to.
        """
        already = self.state().running
        if already:
            mismatch = self.config_mismatch()
            if mismatch:
                raise InfraError(mismatch)
        self.start(extras=extras)
        return already and not self.recreated

    @abstractmethod
    def stop(self) -> bool:
        """Stop the broker, keeping its data. Returns False when it was not running."""

    @abstractmethod
    def alive(self) -> bool:
        """Cheap check used while waiting for readiness: False once the broker has died."""

    @abstractmethod
    def log_tail(self, lines: int) -> list[str]:
        """The last `lines` lines of the broker's log (empty when there is none)."""

    @abstractmethod
    def follow_logs(self, tail: int) -> Iterator[str]:
        """Yield the last `tail` lines, then new lines as the broker writes them, forever."""

    @abstractmethod
    def clean(self) -> list[str]:
        """Delete persisted data (the broker must be stopped). Returns what was removed."""

    def version(self) -> str | None:
        """The broker's version when it can be known without MQTT (e.g. `mosquitto -h`)."""
        return None

    def preflight_stop(self, task: str = "services.down") -> None:
        """Raise InfraError when a stop now would lose data it could keep (e.g. no room for the
        save); `TASK --force` skips it, and the hint names `task` (down or restart)."""
        return None

    def running_surface(self) -> RunningSurface | None:
        """The running broker's own configuration and sockets (None: not running, or unknown)."""
        return None

    def config_mismatch(self) -> str | None:
        """Why the running broker does not match the current settings (None when it does)."""
        return None
