"""The pipeline's config.yaml as the one source of truth, against a real mosquitto.

The broker's port and the four topics are set only in the pipeline's config (non-default
values), nothing in .env or the environment: the tasks must still reach a stand-in pipeline
that reads that file the way the real one does (tests/integration/standin.py).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra import monitor
from adeline_infra.settings import Settings

from ..conftest import running_broker, settings_from
from ..helpers import (
    Lines,
    assert_one_line_error,
    base_env,
    free_port,
    inv,
    inv_background,
    inv_here,
    wait_for_line,
)
from .standin import ConfiguredPipeline, detection_payload

pytestmark = pytest.mark.integration

TOPICS = {
    "control_commands": "site-7/control/cmd",
    "control_status": "site-7/control/state",
    "data": "site-7/data/det",
    "metrics": "site-7/data/perf",
}


def write_config(workdir: Path, port: int, host: str = "127.0.0.1") -> Path:
    path = workdir / "config" / "adeline" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# the pipeline's config", "mqtt:", "  broker:"]
    lines += [f"    host: {host}", f"    port: {port}"]
    lines += ["  topics:"] + [f"    {k}: {v}" for k, v in TOPICS.items()]
    lines += ["  qos:", "    control: 1", "    data: 0", "other_section:", "  enabled: true", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "adeline-checkout"


@pytest.fixture
def cenv(tmp_path: Path, workdir: Path) -> dict[str, str]:
    """Settings with host, port and topics only in the pipeline's config (empty .env)."""
    env = base_env(tmp_path)
    for name in ("MQTT_BROKER_HOST", "MQTT_BROKER_PORT"):
        env.pop(name)
    env["PIPELINE_CONFIG"] = str(write_config(workdir, free_port()))
    return env


@pytest.fixture
def broker(cenv: dict[str, str]) -> Iterator[Settings]:
    with running_broker(cenv) as s:
        yield s


@pytest.fixture
def pipeline(broker: Settings, workdir: Path, cenv: dict[str, str]) -> Iterator[ConfiguredPipeline]:
    with ConfiguredPipeline(workdir, cenv) as p:
        yield p


def test_settings_come_from_the_pipeline_config(cenv: dict[str, str]) -> None:
    s = settings_from(cenv)
    assert s.topic_commands == TOPICS["control_commands"]
    assert s.topic_detections == TOPICS["data"]
    assert s.sources["MQTT_BROKER_PORT"].endswith("config.yaml line 5")
    assert s.sources["TOPIC_METRICS"].endswith("config.yaml line 10")
    assert s.sources["MQTT_WS_PORT"] == "the environment"


def test_pause_wait_status_data_and_metrics_reach_the_pipeline(
    pipeline: ConfiguredPipeline, broker: Settings, cenv: dict[str, str]
) -> None:
    pipeline.publish_status("running")

    paused = inv_here("control.pause", "--wait", "--json", env=cenv)
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout)["status"]["status"] == "paused"
    assert pipeline.next_command() == {"command": "pause"}
    assert "nobody subscribes" not in paused.stderr

    status = inv_here("monitor.status", "--json", env=cenv)
    assert status.returncode == 0, status.stderr
    seen = json.loads(status.stdout)["pipeline"]
    assert (seen["status"], seen["topic"]) == ("paused", TOPICS["control_status"])
    assert seen["client_id"] == "inference_control"

    proc = inv_background("monitor.data", "--json", "--count", "3", env=cenv)
    wait_for_line(proc.stderr, "listening to")
    sent = [detection_payload(i) for i in range(3)]
    for payload in sent:
        pipeline.publish(TOPICS["data"], payload, qos=0)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.splitlines() == [p.decode() for p in sent]

    metrics = inv_here("control.metrics", "--wait", "--json", env=cenv)
    assert metrics.returncode == 0, metrics.stderr
    answer = json.loads(metrics.stdout)
    assert answer["answer_topic"] == TOPICS["metrics"]
    assert answer["metrics"]["throughput_fps"] == 12.5
    text = inv_here("control.metrics", "--wait", env=cenv)
    assert text.returncode == 0, text.stderr
    assert "throughput_fps: 12.5" in text.stdout


def test_health_is_shown_as_fields(
    pipeline: ConfiguredPipeline, broker: Settings, cenv: dict[str, str]
) -> None:
    health = inv_here("control.health", "--wait", env=cenv)
    assert health.returncode == 0, health.stderr
    # the real answer: {"status": "<indented JSON>", ...}, shown as the fields it holds
    assert "status: healthy" in health.stdout
    assert "checks.pipeline_running: true" in health.stdout
    assert "{" not in health.stdout

    answer = inv_here("control.health", "--wait", "--json", env=cenv)
    assert answer.returncode == 0, answer.stderr
    status = json.loads(answer.stdout)["status"]["status"]
    assert status["status"] == "healthy" and status["checks"]["avg_fps"] == 2.0

    snap = inv_here("monitor.status", "--json", env=cenv)
    assert snap.returncode == 0, snap.stderr
    seen = json.loads(snap.stdout)["pipeline"]
    assert seen["problem"] is None
    assert seen["fields"]["status"] == "healthy"
    assert seen["fields"]["checks"]["pipeline_running"] is True
    table = inv_here("monitor.status", env=cenv)
    assert table.returncode == 0, table.stderr
    assert "checks.mqtt_connected" in table.stdout and "\\n" not in table.stdout
    assert "not a JSON object" not in table.stdout

    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        raise KeyboardInterrupt  # the retained health report is the first line

    monitor.follow(settings_from(cenv), emit=emit, note=lambda _line: None)
    assert "status=healthy" in lines[0] and "checks.avg_fps=2.0" in lines[0], lines


