"""With TLS on, the pipeline (no TLS in its client) is handed the plaintext loopback listener."""

from __future__ import annotations

from pathlib import Path

from adeline_infra import pipeline, settings

from ..helpers import ROOT, base_env


def _load(tmp: Path, **environ: str) -> settings.Settings:
    return settings.load(ROOT, environ=base_env(tmp, **environ))


def test_tls_with_a_local_port_hands_the_pipeline_that_port_in_plaintext(tmp_path: Path) -> None:
    s = _load(tmp_path, MQTT_USE_TLS="true", MQTT_BROKER_PORT="8883", MQTT_LOCAL_PORT="18830")
    assert pipeline.local_door(s) == ("localhost", 18830)
    env = pipeline.environment(s, base={})
    assert (env["MQTT_BROKER_HOST"], env["MQTT_BROKER_PORT"]) == ("localhost", "18830")
    assert env["MQTT_USE_TLS"] == "false"


def test_without_tls_or_local_port_the_pipeline_gets_the_main_listener(tmp_path: Path) -> None:
    plain = _load(tmp_path, MQTT_BROKER_PORT="18831")
    assert pipeline.local_door(plain) is None
    assert pipeline.environment(plain, base={})["MQTT_BROKER_PORT"] == "18831"
    tls_only = _load(tmp_path, MQTT_USE_TLS="true", MQTT_BROKER_PORT="8883")
    assert pipeline.local_door(tls_only) is None
    env = pipeline.environment(tls_only, base={})
    assert (env["MQTT_BROKER_PORT"], env["MQTT_USE_TLS"]) == ("8883", "true")
