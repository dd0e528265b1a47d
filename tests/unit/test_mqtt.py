"""Retained messages the broker sends after the SUBACK (EMQX's retainer, a networked store).

MQTT does not order a subscription's retained messages relative to its SUBACK. The fake broker's
`retained_delay` sends them 50 ms after it: every reader of "what is retained now" must still see
them (`mqtt.RetainedReader`, the one implementation)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from adeline_infra import certs, control, monitor, mqtt, services
from adeline_infra.errors import BrokerUnavailable, InfraError
from adeline_infra.settings import Settings

from ..fake_broker import (
    BAD_CREDENTIALS,
    CLOSE,
    CONNACK,
    NOT_AUTHORIZED,
    SERVER_UNAVAILABLE,
    SILENT,
    V311_ONLY,
    FakeBroker,
    ScriptedBackend,
    connack,
    server_tls_context,
    settings_for,
)

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


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CA, server and client certificates as `inv tls.certs` / `inv tls.client` make them."""
    out = tmp_path_factory.mktemp("tls")
    certs.make_tls_dir(out, clients=["client"])
    return out


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("other-ca")
    certs.make_tls_dir(out)
    return out


def tls_settings(tmp_path: Path, port: int, tls: Path, **environ: str) -> Settings:
    return settings_for(tmp_path, port, MQTT_USE_TLS="true", MQTT_TLS_DIR=str(tls), **environ)


def test_probe_succeeds_only_on_a_successful_connack(tmp_path: Path) -> None:
    with FakeBroker(CONNACK) as broker:
        result = mqtt.probe(settings_for(tmp_path, broker.port))
    assert result.ok and result.reason == "answered CONNACK" and not result.refused
    assert len(broker.connects) == 1  # one CONNECT, nothing else opened


def test_probe_nothing_listening_says_start_it(tmp_path: Path, closed_port: int) -> None:
    result = mqtt.probe(settings_for(tmp_path, closed_port))
    assert not result.ok and not result.refused
    assert "refused the connection" in result.reason and "inv services.up" in result.reason


@pytest.mark.parametrize("behaviour", [CLOSE, SILENT], ids=["closes", "silent"])
def test_probe_without_connack_suggests_a_tls_listener(tmp_path: Path, behaviour: object) -> None:
    with FakeBroker(behaviour) as broker:  # type: ignore[arg-type]
        result = mqtt.probe(settings_for(tmp_path, broker.port), timeout=0.1)
    assert not result.ok and not result.refused
    assert "sent no CONNACK" in result.reason and "MQTT_USE_TLS" in result.reason


@pytest.mark.parametrize(
    ("code", "user", "words"),
    [
        (NOT_AUTHORIZED, None, ("anonymous access", "MQTT_USERNAME/MQTT_PASSWORD")),
        (BAD_CREDENTIALS, "erin", ("user 'erin'", "inv auth.list-users")),
        (SERVER_UNAVAILABLE, None, ("refused the connection",)),
    ],
)
def test_probe_refusal_names_what_to_check(
    tmp_path: Path, code: int, user: str | None, words: tuple[str, ...]
) -> None:
    creds = {"MQTT_USERNAME": user, "MQTT_PASSWORD": "s3cret-pw"} if user else {}
    with FakeBroker(connack(code)) as broker:
        result = mqtt.probe(settings_for(tmp_path, broker.port, **creds))
    assert not result.ok and result.refused
    for word in words:
        assert word in result.reason
    assert "s3cret-pw" not in result.reason


def test_probe_sends_the_configured_credentials(tmp_path: Path) -> None:
    with FakeBroker(CONNACK) as broker:
        s = settings_for(tmp_path, broker.port, MQTT_USERNAME="erin", MQTT_PASSWORD="pw-123")
        assert mqtt.probe(s).ok
    (connect,) = broker.connects
    assert b"erin" in connect and b"pw-123" in connect  # CONNECT's payload carries them


def test_probe_error_is_one_line_naming_the_endpoint(tmp_path: Path, closed_port: int) -> None:
    s = settings_for(tmp_path, closed_port)
    err = mqtt.probe(s).error(s)
    assert isinstance(err, BrokerUnavailable) and err.exit_code == 1
    assert str(err).startswith(f"MQTT broker at 127.0.0.1:{closed_port} ")
    assert "\n" not in str(err)


