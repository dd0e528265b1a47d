"""The compose file as Compose reads it (parsed YAML), not as text: what each service gets."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from adeline_infra import settings as settings_mod
from adeline_infra.backends import docker as dk
from adeline_infra.backends.docker import compose as compose_mod

from ..helpers import ROOT


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / dk.COMPOSE_FILE).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_no_obsolete_version_key_and_no_fixed_container_names(compose: dict[str, Any]) -> None:
    assert "version" not in compose  # obsolete in Compose v2, not needed by v1.29
    for name, service in compose["services"].items():
        assert "container_name" not in service, name  # two clones must not fight over one name


def test_images_default_to_the_names_the_code_uses(compose: dict[str, Any]) -> None:
    default_image = settings_mod.BY_NAME["MOSQUITTO_IMAGE"].default
    assert compose["services"]["mosquitto"]["image"] == f"${{MOSQUITTO_IMAGE:-{default_image}}}"
    go2rtc = f"${{GO2RTC_IMAGE:-{compose_mod.GO2RTC_IMAGE}}}"  # named in error messages
    assert compose["services"]["go2rtc"]["image"] == go2rtc


def test_every_published_port_is_on_loopback_unless_asked(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${ADELINE_PUBLISH_ADDRESS:-127.0.0.1}:"), (name, port)


def test_broker_reads_the_rendered_config_and_keeps_its_data(compose: dict[str, Any]) -> None:
    broker = compose["services"]["mosquitto"]
    mounts = {
        v.split(":")[-2] if v.endswith(":ro") else v.split(":")[-1] for v in broker["volumes"]
    }
    assert "/mosquitto/config/mosquitto.conf" in mounts
    assert "/mosquitto/data" in mounts
    config = next(v for v in broker["volumes"] if "/mosquitto/config/" in v)
    assert config.startswith("${MOSQUITTO_CONFIG:-") and config.endswith(":ro")
    named = {v.split(":")[0] for v in broker["volumes"]} & set(compose["volumes"])
    assert named, "the broker's data lives in a named volume (`down` keeps it)"


def test_healthcheck_is_an_mqtt_round_trip(compose: dict[str, Any]) -> None:
    check = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "mosquitto_sub"]  # an exec, no shell
    assert "$$SYS/broker/uptime" in check  # `$$` is Compose's literal `$`


def test_go2rtc_only_on_request_and_labels_carry_the_fingerprint(compose: dict[str, Any]) -> None:
    assert compose["services"]["go2rtc"]["profiles"] == ["go2rtc"]
    assert "profiles" not in compose["services"]["mosquitto"]
    assert dk.FINGERPRINT_LABEL in compose["services"]["mosquitto"]["labels"]


def test_hand_written_broker_config_logs_to_stderr() -> None:
    lines = (ROOT / "docker" / "adeline" / "mosquitto.conf").read_text(encoding="utf-8")
    options = [line.split() for line in lines.splitlines() if line.strip() and line[0] != "#"]
    assert ["log_dest", "stderr"] in options and ["log_dest", "stdout"] not in options