def test_wait_for_a_command_without_a_known_answer_is_refused_at_once(
    pipeline: ConfiguredPipeline, cenv: dict[str, str]
) -> None:
    refused = inv("control.send", "toggle_crop", "--wait", env=cenv)
    assert_one_line_error(refused, "cannot wait for 'toggle_crop'", code=2)
    for task, command in (
        ("control.toggle-crop", "toggle_crop"),
        ("control.stabilization-stats", "stabilization_stats"),
    ):
        sent = inv_here(task, env=cenv)
        assert sent.returncode == 0, sent.stderr
        assert pipeline.next_command() == {"command": command}  # the refused one never went


@pytest.mark.skipif(os.name == "nt", reason="sends SIGINT, as Ctrl+C does on POSIX terminals")
def test_status_follow_prints_every_change(
    pipeline: ConfiguredPipeline, cenv: dict[str, str]
) -> None:
    pipeline.publish_status("running")
    proc = inv_background("monitor.status", "--follow", "--json", env=cenv)
    lines = Lines(proc.stdout)
    try:
        first = json.loads(lines.next(20) or "null")
        assert (first["status"], first["retained"]) == ("running", True)
        for status in ("paused", "running", "stopped"):  # quicker than any redraw interval
            pipeline.publish_status(status)
        seen = [json.loads(lines.next(20) or "null") for _ in range(3)]
        assert [s["status"] for s in seen] == ["paused", "running", "stopped"]
        assert all(s["retained"] is False for s in seen)
        assert all(s["topic"] == TOPICS["control_status"] for s in seen)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err

    both = inv("monitor.status", "--follow", "--watch", env=cenv)
    assert both.returncode == 2 and "choose one" in both.stderr


def test_env_file_disagreeing_with_the_config_fails_doctor(
    broker: Settings, cenv: dict[str, str]
) -> None:
    agree = inv_here("doctor", "--json", env=cenv)
    report = json.loads(agree.stdout)
    rows = {c["name"]: c for c in report["checks"]}
    assert rows["pipeline config"]["status"] == "ok", rows["pipeline config"]
    assert report["sources"]["MQTT_BROKER_PORT"]["source"].endswith("config.yaml line 5")

    env_file = Path(cenv["ADELINE_ENV_FILE"])
    env_file.write_text(f"TOPIC_STATUS=elsewhere/status\nMQTT_WS_PORT={cenv['MQTT_WS_PORT']}\n")
    result = inv("doctor", env=cenv, timeout=120)
    assert result.returncode == 1, result.stdout
    assert "pipeline TOPIC_STATUS" in result.stderr  # the summary names the failing row
    row = json.loads(inv_here("doctor", "--json", env=cenv).stdout)["checks"]
    bad = [c for c in row if c["name"] == "pipeline TOPIC_STATUS"][0]
    assert bad["status"] == "fail"
    assert "test.env" in bad["detail"] and "config.yaml line 8" in bad["detail"]

    dev = inv("dev", env=cenv)
    try:
        assert dev.returncode == 0, dev.stderr
        assert "warning: TOPIC_STATUS" in dev.stderr and "config.yaml line 8" in dev.stderr
    finally:
        inv_here("services.down", env=cenv)

    run = inv("pipeline.run", env=cenv)
    assert_one_line_error(run, "TOPIC_STATUS", code=2)


def test_malformed_config_is_one_line_exit_2(cenv: dict[str, str]) -> None:
    path = Path(cenv["PIPELINE_CONFIG"])
    path.write_text("mqtt:\n  broker:\n    host: [127.0.0.1\n  topics: {}\n", encoding="utf-8")
    result = inv("monitor.status", env=cenv)
    lines = [assert_one_line_error(result, code=2)]
    assert "config.yaml line" in lines[0] and "not valid YAML" in lines[0]


def test_pipeline_run_hands_settings_over(
    tmp_path: Path, workdir: Path, cenv: dict[str, str]
) -> None:
    """Credentials via the environment (not argv), run where it finds its config, after
    services.up with --with-services."""
    pkg = tmp_path / "pypath" / "fakepipe"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(
        "import json, os, sys\n"
        "keys = ('MQTT_USERNAME', 'MQTT_PASSWORD', 'MQTT_BROKER_PORT', 'TOPIC_STATUS')\n"
        "print(json.dumps({'argv': sys.argv, 'cwd': os.getcwd(),"
        " 'env': {k: os.environ.get(k) for k in keys}}))\n"
    )
    password = "s3cret-" + os.urandom(4).hex()
    Path(cenv["ADELINE_ENV_FILE"]).write_text(
        f"MQTT_USERNAME=pipe\nMQTT_PASSWORD={password}\n", encoding="utf-8"
    )
    run_env = {**cenv, "PIPELINE_MODULE": "fakepipe", "PYTHONPATH": str(tmp_path / "pypath")}
    s = settings_from(run_env)
    try:
        result = inv("pipeline.run", "--with-services", env=run_env)
        assert result.returncode == 0, result.stderr
        out = result.stdout.strip().splitlines()
        assert "ready" in out[0]  # services.up ran first
        seen = json.loads(out[-1])
    finally:
        inv_here("services.down", env=run_env)
    assert Path(seen["cwd"]) == workdir
    assert password not in " ".join(seen["argv"])
    assert seen["env"] == {
        "MQTT_USERNAME": "pipe",
        "MQTT_PASSWORD": password,
        "MQTT_BROKER_PORT": str(s.mqtt_port),
        "TOPIC_STATUS": TOPICS["control_status"],
    }
