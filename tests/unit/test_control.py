from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import (
    commands,
    control,
    settings,
)
from adeline_infra.errors import ConfigError


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
