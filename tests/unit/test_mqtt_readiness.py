"""The readiness branches of mqtt.probe / wait_ready / session and services.up, in milliseconds.

A scripted fake broker (tests/fake_broker.py) answers CONNECT as each test needs: CONNACK with
any reason code, no CONNACK, a closed connection, a TLS listener with a CA the client does not
trust or that wants a client certificate. A real mosquitto covers the rest (tests/integration).
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra import certs, mqtt, services
from adeline_infra import settings as settings_mod
from adeline_infra.backends.base import Backend, BrokerState
from adeline_infra.errors import BrokerUnavailable, InfraError
from adeline_infra.settings import Settings

from ..fake_broker import (
    CLOSE,
    CONNACK,
    SILENT,
    V311_ONLY,
    FakeBroker,
    connack,
    server_tls_context,
)

NOT_AUTHORIZED, BAD_CREDENTIALS, SERVER_UNAVAILABLE = 0x87, 0x86, 0x88


def settings_for(tmp_path: Path, port: int, **environ: str) -> Settings:
    env_file = tmp_path / "test.env"
    env_file.write_text("", encoding="utf-8")
    return settings_mod.load(
        tmp_path,
        environ={
            "ADELINE_ENV_FILE": str(env_file),
            "ADELINE_STATE_DIR": str(tmp_path / "state"),
            "MQTT_BROKER_HOST": "127.0.0.1",
            "MQTT_BROKER_PORT": str(port),
            "MQTT_CONNECT_TIMEOUT": "2",
            **environ,
        },
    )


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: a connection to it is refused, and nobody can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


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


# --- mqtt.probe -------------------------------------------------------------------------------


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


# --- TLS --------------------------------------------------------------------------------------


def tls_settings(tmp_path: Path, port: int, tls: Path, **environ: str) -> Settings:
    return settings_for(tmp_path, port, MQTT_USE_TLS="true", MQTT_TLS_DIR=str(tls), **environ)


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


# --- mqtt.wait_ready --------------------------------------------------------------------------


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


# --- mqtt.session -----------------------------------------------------------------------------


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


# --- services.up ------------------------------------------------------------------------------


class ScriptedBackend(Backend):
    """A backend whose broker is the fake one: start() does nothing, alive() is scripted."""

    name = "scripted"

    def __init__(
        self,
        settings: Settings,
        *,
        running: bool = False,
        alive: bool = True,
        mismatch: str | None = None,
        log: tuple[str, ...] = (),
        managed: bool = True,
        started_at: float | None = None,
    ) -> None:
        super().__init__(settings)
        self.running, self._alive, self.mismatch, self.log = running, alive, mismatch, log
        self.managed, self.started_at = managed, started_at
        self.started = 0

    def state(self) -> BrokerState:
        return BrokerState(self.name, self.running, self.started_at, {"pid": 4242})

    def version(self) -> str | None:
        return "9.9.9-from-the-binary"

    def start(self, *, extras: frozenset[str] = frozenset()) -> None:
        self.started += 1

    def stop(self) -> bool:
        return False

    def alive(self) -> bool:
        return self._alive

    def log_tail(self, lines: int) -> list[str]:
        return list(self.log)[-lines:]

    def follow_logs(self, tail: int) -> Iterator[str]:
        yield from self.log_tail(tail)

    def clean(self) -> list[str]:
        return []

    def config_mismatch(self) -> str | None:
        return self.mismatch


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


# --- services.status --------------------------------------------------------------------------


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


# --- MQTT 3.1.1-only brokers ---------------------------------------------------------------


def test_a_311_only_broker_is_named_in_one_line(tmp_path: Path) -> None:
    with FakeBroker(then=V311_ONLY) as broker:
        result = mqtt.probe(settings_for(tmp_path, broker.port))
    assert not result.ok and result.refused  # retrying will not help: wait_ready stops at once
    assert "speaks only MQTT 3.1.1" in result.reason and "need MQTT 5" in result.reason
    assert "\n" not in result.reason
    # the second CONNECT (MQTT 3.1.1: protocol level 4) is what told it apart
    assert [c[6] for c in broker.connects] == [5, 4]


def test_a_311_only_broker_fails_session_and_status_naming_mqtt_5(tmp_path: Path) -> None:
    with FakeBroker(then=V311_ONLY) as broker:
        s = settings_for(tmp_path, broker.port)
        with pytest.raises(BrokerUnavailable, match="speaks only MQTT 3.1.1"):
            mqtt.retained(s, ["a"])
        info = services.status(s, backend=ScriptedBackend(s, running=True, managed=False))
    assert info.exit_code == 1 and info.problem and "speaks only MQTT 3.1.1" in info.problem


def test_unsupported_protocol_from_a_broker_refusing_311_too_still_names_mqtt_5(
    tmp_path: Path,
) -> None:
    with FakeBroker(then=connack(0x84)) as broker:  # MQTT 5's "unsupported protocol version"
        result = mqtt.probe(settings_for(tmp_path, broker.port))
    assert "only MQTT 3.1.1" not in result.reason and "need MQTT 5" in result.reason
