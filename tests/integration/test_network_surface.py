"""The broker's network surface on a real mosquitto (native backend), with real clients.

Exposure is tested without sending anything beyond the loopback range: a socket bound to
127.0.0.1 does not answer on 127.0.0.2, one bound to 0.0.0.0 does. What the broker listens on is
also read from the OS (psutil), since mosquitto 2.0.11 has been seen to ignore a WebSockets
listener's address while still answering on loopback.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from adeline_infra import broker_config, services
from adeline_infra.settings import Settings

from ..conftest import running_broker, settings_from
from ..helpers import assert_one_line_error, base_env, free_port, inv, inv_here
from .secure_setup import prepare

pytestmark = pytest.mark.integration


def _is_local(host: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, 0))
        except OSError:
            return False
    return True


# 127.0.0.2 is loopback on Linux and Windows; macOS answers only on 127.0.0.1 unless lo0 has an
# alias. Without one, "answers beyond loopback" would fail and "no answer" would pass vacuously.
beyond_loopback = pytest.mark.skipif(
    not _is_local("127.0.0.2"),
    reason="127.0.0.2 is not an address here (macOS: sudo ifconfig lo0 alias 127.0.0.2 up)",
)


def connack(
    s: Settings,
    host: str,
    port: int,
    *,
    websockets: bool = False,
    tls: bool | None = None,
    client_cert: bool = True,
    login: bool = True,
    timeout: float = 3.0,
) -> str:
    """One MQTT CONNECT with paho: "ok", "refused: ...", or why nothing answered."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        protocol=mqtt.MQTTv5,
        transport="websockets" if websockets else "tcp",
    )
    client.connect_timeout = timeout
    if login and s.username:
        client.username_pw_set(s.username, s.password)
    if s.use_tls if tls is None else tls:
        context = ssl.create_default_context(cafile=str(s.ca_file))
        if client_cert and s.client_cert.is_file():
            context.load_cert_chain(str(s.client_cert), str(s.client_key))
        client.tls_set_context(context)
    answer: dict[str, Any] = {}
    client.on_connect = lambda _c, _u, _f, rc, _p: answer.setdefault("rc", rc)
    try:
        client.connect(host, port, keepalive=10)
        deadline = time.monotonic() + timeout
        while "rc" not in answer and time.monotonic() < deadline:
            client.loop(timeout=0.05)
            if client.socket() is None:
                break
    except (OSError, ssl.SSLError) as exc:
        return f"no answer: {type(exc).__name__}"
    finally:
        client._reset_sockets()
    rc = answer.get("rc")
    if rc is None:
        return "no CONNACK"
    return f"refused: {rc}" if rc.is_failure else "ok"


def listening(s: Settings) -> set[tuple[str, int]]:
    """(address, port) of every socket the native broker listens on, as the OS sees it."""
    pid = services.status(s).detail["pid"]
    return {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections("inet")
        if c.status == psutil.CONN_LISTEN
    }


