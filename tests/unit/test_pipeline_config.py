from __future__ import annotations

import os
from pathlib import Path

import pytest

from adeline_infra import (
    pipeline_config,
    settings,
)
from adeline_infra.errors import ConfigError

from ..helpers import PIPELINE_YAML, pipeline_settings

BOMB = "".join(
    f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_precedence_defaults_config_env_file_environment_flags(tmp_path: Path) -> None:
    assert pipeline_settings(tmp_path, None).mqtt_port == 1883  # no file: the default
    assert pipeline_settings(tmp_path).mqtt_port == 18830
    s = pipeline_settings(tmp_path, env_file="MQTT_BROKER_PORT=18831\n")
    assert (s.mqtt_port, s.sources["MQTT_BROKER_PORT"]) == (18831, "test.env")
    s = pipeline_settings(tmp_path, env_file="MQTT_BROKER_PORT=18831\n", MQTT_BROKER_PORT="18832")
    assert (s.mqtt_port, s.sources["MQTT_BROKER_PORT"]) == (18832, "the environment")
    s = pipeline_settings(
        tmp_path,
        env_file="MQTT_BROKER_PORT=18831\n",
        MQTT_BROKER_PORT="18832",
        flags={"MQTT_BROKER_PORT": 18833},
    )
    assert (s.mqtt_port, s.sources["MQTT_BROKER_PORT"]) == (18833, "a task option")


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
        pipeline_settings(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    for word in words:
        assert word in message, message


def test_hostile_paths(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        pipeline_settings(tmp_path, None, PIPELINE_CONFIG="adir")
    (tmp_path / "big.yaml").write_bytes(b"#" * (pipeline_config.MAX_BYTES + 1))
    with pytest.raises(ConfigError, match="bytes"):
        pipeline_settings(tmp_path, None, PIPELINE_CONFIG="big.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"mqtt:\n  broker:\n    host: caf\xe9\n")
    with pytest.raises(ConfigError, match="line 3: not UTF-8"):
        pipeline_settings(tmp_path, None, PIPELINE_CONFIG="latin1.yaml")
    with pytest.raises(ConfigError, match="PIPELINE_CONFIG"):
        pipeline_settings(tmp_path, None, flags={"PIPELINE_CONFIG": "a\0b"})
    with pytest.raises(ConfigError, match="PIPELINE_CONFIG"):
        pipeline_settings(tmp_path, None, PIPELINE_CONFIG="a\nb")
    if os.name != "nt":
        with pytest.raises(ConfigError, match="cannot read"):
            pipeline_settings(tmp_path, None, PIPELINE_CONFIG="x" * 5000)  # name too long
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.yaml")
        with pytest.raises(ConfigError, match="not a regular file"):
            pipeline_settings(tmp_path, None, PIPELINE_CONFIG="fifo.yaml")  # would block on read
    try:
        (tmp_path / "link.yaml").symlink_to(tmp_path / "config.yaml")
    except OSError:  # Windows without the symlink privilege
        pass
    else:
        assert (
            pipeline_settings(tmp_path, PIPELINE_CONFIG="link.yaml").mqtt_port == 18830
        )  # followed
    assert (
        pipeline_settings(tmp_path, "", PIPELINE_CONFIG="config.yaml").mqtt_port == 1883
    )  # empty file
    off = pipeline_settings(tmp_path, PIPELINE_CONFIG="")
    assert off.pipeline is None and off.pipeline_config is None and off.mqtt_port == 1883
    absent = pipeline_settings(tmp_path, None, PIPELINE_CONFIG="nope.yaml")
    assert absent.pipeline is not None and not absent.pipeline.exists


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(PIPELINE_YAML)
    (tmp_path / "config.yaml").chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        pipeline_settings(tmp_path, None)


def test_shipped_example_is_the_default_schema(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    example = root / "config" / "adeline" / "config.yaml.example"
    s = pipeline_settings(tmp_path, example.read_text(encoding="utf-8"))
    defaults = settings.load(tmp_path, environ={"ADELINE_ENV_FILE": str(tmp_path / "none")})
    for var in pipeline_config.VARIABLES:
        attr = settings.BY_NAME[var].attr
        assert getattr(s, attr) == getattr(defaults, attr), var
        assert "config.yaml line" in s.sources[var]


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
        pipeline_settings(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message[:500]
    for word in words:
        assert word in message, message
