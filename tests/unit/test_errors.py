"""errors: one line and an exit code per kind of expected failure."""

from __future__ import annotations

from adeline_infra.errors import BrokerUnavailable, ConfigError, InfraError


def test_the_line_is_the_message_then_the_hint() -> None:
    assert str(InfraError("it failed", hint="do this")) == "it failed: do this"
    assert str(InfraError("it failed")) == "it failed"


def test_exit_codes_and_identity() -> None:
    assert (InfraError("x").exit_code, BrokerUnavailable("x").exit_code) == (1, 1)
    bad = ConfigError("MQTT_QOS=7 is not valid", variable="MQTT_QOS", source=".env")
    assert (bad.exit_code, bad.variable, bad.source) == (2, "MQTT_QOS", ".env")
