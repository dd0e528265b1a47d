"""Hostile values: every setting refuses control characters, the renderer refuses line breaks,
the listeners follow the settings, and task options end in exit 2 naming themselves."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

import pytest

from adeline_infra import broker_config, cli, doctor, settings
from adeline_infra.errors import ConfigError

from ..helpers import assert_one_line_error, base_env, inv, inv_here
from .test_broker_config import PATHS, make

CONTROL = ["a\nb", "a\rb", "a\x00b", "a\x1b[31mb", "a\u2028b", "a\x85b", "\t", "a\u202eb"]


@pytest.mark.parametrize("var", [v.name for v in settings.VARIABLES])
@pytest.mark.parametrize("value", CONTROL)
def test_every_setting_refuses_control_characters(tmp_path: Path, var: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make(tmp_path, **{var: value})
    message = str(caught.value)
    assert message.startswith(f"{var}=") and "control character" in message
    assert "\n" not in message  # one line, the character shown escaped
    if settings.BY_NAME[var].secret:
        assert value not in message and "<hidden>" in message


@pytest.mark.parametrize("var", ["TOPIC_COMMANDS", "TOPIC_STATUS", "TOPIC_DETECTIONS"])
@pytest.mark.parametrize("value", ["a/+/b", "a/#", "#", "+"])
def test_topics_refuse_wildcards(tmp_path: Path, var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=var):
        make(tmp_path, **{var: value})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MQTT_BIND_ADDRESS", "example.com"),
        ("MQTT_BIND_ADDRESS", "256.0.0.1"),
        ("MQTT_WS_PORT", "-1"),
        ("MQTT_LOCAL_PORT", "70000"),
        ("MQTT_CONNECT_TIMEOUT", "nan"),
        ("MQTT_CONNECT_TIMEOUT", "inf"),
        ("MQTT_CONNECT_TIMEOUT", "1e309"),
        ("MQTT_TLS_CLIENT_NAME", "../../etc/x"),
        ("MOSQUITTO_IMAGE", "-v /:/host"),
        ("PIPELINE_MODULE", "os; rm"),
        ("PIPELINE_DISABLED_MODELS", "A,B C"),
        ("GO2RTC_API_URL", "http://localhost:99999"),
        ("MQTT_BROKER_HOST", "-oProxyCommand"),
        ("MQTT_BROKER_HOST", "localhost:1883"),
        ("TOPIC_COMMANDS", "$SYS/x"),
        ("TOPIC_STATUS", "a//b"),
        ("TOPIC_DETECTIONS", "/a"),
        ("TOPIC_METRICS", "a/"),
        ("ADELINE_STATE_DIR", ""),
    ],
)
def test_hostile_values_name_the_variable(tmp_path: Path, var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{var}"):
        make(tmp_path, **{var: value})


def test_folder_settings_refuse_files_and_dangling_links(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    for value in (afile, afile / "sub", link):
        for var in ("ADELINE_STATE_DIR", "MQTT_TLS_DIR"):
            with pytest.raises(ConfigError, match=f"^{var}=.*not a folder"):
                make(tmp_path, **{var: str(value)})


def test_the_local_door_needs_its_own_port_and_tls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MQTT_LOCAL_PORT and MQTT_BROKER_PORT"):
        make(tmp_path, MQTT_USE_TLS="true", MQTT_BROKER_PORT="8883", MQTT_LOCAL_PORT="8883")
    with pytest.raises(ConfigError, match="MQTT_LOCAL_PORT is set but MQTT_USE_TLS is false"):
        make(tmp_path, MQTT_LOCAL_PORT="1884")
    assert make(tmp_path, MQTT_WS_PORT="0").ws_port == 0


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


# --- listeners ----------------------------------------------------------------------------


def _blocks(conf: str) -> list[list[str]]:
    """The conf's listener blocks, each as its lines."""
    blocks: list[list[str]] = []
    for line in conf.splitlines():
        if line.startswith("listener "):
            blocks.append([line])
        elif blocks and line and not line.startswith("#"):
            blocks[-1].append(line)
    return blocks


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