def test_probe_over_tls_answers(tmp_path: Path, tls_dir: Path) -> None:
    with FakeBroker(CONNACK, tls=server_tls_context(tls_dir)) as broker:
        for host in ("127.0.0.1", "localhost"):
            s = dataclasses.replace(tls_settings(tmp_path, broker.port, tls_dir), mqtt_host=host)
            result = mqtt.probe(s)
            assert result.ok, (host, result.reason)


def test_probe_with_a_ca_we_do_not_trust(tmp_path: Path, tls_dir: Path, other_ca: Path) -> None:
    with FakeBroker(CONNACK, tls=server_tls_context(tls_dir)) as broker:
        result = mqtt.probe(tls_settings(tmp_path, broker.port, other_ca))
    assert not result.ok and not result.refused
    assert "do not trust" in result.reason and "inv tls.check" in result.reason
    assert broker.connects == []  # never got as far as MQTT


def test_probe_plain_mqtt_to_a_tls_listener(tmp_path: Path, tls_dir: Path) -> None:
    with FakeBroker(CONNACK, tls=server_tls_context(tls_dir)) as broker:
        result = mqtt.probe(settings_for(tmp_path, broker.port), timeout=1)
    assert not result.ok and "MQTT_USE_TLS" in result.reason
    assert broker.connects == []


def test_probe_tls_to_a_plain_listener_fails_without_retrying_forever(
    tmp_path: Path, tls_dir: Path
) -> None:
    # The plain listener drops the ClientHello (not a CONNECT); the handshake fails at once.
    with FakeBroker(CONNACK) as broker:
        result = mqtt.probe(tls_settings(tmp_path, broker.port, tls_dir), timeout=1)
    assert not result.ok and not result.refused, result.reason
    assert "TLS handshake" in result.reason and "plaintext listener" in result.reason
    assert broker.connects == [] and broker.connections == 1


def test_probe_tls_handshake_never_answered_is_a_timeout(tmp_path: Path, tls_dir: Path) -> None:
    with FakeBroker(SILENT) as broker:  # accepts TCP, never answers the ClientHello
        result = mqtt.probe(tls_settings(tmp_path, broker.port, tls_dir), timeout=0.1)
    assert not result.ok and result.reason == "did not answer in time"


def test_probe_without_the_client_certificate_a_listener_requires(
    tmp_path: Path, tls_dir: Path
) -> None:
    context = server_tls_context(tls_dir, require_client_cert=True)
    with FakeBroker(CONNACK, tls=context) as broker:
        with_cert = tls_settings(tmp_path, broker.port, tls_dir, MQTT_TLS_CLIENT_NAME="client")
        assert mqtt.probe(with_cert).ok
        without = tls_settings(tmp_path, broker.port, tls_dir, MQTT_TLS_CLIENT_NAME="nobody")
        result = mqtt.probe(without, timeout=1)
    assert not result.ok and "client certificate" in result.reason, result.reason


def test_missing_ca_is_a_configuration_error(tmp_path: Path) -> None:
    s = tls_settings(tmp_path, 1, tmp_path / "no-tls")
    with pytest.raises(InfraError) as err:
        mqtt.probe(s)
    assert err.value.exit_code == 2 and "inv tls.certs" in str(err.value)


def test_required_client_cert_missing_is_a_configuration_error(
    tmp_path: Path, tls_dir: Path
) -> None:
    s = tls_settings(
        tmp_path,
        1,
        tls_dir,
        MQTT_TLS_REQUIRE_CLIENT_CERT="true",
        MQTT_TLS_CLIENT_NAME="nobody",
    )
    with pytest.raises(InfraError) as err:
        mqtt.make_client(s, "test")
    assert err.value.exit_code == 2 and "inv tls.client nobody" in str(err.value)


def test_wait_ready_retries_until_connack(tmp_path: Path) -> None:
    with FakeBroker(CLOSE, CLOSE, CLOSE, then=CONNACK) as broker:
        result = mqtt.wait_ready(settings_for(tmp_path, broker.port), timeout=10)
    assert result.ok
    assert broker.connections == 4  # three failed probes, then the one that got CONNACK


def test_wait_ready_stops_at_a_refusal(tmp_path: Path) -> None:
    with FakeBroker(connack(NOT_AUTHORIZED), then=CONNACK) as broker:
        result = mqtt.wait_ready(settings_for(tmp_path, broker.port), timeout=10)
    assert not result.ok and result.refused
    assert broker.connections == 1  # retrying cannot change the broker's mind


