"""What differs between the mosquitto versions users run (2.0 from Debian/Ubuntu, 2.1 from
Homebrew, the Windows installer and eclipse-mosquitto:2.1): the suite runs against the one
ADELINE_TEST_MOSQUITTO names (tests/helpers.py), and these pin what changed in 2.1."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

from adeline_infra import mqtt
from adeline_infra.settings import Settings

from ..conftest import settings_from
from ..helpers import inv_here

pytestmark = pytest.mark.integration


def test_a_retained_payload_over_2_mb_goes_through(native_broker: Settings) -> None:
    # 2.1's default max_packet_size is 2,000,000 bytes: without ours (10 MB) it drops the client
    payload = os.urandom(int(2.5 * 1024 * 1024))
    topic = f"adeline/test/large/{secrets.token_hex(4)}"
    with mqtt.session(native_broker, "test-large") as client:
        info = client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(15)
        assert info.is_published()
    assert mqtt.retained(native_broker, [topic]).get(topic) == payload


def test_the_broker_starts_without_warnings(native_broker: Settings) -> None:
    # 2.1 warns at every start about deprecated options ("per_listener_settings ... deprecated")
    log = Path(native_broker.state_dir) / "native" / "mosquitto.log"
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "deprecated" not in text.lower(), text


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need a privilege on Windows")
def test_a_symlinked_password_file_is_what_the_broker_reads(
    env: dict[str, str], tmp_path: Path
) -> None:
    # mosquitto 2.1 refuses a password file that is a symlink ("Unable to open pwfile"): the
    # config names its target, and auth.add-user writes through the link
    target = tmp_path / "vault" / "passwd"
    target.parent.mkdir()
    link = tmp_path / "secrets" / "passwd"
    link.parent.mkdir()
    link.symlink_to(target)
    password = secrets.token_urlsafe(12)
    secured = dict(
        env,
        MQTT_ALLOW_ANONYMOUS="false",
        MOSQUITTO_PASSWD_FILE=str(link),
        MQTT_USERNAME="first",
        MQTT_PASSWORD=password,
    )
    for user in ("first", "second"):
        added = inv_here("auth.add-user", user, "--password-stdin", env=secured, input=password)
        assert added.returncode == 0, added.stderr
    assert link.is_symlink()
    try:
        up = inv_here("services.up", env=secured)
        assert up.returncode == 0, up.stderr
        second = settings_from(dict(secured, MQTT_USERNAME="second"))
        assert mqtt.probe(second, timeout=5).ok
    finally:
        inv_here("services.down", env=secured)
