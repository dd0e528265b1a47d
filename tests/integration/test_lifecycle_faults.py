"""Faults injected into a running native broker's lifecycle (stress findings on issue 10):
each ends in one true line and its documented exit code, never a false "data kept"."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from adeline_infra import mqtt

from ..conftest import settings_from
from ..helpers import inv
from .lifecycle_helpers import await_true, kill_all, ours, status_json

pytestmark = pytest.mark.integration


@pytest.fixture
def lenv(env: dict[str, str]) -> Iterator[dict[str, str]]:
    env["MOSQUITTO_STOP_TIMEOUT"] = "1"
    yield env
    for proc in ours(env):  # a suspended broker ignores everything but SIGKILL and SIGCONT
        proc.resume()
    inv("services.down", "--force", env=env)
    kill_all(env)


@pytest.mark.skipif(os.name == "nt", reason="SIGSTOP is POSIX")
def test_a_suspended_broker_is_killed_and_the_hint_says_why(lenv: dict[str, str]) -> None:
    assert inv("services.up", env=lenv).returncode == 0
    (broker,) = ours(lenv)
    broker.send_signal(signal.SIGSTOP)
    assert await_true(lambda: broker.status() == "stopped")

    down = inv("services.down", env=lenv)
    assert down.returncode == 1
    line = down.stderr.strip()
    assert "\n" not in line and "killed after 1 s: changes since the last save are lost" in line
    assert "suspended" in line and "MOSQUITTO_STOP_TIMEOUT" not in line, line
    assert "data kept" not in down.stdout
    assert ours(lenv) == []
    assert status_json(lenv)[0] == 3


def test_a_retained_message_survives_restart(lenv: dict[str, str]) -> None:
    # The fixture's 1 s grace is for the kill cases; a saving broker on a loaded 2-core CI
    # machine can need longer, and this test is about the data across a restart.
    lenv["MOSQUITTO_STOP_TIMEOUT"] = "15"
    assert inv("services.up", env=lenv).returncode == 0
    with mqtt.session(settings_from(lenv), "test-restart") as client:
        info = client.publish("adeline/restart/kept", b"yes", qos=1, retain=True)
        info.wait_for_publish(timeout=5)
        assert info.is_published()

    restarted = inv("services.restart", env=lenv)
    assert restarted.returncode == 0 and "data kept" in restarted.stdout, restarted.stderr
    kept = mqtt.retained(settings_from(lenv), ["adeline/restart/kept"], timeout=5)
    assert kept == {"adeline/restart/kept": b"yes"}

    assert inv("services.down", env=lenv).returncode == 0
    again = inv("services.down", env=lenv)  # twice in a row: nothing to stop, still exit 0
    assert again.returncode == 0 and "was not running" in again.stdout
    assert "data kept" not in again.stdout
