"""status and doctor describe the broker that runs, not the settings of the moment (#18).

A broker started with one-off values (`MQTT_BIND_ADDRESS=0.0.0.0 MQTT_EXPOSE_ANONYMOUS=true inv
services.up`) is then looked at with the plain settings: its own configuration file and the
sockets it holds are what status and doctor report. Exposure is proven on 127.0.0.2 (loopback,
but not reached by a socket bound to 127.0.0.1).
"""

from __future__ import annotations

import json

import pytest

from ..conftest import settings_from
from ..helpers import inv_here
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
