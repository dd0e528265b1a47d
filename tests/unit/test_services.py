from __future__ import annotations

import time
from pathlib import Path

import pytest

from adeline_infra import mqtt, services
from adeline_infra.errors import BrokerUnavailable, InfraError

from ..fake_broker import (
    BAD_CREDENTIALS,
    CLOSE,
    CONNACK,
    NOT_AUTHORIZED,
    SILENT,
    V311_ONLY,
    FakeBroker,
    ScriptedBackend,
    connack,
    settings_for,
)


def test_up_ready_after_connack(tmp_path: Path) -> None:
    with FakeBroker(CLOSE, then=CONNACK) as broker:
        backend = ScriptedBackend(settings_for(tmp_path, broker.port))
        result = services.up(backend.settings, timeout=10, backend=backend)
    assert result.backend == "scripted" and result.already_running is False
    assert backend.started == 1 and broker.connections == 2


def test_up_already_running_with_other_settings_asks_for_a_restart(tmp_path: Path) -> None:
    with FakeBroker(CONNACK) as broker:
        backend = ScriptedBackend(
            settings_for(tmp_path, broker.port),
            running=True,
            mismatch="it runs with other settings: `inv services.restart`",
        )
        with pytest.raises(InfraError, match="services.restart"):
            services.up(backend.settings, timeout=10, backend=backend)
    assert backend.started == 0 and broker.connections == 0


def test_up_already_running_and_matching(tmp_path: Path) -> None:
    with FakeBroker(CONNACK) as broker:
        backend = ScriptedBackend(settings_for(tmp_path, broker.port), running=True)
        assert services.up(backend.settings, timeout=10, backend=backend).already_running


def test_up_refused_credentials_is_the_probe_error(tmp_path: Path) -> None:
    with FakeBroker(connack(BAD_CREDENTIALS)) as broker:
        s = settings_for(tmp_path, broker.port, MQTT_USERNAME="erin", MQTT_PASSWORD="pw-7")
        with pytest.raises(BrokerUnavailable) as err:
            services.up(s, timeout=10, backend=ScriptedBackend(s))
    message = str(err.value)
    assert "refused user 'erin'" in message and "pw-7" not in message and "\n" not in message


def test_up_broker_that_exits_shows_its_log(tmp_path: Path, closed_port: int) -> None:
    s = settings_for(tmp_path, closed_port)
    log = ("1: mosquitto starting", "--- restarted ---", "", "1: Error: Unable to open config")
    with pytest.raises(InfraError) as err:
        services.up(s, timeout=10, backend=ScriptedBackend(s, alive=False, log=log))
    message = str(err.value)
    assert "the scripted broker exited before it answered" in message
    assert message.endswith("its log ends: 1: Error: Unable to open config")
    assert "---" not in message and "\n" not in message


def test_up_broker_that_never_answers_connect(tmp_path: Path) -> None:
    """The branch that says "did not answer an MQTT CONNECT": alive, accepting, silent."""
    with FakeBroker(then=SILENT) as broker:
        s = settings_for(tmp_path, broker.port)
        with pytest.raises(InfraError) as err:
            services.up(s, timeout=0.1, backend=ScriptedBackend(s, log=("1: listening",)))
    message = str(err.value)
    assert "the scripted broker did not answer an MQTT CONNECT within 0.1 s" in message
    assert "its log ends: 1: listening" in message and "inv services.logs" in message
    assert err.value.exit_code == 1 and "\n" not in message


def test_up_without_log_lines_says_no_log(tmp_path: Path) -> None:
    with FakeBroker(then=CLOSE) as broker:
        s = settings_for(tmp_path, broker.port)
        with pytest.raises(InfraError) as err:
            services.up(s, timeout=0.2, backend=ScriptedBackend(s))
    assert "its log ends" not in str(err.value)
    assert "did not answer an MQTT CONNECT" in str(err.value)


def test_up_external_broker_not_answering_names_what_to_check(tmp_path: Path) -> None:
    with FakeBroker(then=CLOSE) as broker:
        s = settings_for(tmp_path, broker.port)
        with pytest.raises(InfraError) as err:
            services.up(s, timeout=0.2, backend=ScriptedBackend(s, managed=False))
    message = str(err.value)
    assert "(external) did not answer an MQTT CONNECT within 0.2 s" in message
    assert "MQTT_BROKER_HOST/PORT" in message and "\n" not in message


def test_up_external_broker_answering_is_not_ours_to_manage(tmp_path: Path) -> None:
    with FakeBroker(CONNACK) as broker:
        s = settings_for(tmp_path, broker.port)
        result = services.up(s, timeout=5, backend=ScriptedBackend(s, managed=False, running=True))
    assert result.managed is False and result.already_running is False


def test_status_stopped_is_exit_3_saying_how_to_start(tmp_path: Path, closed_port: int) -> None:
    s = settings_for(tmp_path, closed_port)
    info = services.status(s, backend=ScriptedBackend(s))
    assert info.exit_code == services.EXIT_STOPPED == 3
    assert info.running is False and info.healthy is False
    assert "inv services.up" in info.problem


def test_status_running_but_not_answering_is_exit_1(tmp_path: Path) -> None:
    with FakeBroker(then=connack(NOT_AUTHORIZED)) as broker:
        s = settings_for(tmp_path, broker.port)
        info = services.status(s, backend=ScriptedBackend(s, running=True))
    assert info.exit_code == services.EXIT_UNHEALTHY == 1
    assert info.running is True and info.healthy is False
    assert info.problem.startswith(f"MQTT broker at 127.0.0.1:{broker.port} refused")
    assert info.version == "9.9.9-from-the-binary"  # from the backend, not MQTT


def test_status_healthy_reads_version_and_uptime_from_sys(tmp_path: Path) -> None:
    sys_topics = {
        "$SYS/broker/version": b"mosquitto version 2.0.99",
        "$SYS/broker/uptime": b"4242 seconds",
    }
    with FakeBroker(retained=sys_topics) as broker:
        s = settings_for(tmp_path, broker.port)
        # no start time from the backend: the broker's own $SYS uptime is the figure
        info = services.status(s, backend=ScriptedBackend(s, running=True))
    assert info.exit_code == services.EXIT_OK == 0
    assert info.healthy is True and info.problem is None
    assert (info.version, info.uptime_s) == ("2.0.99", 4242)
    assert set(broker.subscribed) >= set(sys_topics)


def test_status_healthy_without_sys_topics_falls_back_to_the_backend(tmp_path: Path) -> None:
    with FakeBroker() as broker:  # answers SUBSCRIBE, has no $SYS tree
        s = settings_for(tmp_path, broker.port)
        backend = ScriptedBackend(s, running=True, started_at=time.time() - 60)
        info = services.status(s, backend=backend)
    assert info.exit_code == 0 and info.version == "9.9.9-from-the-binary"
    assert 59 <= info.uptime_s <= 3600  # from the backend's start time


def test_a_311_only_broker_fails_session_and_status_naming_mqtt_5(tmp_path: Path) -> None:
    with FakeBroker(then=V311_ONLY) as broker:
        s = settings_for(tmp_path, broker.port)
        with pytest.raises(BrokerUnavailable, match="speaks only MQTT 3.1.1"):
            mqtt.retained(s, ["a"])
        info = services.status(s, backend=ScriptedBackend(s, running=True, managed=False))
    assert info.exit_code == 1 and info.problem and "speaks only MQTT 3.1.1" in info.problem
