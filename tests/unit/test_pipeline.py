"""With TLS on, the pipeline (no TLS in its client) is handed the plaintext loopback listener."""

from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import (
    devenv,
    doctor,
    pipeline,
    settings,
)
from adeline_infra.errors import ConfigError

from ..helpers import PIPELINE_YAML, ROOT, base_env, pipeline_settings


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


def test_values_and_sources_come_from_the_file(tmp_path: Path) -> None:
    s = pipeline_settings(tmp_path)
    assert (s.mqtt_host, s.mqtt_port) == ("127.0.0.1", 18830)
    assert (s.topic_commands, s.topic_status) == ("a/cmd", "a/status")
    assert (s.topic_detections, s.topic_metrics) == ("a/det", "a/metrics")
    assert s.sources["MQTT_BROKER_PORT"] == "config.yaml line 5"
    assert s.sources["TOPIC_METRICS"] == "config.yaml line 10"
    assert s.sources["MQTT_WS_PORT"] == "the default"
    assert pipeline.disagreements(s) == []


def test_disagreement_names_both_sources(tmp_path: Path) -> None:
    s = pipeline_settings(tmp_path, env_file="TOPIC_STATUS=b/status\n")
    (found,) = pipeline.disagreements(s)
    assert found.var == "TOPIC_STATUS"
    assert "'b/status' (from test.env)" in found.line()
    assert "'a/status' (from config.yaml line 8)" in found.line()
    rows = doctor.check_pipeline_config(s)
    assert [(r.name, r.status) for r in rows] == [("pipeline TOPIC_STATUS", "fail")]
    assert any("TOPIC_STATUS" in line for line in devenv.pipeline_disagreements(s))
    with pytest.raises(ConfigError, match="TOPIC_STATUS"):
        pipeline.check_agreement(s)


def test_a_key_the_file_leaves_out_is_the_pipelines_default(tmp_path: Path) -> None:
    s = pipeline_settings(
        tmp_path, "mqtt:\n  broker:\n    host: localhost\n", TOPIC_DETECTIONS="x/det"
    )
    (found,) = pipeline.disagreements(s)
    assert found.var == "TOPIC_DETECTIONS" and "does not set it" in found.pipeline_source


def test_localhost_and_127_0_0_1_are_the_same_broker(tmp_path: Path) -> None:
    s = pipeline_settings(tmp_path, MQTT_BROKER_HOST="localhost")
    assert pipeline.disagreements(s) == []
    s = pipeline_settings(tmp_path, MQTT_BROKER_HOST="127.0.0.2")
    assert [d.var for d in pipeline.disagreements(s)] == ["MQTT_BROKER_HOST"]


def test_pipeline_working_dir_is_where_it_finds_its_config(tmp_path: Path) -> None:
    nested = tmp_path / "adeline" / "config" / "adeline" / "config.yaml"
    nested.parent.mkdir(parents=True)
    nested.write_text(PIPELINE_YAML)
    s = pipeline_settings(tmp_path, None, PIPELINE_CONFIG=str(nested))
    assert pipeline.working_dir(s) == tmp_path / "adeline"
    assert pipeline.working_dir(pipeline_settings(tmp_path)) == tmp_path  # not in config/adeline/


def test_pipeline_gets_credentials_in_its_environment_not_argv(tmp_path: Path) -> None:
    s = pipeline_settings(tmp_path, MQTT_USERNAME="u", MQTT_PASSWORD="p4ss")
    env = pipeline.environment(s, base={"MQTT_PASSWORD": "stale"})
    assert (env["MQTT_USERNAME"], env["MQTT_PASSWORD"]) == ("u", "p4ss")
    assert (env["MQTT_BROKER_PORT"], env["TOPIC_STATUS"]) == ("18830", "a/status")
    assert "p4ss" not in " ".join(pipeline.command(s))
    none = pipeline.environment(pipeline_settings(tmp_path), base={"MQTT_PASSWORD": "stale"})
    assert none["MQTT_PASSWORD"] == ""
