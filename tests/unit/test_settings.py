"""`.env` as careless users write it, and secrets that must not leak through another value."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from adeline_infra import settings
from adeline_infra import settings as settings_mod
from adeline_infra.errors import ConfigError

from ..helpers import ROOT, base_env, inv_here, make_settings
from .test_broker_config import make

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


SECRET = "S3cretPW_xyz"


def load_bytes(tmp_path: Path, data: bytes, **environ: str) -> settings.Settings:
    env_file = tmp_path / ".env"
    env_file.write_bytes(data)
    return settings.load(tmp_path, environ={"ADELINE_ENV_FILE": str(env_file), **environ})


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbfMQTT_BROKER_PORT=18555\n",  # Notepad's BOM
        b"MQTT_BROKER_PORT=18555\r\n",  # CRLF
        b"export MQTT_BROKER_PORT=18555\n",  # shell style
        b'MQTT_BROKER_PORT="18555"\n',
        b"MQTT_BROKER_PORT=1\nMQTT_BROKER_PORT=18555\n",  # duplicate: the last wins
    ],
)
def test_common_env_file_styles_are_read(tmp_path: Path, data: bytes) -> None:
    assert load_bytes(tmp_path, data).mqtt_port == 18555


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'MQTT_USERNAME=u\nMQTT_BROKER_PORT="18561\n', 2),  # unclosed quote
        (b"MQTT_BROKER_PORT=18555\ngarbage without equals\n", 2),
    ],
)
def test_an_unparsable_line_is_one_error_naming_the_line(
    tmp_path: Path, data: bytes, line: int, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match=rf"line {line} is not KEY=VALUE") as caught:
        load_bytes(tmp_path, data)
    assert "garbage" not in str(caught.value)  # the line's text may be a password: not shown
    assert caught.value.exit_code == 2
    assert capfd.readouterr().err == ""  # python-dotenv's own warning is not printed


def test_a_secret_inside_another_invalid_value_is_hidden(tmp_path: Path) -> None:
    data = f"MQTT_USERNAME=u\nMQTT_PASSWORD={SECRET}\nMQTT_BROKER_PORT=abc {SECRET}\n"
    with pytest.raises(ConfigError) as caught:
        load_bytes(tmp_path, data.encode())
    assert SECRET not in str(caught.value)
    assert "MQTT_BROKER_PORT" in str(caught.value)


def test_a_secret_line_swallowed_by_an_open_quote_is_hidden(tmp_path: Path) -> None:
    data = f'MQTT_USERNAME=u\nMQTT_BROKER_HOST="localhost\nMQTT_PASSWORD={SECRET}"\n'
    with pytest.raises(ConfigError, match="MQTT_BROKER_HOST") as caught:
        load_bytes(tmp_path, data.encode())
    assert SECRET not in str(caught.value)
    assert "\n" not in str(caught.value)


CONTROL = ["a\nb", "a\rb", "a\x00b", "a\x1b[31mb", "a\u2028b", "a\x85b", "\t", "a\u202eb"]


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


LONG = "x" * 50_000 + " y\u202e"


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


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("MOSQUITTO_STOP_TIMEOUT", v)
        for v in ("", "0", "-1", "nan", "inf", "1e9", "abc", "1\n2", "\0")
    ]
    + [("MOSQUITTO_LOG_MAX_MB", v) for v in ("", "0", "-5", "1.5", "9" * 30, "x", "1\n", "\0")],
)
def test_hostile_lifecycle_settings_are_config_errors(tmp_path: Path, name: str, raw: str) -> None:
    env = base_env(tmp_path, **{name: raw})
    with pytest.raises(ConfigError, match=name):
        settings_mod.load(ROOT, environ=env)


def test_env_file_saved_by_notepad_keeps_its_first_key(tmp_path: Path) -> None:
    """Notepad writes a BOM; python-dotenv before 1.2.3 dropped the key after it."""
    env_file = tmp_path / "bom.env"
    env_file.write_text("MQTT_BROKER_PORT=5001\r\nMQTT_WS_PORT=5002\r\n", encoding="utf-8-sig")
    s = settings.load(tmp_path, environ={"ADELINE_ENV_FILE": str(env_file)})
    assert (s.mqtt_port, s.ws_port) == (5001, 5002)