@pytest.fixture
def passworded(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`env` with a password file and our user, no TLS (made with `inv auth.add-user`)."""
    secured = prepare(env, tmp_path)
    return {**secured, "MQTT_USE_TLS": "false"}


@pytest.fixture
def secure(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`env` as the README's secure recipe: password file and TLS (certs from `inv tls.certs`)."""
    return prepare(env, tmp_path)


# --- bind address -------------------------------------------------------------------------------


@beyond_loopback
def test_default_answers_on_loopback_only(env: dict[str, str]) -> None:
    with running_broker(env) as s:
        assert connack(s, "127.0.0.1", s.mqtt_port) == "ok"
        assert connack(s, "127.0.0.1", s.ws_port, websockets=True) == "ok"
        assert connack(s, "127.0.0.2", s.mqtt_port).startswith("no answer")
        assert connack(s, "127.0.0.2", s.ws_port, websockets=True).startswith("no answer")
        addresses = {ip for ip, _port in listening(s)}
        assert addresses <= {"127.0.0.1", "::1"}, addresses
        assert {port for _ip, port in listening(s)} == {s.mqtt_port, s.ws_port}


@beyond_loopback
def test_bind_all_with_password_answers_beyond_loopback(passworded: dict[str, str]) -> None:
    with running_broker({**passworded, "MQTT_BIND_ADDRESS": "0.0.0.0"}) as s:
        for websockets, port in ((False, s.mqtt_port), (True, s.ws_port)):
            assert connack(s, "127.0.0.2", port, websockets=websockets) == "ok"
            assert connack(s, "127.0.0.2", port, websockets=websockets, login=False).startswith(
                "refused"
            )
        assert ("0.0.0.0", s.ws_port) in listening(s)


@beyond_loopback
def test_anonymous_beyond_loopback_is_refused_unless_accepted(env: dict[str, str]) -> None:
    exposed = {**env, "MQTT_BIND_ADDRESS": "0.0.0.0"}
    result = inv("services.up", env=exposed)
    line = assert_one_line_error(result, code=2)
    assert "MQTT_BIND_ADDRESS" in line and "MQTT_ALLOW_ANONYMOUS" in line
    assert "MQTT_EXPOSE_ANONYMOUS" in line
    assert not (Path(env["ADELINE_STATE_DIR"]) / "native" / "broker.json").exists()
    # The tasks that fix it still run.
    assert inv("auth.list-users", env=exposed).returncode == 0

    accepted = {**exposed, "MQTT_EXPOSE_ANONYMOUS": "true"}
    up = inv("services.up", env=accepted)
    try:
        assert up.returncode == 0, up.stderr
        assert "warning:" in up.stderr and "anonymous" in up.stderr
        status = inv_here("services.status", "--json", env=accepted)
        assert status.returncode == 0 and "warning:" in status.stderr
        assert json.loads(status.stdout)["warning"]
        doctor = json.loads(inv_here("doctor", "--json", env=accepted).stdout)
        rows = {c["name"]: c for c in doctor["checks"]}
        assert rows["listener mqtt"]["status"] == "warn"
        assert connack(settings_from(accepted), "127.0.0.2", int(env["MQTT_BROKER_PORT"])) == "ok"
    finally:
        inv_here("services.down", env=accepted)


# --- TLS on every listener ------------------------------------------------------------------------


def test_secure_websockets_speak_tls_with_the_password(secure: dict[str, str]) -> None:
    with running_broker(secure) as s:
        assert connack(s, "localhost", s.ws_port, websockets=True) == "ok"
        assert connack(s, "localhost", s.ws_port, websockets=True, login=False).startswith(
            "refused"
        )
        # Plain ws:// no longer exists beside TLS: no CONNACK, whatever the password.
        assert connack(s, "127.0.0.1", s.ws_port, websockets=True, tls=False) != "ok"
        status = services.status(s)
        assert status.websockets == f"wss://127.0.0.1:{s.ws_port}"


def test_websockets_require_the_client_certificate_too(secure: dict[str, str]) -> None:
    made = inv_here("tls.client", "client", env=secure)
    assert made.returncode == 0, made.stderr
    with running_broker({**secure, "MQTT_TLS_REQUIRE_CLIENT_CERT": "true"}) as s:
        assert connack(s, "localhost", s.ws_port, websockets=True) == "ok"
        without = connack(s, "localhost", s.ws_port, websockets=True, client_cert=False)
        assert without != "ok"
        assert connack(s, "localhost", s.mqtt_port, client_cert=False) != "ok"
        checked = inv("tls.check", env={**secure, "MQTT_TLS_REQUIRE_CLIENT_CERT": "true"})
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_ws_port_zero_turns_websockets_off(env: dict[str, str]) -> None:
    with running_broker({**env, "MQTT_WS_PORT": "0"}) as s:
        assert {port for _ip, port in listening(s)} == {s.mqtt_port}
        assert services.status(s).websockets is None


# --- the loopback door --------------------------------------------------------------------------


@beyond_loopback
def test_local_port_is_plaintext_on_loopback_only(secure: dict[str, str]) -> None:
    local = free_port()
    with running_broker({**secure, "MQTT_LOCAL_PORT": str(local)}) as s:
        assert connack(s, "127.0.0.1", local, tls=False) == "ok"
        assert connack(s, "127.0.0.1", local, tls=False, login=False).startswith("refused")
        assert connack(s, "127.0.0.2", local, tls=False).startswith("no answer")
        assert {ip for ip, port in listening(s) if port == local} <= {"127.0.0.1", "::1"}


@beyond_loopback
def test_local_port_stays_on_loopback_when_the_broker_is_exposed(secure: dict[str, str]) -> None:
    local = free_port()
    with running_broker(
        {**secure, "MQTT_LOCAL_PORT": str(local), "MQTT_BIND_ADDRESS": "0.0.0.0"}
    ) as s:
        # Beyond loopback, TLS answers (the certificate names 127.0.0.1, not 127.0.0.2).
        assert connack(s, "127.0.0.2", s.mqtt_port) == "no answer: SSLCertVerificationError"
        assert connack(s, "127.0.0.2", local, tls=False).startswith("no answer")
        assert connack(s, "127.0.0.1", local, tls=False) == "ok"


# --- configuration injection ----------------------------------------------------------------------

INJECTION = "\nallow_anonymous true\nlistener 1884 0.0.0.0\n#"


@pytest.mark.parametrize("var", ["ADELINE_STATE_DIR", "MQTT_TLS_DIR", "MOSQUITTO_PASSWD_FILE"])
def test_a_newline_in_a_path_setting_starts_nothing(
    env: dict[str, str], tmp_path: Path, var: str
) -> None:
    hostile = {**env, var: str(tmp_path / "x") + INJECTION}
    before = {p for p in tmp_path.rglob("*")}
    result = inv("services.up", env=hostile)
    assert_one_line_error(result, var, "control character", code=2)
    assert {p for p in tmp_path.rglob("*")} == before  # no file written
    assert connack(settings_from(env), "127.0.0.1", int(env["MQTT_BROKER_PORT"])).startswith(
        "no answer"
    )


# --- doctor ---------------------------------------------------------------------------------------


@pytest.fixture
def exposed_plaintext(passworded: dict[str, str]) -> Iterator[dict[str, str]]:
    yield {**passworded, "MQTT_BIND_ADDRESS": "0.0.0.0"}


def test_doctor_fails_passwords_in_plaintext_beyond_loopback(
    exposed_plaintext: dict[str, str],
) -> None:
    result = inv_here("doctor", "--json", env=exposed_plaintext)
    assert result.returncode == 1
    rows = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert rows["listener mqtt"]["status"] == "fail"
    assert "plaintext" in rows["listener mqtt"]["detail"]
    assert rows["listener websockets"]["status"] == "fail"


def test_doctor_rows_for_the_secure_recipe(secure: dict[str, str]) -> None:
    local = free_port()
    result = inv_here("doctor", "--json", env={**secure, "MQTT_LOCAL_PORT": str(local)})
    rows = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert rows["listener mqtt"]["status"] == "ok"
    assert rows["listener mqtt"]["detail"].startswith("mqtts://")
    assert rows["listener websockets"]["detail"].startswith("wss://")
    assert rows["listener local"]["status"] == "ok"
    assert "plaintext" in rows["listener local"]["detail"]


def test_hostile_bind_address_is_a_usage_error(tmp_path: Path) -> None:
    for value in ("example.com", "0.0.0.0\n", "999.1.1.1", "-h"):
        env = base_env(tmp_path, MQTT_BIND_ADDRESS=value)
        result = inv("services.up", env=env)
        assert result.returncode == 2, (value, result.stderr)
        assert "MQTT_BIND_ADDRESS" in result.stderr


def test_status_and_dev_print_the_scheme(secure: dict[str, str]) -> None:
    s = settings_from(secure)
    assert dataclasses.replace(s, use_tls=False).websockets_url == f"ws://127.0.0.1:{s.ws_port}"
    assert s.websockets_url == f"wss://127.0.0.1:{s.ws_port}"


# --- the Docker backend: the same surface, published by Compose ---------------------------------


def _docker_up(env: dict[str, str]) -> Settings:
    result = inv("services.up", env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    return settings_from(env)


@pytest.mark.docker
@beyond_loopback
def test_docker_default_publishes_on_loopback_only(docker_surface: dict[str, str]) -> None:
    s = _docker_up(docker_surface)
    assert connack(s, "127.0.0.1", s.mqtt_port) == "ok"
    assert connack(s, "127.0.0.1", s.ws_port, websockets=True) == "ok"
    assert connack(s, "127.0.0.2", s.mqtt_port).startswith("no answer")
    assert connack(s, "127.0.0.2", s.ws_port, websockets=True).startswith("no answer")
    loopback = {"127.0.0.1", "::1"} if broker_config.ipv6_loopback() else {"127.0.0.1"}
    for port in (s.mqtt_port, s.ws_port):
        bound = {
            c.laddr.ip
            for c in psutil.net_connections("tcp")
            if c.status == "LISTEN" and c.laddr.port == port
        }
        assert bound == loopback, (port, bound)
    if "::1" in loopback:  # published on IPv6 loopback too, like the native broker
        assert connack(s, "::1", s.mqtt_port) == "ok"
        assert connack(s, "::1", s.ws_port, websockets=True) == "ok"
    assert services.status(s).addresses == sorted(loopback)


@pytest.mark.docker
@beyond_loopback
def test_docker_bind_all_with_password_answers_beyond_loopback(
    docker_surface: dict[str, str], tmp_path: Path
) -> None:
    env = {**prepare(docker_surface, tmp_path), "MQTT_USE_TLS": "false"}
    s = _docker_up({**env, "MQTT_BIND_ADDRESS": "0.0.0.0"})
    for websockets, port in ((False, s.mqtt_port), (True, s.ws_port)):
        assert connack(s, "127.0.0.2", port, websockets=websockets) == "ok"
        assert connack(s, "127.0.0.2", port, websockets=websockets, login=False).startswith(
            "refused"
        )


@pytest.mark.docker
@beyond_loopback
def test_docker_secure_recipe_wss_and_local_port(
    docker_surface: dict[str, str], tmp_path: Path
) -> None:
    local = free_port()
    env = {**prepare(docker_surface, tmp_path), "MQTT_LOCAL_PORT": str(local)}
    s = _docker_up(env)
    assert connack(s, "localhost", s.ws_port, websockets=True) == "ok"
    assert connack(s, "127.0.0.1", s.ws_port, websockets=True, tls=False) != "ok"
    assert connack(s, "127.0.0.1", local, tls=False) == "ok"
    assert connack(s, "127.0.0.1", local, tls=False, login=False).startswith("refused")
    assert connack(s, "127.0.0.2", local, tls=False).startswith("no answer")
    if broker_config.ipv6_loopback():
        assert connack(s, "::1", local, tls=False) == "ok"


def _probe_from_another_container(engine: Any, project: str, host: str, port: int) -> str:
    """An anonymous MQTT CONNECT to host:port from a container on the broker's network."""
    from ..docker_helpers import IMAGE

    probe = ["mosquitto_sub", "-h", host, "-p", str(port), "-t", "$SYS/broker/uptime"]
    probe += ["-C", "1", "-W", "5"]
    network = f"{project}_broker"
    label = {"com.docker.compose.project": project}  # removed with the project
    container = engine.containers.run(
        IMAGE, probe, network=network, labels=label, detach=True, entrypoint=[]
    )
    try:
        code = container.wait(timeout=60)["StatusCode"]
        output = container.logs().decode("utf-8", "replace").strip()
    finally:
        container.remove(force=True)
    return f"exit {code}: {output}"


@pytest.mark.docker
def test_docker_local_door_is_not_open_to_other_containers(
    engine: Any, docker_surface: dict[str, str], tmp_path: Path
) -> None:
    from adeline_infra.backends.docker.broker_setup import CONTAINER_LOCAL_PORT

    local = free_port()
    s = _docker_up({**prepare(docker_surface, tmp_path), "MQTT_LOCAL_PORT": str(local)})
    assert connack(s, "127.0.0.1", local, tls=False) == "ok"  # the pipeline's way in
    project = docker_surface["COMPOSE_PROJECT_NAME"]
    network = engine.networks.get(f"{project}_broker")
    assert network.attrs["Options"].get("com.docker.network.bridge.enable_icc") == "false"
    (broker,) = network.containers  # nothing else shares the broker's network
    address = broker.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
    # Where the engine isolates containers (its firewall: iptables on) the connection fails;
    # where it does not (`--iptables=false`, as on CI) the broker answers "not authorised"
    # (exit 5): either way no CONNACK success, so no way in without the login.
    answer = _probe_from_another_container(engine, project, address, CONTAINER_LOCAL_PORT)
    assert not answer.startswith("exit 0"), answer


@pytest.mark.docker
def test_docker_refuses_an_anonymous_local_door(docker_surface: dict[str, str]) -> None:
    env = {**docker_surface, "MQTT_USE_TLS": "true", "MQTT_LOCAL_PORT": str(free_port())}
    result = inv("services.up", env={**env, "MQTT_ALLOW_ANONYMOUS": "true"}, timeout=60)
    assert_one_line_error(result, "MQTT_LOCAL_PORT", code=2)


@pytest.mark.docker
def test_docker_ws_port_zero_publishes_no_websockets(docker_surface: dict[str, str]) -> None:
    s = _docker_up({**docker_surface, "MQTT_WS_PORT": "0"})
    assert connack(s, "127.0.0.1", s.mqtt_port) == "ok"
    assert services.status(s).websockets is None
    import subprocess

    ports = subprocess.run(
        ["docker", "ps", "--filter", f"label=com.docker.compose.project={s.compose_project}"]
        + ["--format", "{{.Ports}}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert "->9001" not in ports and "->1883" in ports  # "9001/tcp" alone: not published


# --- tls.check on every TLS listener ------------------------------------------------------------


def test_tls_check_covers_every_listener(secure: dict[str, str], env: dict[str, str]) -> None:
    with running_broker(secure):
        result = inv_here("tls.check", "--json", env=secure)
        assert result.returncode == 0, result.stdout + result.stderr
        listeners = json.loads(result.stdout)["listeners"]
        assert [x.split(":")[0] for x in listeners] == ["mqtts", "wss"]
        # A new server certificate: the running broker still presents the old one.
        assert inv_here("tls.certs", env=secure).returncode == 0
        stale = inv_here("tls.check", "--json", env=secure)
        assert stale.returncode == 1
        problems = json.loads(stale.stdout)["problems"]
        assert any("another certificate" in p and "wss" in p for p in problems), problems
    # A broker without TLS on the ports the settings say speak TLS: both listeners named.
    plain = {**env, "MQTT_BROKER_PORT": secure["MQTT_BROKER_PORT"]}
    plain["MQTT_WS_PORT"] = secure["MQTT_WS_PORT"]
    with running_broker(plain):
        result = inv_here("tls.check", "--json", env=secure)
        assert result.returncode == 1
        problems = json.loads(result.stdout)["problems"]
        assert sum("does not complete a TLS handshake" in p for p in problems) == 2, problems


def test_restart_refused_for_exposure_keeps_the_broker(env: dict[str, str]) -> None:
    with running_broker(env) as s:
        result = inv("services.restart", env={**env, "MQTT_BIND_ADDRESS": "0.0.0.0"})
        assert result.returncode == 2 and "MQTT_ALLOW_ANONYMOUS" in result.stderr
        assert connack(s, "127.0.0.1", s.mqtt_port) == "ok"


def test_doctor_fails_a_plaintext_websockets_broker_when_tls_is_asked(
    secure: dict[str, str], env: dict[str, str]
) -> None:
    """A broker started before MQTT_USE_TLS=true: its ws:// is weaker than the settings say."""
    plain = {**env, "MQTT_BROKER_PORT": secure["MQTT_BROKER_PORT"]}
    plain["MQTT_WS_PORT"] = secure["MQTT_WS_PORT"]
    with running_broker(plain):
        rows = {
            c["name"]: c
            for c in json.loads(inv_here("doctor", "--json", env=secure).stdout)["checks"]
        }
        assert rows["listener websockets"]["status"] == "fail"
        assert "TLS handshake" in rows["listener websockets"]["detail"]