def test_wait_ready_stops_when_the_broker_dies(tmp_path: Path, closed_port: int) -> None:
    calls = []

    def alive() -> bool:
        calls.append(1)
        return False

    result = mqtt.wait_ready(settings_for(tmp_path, closed_port), timeout=10, alive=alive)
    assert not result.ok and result.reason == "exited before it answered"
    assert len(calls) == 1


def test_wait_ready_gives_up_at_the_deadline_with_the_last_reason(
    tmp_path: Path, closed_port: int
) -> None:
    result = mqtt.wait_ready(settings_for(tmp_path, closed_port), timeout=0.2, alive=lambda: True)
    assert not result.ok and not result.refused
    assert "refused the connection" in result.reason


def test_wait_ready_with_no_time_left_does_not_probe(tmp_path: Path) -> None:
    with FakeBroker(CONNACK) as broker:
        result = mqtt.wait_ready(settings_for(tmp_path, broker.port), timeout=0)
    assert not result.ok and broker.connections == 0


def test_session_when_nothing_listens(tmp_path: Path, closed_port: int) -> None:
    s = settings_for(tmp_path, closed_port)
    with pytest.raises(BrokerUnavailable, match="inv services.up"), mqtt.session(s, "test"):
        pass


def test_session_without_connack(tmp_path: Path) -> None:
    with FakeBroker(SILENT) as broker:
        s = settings_for(tmp_path, broker.port)
        with pytest.raises(BrokerUnavailable) as err, mqtt.session(s, "test", timeout=0.1):
            pass
    assert "sent no CONNACK within 0.1 s" in str(err.value)


def test_session_refused(tmp_path: Path) -> None:
    with FakeBroker(connack(BAD_CREDENTIALS)) as broker:
        s = settings_for(tmp_path, broker.port, MQTT_USERNAME="erin", MQTT_PASSWORD="pw-9")
        with pytest.raises(BrokerUnavailable) as err, mqtt.session(s, "test"):
            pass
    assert "refused user 'erin'" in str(err.value) and "pw-9" not in str(err.value)


def test_session_connected_runs_on_connect(tmp_path: Path) -> None:
    seen = []
    with (
        FakeBroker(CONNACK) as broker,
        mqtt.session(settings_for(tmp_path, broker.port), "test", on_connect=seen.append) as client,
    ):
        assert client.is_connected()
    assert len(seen) == 1


def test_retained_returns_what_the_broker_holds(tmp_path: Path) -> None:
    with FakeBroker(retained={"a/b": b"1", "c": b""}) as broker:
        values = mqtt.retained(settings_for(tmp_path, broker.port), ["a/b", "c", "x/y"])
    assert values == {"a/b": b"1", "c": b""}


def test_retained_without_a_suback_is_one_line(tmp_path: Path) -> None:
    # CONNACK, then nothing: the SUBSCRIBE is never answered
    with FakeBroker(then=connack(0)) as broker:
        broker.answer_subscribe = False
        with pytest.raises(BrokerUnavailable) as err:
            mqtt.retained(settings_for(tmp_path, broker.port), ["a"], timeout=0.1)
    assert "did not answer a SUBSCRIBE within 0.1 s" in str(err.value)


def test_a_311_only_broker_is_named_in_one_line(tmp_path: Path) -> None:
    with FakeBroker(then=V311_ONLY) as broker:
        result = mqtt.probe(settings_for(tmp_path, broker.port))
    assert not result.ok and result.refused  # retrying will not help: wait_ready stops at once
    assert "speaks only MQTT 3.1.1" in result.reason and "need MQTT 5" in result.reason
    assert "\n" not in result.reason
    # the second CONNECT (MQTT 3.1.1: protocol level 4) is what told it apart
    assert [c[6] for c in broker.connects] == [5, 4]


def test_unsupported_protocol_from_a_broker_refusing_311_too_still_names_mqtt_5(
    tmp_path: Path,
) -> None:
    with FakeBroker(then=connack(0x84)) as broker:  # MQTT 5's "unsupported protocol version"
        result = mqtt.probe(settings_for(tmp_path, broker.port))
    assert "only MQTT 3.1.1" not in result.reason and "need MQTT 5" in result.reason
