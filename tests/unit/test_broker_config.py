from __future__ import annotations

import dataclasses
import functools
from pathlib import Path, PurePosixPath

import pytest

from adeline_infra import broker_config
from adeline_infra.backends import native
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


def _blocks(conf: str) -> list[list[str]]:
    """The conf's listener blocks, each as its lines."""
    blocks: list[list[str]] = []
    for line in conf.splitlines():
        if line.startswith("listener "):
            blocks.append([line])
        elif blocks and line and not line.startswith("#"):
            blocks[-1].append(line)
    return blocks


def test_the_renderer_refuses_line_breaks(tmp_path: Path) -> None:
    """The second line of defence: a value that slipped past the settings is never written."""
    s = make(tmp_path, MQTT_ALLOW_ANONYMOUS="false")
    for bad in ("/x\nallow_anonymous true", "/x\rlistener 1 0.0.0.0", "/x\x00", "/x\u2028y"):
        paths = dataclasses.replace(PATHS, passwd_file=PurePosixPath(bad))
        with pytest.raises(ConfigError, match="refusing to write mosquitto.conf"):
            broker_config.render(s, paths, port=1883, ws_port=9001)
        with pytest.raises(ConfigError, match="refusing"):
            broker_config.render(
                s, dataclasses.replace(PATHS, data_dir=PurePosixPath(bad)), port=1, ws_port=2
            )


def test_default_binds_loopback_with_socket_domain_on_websockets(tmp_path: Path) -> None:
    s = make(tmp_path)
    conf = broker_config.render(s, PATHS, port=1883, ws_port=9001, addresses=("127.0.0.1", "::1"))
    blocks = _blocks(conf)
    assert ["listener 1883 127.0.0.1", "protocol mqtt"] in blocks
    assert ["listener 1883 ::1", "protocol mqtt"] in blocks
    assert ["listener 9001 127.0.0.1", "socket_domain ipv4", "protocol websockets"] in blocks
    assert ["listener 9001 ::1", "socket_domain ipv6", "protocol websockets"] in blocks
    assert all(b[0].count(" ") == 2 for b in blocks)  # no listener on every interface


def test_tls_covers_websockets_too(tmp_path: Path) -> None:
    s = make(tmp_path, MQTT_USE_TLS="true", MQTT_TLS_REQUIRE_CLIENT_CERT="true")
    blocks = _blocks(broker_config.render(s, PATHS, port=8883, ws_port=9001))
    assert len(blocks) == 2
    for block in blocks:
        assert "cafile /mosquitto/tls/ca.crt" in block
        assert "require_certificate true" in block
    assert [x.scheme for x in broker_config.listeners(s)] == ["mqtts", "wss"]


def test_ws_port_zero_and_local_port(tmp_path: Path) -> None:
    s = make(tmp_path, MQTT_USE_TLS="true", MQTT_WS_PORT="0", MQTT_LOCAL_PORT="1884")
    conf = broker_config.render(
        s, PATHS, port=8883, ws_port=9001, local_port=1884, addresses=("0.0.0.0",)
    )
    blocks = _blocks(conf)
    assert "websockets" not in conf
    local = [b for b in blocks if b[0].startswith("listener 1884")]
    assert local and all(b[0].split()[2] in ("127.0.0.1", "::1") for b in local)
    assert all("cafile" not in " ".join(b) for b in local)
    roles = {x.role: x for x in broker_config.listeners(s)}
    assert set(roles) == {"mqtt", "local"} and roles["local"].loopback_only


@pytest.mark.parametrize(
    ("log", "problem"),
    [
        ("1: Saving in-memory database to /d/mosquitto.db.\n", None),
        ("1: Saving in-memory database to x.\n1: Error: No space left on device.\n", "no space"),
        ("1: Error saving in-memory database, unable to open x for writing.\n", "Error saving"),
        ("1: Client c disconnected.\n", None),
    ],
)
def test_a_failed_save_is_read_from_the_log(log: str, problem: str | None) -> None:
    found = native.save_failure(log)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_the_save_failure_hint_says_free_space_only_for_a_full_disk(tmp_path: Path) -> None:
    from adeline_infra import broker_config

    data, log = tmp_path / "data", tmp_path / "mosquitto.log"
    full = broker_config.save_failure_hint(f"{broker_config.NO_SPACE} holding {data}", data, log)
    assert "free some space" in full
    other = broker_config.save_failure_hint(f"{data / 'mosquitto.db'} is empty", data, log)
    assert "free some space" not in other and str(data) in other and str(log) in other
