"""`BROKER_BACKEND=external`: a broker this project does not run (a cluster, a managed service,
another machine's mosquitto). Nothing is started or stopped; readiness, status, monitor and
control talk to it through MQTT_BROKER_HOST/PORT with the configured credentials and TLS.
`auto` never chooses it: it must be asked for.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import ConfigError
from .base import Backend, BrokerState


class ExternalBackend(Backend):
    name = "external"
    managed = False

    def not_ours(self, what: str) -> ConfigError:
        s = self.settings
        return ConfigError(
            f"BROKER_BACKEND=external: the broker at {s.mqtt_host}:{s.mqtt_port} is not run by "
            f"this project, so there is nothing of ours to {what}; do it where that broker runs"
        )

    def state(self) -> BrokerState:
        # Whether it runs can only be known by asking it over MQTT: `services` probes it.
        s = self.settings
        return BrokerState(
            "external", True, detail={"managed": f"no: a broker at {s.mqtt_host}:{s.mqtt_port}"}
        )

    def start(self, *, extras: frozenset[str] = frozenset()) -> None:
        if extras:
            raise ConfigError(
                f"BROKER_BACKEND=external starts nothing, not even {', '.join(sorted(extras))}: "
                "run it yourself (and set GO2RTC_ENABLED=false)"
            )

    def stop(self) -> bool:
        raise self.not_ours("stop")

    def alive(self) -> bool:
        return True

    def log_tail(self, lines: int) -> list[str]:
        raise self.not_ours("show the log of")

    def follow_logs(self, tail: int) -> Iterator[str]:
        raise self.not_ours("show the log of")

    def clean(self) -> list[str]:
        raise self.not_ours("clean")
