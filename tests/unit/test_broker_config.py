from __future__ import annotations

import functools
from pathlib import Path, PurePosixPath

import pytest

from adeline_infra import broker_config
from adeline_infra.errors import ConfigError

from ..helpers import make_settings

make = functools.partial(make_settings, defaults=True)  # the suite's builder, over the defaults


PATHS = broker_config.BrokerPaths(
    data_dir=PurePosixPath("/mosquitto/data"),
    passwd_file=PurePosixPath("/mosquitto/secrets/passwd"),
    ca_file=PurePosixPath("/mosquitto/tls/ca.crt"),
    cert_file=PurePosixPath("/mosquitto/tls/server.crt"),
    key_file=PurePosixPath("/mosquitto/tls/server.key"),
)


def test_dev_broker(tmp_path: Path) -> None:
    conf = broker_config.render(make(tmp_path), PATHS, port=1883, ws_port=9001)
    lines = conf.splitlines()
    assert "allow_anonymous true" in lines
    assert "persistence_location /mosquitto/data/" in lines
    assert "log_dest stderr" in lines and "log_dest stdout" not in lines
    assert (
        lines.index("listener 1883") < lines.index("protocol mqtt") < lines.index("listener 9001")
    )
    assert "password_file" not in conf and "certfile" not in conf


def test_secure_broker(tmp_path: Path) -> None:
    s = make(
        tmp_path,
        MQTT_ALLOW_ANONYMOUS="false",
        MQTT_USE_TLS="true",
        MQTT_TLS_REQUIRE_CLIENT_CERT="true",
    )
    lines = broker_config.render(s, PATHS, port=8883, ws_port=9001, run_as="root").splitlines()
    assert lines[2] == "user root"
    assert "allow_anonymous false" in lines
    assert "password_file /mosquitto/secrets/passwd" in lines
    assert "cafile /mosquitto/tls/ca.crt" in lines
    assert "require_certificate true" in lines
    tls_at = lines.index("cafile /mosquitto/tls/ca.crt")
    assert lines.index("listener 8883") < tls_at < lines.index("listener 9001")


def test_missing_secrets_name_the_command_that_makes_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inv auth.add-user"):
        broker_config.check_required_files(make(tmp_path, MQTT_ALLOW_ANONYMOUS="false"))
    with pytest.raises(ConfigError, match="inv tls.certs"):
        broker_config.check_required_files(make(tmp_path, MQTT_USE_TLS="true"))


def test_no_deprecated_options_and_an_explicit_packet_limit(tmp_path: Path) -> None:
    # 2.1 logs "per_listener_settings is deprecated" at every start when the option is there,
    # and its default max_packet_size is 2,000,000 bytes (2.0: 256 MB)
    lines = broker_config.render(make(tmp_path), PATHS, port=1883, ws_port=9001).splitlines()
    assert not [x for x in lines if x.startswith("per_listener_settings")]
    assert f"max_packet_size {broker_config.MAX_PACKET_BYTES}" in lines
    assert broker_config.MAX_PACKET_BYTES == 10 * 1024 * 1024


def test_a_rendered_config_is_read_back_and_its_differences_named(tmp_path: Path) -> None:
    """`parse_config` reads what `render` wrote: status and doctor compare the running broker's
    own file with the one the settings would write now."""
    paths = broker_config.BrokerPaths(data_dir=PurePosixPath("/data"))

    def text(**values: str) -> str:
        s = make_settings(tmp_path, **values)
        return broker_config.render(
            s, paths, port=s.mqtt_port, ws_port=s.ws_port, addresses=broker_config.bind_addresses(s)
        )

    loopback = text(MQTT_BROKER_PORT="21883", MQTT_WS_PORT="0")
    parsed = broker_config.parse_config(loopback)
    assert parsed.anonymous
    assert {(x.port, x.address) for x in parsed.listeners} >= {(21883, "127.0.0.1")}
    exposed = text(MQTT_BROKER_PORT="21883", MQTT_WS_PORT="0", MQTT_BIND_ADDRESS="0.0.0.0")
    surface = broker_config.running_surface("c", exposed, None, loopback)
    assert surface.exposed_anonymous and surface.exposed == ["0.0.0.0:21883"]
    assert any("0.0.0.0:21883" in d and "127.0.0.1:21883" in d for d in surface.differences)
    assert broker_config.running_surface("c", loopback, None, loopback).differences == ()
