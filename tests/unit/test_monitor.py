"""Pure logic of monitor, control and pipeline: parsing, formatting, counting. No broker."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adeline_infra import (
    control,
    doctor,
    monitor,
    pipeline,
    procs,
    services,
    views,
)
from adeline_infra import settings as settings_mod
from adeline_infra.errors import ConfigError

from ..fake_broker import FakeBroker, ScriptedBackend, settings_for
from ..helpers import base_env


@pytest.fixture
def s(tmp_path: Path) -> settings_mod.Settings:
    return settings_mod.load(tmp_path, environ=base_env(tmp_path))


def test_broker_info_parses_sys_values_and_tolerates_missing_ones() -> None:
    info = monitor.broker_info(
        {
            "$SYS/broker/version": b"mosquitto version 2.0.11",
            "$SYS/broker/uptime": b"42 seconds",
            "$SYS/broker/clients/connected": b"3",
            "$SYS/broker/load/messages/received/1min": b"12.50",
            "$SYS/broker/retained messages/count": b"40",
        }
    )
    assert info["version"] == "2.0.11"
    assert info["uptime_s"] == 42
    assert info["clients_connected"] == 3
    assert info["messages_received_per_min"] == 12.5
    assert info["retained_messages"] == 40
    assert info["subscriptions"] is None and info["heap_bytes"] is None


def test_pipeline_info_none_when_never_published() -> None:
    info = monitor.pipeline_info(None)
    assert info.status is None and "no status published" in info.problem


@pytest.mark.parametrize("stamp", ["2025-01-01T11:59:30Z", "2025-01-01T11:59:30+00:00"])
def test_pipeline_info_age_from_iso_timestamps(stamp: str) -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    payload = json.dumps({"status": "paused", "timestamp": stamp, "client_id": "x"}).encode()
    info = monitor.pipeline_info(payload, now=now)
    assert (info.status, info.client_id, info.age_s) == ("paused", "x", 30.0)


def test_pipeline_info_naive_timestamp_is_local_time() -> None:
    stamp = (datetime.now() - timedelta(seconds=5)).isoformat()
    info = monitor.pipeline_info(json.dumps({"status": "running", "timestamp": stamp}).encode())
    assert 4 <= info.age_s <= 60


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b"{}", b'{"status": 3}'])
def test_pipeline_info_malformed_status_is_reported_not_raised(payload: bytes) -> None:
    info = monitor.pipeline_info(payload)
    assert info.status is None and info.problem


def test_format_detections_tolerates_odd_fields() -> None:
    lines = monitor.format_detections(
        1,
        {"frame": "nope", "detections": [{"bbox": None}, "junk", {"class": "cat"}]},
        verbose=True,
    )
    assert lines[0].startswith("#1 --:--:-- frame ? source ?: 3 detections")
    assert "    ? ? no box" in lines
    assert any("junk" in line for line in lines)


def test_tail_handler_counts_writes_and_stops_at_count(s: settings_mod.Settings) -> None:
    out = io.BytesIO()
    notes: list[str] = []
    tail = monitor.Tail(s, out, as_json=True, count=3, note=notes.append)
    good = b'{"detections": [{"class": "dog"}, {"class": "dog"}]}'
    tail.handle(s.topic_detections, good)
    tail.handle(s.topic_detections, b"\xff\xfe garbage")
    tail.handle(s.topic_detections, b'{\n  "detections": []\n}')  # pretty JSON -> one line
    tail.handle(s.topic_detections, good)  # past --count: ignored
    assert out.getvalue().splitlines() == [good, b'{"detections":[]}']
    assert len(notes) == 1 and "malformed" in notes[0]
    t = tail.totals
    assert (t.messages, t.malformed, t.detections, t.per_class["dog"]) == (3, 1, 2, 2)
    assert tail.done.is_set()


def test_control_payload_and_names() -> None:
    assert json.loads(control.payload("pause")) == {"command": "pause"}
    assert control.check_name(" metrics ") == "metrics"
    with pytest.raises(ConfigError):
        control.check_name("two words")


def test_pipeline_environment_and_command(s: settings_mod.Settings) -> None:
    env = pipeline.environment(s, base={"KEEP": "1"})
    assert env["KEEP"] == "1"
    assert env["PALIGEMMA_ENABLED"] == "False" and env["CORE_MODEL_PE_ENABLED"] == "False"
    argv = pipeline.command(s, ["--x"])
    assert argv[1:] == ["-m", "adeline", "--x"]


def test_exit_code_of_a_signalled_child() -> None:
    assert procs.exit_code(-2) == 130
    assert procs.exit_code(7) == 7


def _health_answer() -> bytes:
    """The real pipeline's answer to `health`: its report, json.dumps(indent=2), as the status."""
    report = {
        "status": "healthy",
        "timestamp": "2026-01-01T00:00:00",
        "version": "3.0.0",
        "checks": {"pipeline_running": True, "avg_fps": 2.0},
    }
    return json.dumps(
        {"status": json.dumps(report, indent=2), "timestamp": "2026-01-01T00:00:01"}
    ).encode()


def test_a_status_string_holding_json_is_shown_as_fields() -> None:
    info = monitor.pipeline_info(_health_answer())
    assert info.problem is None and info.status is None
    assert info.fields["status"] == "healthy"
    assert info.fields["checks"] == {"pipeline_running": True, "avg_fps": 2.0}
    rows = dict(monitor.flat_fields(info.fields))
    assert rows["checks.pipeline_running"] == "true" and rows["version"] == "3.0.0"
    assert "status=healthy" in monitor.status_line(info)
    assert "checks.avg_fps=2.0" in monitor.status_line(info)


