"""go2rtc's API client against a real (tiny) HTTP server that answers like go2rtc does."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from adeline_infra import go2rtc
from adeline_infra import settings as settings_mod

from ..helpers import ROOT, free_port, make_settings

# Shapes from AlexxIT/go2rtc: internal/api/api.go (app.Info) and internal/streams/stream.go
# (Stream.MarshalJSON; a stream locked while serialising is `null`).
ABOUT = {"version": "1.9.4", "revision": "a4885c2", "config_path": "/config/go2rtc.yaml"}
STREAMS = {
    "camera": {
        "producers": [{"url": "rtsp://viewer:secret@192.168.1.10:554/stream1"}],
        "consumers": [{"type": "RTSP passive consumer"}, {"type": "WebRTC/DataChannel"}],
    },
    "idle": {"producers": [{"url": "rtsp://192.168.1.11/stream1"}], "consumers": None},
    "busy": None,
}


class Go2rtcHandler(BaseHTTPRequestHandler):
    routes: dict[str, Any] = {"/api": ABOUT, "/api/streams": STREAMS}
    auth: str | None = None  # "user:pass" when the API asks for Basic auth

    def do_GET(self) -> None:
        if self.auth:
            want = "Basic " + base64.b64encode(self.auth.encode()).decode()
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("Www-Authenticate", 'Basic realm="go2rtc"')
                self.end_headers()
                return
        if self.path not in self.routes:
            self.send_response(404)
            self.end_headers()
            return
        body = self.routes[self.path]
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api_url() -> Iterator[str]:
    with serve(Go2rtcHandler) as url:
        yield url


def test_reachable_reports_version_and_stream_counts(tmp_path: Path, api_url: str) -> None:
    info = go2rtc.status(make_settings(tmp_path, GO2RTC_API_URL=api_url))
    assert info.configured is True
    assert info.reachable is True
    assert info.error is None
    assert info.version == "1.9.4"
    assert info.streams == [
        {"name": "busy", "producers": 0, "consumers": 0},
        {"name": "camera", "producers": 1, "consumers": 2},
        {"name": "idle", "producers": 1, "consumers": 0},
    ]
    assert "secret" not in json.dumps(
        info.as_dict()
    )  # producer URLs (camera passwords) are never copied


def test_unreachable_is_one_line_not_an_exception(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    info = go2rtc.status(make_settings(tmp_path, GO2RTC_API_URL=url), timeout=2)
    assert info.reachable is False
    assert info.version is None and info.streams == []
    assert info.error.startswith(f"go2rtc at {url} ")
    assert "\n" not in info.error
    # refused at once on Linux/macOS; Windows retries the SYN and may run out the timeout
    assert "refused" in info.error or "in time" in info.error


def test_basic_auth_from_the_url_and_never_shown(tmp_path: Path) -> None:
    class Locked(Go2rtcHandler):
        auth = "admin:s3cr:t@"

    with serve(Locked) as base:
        host = base.removeprefix("http://")
        denied = go2rtc.status(make_settings(tmp_path, GO2RTC_API_URL=base))
        assert denied.reachable is False and "401" in denied.error
        info = go2rtc.status(
            make_settings(tmp_path, GO2RTC_API_URL=f"http://admin:s3cr%3At%40@{host}")
        )
        assert info.reachable is True, info.error
        assert info.url == f"http://admin:***@{host}"
        assert "s3cr" not in json.dumps(info.as_dict())


def test_something_else_on_the_port_is_reported(tmp_path: Path) -> None:
    class NotGo2rtc(Go2rtcHandler):
        routes = {"/api": b"<html>hello</html>"}

    with serve(NotGo2rtc) as base:
        info = go2rtc.status(make_settings(tmp_path, GO2RTC_API_URL=base))
        assert info.reachable is False
        assert "not JSON" in info.error


def test_configured_only_when_enabled_or_url_set(tmp_path: Path) -> None:
    assert not go2rtc.configured(make_settings(tmp_path))
    example = Path(__file__).resolve().parents[2] / ".env.example"
    fresh = settings_mod.load(tmp_path, environ={"ADELINE_ENV_FILE": str(example)})
    assert not go2rtc.configured(fresh)  # a new user's .env: no go2rtc rows
    assert go2rtc.configured(make_settings(tmp_path, GO2RTC_ENABLED="true"))
    assert go2rtc.configured(make_settings(tmp_path, GO2RTC_API_URL="http://cams.lan:1984"))


def test_parse_streams_rejects_a_non_object() -> None:
    with pytest.raises(ValueError):
        go2rtc.parse_streams([])


def test_example_config_takes_credentials_from_the_environment() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "config" / "adeline" / "go2rtc.yaml").read_text("utf-8"))
    stream = config["streams"]["camera"]  # what go2rtc reads, not a line of text
    assert isinstance(stream, str) and stream.startswith("rtsp://")
    assert "${RTSP_SOURCE_USERNAME}:${RTSP_SOURCE_PASSWORD}@" in stream

    # go2rtc's substitution (pkg/shell/env.go): ${NAME} or ${NAME:fallback}
    def substitute(s: str, env: dict[str, str]) -> str:
        def one(m: re.Match[str]) -> str:
            key, _, fallback = m.group(1).partition(":")
            return env.get(key, fallback if ":" in m.group(1) else m.group(0))

        return re.sub(r"\$\{([^}{]+)\}", one, s)

    env = {"RTSP_SOURCE_USERNAME": "viewer", "RTSP_SOURCE_PASSWORD": "pw"}
    assert "rtsp://viewer:pw@" in substitute(stream, env)
