"""MQTT_USE_TLS=true against a plaintext mosquitto: the failure names the likely cause."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from adeline_infra import certs, mqtt
from adeline_infra.settings import Settings

pytestmark = pytest.mark.integration


def test_tls_client_to_a_plaintext_mosquitto_says_so(
    native_broker: Settings, tmp_path: Path
) -> None:
    tls_dir = tmp_path / "tls"
    certs.make_tls_dir(tls_dir)
    s = dataclasses.replace(native_broker, use_tls=True, tls_dir=tls_dir)
    result = mqtt.probe(s, timeout=2)
    assert not result.ok and not result.refused
    assert "TLS handshake" in result.reason and "plaintext listener" in result.reason
    assert mqtt.probe(native_broker, timeout=2).ok  # the broker itself answers
