"""status and doctor describe the broker that runs, not the settings of the moment (#18).

A broker started with one-off values (`MQTT_BIND_ADDRESS=0.0.0.0 MQTT_EXPOSE_ANONYMOUS=true inv
services.up`) is then looked at with the plain settings: its own configuration file and the
sockets it holds are what status and doctor report. Exposure is proven on 127.0.0.2 (loopback,
but not reached by a socket bound to 127.0.0.1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adeline_infra import broker_config

from ..conftest import settings_from
from ..helpers import inv, inv_here
from .secure_setup import prepare
from .test_network_surface import beyond_loopback, connack

pytestmark = pytest.mark.integration


@beyond_loopback
def test_status_and_doctor_report_the_exposed_broker_started_with_one_off_values(
    env: dict[str, str],
) -> None:
    one_off = {**env, "MQTT_BIND_ADDRESS": "0.0.0.0", "MQTT_EXPOSE_ANONYMOUS": "true"}
    up = inv_here("services.up", env=one_off)
    try:
        assert up.returncode == 0, up.stderr
        s = settings_from(env)
        assert connack(s, "127.0.0.2", s.mqtt_port) == "ok"  # exposed, for real

        status = inv_here("services.status", env=env)
        assert status.returncode == 0, status.stderr
        assert "0.0.0.0" in status.stdout
        assert "differs from settings" in status.stdout
        assert "warning:" in status.stderr and "anonymous" in status.stderr
        assert "0.0.0.0" in status.stderr

        doc = json.loads(inv_here("services.status", "--json", env=env).stdout)
        assert "0.0.0.0" in doc["addresses"]
        assert doc["warning"] and "0.0.0.0" in doc["warning"]
        assert any("0.0.0.0" in d for d in doc["differs"]), doc["differs"]
        assert doc["config_file"].endswith("mosquitto.conf")

        doctor = inv_here("doctor", "--json", env=env)
        assert doctor.returncode == 1, doctor.stdout
        rows = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
        assert rows["running broker"]["status"] == "fail"
        assert "0.0.0.0" in rows["running broker"]["detail"]
        assert rows["running vs settings"]["status"] == "warn"
        assert "0.0.0.0" in rows["running vs settings"]["detail"]
        assert rows["listener mqtt"]["detail"].startswith("the settings ask for")
        assert "broker config" not in rows  # one row says it, naming what differs

        # the settings of the moment accepting exactly that broker: a warning, as at `up`
        accepted = json.loads(inv_here("doctor", "--json", env=one_off).stdout)
        rows = {c["name"]: c for c in accepted["checks"]}
        assert rows["running broker"]["status"] == "warn"
        assert "running vs settings" not in rows
    finally:
        inv_here("services.down", env=env)


def test_status_and_doctor_agree_with_a_broker_started_from_the_settings(
    env: dict[str, str],
) -> None:
    up = inv_here("services.up", env=env)
    try:
        assert up.returncode == 0, up.stderr
        doc = json.loads(inv_here("services.status", "--json", env=env).stdout)
        assert set(doc["addresses"]) <= {"127.0.0.1", "::1"}
        assert doc["differs"] == [] and doc["warning"] is None
        doctor = json.loads(inv_here("doctor", "--json", env=env).stdout)
        rows = {c["name"]: c for c in doctor["checks"]}
        assert rows["running broker"]["status"] == "ok"
        assert "127.0.0.1" in rows["running broker"]["detail"]
        assert "running vs settings" not in rows
    finally:
        inv_here("services.down", env=env)


@beyond_loopback
def test_a_failed_up_stops_the_broker_it_started_and_names_the_host_setting(
    env: dict[str, str],
) -> None:
    elsewhere = {**env, "MQTT_BIND_ADDRESS": "127.0.0.2", "MQTT_BROKER_HOST": "localhost"}
    try:
        up = inv_here("services.up", "--timeout", "2", env=elsewhere)
        assert up.returncode == 1, up.stderr
        line = up.stderr.strip()
        assert len(line.splitlines()) == 1, line
        assert "MQTT_BROKER_HOST=localhost" in line and "127.0.0.2" in line
        assert "was stopped" in line
        status = inv_here("services.status", env=elsewhere)
        assert status.returncode == 3, status.stdout + status.stderr
        s = settings_from(elsewhere)
        assert connack(s, "127.0.0.2", s.mqtt_port).startswith("no answer")
    finally:
        inv_here("services.down", env=elsewhere)


# --- Docker ---------------------------------------------------------------------------------


@pytest.mark.docker
@beyond_loopback
def test_docker_every_interface_answers_on_both_stacks(
    docker_surface: dict[str, str], tmp_path: Path
) -> None:
    env = {**prepare(docker_surface, tmp_path), "MQTT_USE_TLS": "false", "MQTT_BIND_ADDRESS": "::"}
    up = inv("services.up", env=env, timeout=180)
    assert up.returncode == 0, up.stderr
    s = settings_from(env)
    for host in ("127.0.0.1", "127.0.0.2"):  # 127.0.0.1 was refused: published on [::] only
        assert connack(s, host, s.mqtt_port) == "ok", host
        assert connack(s, host, s.ws_port, websockets=True) == "ok", host
    if broker_config.ipv6_loopback():
        assert connack(s, "::1", s.mqtt_port) == "ok"


@pytest.mark.docker
def test_docker_failed_restart_leaves_no_container_running(
    docker_surface: dict[str, str], engine: Any
) -> None:
    up = inv("services.up", env=docker_surface, timeout=180)
    assert up.returncode == 0, up.stderr
    # the broker starts, but the clients look where it does not listen
    elsewhere = {**docker_surface, "MQTT_BROKER_HOST": "127.0.0.2"}
    restart = inv("services.restart", "--timeout", "3", env=elsewhere, timeout=180)
    assert restart.returncode == 1, restart.stderr
    assert "MQTT_BROKER_HOST=127.0.0.2" in restart.stderr and "was stopped" in restart.stderr
    label = {"label": f"com.docker.compose.project={docker_surface['COMPOSE_PROJECT_NAME']}"}
    assert [c.name for c in engine.containers.list(filters=label)] == []


# --- doctor and services.up judge MQTT_PASSWORD alike ----------------------------------------


def test_doctor_fails_a_password_services_up_refuses(env: dict[str, str], tmp_path: Path) -> None:
    secured = prepare(env, tmp_path)
    wrong = {**secured, "MQTT_PASSWORD": secured["MQTT_PASSWORD"] + "x"}
    up = inv_here("services.up", env=wrong)
    assert up.returncode == 2 and "MQTT_PASSWORD" in up.stderr, up.stderr
    doctor = inv_here("doctor", "--json", env=wrong)
    assert doctor.returncode == 1
    row = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}["password file"]
    assert row["status"] == "fail" and "MQTT_PASSWORD" in row["detail"], row
    assert wrong["MQTT_PASSWORD"] not in doctor.stdout + doctor.stderr
    right = json.loads(inv_here("doctor", "--json", env=secured).stdout)
    assert {c["name"]: c for c in right["checks"]}["password file"]["status"] == "ok"


# --- a broker beyond loopback: which names its certificate gives other machines ---------------


def test_tls_check_and_doctor_name_what_other_machines_must_use(
    env: dict[str, str], tmp_path: Path
) -> None:
    exposed = {**prepare(env, tmp_path), "MQTT_BIND_ADDRESS": "0.0.0.0"}
    check = inv_here("tls.check", "--json", env=exposed)
    assert check.returncode == 0, check.stderr  # a warning, not a failure
    doc = json.loads(check.stdout)
    assert doc["remote_names"] == [] and "regenerate" in doc["warning"]
    assert "warning:" in check.stderr and "inv tls.certs --hosts" in check.stderr
    rows = {
        c["name"]: c for c in json.loads(inv_here("doctor", "--json", env=exposed).stdout)["checks"]
    }
    assert rows["names for other machines"]["status"] == "warn"
    assert "only" in rows["names for other machines"]["detail"]

    hosts = "localhost,127.0.0.1,::1,broker.example.org,192.0.2.7"
    assert inv_here("tls.certs", "--hosts", hosts, env=exposed).returncode == 0
    doc = json.loads(inv_here("tls.check", "--json", env=exposed).stdout)
    assert doc["remote_names"] == ["broker.example.org", "192.0.2.7"] and doc["warning"] is None
    text = inv_here("tls.check", env=exposed)
    assert "other machines connect with: broker.example.org, 192.0.2.7" in text.stdout
    rows = {
        c["name"]: c for c in json.loads(inv_here("doctor", "--json", env=exposed).stdout)["checks"]
    }
    assert rows["names for other machines"]["status"] == "ok"
    # on loopback there is nothing to say
    loopback = json.loads(
        inv_here("tls.check", "--json", env={**exposed, "MQTT_BIND_ADDRESS": "loopback"}).stdout
    )
    assert loopback["warning"] is None and loopback["remote_names"] == []


@pytest.mark.docker
@beyond_loopback
def test_docker_status_and_doctor_report_the_exposed_container(
    docker_surface: dict[str, str],
) -> None:
    one_off = {**docker_surface, "MQTT_BIND_ADDRESS": "0.0.0.0", "MQTT_EXPOSE_ANONYMOUS": "true"}
    up = inv("services.up", env=one_off, timeout=180)
    assert up.returncode == 0, up.stderr
    s = settings_from(docker_surface)
    assert connack(s, "127.0.0.2", s.mqtt_port) == "ok"
    status = inv_here("services.status", "--json", env=docker_surface)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert "0.0.0.0" in doc["addresses"] and doc["warning"] and "0.0.0.0" in doc["warning"]
    assert any("0.0.0.0" in d for d in doc["differs"]), doc["differs"]
    doctor = inv_here("doctor", "--json", env=docker_surface)
    assert doctor.returncode == 1
    rows = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert rows["running broker"]["status"] == "fail", rows["running broker"]
    assert rows["running vs settings"]["status"] == "warn"
