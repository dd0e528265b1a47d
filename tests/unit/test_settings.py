from __future__ import annotations

import functools
from pathlib import Path

import pytest

from adeline_infra import settings
from adeline_infra.errors import ConfigError

from ..helpers import make_settings

load = functools.partial(make_settings, defaults=True)  # the suite's builder, over the defaults


def test_defaults(tmp_path: Path) -> None:
    s = load(tmp_path)
    assert (s.mqtt_host, s.mqtt_port, s.ws_port) == ("localhost", 1883, 9001)
    assert s.backend == "auto" and s.allow_anonymous is True and s.use_tls is False
    assert s.username is None and s.password is None
    assert s.state_dir == tmp_path / ".state"
    assert s.endpoint == "mqtt://localhost:1883"


def test_environment_beats_env_file_and_flags_beat_both(tmp_path: Path) -> None:
    text = "MQTT_BROKER_PORT=2000\nMQTT_WS_PORT=2001\nBROKER_BACKEND=docker\n"
    s = load(tmp_path, text, MQTT_BROKER_PORT="3000")
    assert (s.mqtt_port, s.ws_port, s.backend) == (3000, 2001, "docker")
    assert s.sources["MQTT_BROKER_PORT"] == "the environment"
    assert s.sources["MQTT_WS_PORT"] == ".env"
    s = load(
        tmp_path,
        text,
        overrides={"BROKER_BACKEND": "native", "MQTT_WS_PORT": None},
        MQTT_BROKER_PORT="3000",
    )
    assert s.backend == "native" and s.ws_port == 2001


@pytest.mark.parametrize(
    ("line", "name", "expected"),
    [
        ("MQTT_BROKER_PORT=abc", "MQTT_BROKER_PORT", "port number"),
        ("MQTT_BROKER_PORT=70000", "MQTT_BROKER_PORT", "port number"),
        ("MQTT_BROKER_PORT=0", "MQTT_BROKER_PORT", "port number"),
        ("BROKER_BACKEND=foo", "BROKER_BACKEND", "auto or docker or native"),
        ("MQTT_USE_TLS=maybe", "MQTT_USE_TLS", "true or false"),
        ("MQTT_CONNECT_TIMEOUT=-1", "MQTT_CONNECT_TIMEOUT", "positive"),
        ("GO2RTC_API_URL=localhost:1984", "GO2RTC_API_URL", "URL"),
        ("TOPIC_STATUS=a/#", "TOPIC_STATUS", "wildcards"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, line: str, name: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, line + "\n")
    message = str(err.value)
    assert message.startswith(f"{name}=") and expected in message
    assert "from .env" in message
    assert err.value.exit_code == 2
    assert "\n" not in message


def test_secret_values_are_never_shown(tmp_path: Path) -> None:
    s = load(tmp_path, "MQTT_USERNAME=u\nMQTT_PASSWORD=hunter2\n")
    assert "hunter2" not in repr(s)


def test_credentials_come_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MQTT_PASSWORD"):
        load(tmp_path, "MQTT_USERNAME=u\n")


def test_ports_must_differ(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MQTT_WS_PORT"):
        load(tmp_path, "MQTT_BROKER_PORT=5000\nMQTT_WS_PORT=5000\n")


def test_relative_paths_are_taken_from_the_root(tmp_path: Path) -> None:
    elsewhere = tmp_path.parent / "elsewhere" / "passwd"  # absolute on every OS (C:\... too)
    s = load(tmp_path, f"MQTT_TLS_DIR=certs\nMOSQUITTO_PASSWD_FILE={elsewhere}\n")
    assert s.tls_dir == tmp_path / "certs"
    assert s.passwd_file == elsewhere


def test_env_example_agrees_with_the_declared_settings() -> None:
    """Every setting has a line in .env.example (commented or not), nothing else does, and a
    value written there is the setting's default."""
    import re

    root = Path(__file__).resolve().parents[2]
    text = (root / ".env.example").read_text(encoding="utf-8")
    lines = re.findall(r"^(#\s*)?([A-Z][A-Z0-9_]+)=(.*)$", text, flags=re.MULTILINE)
    assert {name for _, name, _ in lines} == set(settings.BY_NAME)
    set_there = {name: value for comment, name, value in lines if not comment}
    assert set_there == {name: settings.BY_NAME[name].default for name in set_there}


def test_env_example_loads_cleanly(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    s = settings.load(tmp_path, environ={"ADELINE_ENV_FILE": str(root / ".env.example")})
    assert s.mqtt_port == 1883


def test_every_bad_setting_is_named_in_one_pass(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError) as caught:
        load(tmp_path, MQTT_BROKER_PORT="x", MQTT_WS_PORT="-1", MQTT_CONNECT_TIMEOUT="nan")
    problems = caught.value.problems
    assert [p.variable for p in problems] == [
        "MQTT_BROKER_PORT",
        "MQTT_WS_PORT",
        "MQTT_CONNECT_TIMEOUT",
    ]
    assert {p.source for p in problems} == {"the environment"}
    line = str(caught.value)
    assert line.startswith("MQTT_BROKER_PORT=") and "(and 2 more: `inv doctor` lists them)" in line
    assert caught.value.partial is not None and caught.value.partial.mqtt_port == 1883