def test_exposure_needs_both_settings_named(tmp_path: Path) -> None:
    s = make(tmp_path, MQTT_BIND_ADDRESS="0.0.0.0")
    with pytest.raises(ConfigError) as caught:
        settings.check_exposure(s)
    assert "MQTT_BIND_ADDRESS=0.0.0.0" in str(caught.value)
    assert "MQTT_ALLOW_ANONYMOUS" in str(caught.value)
    accepted = make(tmp_path, MQTT_BIND_ADDRESS="0.0.0.0", MQTT_EXPOSE_ANONYMOUS="true")
    settings.check_exposure(accepted)
    assert settings.exposure_warning(accepted)
    settings.check_exposure(make(tmp_path, MQTT_BIND_ADDRESS="127.0.0.1"))
    assert settings.exposure_warning(make(tmp_path)) is None


def test_doctor_listener_rows(tmp_path: Path) -> None:
    rows = {c.name: c for c in doctor.check_listeners(make(tmp_path))}
    assert rows["listener mqtt"].status == doctor.OK
    assert rows["listener websockets"].detail.startswith("ws://127.0.0.1")
    plain = dataclasses.replace(make(tmp_path), bind_address="0.0.0.0", allow_anonymous=False)
    rows = {c.name: c for c in doctor.check_listeners(plain)}
    assert (
        rows["listener mqtt"].status == doctor.FAIL and "plaintext" in rows["listener mqtt"].detail
    )
    anon = dataclasses.replace(make(tmp_path), bind_address="0.0.0.0")
    rows = {c.name: c for c in doctor.check_listeners(anon)}
    assert rows["listener mqtt"].status == doctor.FAIL
    off = {c.name: c for c in doctor.check_listeners(make(tmp_path, MQTT_WS_PORT="0"))}
    assert off["listener websockets"].status == doctor.SKIP


# --- task options -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0, 1e308])
def test_seconds_options(value: float) -> None:
    with pytest.raises(ConfigError, match="^--timeout"):
        cli.seconds("timeout", value)
    assert cli.seconds("timeout", 0.0, zero_ok=True) == 0.0


