"""`$SYS` is mosquitto's: other brokers have another tree (EMQX: `$SYS/brokers/<node>/...`), a
part of one, or none. Status, monitor and doctor show what is known, name what is not, and never
call a healthy broker unhealthy for it. Played by the fake broker (no `$SYS` unless given one).
"""

from __future__ import annotations

import json
from pathlib import Path

from adeline_infra import doctor, monitor, services

from ..fake_broker import FakeBroker
from .test_mqtt_readiness import ScriptedBackend, settings_for

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
    rows = dict(monitor.status_rows(snap)[0])
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
