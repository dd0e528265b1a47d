"""The pipeline's config.yaml as a settings source, and what depends on it (pure logic)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from adeline_infra import (
    commands,
    control,
    devenv,
    doctor,
    monitor,
    pipeline,
    pipeline_config,
    settings,
)
from adeline_infra.errors import ConfigError

GOOD = """\
# Adeline
mqtt:
  broker:
    host: 127.0.0.1
    port: 18830
  topics:
    control_commands: a/cmd
    control_status: a/status
    data: a/det
    metrics: a/metrics
  qos:
    control: 1
models:
  - yolo
"""


def load(tmp: Path, text: str | None = GOOD, env_file: str = "", **environ: str):  # type: ignore[no-untyped-def]
    if text is not None:
        (tmp / "config.yaml").write_text(text, encoding="utf-8")
    (tmp / "test.env").write_text(env_file, encoding="utf-8")
    base = {"ADELINE_ENV_FILE": str(tmp / "test.env"), "PIPELINE_CONFIG": "config.yaml"}
    flags = environ.pop("flags", None)
    return settings.load(tmp, flags, environ={**base, **environ})  # type: ignore[arg-type]


def test_values_and_sources_come_from_the_file(tmp_path: Path) -> None:
    s = load(tmp_path)
    assert (s.mqtt_host, s.mqtt_port) == ("127.0.0.1", 18830)
    assert (s.topic_commands, s.topic_status) == ("a/cmd", "a/status")
    assert (s.topic_detections, s.topic_metrics) == ("a/det", "a/metrics")
    assert s.sources["MQTT_BROKER_PORT"] == "config.yaml line 5"
    assert s.sources["TOPIC_METRICS"] == "config.yaml line 10"
    assert s.sources["MQTT_WS_PORT"] == "the default"
    assert pipeline.disagreements(s) == []


def test_precedence_defaults_config_env_file_environment_flags(tmp_path: Path) -> None:
    assert load(tmp_path, None).mqtt_port == 1883  # no file: the default
    assert load(tmp_path).mqtt_port == 18830
    s = load(tmp_path, env_file="MQTT_BROKER_PORT=18831\n")
    assert (s.mqtt_port, s.sources["MQTT_BROKER_PORT"]) == (18831, "test.env")
    s = load(tmp_path, env_file="MQTT_BROKER_PORT=18831\n", MQTT_BROKER_PORT="18832")
    assert (s.mqtt_port, s.sources["MQTT_BROKER_PORT"]) == (18832, "the environment")
    s = load(
        tmp_path,
        env_file="MQTT_BROKER_PORT=18831\n",
        MQTT_BROKER_PORT="18832",
        flags={"MQTT_BROKER_PORT": 18833},  # type: ignore[arg-type]
    )
    assert (s.mqtt_port, s.sources["MQTT_BROKER_PORT"]) == (18833, "a task option")


def test_disagreement_names_both_sources(tmp_path: Path) -> None:
    s = load(tmp_path, env_file="TOPIC_STATUS=b/status\n")
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
    s = load(tmp_path, "mqtt:\n  broker:\n    host: localhost\n", TOPIC_DETECTIONS="x/det")
    (found,) = pipeline.disagreements(s)
    assert found.var == "TOPIC_DETECTIONS" and "does not set it" in found.pipeline_source


def test_localhost_and_127_0_0_1_are_the_same_broker(tmp_path: Path) -> None:
    s = load(tmp_path, MQTT_BROKER_HOST="localhost")
    assert pipeline.disagreements(s) == []
    s = load(tmp_path, MQTT_BROKER_HOST="127.0.0.2")
    assert [d.var for d in pipeline.disagreements(s)] == ["MQTT_BROKER_HOST"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("mqtt:\n  broker:\n    host: [a\n", ("config.yaml line", "not valid YAML")),
        ("mqtt:\n\tbroker: 1\n", ("config.yaml line 2", "not valid YAML")),
        ("mqtt:\n  broker:\n    port: '1883'\n", ("config.yaml line 3", "expected a port")),
        ("mqtt:\n  broker:\n    port: true\n", ("config.yaml line 3", "expected a port")),
        ("mqtt:\n  broker:\n    port: 0\n", ("MQTT_BROKER_PORT=", "config.yaml line 3")),
        ("mqtt:\n  broker:\n    port: 99999999999999\n", ("line 3", "expected a port")),
        # YAML 1.1 numbers: octal and base 60 are refused, not read as 64 and 31803
        ("mqtt:\n  broker:\n    port: 0100\n", ("line 3", "'0100'", "in decimal")),
        ("mqtt:\n  broker:\n    port: 8:50:03\n", ("line 3", "'8:50:03'", "in decimal")),
        ("mqtt:\n  topics:\n    data: 8:50:03\n", ("line 3", "'8:50:03'", "a string")),
        ("mqtt:\n  topics:\n    data: 5\n", ("config.yaml line 3", "expected a string")),
        ("mqtt:\n  topics:\n    data: 'a/#'\n", ("TOPIC_DETECTIONS=", "without wildcards")),
        ("mqtt:\n  topics:\n    data: ''\n", ("TOPIC_DETECTIONS=",)),
        ("mqtt:\n  topics: [1, 2]\n", ("config.yaml line 2", "mqtt.topics")),
        ("mqtt: 3\n", ("config.yaml line 1", "`mqtt` must be a mapping")),
        ("- a\n- b\n", ("config.yaml line 1", "expected a YAML mapping")),
        ("mqtt: !!python/object/apply:os.system ['true']\n", ("not valid YAML",)),
        ('a: &x [*x]\nmqtt: {broker: {host: "a\\0"}}\n', ("line 2", "control character")),
    ],
)
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, text: str, words: tuple[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    for word in words:
        assert word in message, message


def test_hostile_paths(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        load(tmp_path, None, PIPELINE_CONFIG="adir")
    (tmp_path / "big.yaml").write_bytes(b"#" * (pipeline_config.MAX_BYTES + 1))
    with pytest.raises(ConfigError, match="bytes"):
        load(tmp_path, None, PIPELINE_CONFIG="big.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"mqtt:\n  broker:\n    host: caf\xe9\n")
    with pytest.raises(ConfigError, match="line 3: not UTF-8"):
        load(tmp_path, None, PIPELINE_CONFIG="latin1.yaml")
    with pytest.raises(ConfigError, match="PIPELINE_CONFIG"):
        load(tmp_path, None, flags={"PIPELINE_CONFIG": "a\0b"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="PIPELINE_CONFIG"):
        load(tmp_path, None, PIPELINE_CONFIG="a\nb")
    if os.name != "nt":
        with pytest.raises(ConfigError, match="cannot read"):
            load(tmp_path, None, PIPELINE_CONFIG="x" * 5000)  # name too long
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.yaml")
        with pytest.raises(ConfigError, match="not a regular file"):
            load(tmp_path, None, PIPELINE_CONFIG="fifo.yaml")  # would block on read
    try:
        (tmp_path / "link.yaml").symlink_to(tmp_path / "config.yaml")
    except OSError:  # Windows without the symlink privilege
        pass
    else:
        assert load(tmp_path, PIPELINE_CONFIG="link.yaml").mqtt_port == 18830  # followed
    assert load(tmp_path, "", PIPELINE_CONFIG="config.yaml").mqtt_port == 1883  # empty file
    off = load(tmp_path, PIPELINE_CONFIG="")
    assert off.pipeline is None and off.pipeline_config is None and off.mqtt_port == 1883
    absent = load(tmp_path, None, PIPELINE_CONFIG="nope.yaml")
    assert absent.pipeline is not None and not absent.pipeline.exists


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(GOOD)
    (tmp_path / "config.yaml").chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path, None)


def test_shipped_example_is_the_default_schema(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    example = root / "config" / "adeline" / "config.yaml.example"
    s = load(tmp_path, example.read_text(encoding="utf-8"))
    defaults = settings.load(tmp_path, environ={"ADELINE_ENV_FILE": str(tmp_path / "none")})
    for var in pipeline_config.VARIABLES:
        attr = settings.BY_NAME[var].attr
        assert getattr(s, attr) == getattr(defaults, attr), var
        assert "config.yaml line" in s.sources[var]


def test_pipeline_working_dir_is_where_it_finds_its_config(tmp_path: Path) -> None:
    nested = tmp_path / "adeline" / "config" / "adeline" / "config.yaml"
    nested.parent.mkdir(parents=True)
    nested.write_text(GOOD)
    s = load(tmp_path, None, PIPELINE_CONFIG=str(nested))
    assert pipeline.working_dir(s) == tmp_path / "adeline"
    assert pipeline.working_dir(load(tmp_path)) == tmp_path  # not in config/adeline/


def test_pipeline_gets_credentials_in_its_environment_not_argv(tmp_path: Path) -> None:
    s = load(tmp_path, MQTT_USERNAME="u", MQTT_PASSWORD="p4ss")
    env = pipeline.environment(s, base={"MQTT_PASSWORD": "stale"})
    assert (env["MQTT_USERNAME"], env["MQTT_PASSWORD"]) == ("u", "p4ss")
    assert (env["MQTT_BROKER_PORT"], env["TOPIC_STATUS"]) == ("18830", "a/status")
    assert "p4ss" not in " ".join(pipeline.command(s))
    none = pipeline.environment(load(tmp_path), base={"MQTT_PASSWORD": "stale"})
    assert none["MQTT_PASSWORD"] == ""


def test_wait_answers() -> None:
    s = settings.load(Path("/nonexistent-root"), environ={"PIPELINE_CONFIG": ""})
    assert control.answer_topic(s, "pause") == s.topic_status
    assert control.answer_topic(s, "health") == s.topic_status
    assert control.answer_topic(s, "metrics") == s.topic_metrics
    for name in (*commands.OPTIONAL_COMMANDS, "whatever"):
        with pytest.raises(ConfigError, match="cannot wait") as caught:
            control.answer_topic(s, name)
        assert caught.value.exit_code == 2


def test_wait_for_an_unknown_answer_is_refused_before_connecting() -> None:
    # the port has nothing listening: reaching the broker would be a BrokerUnavailable
    s = settings.load(
        Path("/nonexistent-root"),
        environ={"PIPELINE_CONFIG": "", "MQTT_BROKER_HOST": "127.0.0.1", "MQTT_BROKER_PORT": "9"},
    )
    with pytest.raises(ConfigError, match="cannot wait for 'toggle_crop'"):
        control.send(s, "toggle_crop", wait=True)


def test_structured_status_is_fields() -> None:
    payload = json.dumps(
        {"healthy": False, "timestamp": "2026-01-01T00:00:00", "checks": {"mqtt": "ok"}}
    ).encode()
    info = monitor.pipeline_info(payload)
    assert info.status is None and info.problem is None
    assert info.fields == {"healthy": False, "checks": {"mqtt": "ok"}}
    assert monitor.flat_fields(info.fields) == [("healthy", "false"), ("checks.mqtt", "ok")]
    line = monitor.status_line(info)
    assert "healthy=false" in line and "checks.mqtt=ok" in line
    nested = monitor.pipeline_info(b'{"status": {"ok": true}}')
    assert nested.fields == {"ok": True} and nested.problem is None
    plain = monitor.pipeline_info(b'{"status": "running", "client_id": "x"}')
    assert plain.fields is None
    evil = monitor.pipeline_info(b'{"status": "a\\nb", "note": "[bold]x\\r"}')
    assert "\n" not in monitor.status_line(evil) and "\r" not in monitor.status_line(evil)


def test_external_is_chosen_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adeline_infra import backends
    from adeline_infra.backends import docker as docker_backend
    from adeline_infra.backends.external import ExternalBackend
    from adeline_infra.backends.native import NativeBackend

    s = load(tmp_path, None, BROKER_BACKEND="external")
    backend, reason = backends.resolve(s)
    assert isinstance(backend, ExternalBackend) and not backend.managed
    with pytest.raises(ConfigError, match="not run by this project"):
        backend.stop()
    with pytest.raises(ConfigError, match="not run by this project"):
        backend.clean()
    monkeypatch.setattr(NativeBackend, "state", lambda self: backend.state().__class__("n", False))
    monkeypatch.setattr(docker_backend, "engine_answers", lambda: False)
    auto, _ = backends.resolve(load(tmp_path, None, BROKER_BACKEND="auto"))
    assert auto.name == "native"


BOMB = "".join(
    f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # nine nested anchors: 9**8 elements once expanded, 1 KB written
        ("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + BOMB + "mqtt:\n  broker:\n    port: *i\n", ()),
        ("mqtt:\n  broker:\n    port: " + "9" * 5000 + "\n", ("line 3", "4300 digits")),
        ("mqtt:\n  broker:\n    port: [" + ", ".join(["1"] * 90000) + "]\n", ("line 3",)),
        ("mqtt:\n  broker:\n    host: [" + ", ".join(["x"] * 90000) + "]\n", ("line 3",)),
    ],
)
def test_a_hostile_value_is_shown_bounded(tmp_path: Path, text: str, words: tuple[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message[:500]
    for word in words:
        assert word in message, message