def test_control_answer_with_a_status_string_holding_json_is_an_object() -> None:
    status = control._status(_health_answer())
    assert status["status"]["checks"]["avg_fps"] == 2.0


@pytest.mark.parametrize("word", ["running", "{not json", '{"a": 1', "[1, 2]", "{}x"])
def test_a_status_string_that_is_not_a_json_object_stays_a_string(word: str) -> None:
    payload = json.dumps({"status": word}).encode()
    assert control._status(payload)["status"] == word
    info = monitor.pipeline_info(payload)
    assert info.status == word


STATUS = {
    "inference/control/status": json.dumps(
        {"status": "running", "timestamp": "2026-01-01T00:00:00", "client_id": "x"}
    ).encode()
}


EMQX = {
    "$SYS/brokers": b"emqx@127.0.0.1",
    "$SYS/brokers/emqx@127.0.0.1/version": b"5.8.0",
    "$SYS/brokers/emqx@127.0.0.1/uptime": b"1 days, 2 hours, 3 minutes, 4 seconds",
    "$SYS/brokers/emqx@127.0.0.1/sysdescr": b"EMQX",
}


def test_monitor_status_without_sys_shows_the_pipeline_and_names_what_is_unknown(
    tmp_path: Path,
) -> None:
    with FakeBroker(retained=STATUS) as broker:
        snap = monitor.snapshot(settings_for(tmp_path, broker.port))
    b = snap.broker
    assert b["reachable"] is True and b["sys_tree"] is None
    assert b["version"] is None and "no $SYS values" in b["sys_note"]
    assert snap.pipeline.status == "running"
    rows = dict(views.status_rows(snap)[0])
    assert rows["reachable"] == "yes" and "unknown" in rows["$SYS"]


def test_monitor_status_reads_emqx_tree(tmp_path: Path) -> None:
    with FakeBroker(retained={**STATUS, **EMQX}) as broker:
        snap = monitor.snapshot(settings_for(tmp_path, broker.port))
    b = snap.broker
    assert (b["sys_tree"], b["version"]) == ("emqx", "5.8.0")
    assert b["uptime_s"] == 86400 + 2 * 3600 + 3 * 60 + 4
    # what EMQX's tree did not say is named, not guessed
    assert "EMQX's $SYS/brokers/emqx@127.0.0.1/ has no" in b["sys_note"]
    assert "load" in b["sys_note"]


def test_a_partial_mosquitto_tree_names_the_missing_values() -> None:
    info = monitor.broker_info({"$SYS/broker/version": b"mosquitto version 2.0.11"})
    assert info["sys_tree"] == "mosquitto" and info["version"] == "2.0.11"
    assert "has no uptime, clients" in info["sys_note"]


def test_a_complete_mosquitto_tree_has_no_note() -> None:
    values = {
        "$SYS/broker/version": b"mosquitto version 2.0.11",
        "$SYS/broker/uptime": b"5 seconds",
        "$SYS/broker/clients/connected": b"1",
        "$SYS/broker/load/messages/received/1min": b"0.0",
        "$SYS/broker/retained messages/count": b"3",
        "$SYS/broker/subscriptions/count": b"2",
    }
    assert monitor.broker_info(values)["sys_note"] is None


def test_services_status_of_a_broker_without_sys_is_healthy(tmp_path: Path) -> None:
    with FakeBroker() as broker:
        s = settings_for(tmp_path, broker.port)
        backend = ScriptedBackend(s, running=True, managed=False)
        backend.version = lambda: None  # type: ignore[method-assign]  # external: no binary
        info = services.status(s, backend=backend)
    assert info.exit_code == services.EXIT_OK and info.healthy is True and info.problem is None
    assert info.version is None and info.sys_tree is None


def test_services_status_reads_the_emqx_version(tmp_path: Path) -> None:
    with FakeBroker(retained=EMQX) as broker:
        s = settings_for(tmp_path, broker.port)
        info = services.status(s, backend=ScriptedBackend(s, running=True))
    assert info.exit_code == 0 and (info.version, info.sys_tree) == ("5.8.0", "emqx")
    assert info.uptime_s == 93784


def test_doctor_skips_a_missing_sys_and_reads_emqx(tmp_path: Path) -> None:
    with FakeBroker() as broker:
        row = doctor.check_sys(settings_for(tmp_path, broker.port))
    assert row.status == doctor.SKIP and "none published" in row.detail
    with FakeBroker(retained=EMQX) as broker:
        row = doctor.check_sys(settings_for(tmp_path, broker.port))
    assert row.status == doctor.OK and "EMQX" in row.detail and "5.8.0" in row.detail


def test_structured_status_is_fields() -> None:
    payload = json.dumps(
        {"healthy": False, "timestamp": "2026-01-01T00:00:00", "checks": {"mqtt": "ok"}}
    ).encode()
    info = monitor.pipeline_info(payload)
    assert info.status is None and info.problem is None
    assert info.fields == {"healthy": False, "checks": {"mqtt": "ok"}}
    assert monitor.flat_fields(info.fields) == [("healthy", "false"), ("checks.mqtt", "ok")]
    line = monitor.status_line(info)
    assert "healthy=false" in line and "checks.mqtt=ok" in line
    nested = monitor.pipeline_info(b'{"status": {"ok": true}}')
    assert nested.fields == {"ok": True} and nested.problem is None
    plain = monitor.pipeline_info(b'{"status": "running", "client_id": "x"}')
    assert plain.fields is None
    evil = monitor.pipeline_info(b'{"status": "a\\nb", "note": "[bold]x\\r"}')
    assert "\n" not in monitor.status_line(evil) and "\r" not in monitor.status_line(evil)
