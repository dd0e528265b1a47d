from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import (
    commands,
    control,
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
