"""monitor.dashboard --web: the page in a real headless Chromium, the server's refusals."""

from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra import services
from adeline_infra.settings import Settings

from .. import chromium
from ..conftest import running_broker
from ..helpers import Lines, interrupt, inv_background
from . import secure_setup
from .standin import StandInPipeline

pytestmark = pytest.mark.integration

PERSON = {"x": 320.0, "y": 240.0, "width": 100.0, "height": 50.0}
CAR = {"x": 40.0, "y": 30.0, "width": 20.0, "height": 20.0}


def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ADELINE_ARTIFACTS_DIR (CI's output folder) or the test's tmp."""
    folder = os.environ.get("ADELINE_ARTIFACTS_DIR")
    return Path(folder) if folder else tmp_path


@pytest.fixture
def pipeline(native_broker: Settings) -> Iterator[StandInPipeline]:
    with StandInPipeline(native_broker) as p:
        yield p


@pytest.fixture
def page_url(pipeline: StandInPipeline, env: dict[str, str]) -> Iterator[str]:
    proc = inv_background("monitor.dashboard", "--web", env=env)
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        line = out.wait_for("dashboard: http://", 20)
        yield line.split()[1]
        interrupt(proc)
        assert proc.wait(timeout=10) == 0, err.rest(5)
        assert "Traceback" not in err.rest(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def frame(frame_id: int, source: int, items: list[tuple[str, float, object]]) -> bytes:
    return json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00",
            "detection_count": len(items),
            "detections": [
                {"class": c, "confidence": p, "bbox": b, "class_id": 0} for c, p, b in items
            ],
            "frame": {"frame_id": frame_id, "source_id": source, "timestamp": "x"},
            "message_id": frame_id,
        }
    ).encode()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(100_000)
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_loopback_only_and_other_origins_refused(page_url: str, env: dict[str, str]) -> None:
    status, body = get(page_url)
    assert status == 200 and b"<canvas" in body
    assert b"http://" not in body and b"https://" not in body  # nothing fetched from elsewhere
    port = int(page_url.rstrip("/").rsplit(":", 1)[1])
    assert get(page_url, {"Host": f"evil.example:{port}"})[0] == 403  # DNS rebinding
    assert get(page_url, {"Origin": "http://evil.example"})[0] == 403
    assert get(page_url + "events", {"Origin": f"http://localhost:{port + 1}"})[0] == 403
    with socket.socket() as sock:  # 127.0.0.2 is loopback but not our address: nobody there
        sock.settimeout(5)
        assert sock.connect_ex(("127.0.0.2", port)) != 0


def test_page_draws_boxes_and_survives_a_broker_restart(
    pipeline: StandInPipeline, page_url: str, env: dict[str, str], tmp_path: Path
) -> None:
    if chromium.find() is None:
        pytest.skip("no Chromium (CI installs Debian's chromium)")
    s = pipeline.settings
    pipeline.publish_status("running")
    person = [("person", 0.9, PERSON), ("car", 0.6, CAR), ("dog", 0.4, None)]
    pipeline.publish(s.topic_detections, frame(1, 0, person))
    browser = chromium.Browser(tmp_path / "profile")
    try:
        tab = browser.open(page_url)
        drawn = json.loads(
            tab.wait_for("document.querySelector('#source-0 canvas')?.dataset.drawn")
        )
        size = tab.evaluate("document.querySelector('#source-0 canvas').dataset.frame")
        width = tab.evaluate("document.querySelector('#source-0 canvas').width")
        # frame size: the largest extent seen (the message carries none): 370 x 265
        assert size == "370x265"
        scale = width / 370
        assert [d["label"] for d in drawn] == ["person 0.90", "car 0.60"]
        want = [(320 - 50) * scale, (240 - 25) * scale, (320 + 50) * scale, (240 + 25) * scale]
        got = [drawn[0][k] for k in ("x0", "y0", "x1", "y1")]
        assert got == [round(v) for v in want]
        pixel = tab.evaluate(
            "Array.from(document.querySelector('#source-0 canvas').getContext('2d')"
            f".getImageData({round(want[0])}, {round((want[1] + want[3]) / 2)}, 1, 1).data)"
        )
        assert pixel[3] > 0  # the box's left edge is painted
        unboxed = tab.evaluate("document.querySelector('#source-0 ul.nobox').textContent")
        assert "dog 0.40 (no box)" in unboxed
        assert tab.evaluate("document.getElementById('status').textContent") == "running"
        tab.screenshot(artifacts(tmp_path) / "dashboard-web.png")

        services.down(s)  # the broker restarts under the page
        tab.wait_for("document.getElementById('link').textContent.includes('reconnecting')")
        services.up(s, timeout=15)
        tab.wait_for("document.getElementById('link').textContent === 'broker connected'", 30)
        pipeline.publish(s.topic_detections, frame(2, 0, [("car", 0.7, CAR)]))
        tab.wait_for("document.querySelector('#source-0 canvas').dataset.frameId === '2'", 30)
        drawn = json.loads(tab.evaluate("document.querySelector('#source-0 canvas').dataset.drawn"))
        assert [d["label"] for d in drawn] == ["car 0.70"]
        assert tab.console_errors == []
        assert tab.evaluate("document.getElementById('errors').hidden") is True
        tab.screenshot(artifacts(tmp_path) / "dashboard-web-after-restart.png")
    finally:
        browser.close()


def test_page_against_a_password_and_tls_broker_keeps_credentials(
    env: dict[str, str], tmp_path: Path
) -> None:
    secured = secure_setup.prepare(env, tmp_path)
    password = secured["MQTT_PASSWORD"]
    with running_broker(secured) as s, StandInPipeline(s) as pipeline:
        proc = inv_background("monitor.dashboard", "--web", env=secured)
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        try:
            url = out.wait_for("dashboard: http://", 20).split()[1]
            pipeline.publish_status("running")
            pipeline.publish(s.topic_detections, frame(5, 0, [("person", 0.9, PERSON)]))
            request = urllib.request.Request(url + "events")
            seen = b""
            with urllib.request.urlopen(request, timeout=10) as stream:
                while b'"frame_id":5' not in seen:
                    line = stream.readline()
                    assert line, "the event stream ended"
                    seen = line if line.startswith(b"data:") else seen
            assert b'"status":"running"' in seen
            assert b"mqtts://" not in seen  # not even the broker's address: the page has no use
            for path in ("", "app.js", "events"):
                body = get(url + path)[1] if path != "events" else seen
                assert password.encode() not in body
                assert secured["MQTT_USERNAME"].encode() not in body
        finally:
            interrupt(proc)
            assert proc.wait(timeout=10) == 0, err.rest(5)


class FakeGo2rtc(http.server.BaseHTTPRequestHandler):
    """go2rtc's API as the dashboard uses it: /api, /api/streams, /api/stream.mjpeg (Basic auth)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"cam:s3cret").decode():
            self.send_error(401)
            return
        path = self.path.split("?")[0]
        if path == "/api":
            body, kind = b'{"version": "1.9.4"}', "application/json"
        elif path == "/api/streams":
            body, kind = b'{"front": {"producers": [{"url": "rtsp://x"}]}}', "application/json"
        elif path == "/api/stream.mjpeg" and "src=front" in self.path:
            body, kind = (
                b"--frame\r\nContent-Type: image/jpeg\r\n\r\nJPEG",
                "multipart/x-mixed-replace",
            )
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_go2rtc_stream_is_relayed_without_its_credentials(
    native_broker: Settings, env: dict[str, str]
) -> None:
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGo2rtc)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    api = f"http://cam:s3cret@127.0.0.1:{fake.server_address[1]}"
    proc = inv_background("monitor.dashboard", "--web", env={**env, "GO2RTC_API_URL": api})
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        url = out.wait_for("dashboard: http://", 20).split()[1]
        with urllib.request.urlopen(url + "events", timeout=10) as stream:
            line = b""
            while not line.startswith(b"data:"):
                line = stream.readline()
        assert json.loads(line[5:])["streams"] == ["front"]
        assert b"s3cret" not in line and b"cam:" not in line
        status, body = get(url + "video/front")
        assert status == 200 and body.endswith(b"JPEG")
        assert get(url + "video/other")[0] == 404
    finally:
        interrupt(proc)
        assert proc.wait(timeout=10) == 0, err.rest(5)
        fake.shutdown()
