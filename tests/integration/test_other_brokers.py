"""BROKER_BACKEND=external against brokers that are not mosquitto.

amqtt (PyPI) speaks MQTT 3.1.1 only, as some embedded brokers and VerneMQ's default configuration
do. Adeline's pipeline connects with MQTT 5, so it cannot use such a broker: services.up,
services.status and doctor say exactly that in one line, and monitor and control (which do not
fall back to 3.1.1: there is no pipeline there to watch or command) fail with the same line.

amqtt runs from a venv of its own (`.ci/install-amqtt.sh .ci/amqtt`, or ADELINE_TEST_AMQTT naming
its `amqtt` executable); without it these tests skip, unless ADELINE_REQUIRE_AMQTT=1 (CI).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import ROOT, Lines, assert_one_line_error, base_env, free_port, inv_here

pytestmark = pytest.mark.integration

MQTT_5 = "speaks only MQTT 3.1.1: Adeline's pipeline (and monitor, control) need MQTT 5"


def amqtt_binary() -> Path:
    given = os.environ.get("ADELINE_TEST_AMQTT")
    found = Path(given) if given else ROOT / ".ci" / "amqtt" / "bin" / "amqtt"
    if not found.is_file():
        reason = f"no amqtt at {found} (sh .ci/install-amqtt.sh .ci/amqtt)"
        if os.environ.get("ADELINE_REQUIRE_AMQTT") == "1":
            pytest.fail(f"ADELINE_REQUIRE_AMQTT=1 but {reason}")
        pytest.skip(reason)
    return found


@pytest.fixture
def amqtt_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An amqtt broker on 127.0.0.1 and a random port, anonymous, with its $SYS plugin; the env
    of a user pointing BROKER_BACKEND=external at it."""
    binary = amqtt_binary()
    port = free_port()
    config = tmp_path / "broker.yaml"
    config.write_text(
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
        "  amqtt.plugins.sys.broker.BrokerSysPlugin:\n"
        "    sys_interval: 20\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [str(binary), "-c", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        Lines(proc.stdout).wait_for(f"bind to 127.0.0.1:{port}", timeout=30)
        yield base_env(tmp_path, BROKER_BACKEND="external", MQTT_BROKER_PORT=str(port))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_services_up_says_the_broker_speaks_only_311(amqtt_env: dict[str, str]) -> None:
    assert_one_line_error(inv_here("services.up", env=amqtt_env), MQTT_5)


def test_services_status_says_it_in_one_line(amqtt_env: dict[str, str]) -> None:
    assert_one_line_error(inv_here("services.status", env=amqtt_env), MQTT_5)
    data = inv_here("services.status", "--json", env=amqtt_env)
    info = json.loads(data.stdout)
    assert info["healthy"] is False and MQTT_5 in info["problem"]


def test_doctor_names_mqtt_5_in_the_broker_row(amqtt_env: dict[str, str]) -> None:
    doctor = inv_here("doctor", "--json", env=amqtt_env)
    rows = {row["name"]: row for row in json.loads(doctor.stdout)["checks"]}
    assert rows["broker"]["status"] == "fail"
    assert MQTT_5 in rows["broker"]["detail"]


@pytest.mark.parametrize("task", [("monitor.status",), ("control.pause",)])
def test_monitor_and_control_do_not_fall_back(
    amqtt_env: dict[str, str], task: tuple[str, ...]
) -> None:
    assert_one_line_error(inv_here(*task, env=amqtt_env), MQTT_5)
