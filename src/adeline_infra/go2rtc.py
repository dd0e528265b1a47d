"""go2rtc's status over its HTTP API (stdlib only: `doctor` and `services.status` stay cheap).

What go2rtc answers (AlexxIT/go2rtc, internal/api/api.go and internal/streams/):
- `GET /api` -> `{"version": "1.9.4", "revision": "...", "config_path": "...", "host": "..."}`
- `GET /api/streams` -> `{"NAME": {"producers": [...] | null, "consumers": [...] | null}, ...}`;
  a stream that is busy while the API serialises it is `null`.
Producers carry their source URL, which may hold camera credentials: we only ever count them.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .addresses import is_loopback

if TYPE_CHECKING:
    from .settings import Settings

DEFAULT_TIMEOUT = 2.0


def configured(settings: Settings) -> bool:
    """go2rtc is ours to report on: GO2RTC_ENABLED is true or GO2RTC_API_URL was set explicitly."""
    source = settings.sources.get("GO2RTC_API_URL", "the default")
    return settings.go2rtc_enabled or source != "the default"


def public_url(url: str) -> str:
    """The URL without a password in it (safe to print)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def parse_streams(data: Any) -> list[dict[str, Any]]:
    """`GET /api/streams` JSON -> [{"name", "producers", "consumers"}] sorted by name."""
    if not isinstance(data, dict):
        raise ValueError("answered /api/streams with something other than a JSON object")
    streams = []
    for name, info in sorted(data.items()):
        info = info if isinstance(info, dict) else {}
        streams.append(
            {
                "name": str(name),
                "producers": len(info.get("producers") or ()),
                "consumers": len(info.get("consumers") or ()),
            }
        )
    return streams


def _opener(url: str) -> tuple[urllib.request.OpenerDirector, str, dict[str, str]]:
    """An opener, the URL without credentials, and the headers to send.

    Proxies from the environment are skipped for loopback hosts (go2rtc usually runs here, and
    a corporate HTTP_PROXY would otherwise answer for it). Credentials in the URL become Basic
    auth, which go2rtc asks for when `api.username` is set.
    """
    parts = urllib.parse.urlsplit(url)
    headers = {"Accept": "application/json", "User-Agent": "adeline-infra"}
    if parts.username is not None:
        token = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        )
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode("utf-8")).decode(
            "ascii"
        )
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    handlers: list[urllib.request.BaseHandler] = []
    if is_loopback(parts.hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers), url.rstrip("/"), headers


def _get_json(
    opener: urllib.request.OpenerDirector, url: str, headers: dict[str, str], timeout: float
) -> Any:
    request = urllib.request.Request(url, headers=headers)
    with opener.open(request, timeout=timeout) as response:
        body = response.read(4 * 1024 * 1024)
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("answered with something that is not JSON: is it go2rtc?") from None


def _describe(exc: BaseException) -> str:
    """One line for a failed request."""
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code == 401:
            return (
                "answered HTTP 401: put the API user in GO2RTC_API_URL (http://user:pass@host:1984)"
            )
        return f"answered HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
        if isinstance(exc, urllib.error.URLError):
            return f"is not reachable ({exc.reason})"
    if isinstance(exc, ConnectionRefusedError):
        return (
            "refused the connection (nothing listening): "
            "start it with `inv services.up --with go2rtc`"
        )
    if isinstance(exc, TimeoutError):
        return "did not answer in time"
    if isinstance(exc, socket.gaierror):
        return f"has a host name that does not resolve ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"is not reachable ({exc.strerror})"
    if isinstance(exc, http.client.HTTPException):
        return f"does not speak HTTP ({type(exc).__name__}): is GO2RTC_API_URL right?"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclass
class Go2rtcStatus:
    """What go2rtc's API said. `url` never holds a password; `error` says why it did not answer."""

    configured: bool
    url: str
    reachable: bool = False
    version: str | None = None
    streams: list[dict[str, Any]] = field(default_factory=list)  # name, producers, consumers
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "configured": self.configured,
            "reachable": self.reachable,
            "url": self.url,
            "version": self.version,
            "streams": self.streams,
            "error": self.error,
        }


def status(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> Go2rtcStatus:
    """go2rtc's state; never raises for an unreachable or odd server."""
    url = settings.go2rtc_api_url
    info = Go2rtcStatus(configured=configured(settings), url=public_url(url))
    opener, base, headers = _opener(url)
    try:
        about = _get_json(opener, f"{base}/api", headers, timeout)
        info.reachable = True
        if isinstance(about, dict) and about.get("version"):
            info.version = str(about["version"])
        info.streams = parse_streams(_get_json(opener, f"{base}/api/streams", headers, timeout))
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        info.error = f"go2rtc at {info.url} {_describe(exc)}"
    return info