@pytest.mark.parametrize(
    "args",
    [
        ("services.logs", "--tail", "x"),
        ("services.logs", "--tail", "-5"),
        ("services.up", "--timeout", "nan"),
        ("services.restart", "--timeout", "-1"),
        ("tls.check", "--days", "1e309"),
        ("monitor.data", "--timeout", "1e309"),
        ("control.pause", "--wait", "--timeout", "1e309"),
        ("monitor.status", "--watch", "--interval", "0"),
        # beyond Python's integer-string limit; and huge values, shown shortened
        ("tls.check", "--days", "9" * 5000),
        ("monitor.data", "--count", "x" * 5000),
        ("tls.certs", "--key-type", "x" * 5000),
    ],
)
def test_task_options_exit_2_naming_the_option(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = inv(*args, env=base_env(tmp_path))
    word = "key type" if args[-2] == "--key-type" else args[-2]
    assert len(assert_one_line_error(result, word, code=2)) < 300  # a huge value shown cut


def test_dev_prints_the_websockets_scheme_truthfully(tmp_path: Path) -> None:
    from adeline_infra import devenv

    def text(**environ: str) -> str:
        return "\n".join(devenv.connection_help(make(tmp_path, **environ)))

    assert "ws://localhost:9001" in text()
    secure = text(MQTT_USE_TLS="true", MQTT_LOCAL_PORT="1884")
    assert "wss://localhost:9001" in secure and "ws://" not in secure.replace("wss://", "")
    assert "mqtt://127.0.0.1:1884" in secure
    assert "off (MQTT_WS_PORT=0)" in text(MQTT_WS_PORT="0")


HOSTILE = [
    "",
    " ",
    "-1",
    "0",
    "nan",
    "inf",
    "1e309",
    "99999999999999999999",
    "x" * 100_000,
    "9" * 5000,  # not a name either: the message shows it shortened
    "../../etc/passwd",
    "-rf",
    "é",
    "a b",
    "[::1]",
    "http://x:99999",
    "a/+/b",
]


@pytest.mark.parametrize("var", [v.name for v in settings.VARIABLES])
def test_hostile_values_are_accepted_or_refused_in_one_line(tmp_path: Path, var: str) -> None:
    """What an attacker would try, for every setting: a value, or ConfigError; nothing else."""
    for value in HOSTILE:
        try:
            make(tmp_path, **{var: value})
        except ConfigError as exc:
            named = any(name in str(exc) for name in settings.BY_NAME)  # it, or e.g. its partner
            assert named and len(str(exc)) < 1000, (var, str(exc)[:300])


@pytest.mark.parametrize("value", ["localhost:1883", "[::1]:1883", "mqtt://localhost:1883"])
def test_a_host_with_a_port_says_where_the_port_goes(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make(tmp_path, MQTT_BROKER_HOST=value)
    assert "MQTT_BROKER_PORT" in str(caught.value)


@pytest.mark.parametrize(("value", "host"), [("[::1]", "::1"), ("::1", "::1"), ("[::1] ", "::1")])
def test_an_ipv6_host_in_brackets_is_the_address(tmp_path: Path, value: str, host: str) -> None:
    s = make(tmp_path, MQTT_BROKER_HOST=value)
    assert s.mqtt_host == host and s.endpoint.startswith("mqtt://[::1]:")


@pytest.mark.parametrize("value", ["..", ".", "a..b", ".local", "x" * 64 + ".lan"])
def test_a_host_with_an_empty_or_overlong_part_is_refused(tmp_path: Path, value: str) -> None:
    # the resolver's idna codec raised UnicodeError for these: a traceback in every task
    with pytest.raises(ConfigError, match="^MQTT_BROKER_HOST="):
        make(tmp_path, MQTT_BROKER_HOST=value)
    assert make(tmp_path, MQTT_BROKER_HOST="broker.lan.").mqtt_host == "broker.lan."


@pytest.mark.parametrize("var", ["MQTT_USERNAME", "MQTT_PASSWORD"])
def test_a_credential_mqtt_cannot_carry_is_refused(tmp_path: Path, var: str) -> None:
    # paho packs them with a 16-bit length: a 100 kB one was a struct.error traceback
    values = {"MQTT_USERNAME": "u", "MQTT_PASSWORD": "pw", var: "é" * 40_000}
    with pytest.raises(ConfigError, match=f"^{var}=.*65535 bytes") as caught:
        make(tmp_path, **values)
    assert len(str(caught.value)) < 1000 and "é" * 300 not in str(caught.value)


def test_an_invalid_url_never_shows_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make(tmp_path, GO2RTC_API_URL="http://admin:s3cretpw@127.0.0.1:99999")
    assert "s3cretpw" not in str(caught.value) and "admin:***@" in str(caught.value)


LONG = "x" * 50_000 + " y\u202e"


@pytest.mark.parametrize(
    ("args", "values"),
    [
        (("control.send", LONG), {}),
        (("tls.client", LONG), {}),
        (("tls.certs", "--hosts", LONG), {}),
        (("pipeline.run",), {"PIPELINE_MODULE": "x" * 50_000}),
    ],
    ids=["command", "client-name", "hosts", "module"],
)
def test_a_huge_argument_is_shown_shortened_and_escaped(
    tmp_path: Path, args: tuple[str, ...], values: dict[str, str]
) -> None:
    result = inv_here(*args, env=base_env(tmp_path, **values))
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr[-500:]
    assert len(result.stderr.strip().splitlines()) == 1 and len(result.stderr) < 1000
    assert "\u202e" not in result.stderr
    if not values:  # the argument itself is named, cut
        assert f"({len(LONG)} characters)" in result.stderr
