"""Payloads anyone who can publish to the broker may send: what the monitor prints of them never
carries a terminal control sequence (ESC rewrites the screen or the window title)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from adeline_infra.settings import Settings

from ..helpers import Lines, interrupt, inv_background, inv_here, wait_for_line
from . import standin
from .standin import StandInPipeline

pytestmark = pytest.mark.integration

CLEAR_AND_TITLE = "\x1b[2J\x1b]0;PWNED\x07"


@pytest.fixture
def pipeline(native_broker: Settings) -> Iterator[StandInPipeline]:
    with StandInPipeline(native_broker) as p:
        yield p


def test_a_status_with_escape_sequences_is_shown_escaped(
    pipeline: StandInPipeline, native_broker: Settings, env: dict[str, str]
) -> None:
    payload = json.dumps({"status": f"running{CLEAR_AND_TITLE}", "note": CLEAR_AND_TITLE})
    info = pipeline.client.publish(native_broker.topic_status, payload, qos=1, retain=True)
    info.wait_for_publish(5)
    result = inv_here("monitor.status", env=env)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "running\\x1b[2J" in result.stdout  # shown, escaped


def test_detections_with_escape_sequences_are_shown_escaped(
    pipeline: StandInPipeline, native_broker: Settings, env: dict[str, str]
) -> None:
    proc = inv_background("monitor.data", "--count", "2", env=env)
    wait_for_line(proc.stderr, "listening to")
    topic = native_broker.topic_detections
    bad_class = {"detections": [{"class": f"cat{CLEAR_AND_TITLE}", "confidence": 0.9}]}
    pipeline.publish(topic, json.dumps(bad_class).encode())
    pipeline.publish(topic, f"not json {CLEAR_AND_TITLE}".encode())
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "malformed payload" in out and "\\x1b[2J" in out


DEEP = b"[" * 200000 + b"]" * 200000
HUGE_STATUS = json.dumps({"status": "running", "blob": "x" * 9_000_000}).encode()


def test_deep_and_huge_detections_are_counted_malformed_and_later_ones_still_seen(
    pipeline: StandInPipeline, native_broker: Settings, env: dict[str, str]
) -> None:
    proc = inv_background("monitor.data", "--count", "4", env=env)
    wait_for_line(proc.stderr, "listening to")
    topic = native_broker.topic_detections
    pipeline.publish(topic, DEEP)
    pipeline.publish(topic, b'{"detections": ' + b"[" * 100 + b"]" * 100 + b"}")
    pipeline.publish(
        topic,
        b'{"detections": [{"class": "big", "confidence": 0.5}], "x": "' + b"y" * 2_000_000 + b'"}',
    )
    pipeline.publish(
        topic, json.dumps({"detections": [{"class": "dog", "confidence": 0.8}]}).encode()
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "RecursionError" not in err
    assert out.count("malformed payload") == 3 and "dog 1" in out
    assert max(len(line) for line in out.splitlines()) < 400  # shown shortened


@pytest.mark.parametrize("payload", [DEEP, HUGE_STATUS], ids=["deep", "9MB"])
@pytest.mark.parametrize("json_output", [False, True], ids=["table", "json"])
def test_a_deep_or_huge_retained_status_is_a_problem_not_a_crash(
    pipeline: StandInPipeline,
    native_broker: Settings,
    env: dict[str, str],
    payload: bytes,
    json_output: bool,
) -> None:
    info = pipeline.client.publish(native_broker.topic_status, payload, qos=1, retain=True)
    info.wait_for_publish(10)
    result = inv_here("monitor.status", *(["--json"] if json_output else []), env=env)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(result.stdout) < 20_000  # not an 11 MB table
    if json_output:
        problem = json.loads(result.stdout)["pipeline"]["problem"]
        assert problem and len(problem) < 300


def test_follow_survives_a_deep_status_and_shows_the_next(
    pipeline: StandInPipeline, native_broker: Settings, env: dict[str, str]
) -> None:
    proc = inv_background("monitor.status", "--follow", env=env)
    try:
        lines = Lines(proc.stdout)
        pipeline.publish_status("running")
        lines.wait_for("running", 20)
        pipeline.client.publish(
            native_broker.topic_status, DEEP, qos=1, retain=True
        ).wait_for_publish(10)
        pipeline.publish_status("paused")
        lines.wait_for("paused", 20)
    finally:
        interrupt(proc)
        _, err = proc.communicate(timeout=20)
    assert "Traceback" not in err and "RecursionError" not in err


def test_an_answer_with_escape_sequences_is_shown_escaped(
    pipeline: StandInPipeline,
    native_broker: Settings,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline.status = f"paused{CLEAR_AND_TITLE}\u202e"
    result = inv_here("control.status", "--wait", env=env)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "paused\\x1b[2J" in result.stdout and "\\u202e" in result.stdout
    # a structured answer (health): its keys and values too
    fields = {f"key{CLEAR_AND_TITLE}": f"value\u202e{CLEAR_AND_TITLE}", "healthy": True}
    monkeypatch.setattr(standin, "health_payload", lambda: json.dumps(fields).encode())
    result = inv_here("control.health", "--wait", env=env)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "key\\x1b[2J" in result.stdout and "value\\u202e" in result.stdout
