"""monitor.*, control.* and pipeline.run as a user runs them, against a real mosquitto.

A stand-in pipeline (tests/integration/standin.py) publishes retained statuses and detections
and records the commands it receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra import commands, monitor
from adeline_infra.settings import Settings

from ..helpers import assert_one_line_error, inv, inv_background, inv_here, wait_for_line
from .standin import StandInPipeline, detection_payload

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(native_broker: Settings) -> Iterator[StandInPipeline]:
    with StandInPipeline(native_broker) as p:
        yield p


# --- monitor.status ------------------------------------------------------------------------


def test_status_without_a_retained_status(native_broker: Settings, env: dict[str, str]) -> None:
    snap = monitor.snapshot(native_broker)
    assert snap.pipeline.status is None

    result = inv_here("monitor.status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    broker = data["broker"]
    assert broker["reachable"] is True
    assert broker["version"].startswith("2.")
    for key in ("uptime_s", "clients_connected", "retained_messages", "subscriptions"):
        assert isinstance(broker[key], int), key
    for key in ("messages_received_per_min", "bytes_received_per_min"):
        assert isinstance(broker[key], float), key
    assert data["pipeline"]["status"] is None
    assert set(data["pipeline"]) >= {"status", "timestamp", "client_id"}

    table = inv_here("monitor.status", env=env)
    assert table.returncode == 0, table.stderr
    assert "no status published" in table.stdout


def test_status_with_a_retained_status(
    pipeline: StandInPipeline, native_broker: Settings, env: dict[str, str]
) -> None:
    pipeline.publish_status("running")
    snap = monitor.snapshot(native_broker)
    assert snap.pipeline.status == "running"

    result = inv_here("monitor.status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)["pipeline"]
    assert status["status"] == "running"
    assert status["client_id"] == "inference_control"
    assert status["timestamp"]
    assert 0 <= status["age_s"] < 60

    table = inv_here("monitor.status", env=env)
    assert "running" in table.stdout and "inference_control" in table.stdout


def test_broker_snapshot_json(native_broker: Settings, env: dict[str, str]) -> None:
    result = inv_here("monitor.broker", "--json", env=env)
    assert result.returncode == 0, result.stderr
    tree = json.loads(result.stdout)
    assert tree["$SYS/broker/version"].startswith("mosquitto version 2.")
    assert "$SYS/broker/uptime" in tree


# --- monitor.data --------------------------------------------------------------------------


def test_data_json_prints_payloads_untouched(
    pipeline: StandInPipeline, native_broker: Settings, env: dict[str, str]
) -> None:
    proc = inv_background("monitor.data", "--json", "--count", "3", env=env)
    wait_for_line(proc.stderr, "listening to")
    sent = [detection_payload(i) for i in range(3)]
    for payload in sent:
        pipeline.publish(native_broker.topic_detections, payload, qos=0)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.splitlines() == [p.decode() for p in sent]
    assert "3 messages" in err


def test_data_readable_lines_malformed_and_totals(
    pipeline: StandInPipeline, native_broker: Settings, env: dict[str, str]
) -> None:
    proc = inv_background("monitor.data", "--count", "4", "--verbose", "--metrics", env=env)
    wait_for_line(proc.stderr, "listening to")
    topic = native_broker.topic_detections
    pipeline.publish(topic, detection_payload(7))
    pipeline.publish(topic, b"{not json")
    pipeline.publish(native_broker.topic_metrics, b'{"throughput_fps": 12.5, "sources_count": 1}')
    pipeline.publish(topic, detection_payload(8, ("person",)))
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "frame 7 source 0: 2 detections (person 1, car 1)" in out
    assert "    person 0.90 x=1.0 y=2.0 w=3.0 h=4.0" in out  # --verbose: one line per detection
    assert "malformed payload" in out and "{not json" in out
    assert "metrics: 12.5 fps" in out
    assert "1 malformed" in out
    assert "person 2, car 1" in out  # running totals per class at exit


def test_data_timeout_before_count_is_one_line_exit_1(
    native_broker: Settings, env: dict[str, str]
) -> None:
    result = inv("monitor.data", "--count", "5", "--timeout", "0.5", env=env)
    assert result.returncode == 1
    assert "only 0 of 5 messages" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_monitors_at_once_both_receive(
    pipeline: StandInPipeline, native_broker: Settings, env: dict[str, str]
) -> None:
    procs = [inv_background("monitor.data", "--json", "--count", "2", env=env) for _ in range(2)]
    for proc in procs:
        wait_for_line(proc.stderr, "listening to")
    for i in range(2):
        pipeline.publish(native_broker.topic_detections, detection_payload(i))
    for proc in procs:
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert len(out.splitlines()) == 2
        assert "connection to the broker lost" not in err  # nobody kicked anybody off


# --- control.* -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", commands.COMMANDS)
def test_every_command_arrives(
    command: str, pipeline: StandInPipeline, env: dict[str, str]
) -> None:
    result = inv_here(f"control.{command}", env=env)
    assert result.returncode == 0, result.stderr
    assert f"sent {command!r}" in result.stdout
    assert pipeline.next_command() == {"command": command}
    assert "nobody subscribes" not in result.stderr


def test_send_any_command(pipeline: StandInPipeline, env: dict[str, str]) -> None:
    result = inv_here("control.send", "toggle_crop", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["acknowledged"] is True
    assert pipeline.next_command() == {"command": "toggle_crop"}


def test_no_subscriber_is_sent_with_a_warning(native_broker: Settings, env: dict[str, str]) -> None:
    result = inv_here("control.pause", env=env)
    assert result.returncode == 0, result.stderr
    assert "nobody subscribes" in result.stderr


def test_wait_prints_the_next_status_not_the_retained_one(
    pipeline: StandInPipeline, env: dict[str, str]
) -> None:
    pipeline.publish_status("running")  # retained: what --wait must skip
    result = inv_here("control.pause", "--wait", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"]["status"] == "paused"

    text = inv_here("control.resume", "--wait", env=env)
    assert text.returncode == 0, text.stderr
    assert "pipeline status: running" in text.stdout


def test_wait_without_an_answer_times_out_in_one_line(
    native_broker: Settings, env: dict[str, str]
) -> None:
    with StandInPipeline(native_broker, answer=False) as silent:
        silent.publish_status("running")  # only the retained status: no new one comes
        result = inv_here("control.status", "--wait", "--timeout", "0.5", env=env)
    assert_one_line_error(result, "no status", "0.5 s")


# --- broker down ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("monitor.status",),
        ("monitor.status", "--json"),
        ("monitor.broker",),
        ("monitor.data", "--count", "1"),
        ("control.pause",),
        ("control.send", "health", "--wait"),
    ],
)
def test_broker_down_is_one_line_exit_1(args: tuple[str, ...], env: dict[str, str]) -> None:
    # No broker started: nothing listens on the port. A connection refused comes back at once,
    # so the command ends well within inv()'s timeout (no timing assert: see scripts/bench*.py).
    result = inv(*args, env=env, timeout=30)
    assert_one_line_error(result, "MQTT broker at", "inv services.up")


# --- pipeline.run --------------------------------------------------------------------------


def test_pipeline_not_installed(env: dict[str, str]) -> None:
    result = inv("pipeline.run", env={**env, "PIPELINE_MODULE": "no_such_adeline_module"})
    assert_one_line_error(result, "no_such_adeline_module", "is not installed", "pip install")


def test_pipeline_runs_with_models_disabled_and_forwards_args_and_code(
    tmp_path: Path, env: dict[str, str]
) -> None:
    pkg = tmp_path / "fakepipe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(
        "import json, os, sys\n"
        "print(json.dumps({'args': sys.argv[1:], 'env': {k: v for k, v in os.environ.items()"
        " if k.endswith('_ENABLED')}}))\n"
        "sys.exit(7)\n"
    )
    run_env = {
        **env,
        "PIPELINE_MODULE": "fakepipe",
        "PIPELINE_DISABLED_MODELS": "PALIGEMMA,OWLV2",
        "PYTHONPATH": str(tmp_path),
    }
    result = inv("pipeline.run", "--", "--config", "a b.yaml", env=run_env)
    assert result.returncode == 7, result.stderr
    seen = json.loads(result.stdout)
    assert seen["args"] == ["--config", "a b.yaml"]
    assert seen["env"] == {"PALIGEMMA_ENABLED": "False", "OWLV2_ENABLED": "False"}
