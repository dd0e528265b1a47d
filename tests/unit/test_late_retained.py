"""Retained messages the broker sends after the SUBACK (EMQX's retainer, a networked store).

MQTT does not order a subscription's retained messages relative to its SUBACK. The fake broker's
`retained_delay` sends them 50 ms after it: every reader of "what is retained now" must still see
them (`mqtt.RetainedReader`, the one implementation).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adeline_infra import control, monitor, mqtt, services

from ..fake_broker import FakeBroker
from .test_mqtt_readiness import ScriptedBackend, settings_for

LATE = 0.05
STATUS_TOPIC = "inference/control/status"
RUNNING = json.dumps({"status": "running", "timestamp": "2026-01-01T00:00:00", "client_id": "x"})


def late_broker(**retained: bytes) -> FakeBroker:
    return FakeBroker(retained=retained or {STATUS_TOPIC: RUNNING.encode()}, retained_delay=LATE)


def test_retained_sees_messages_sent_after_the_suback(tmp_path: Path) -> None:
    with late_broker(**{"a/b": b"1"}) as broker:
        values = mqtt.retained(settings_for(tmp_path, broker.port), ["a/b"])
    assert values == {"a/b": b"1"}


def test_the_witness_is_not_among_the_messages_asked_for(tmp_path: Path) -> None:
    with FakeBroker(retained={"a": b"1", mqtt.WITNESS: b"mosquitto version 2.0.99"}) as broker:
        values = mqtt.retained(settings_for(tmp_path, broker.port), ["a"])
    assert values == {"a": b"1"}


def test_monitor_status_sees_a_late_retained_status(tmp_path: Path) -> None:
    with late_broker() as broker:
        snap = monitor.snapshot(settings_for(tmp_path, broker.port))
    assert snap.pipeline.status == "running"
    assert snap.pipeline.problem is None


def test_services_status_reads_a_late_sys_version(tmp_path: Path) -> None:
    with late_broker(**{"$SYS/broker/version": b"mosquitto version 2.0.99"}) as broker:
        s = settings_for(tmp_path, broker.port)
        info = services.status(s, backend=ScriptedBackend(s, running=True))
    assert info.exit_code == 0 and info.version == "2.0.99"


def test_follow_starts_with_a_late_retained_status(tmp_path: Path) -> None:
    lines: list[str] = []
    notes: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        raise KeyboardInterrupt  # one line is all this test needs: stop following

    with late_broker() as broker:
        monitor.follow(settings_for(tmp_path, broker.port), emit=emit, note=notes.append)
    assert "running" in lines[0]
    assert not any("no status published" in n for n in notes), notes


def test_watch_first_view_has_the_late_retained_status(tmp_path: Path) -> None:
    with late_broker() as broker:
        watcher = monitor.Watcher(settings_for(tmp_path, broker.port))
        seen: list[Any] = []

        def render() -> None:
            seen.append(watcher.snapshot())
            raise KeyboardInterrupt

        watcher.run(render, interval=0.1)
    assert seen[0].pipeline.status == "running"


def test_control_wait_sends_the_command_after_the_late_retained_status(tmp_path: Path) -> None:
    with late_broker() as broker:
        s = settings_for(tmp_path, broker.port)
        with pytest.raises(Exception, match="published no status"):  # nobody answers here
            control.send(s, "pause", wait=True, timeout=0.2)
    retained_at = broker.events.index(("retained", STATUS_TOPIC))
    assert broker.events.index(("publish", s.topic_commands)) > retained_at, broker.events
