"""The dashboard as a local page (`--web`): stdlib http.server, Server-Sent Events, loopback only.

The server is the page's only connection: it holds the MQTT subscription (with the broker's
credentials and TLS), and relays figures and each source's latest detections to the browser as
Server-Sent Events (`/events`), so nothing about the broker reaches the page. It binds
127.0.0.1 only and answers only requests whose Host is this address (a DNS-rebinding page
would send its own name) and whose Origin, when there is one, is this page's own.

The page (`static/`, package data written here: no CDN, nothing fetched at run time) draws
each detection's `bbox` — centre x, y, width, height in pixels of the inference frame, the
pipeline's convention — on a canvas per source; the frame size is the video's when go2rtc
shows one, else the largest extent seen. A detection without a box is listed, not drawn.
When go2rtc is configured, `/video/NAME` relays its MJPEG stream (its API URL and any
credentials stay here).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..settings import Settings

HOST = "127.0.0.1"
PUSH_S = 0.5  # how often the page gets new figures
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def allowed_hosts(port: int) -> set[str]:
    return {f"{HOST}:{port}", f"localhost:{port}"}


def request_allowed(headers: Any, port: int) -> bool:
    """Host must be this server's own address; Origin, when sent, this page's own."""
    hosts = allowed_hosts(port)
    if (headers.get("Host") or "").lower() not in hosts:
        return False
    origin = headers.get("Origin")
    return origin is None or origin.lower() in {f"http://{h}" for h in hosts}


class Hub:
    """The latest event for the page, and a condition the SSE handlers wait on."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.event: bytes = b""
        self.serial = 0
        self.clients = 0
        self.closed = False

    def publish(self, doc: dict[str, Any]) -> None:
        data = json.dumps(doc, separators=(",", ":"), default=str)
        with self.cond:
            self.serial += 1
            self.event = f"id: {self.serial}\nevent: figures\ndata: {data}\n\n".encode()
            self.cond.notify_all()

    def wait(self, after: int, timeout: float) -> tuple[int, bytes]:
        with self.cond:
            self.cond.wait_for(lambda: self.serial != after or self.closed, timeout)
            return self.serial, self.event

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def _handler(hub: Hub, port_of: Any, video: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "adeline-dashboard"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the terminal shows the address, not every request

        def _refuse(self, status: HTTPStatus, why: str) -> None:
            body = why.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if not request_allowed(self.headers, port_of()):
                self._refuse(HTTPStatus.FORBIDDEN, "forbidden: other hosts and origins")
                return
            path = urllib.parse.urlsplit(self.path).path
            if path in STATIC:
                name, kind = STATIC[path]
                body = resources.files(__package__).joinpath("static").joinpath(name).read_bytes()
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for key, value in SECURITY_HEADERS.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            elif path == "/events":
                self._events()
            elif path == "/favicon.ico":  # no icon, and no 404 in the page's console
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()
            elif path.startswith("/video/") and video is not None:
                video(self, urllib.parse.unquote(path.removeprefix("/video/")))
            else:
                self._refuse(HTTPStatus.NOT_FOUND, "not found")

        def do_POST(self) -> None:
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "read-only")

        def _events(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            with hub.cond:
                hub.clients += 1
            try:
                self.wfile.write(b"retry: 1000\n\n")
                serial = -1
                while not hub.closed:
                    serial, event = hub.wait(serial, 15.0)
                    self.wfile.write(event or b": keep-alive\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass  # the page went away
            finally:
                with hub.cond:
                    hub.clients -= 1

    return Handler


def _go2rtc_video(settings: Settings) -> tuple[Any, list[str]]:
    """(handler relaying go2rtc's MJPEG of a stream, the stream names) or (None, [])."""
    from .. import go2rtc

    if not go2rtc.configured(settings):
        return None, []
    info = go2rtc.status(settings)
    names = [s["name"] for s in info.streams] if info.reachable else []
    if not names:
        return None, []
    opener, base, headers = go2rtc._opener(settings.go2rtc_api_url)

    def relay(handler: BaseHTTPRequestHandler, name: str) -> None:
        import urllib.request

        if name not in names:
            handler.send_error(HTTPStatus.NOT_FOUND)
            return
        url = f"{base}/api/stream.mjpeg?src={urllib.parse.quote(name)}"
        try:
            upstream = opener.open(urllib.request.Request(url, headers=headers), timeout=5)
        except OSError:
            handler.send_error(HTTPStatus.BAD_GATEWAY)
            return
        with upstream:
            handler.send_response(HTTPStatus.OK)
            handler.send_header("Content-Type", upstream.headers.get("Content-Type", ""))
            handler.send_header("Cache-Control", "no-store")
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.close_connection = True
            try:
                while chunk := upstream.read1(65536):
                    handler.wfile.write(chunk)
            except OSError:
                pass

    return relay, names


def make_server(port: int, hub: Hub, video: Any = None) -> ThreadingHTTPServer:
    holder: dict[str, int] = {}
    try:
        server = ThreadingHTTPServer((HOST, port), _handler(hub, lambda: holder["port"], video))
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {HOST}:{port} ({exc.strerror or exc}): choose another --port"
        ) from None
    server.daemon_threads = True
    holder["port"] = server.server_address[1]
    return server


def serve(
    settings: Settings, *, window: float, source: str | None, port: int, duration: float
) -> None:
    """Serve the page until Ctrl+C (or `duration` seconds); prints its address first."""
    from .. import console
    from .feed import Feed
    from .figures import Figures

    figures = Figures(window, source=source)
    feed = Feed(settings, figures)
    hub = Hub()
    video, streams = _go2rtc_video(settings)
    server = make_server(port, hub, video)
    address = f"http://{HOST}:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    try:
        with feed.running():
            figures.started = time.monotonic()
            thread.start()
            console.out(f"dashboard: {address} (loopback only; Ctrl+C to stop)")
            end = None if not duration else figures.started + duration
            was_connected = True
            try:
                while end is None or time.monotonic() < end:
                    feed.drain()
                    now = time.monotonic()
                    doc = figures.snapshot(now)
                    doc["connected"] = feed.connected
                    doc["latest"] = figures.latest_detections()
                    doc["streams"] = streams
                    hub.publish(doc)
                    if feed.connected != was_connected:
                        was_connected = feed.connected
                        console.err(
                            "dashboard: broker connection "
                            + ("back" if was_connected else "lost: reconnecting ...")
                        )
                    time.sleep(PUSH_S)
            except KeyboardInterrupt:
                pass
    finally:
        hub.close()
        server.shutdown()
        server.server_close()
