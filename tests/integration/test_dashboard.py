"""monitor.dashboard against a real mosquitto, fed by a stand-in pipeline with known figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra.settings import Settings

from ..helpers import ROOT, Lines, assert_one_line_error, inv, inv_background, socket_dir
from .standin import StandInPipeline

pytestmark = pytest.mark.integration


BOX = {"x": 320.0, "y": 240.0, "width": 100.0, "height": 50.0}


@pytest.fixture
def pipeline(native_broker: Settings) -> Iterator[StandInPipeline]:
    with StandInPipeline(native_broker) as p:
        yield p


def detections(frame: int, source: int, items: list[tuple[str, float, object]]) -> bytes:
    return json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00",
            "detection_count": len(items),
            "detections": [
                {"class": c, "confidence": conf, "bbox": box, "class_id": 0}
                for c, conf, box in items
            ],
            "frame": {"frame_id": frame, "source_id": source, "timestamp": "2026-01-01T00:00:00"},
            "message_id": frame,
        }
    ).encode()


def metrics(k: int) -> bytes:
    return json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00",
            "throughput_fps": 29.5,
            "latency_reports": [
                {
                    "source_id": 0,
                    "frame_decoding_latency_ms": float(k),
                    "inference_latency_ms": 10.0 * k,
                    "e2e_latency_ms": 20.0 * k,
                }
            ],
            "sources_count": 1,
        }
    ).encode()


def publish_known_figures(p: StandInPipeline) -> None:
    s = p.settings
    p.publish_status("running")
    for frame in range(30):
        p.publish(
            s.topic_detections, detections(frame, 0, [("person", 0.9, BOX), ("car", 0.5, BOX)])
        )
    for frame in range(10):
        p.publish(s.topic_detections, detections(frame, 1, [("dog", 0.7, None)]))
    for k in range(1, 21):
        p.publish(s.topic_metrics, metrics(k))
    p.publish(s.topic_detections, b"{not json")


def test_json_matches_what_the_pipeline_published(
    pipeline: StandInPipeline, env: dict[str, str]
) -> None:
    proc = inv_background("monitor.dashboard", "--json", "--duration", "10", env=env)
    err = Lines(proc.stderr)
    err.wait_for("listening", 20)
    publish_known_figures(pipeline)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.rest(5)
    doc = json.loads(out)
    totals = doc["totals"]
    assert totals["detections_messages"] == 40
    assert totals["metrics_messages"] == 20
    assert totals["detections"] == 70
    assert totals["without_bbox"] == 10
    assert totals["malformed"] == 1
    assert totals["invalid"] == 0
    classes = {c["class"]: c for c in doc["classes"]}
    assert {k: v["count"] for k, v in classes.items()} == {"person": 30, "car": 30, "dog": 10}
    assert classes["person"]["mean_confidence"] == 0.9
    assert classes["dog"]["mean_confidence"] == 0.7
    assert doc["sources"]["0"]["frames"] == 30 and doc["sources"]["1"]["frames"] == 10
    span = doc["span_s"]
    assert doc["rates"]["frames_per_s"] == pytest.approx(40 / span, abs=0.01)
    latency = doc["latency"]["0"]
    assert latency["decode"] == {"last": 20.0, "p50": 10.0, "p95": 19.0, "n": 20}
    assert latency["inference"]["p95"] == 190.0
    assert latency["e2e"]["last"] == 400.0
    assert doc["fps"]["pipeline"] == 29.5
    assert doc["status"]["status"] == "running"
    assert doc["status"]["age_s"] is not None
    assert doc["broker"]["reachable"] is True
    assert doc["broker"]["clients_connected"] is not None  # as of the last $SYS tick


def test_source_filter_follows_one_camera(pipeline: StandInPipeline, env: dict[str, str]) -> None:
    proc = inv_background(
        "monitor.dashboard", "--json", "--duration", "8", "--source", "1", env=env
    )
    Lines(proc.stderr).wait_for("listening", 20)
    publish_known_figures(pipeline)
    out, _ = proc.communicate(timeout=30)
    doc = json.loads(out)
    assert [c["class"] for c in doc["classes"]] == ["dog"]
    assert doc["latency"] == {}
    assert doc["totals"]["ignored"] == 30


def test_without_a_terminal_one_line_exit_2(env: dict[str, str]) -> None:
    result = inv("monitor.dashboard", env=env)
    assert_one_line_error(result, "terminal", code=2)


def test_broker_down_is_one_line_exit_1(env: dict[str, str]) -> None:
    result = inv("monitor.dashboard", "--json", "--duration", "1", env=env)
    assert_one_line_error(result, "MQTT broker", code=1)


# --- the terminal screen, in a real pseudo-terminal of 80×24 (tmux) -------------------------

WRAPPER = """
import subprocess, sys
proc = subprocess.Popen([sys.executable, "-m", "invoke", "monitor.dashboard"])
while True:
    try:
        code = proc.wait()
        break
    except KeyboardInterrupt:  # Ctrl+C reaches us too: the dashboard's exit code is the subject
        continue
open(sys.argv[1], "w").write(str(code))
"""


class Tmux:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.socket = str(socket_dir() / "tmux")
        self.env = env

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "dash")

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            assert time.monotonic() < deadline, f"{text!r} never shown:\n{screen}"
            time.sleep(0.1)  # polling the pane for a condition, with a deadline


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_screen_in_80_by_24_keys_and_ctrl_c(
    pipeline: StandInPipeline, env: dict[str, str], tmp_path: Path
) -> None:
    tmux = Tmux(tmp_path, {**env, "TERM": "xterm-256color", "LANG": "C.UTF-8"})
    code_file = tmp_path / "code"
    tmux(
        "start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
        "new-session", "-d", "-x", "80", "-y", "24", "-s", "dash",
        sys.executable, "-c", WRAPPER, str(code_file),
    )  # fmt: skip
    try:
        pipeline.publish_status("running")
        tmux.wait_for("Adeline")
        publish_known_figures(pipeline)
        screen = tmux.wait_for("malformed 1")
        assert "person" in screen and "running" in screen
        tmux("send-keys", "-t", "dash", "p")
        assert pipeline.next_command(10) == {"command": "pause"}
        screen = tmux.wait_for("acknowledged by the broker")
        tmux.wait_for("paused")
        lines = screen.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        tmux("send-keys", "-t", "dash", "C-c")
        deadline = time.monotonic() + 15
        while not code_file.exists():
            assert time.monotonic() < deadline, tmux.screen()
            time.sleep(0.1)
        assert code_file.read_text() == "0", tmux.screen()
        assert "Traceback" not in tmux.screen()
    finally:
        subprocess.run(["tmux", "-S", tmux.socket, "kill-server"], timeout=10, check=False)
