"""`.env` as careless users write it, and secrets that must not leak through another value."""

from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import settings
from adeline_infra.errors import ConfigError

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
