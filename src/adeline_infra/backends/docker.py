"""The Docker backend: the broker in a container, run by Docker Compose.

- Compose (`docker compose` v2, else `docker-compose` v1) starts and stops it from
  `docker/adeline/docker-compose.mqtt.yml`, as a user could by hand.
- The engine API answers what CLI text would only describe: is the engine up, the container's
  state and health (JSON over the engine's socket, without the SDK, so `services.up` and
  `status` stay fast), and its log (the SDK, followed in a thread, so Ctrl+C ends it at once).
- The broker's mosquitto.conf is rendered from settings (the same renderer as the native
  backend, with the paths files have inside the container) into `ADELINE_STATE_DIR/docker/`,
  and the compose file mounts it through `MOSQUITTO_CONFIG`. With a password file or TLS, an
  override beside it mounts their folders and copies them in for the broker's user
  (`secure_override`).
- The compose project is named per checkout (`COMPOSE_PROJECT_NAME`, else
  `adeline-<folder>-<hash of the path>`) so two clones never fight over one container.

Importing this module is cheap: the SDK is imported only for logs, volumes and error details,
or when the engine speaks a transport only the SDK does (TLS, ssh, the Windows pipe).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client  # ~2 ms under invoke, which has loaded email.* already
import json
import os
import queue
import re
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlparse

from .. import broker_config, procs
from ..errors import ConfigError, InfraError
from ..files import write_atomic
from .base import Backend, BrokerState

if TYPE_CHECKING:
    from ..settings import Settings

COMPOSE_FILE = Path("docker") / "adeline" / "docker-compose.mqtt.yml"
SERVICE = "mosquitto"
EXTRAS = {"go2rtc": "go2rtc"}  # `services.up --with NAME` -> compose profile
FINGERPRINT_LABEL = "org.adeline.config-sha"

# Where things live inside the container (the image's layout, as in eclipse-mosquitto).
CONTAINER_PORT = 1883
CONTAINER_WS_PORT = 9001
CONTAINER_DATA = PurePosixPath("/mosquitto/data")
CONTAINER_CONFIG = PurePosixPath("/mosquitto/config/mosquitto.conf")
# The secure broker: the host folders of the password file and of the TLS files are mounted
# read-only under STAGING; at every container start the files the broker needs are copied into
# CONTAINER_SECRETS (a tmpfs: never on the engine's disk) and given to the broker's user, since
# the host files are 0600 and owned by the host user (see `secure_override`).
CONTAINER_SECRETS = PurePosixPath("/mosquitto/secrets")
STAGING = PurePosixPath("/run/adeline")
BROKER_UID = 1883  # the `mosquitto` user of eclipse-mosquitto images (and of our CI image)
SECURE_OVERRIDE = "compose.secure.yml"

_NPIPE = r"\\.\pipe\docker_engine"
_POSIX_SOCKETS = (
    "/var/run/docker.sock",
    "$XDG_RUNTIME_DIR/docker.sock",  # rootless Docker
    "~/.docker/run/docker.sock",  # Docker Desktop (macOS, Linux)
    "~/.colima/default/docker.sock",
    "~/.rd/docker.sock",  # Rancher Desktop
    "~/.orbstack/run/docker.sock",
)


# ---------------------------------------------------------------------------------------------
# Finding the engine (no SDK)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where the Docker engine should answer, and where we learned it (for error messages)."""

    url: str  # unix:///path, tcp://host:port, npipe:////./pipe/docker_engine, ssh://...
    source: str


def _context_host(environ: Mapping[str, str], home: Path) -> Endpoint | None:
    """The endpoint of the active `docker context` (what the docker CLI would use), if any."""
    config_dir = Path(environ.get("DOCKER_CONFIG") or home / ".docker")
    name = environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            name = json.loads((config_dir / "config.json").read_text("utf-8")).get("currentContext")
        except (OSError, ValueError, AttributeError):
            name = None
    if not name or name == "default":
        return None
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest / "meta.json"
    try:
        host = json.loads(meta.read_text("utf-8"))["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Endpoint(host, f"docker context {name!r}") if host else None


def find_endpoint(
    environ: Mapping[str, str] | None = None,
    *,
    home: Path | None = None,
    windows: bool = procs.WINDOWS,
    exists: Callable[[str], bool] = os.path.exists,
) -> Endpoint | None:
    """DOCKER_HOST, else the active docker context, else the first default socket that exists.

    None means there is no engine endpoint at all (nothing to ask, nothing to import).
    """
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return Endpoint(env["DOCKER_HOST"], "DOCKER_HOST")
    home = Path.home() if home is None else home
    context = _context_host(env, home)
    if context:
        return context
    if windows:
        return Endpoint("npipe:////./pipe/docker_engine", "the default") if exists(_NPIPE) else None
    for candidate in _POSIX_SOCKETS:
        if candidate.startswith("$XDG_RUNTIME_DIR"):
            runtime = env.get("XDG_RUNTIME_DIR")
            if not runtime:
                continue
            path = runtime + candidate[len("$XDG_RUNTIME_DIR") :]
        else:
            path = candidate.replace("~", str(home), 1)
        if exists(path):
            return Endpoint(f"unix://{path}", "the default socket")
    return None


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (the engine's usual endpoint)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        if sys.platform == "win32":  # CPython has no AF_UNIX there; _raw_get never comes here
            raise OSError("unix sockets are not available on Windows")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _raw_get(endpoint: Endpoint, path: str, timeout: float) -> tuple[int, bytes] | None:
    """GET `path` from the engine API over a plain socket: (status, body).

    Unix sockets and TCP without TLS only; None for the transports only the SDK speaks
    (TLS, ssh, the Windows named pipe). OSError when nothing answers. This keeps the SDK
    (~0.1 s to import and connect) out of `BROKER_BACKEND=auto` and `services.up`.
    """
    parsed = urlparse(endpoint.url)
    conn: http.client.HTTPConnection
    if parsed.scheme == "unix" and hasattr(socket, "AF_UNIX"):
        conn = _UnixHTTPConnection(parsed.path, timeout)
    elif parsed.scheme in ("tcp", "http") and not os.environ.get("DOCKER_TLS_VERIFY"):
        conn = http.client.HTTPConnection(
            parsed.hostname or "localhost", parsed.port or 2375, timeout=timeout
        )
    else:
        return None
    try:
        conn.request("GET", path, headers={"Host": "docker"})
        response = conn.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as exc:
        raise OSError(f"not an HTTP answer ({exc.__class__.__name__})") from None
    finally:
        conn.close()


def _raw_ping(endpoint: Endpoint, timeout: float) -> bool | None:
    """GET /_ping without the SDK. None: the transport needs the SDK to tell."""
    try:
        answer = _raw_get(endpoint, "/_ping", timeout)
    except OSError:
        return False
    return None if answer is None else answer[0] == 200


def engine_answers(timeout: float = 1.0) -> bool:
    """True when a Docker engine answers a ping. Cheap: no SDK unless the transport needs it."""
    endpoint = find_endpoint()
    if endpoint is None:
        return False
    answered = _raw_ping(endpoint, timeout)
    if answered is not None:
        return answered
    try:
        _connect(endpoint, timeout)
    except InfraError:
        return False
    return True


def no_engine_hint() -> str:
    if sys.platform == "darwin" or procs.WINDOWS:
        start = "start Docker Desktop"
    else:
        start = "start it (`sudo systemctl start docker`, or Docker Desktop)"
    return f"{start}, or use the mosquitto binary with BROKER_BACKEND=native"


def _connect(endpoint: Endpoint, timeout: float) -> Any:
    """A docker SDK client that has talked to the engine, or InfraError in one line."""
    from docker.errors import DockerException

    import docker

    try:
        if endpoint.source == "DOCKER_HOST":
            client = docker.from_env(timeout=max(int(timeout), 1))  # honours DOCKER_TLS_VERIFY
        else:
            client = docker.DockerClient(base_url=endpoint.url, timeout=max(int(timeout), 1))
    except DockerException as exc:
        raise _not_answering(endpoint, exc) from None
    return client


def _not_answering(endpoint: Endpoint, exc: BaseException) -> InfraError:
    return InfraError(
        f"the Docker engine at {endpoint.url} (from {endpoint.source}) is not answering"
        f" ({_short_reason(exc)})",
        hint=no_engine_hint()
        if endpoint.source != "DOCKER_HOST"
        else "start it, fix or unset DOCKER_HOST, or use BROKER_BACKEND=native",
    )


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in (
        "No such file or directory",
        "Connection refused",
        "Permission denied",
        "timed out",
        "Name or service not known",
    ):
        if marker.lower() in text.lower():
            return marker.lower()
    text = re.sub(r"\s+", " ", text)
    return text[:120] + ("..." if len(text) > 120 else "")


# ---------------------------------------------------------------------------------------------
# Compose: which command, which project, which environment (pure logic, unit-tested)
# ---------------------------------------------------------------------------------------------


def choose_compose(docker_cli: str | None, v2_works: bool, v1_cli: str | None) -> list[str]:
    """`docker compose` (v2) when the plugin works, else `docker-compose` (v1), else an error."""
    if docker_cli and v2_works:
        return [docker_cli, "compose"]
    if v1_cli:
        return [v1_cli]
    raise InfraError("Docker Compose is not installed", hint=compose_install_hint())


def compose_install_hint() -> str:
    if sys.platform == "darwin" or procs.WINDOWS:
        return "install or update Docker Desktop (it includes `docker compose`)"
    return (
        "install the Compose plugin (`sudo apt install docker-compose-plugin` from Docker's "
        "repository) or `sudo apt install docker-compose`"
    )


# Where the docker CLI looks for plugins after its config folder and `cliPluginsExtraDirs`.
_SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def compose_plugin(
    environ: Mapping[str, str] | None = None,
    *,
    home: Path | None = None,
    windows: bool = procs.WINDOWS,
) -> Path | None:
    """The Compose v2 plugin file, where the docker CLI would find it (no process started).

    Docker's plugin discovery: `~/.docker/cli-plugins` (DOCKER_CONFIG), the `cliPluginsExtraDirs`
    of its config.json, then the system folders.
    """
    env = os.environ if environ is None else environ
    config_dir = Path(
        env.get("DOCKER_CONFIG") or (Path.home() if home is None else home) / ".docker"
    )
    folders = [config_dir / "cli-plugins"]
    try:
        extra = json.loads((config_dir / "config.json").read_text("utf-8")).get(
            "cliPluginsExtraDirs"
        )
        folders += [Path(f) for f in extra or () if isinstance(f, str)]
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    if windows:
        for var, default in (
            ("ProgramData", r"C:\ProgramData"),
            ("ProgramFiles", r"C:\Program Files"),
        ):
            folders.append(Path(env.get(var) or default) / "Docker" / "cli-plugins")
    else:
        folders += [Path(f) for f in _SYSTEM_PLUGIN_DIRS]
    name = "docker-compose.exe" if windows else "docker-compose"
    return next((f / name for f in folders if (f / name).is_file()), None)


def find_compose() -> list[str]:
    """The compose command on this machine: v2 if its plugin is installed, else v1.

    No process is started when the plugin file or `docker-compose` is found (every `inv
    services.*` call pays for this); only a plugin in a folder we do not know costs a
    `docker compose version` (~20 ms).
    """
    docker_cli = procs.which("docker")
    v1_cli = procs.which("docker-compose")
    v2 = bool(docker_cli) and compose_plugin() is not None
    if docker_cli and not v2 and not v1_cli:
        try:
            result = procs.run([docker_cli, "compose", "version"], check=False, timeout=20)
            v2 = result.returncode == 0
        except InfraError:
            v2 = False
    return choose_compose(docker_cli, v2, v1_cli)


_ANONYMOUS = re.compile(r"[0-9a-f]{64}")
_PROJECT_OK = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def project_name(settings: Settings) -> str:
    """COMPOSE_PROJECT_NAME, else `adeline-<folder>-<8 hex of the checkout's path>`."""
    if settings.compose_project:
        name = settings.compose_project.strip()
        if not _PROJECT_OK.match(name):
            raise ConfigError(
                f"COMPOSE_PROJECT_NAME={name!r} is not valid: expected lowercase letters, "
                "digits, '-' and '_', starting with a letter or digit"
            )
        return name
    folder = re.sub(r"[^a-z0-9]+", "-", settings.root.name.lower()).strip("-")[:24].strip("-")
    parts = (
        ["adeline", folder, settings.checkout_id] if folder else ["adeline", settings.checkout_id]
    )
    return "-".join(parts)


def render_config(settings: Settings) -> str:
    """The broker's mosquitto.conf with the paths and ports it has inside the container.

    No `user` line: like the official image, mosquitto starts as root and drops to the
    `mosquitto` user (uid 1883), who owns the data volume.
    """
    paths = broker_config.BrokerPaths(
        data_dir=CONTAINER_DATA,
        passwd_file=CONTAINER_SECRETS / "passwd",
        ca_file=CONTAINER_SECRETS / "tls" / "ca.crt",
        cert_file=CONTAINER_SECRETS / "tls" / "server.crt",
        key_file=CONTAINER_SECRETS / "tls" / "server.key",
    )
    return broker_config.render(settings, paths, port=CONTAINER_PORT, ws_port=CONTAINER_WS_PORT)


def _secret_sources(settings: Settings) -> dict[str, Path]:
    """Host file -> its name in CONTAINER_SECRETS, for what the settings make the broker use.

    With client certificates required, our client certificate goes in too, for the healthcheck.
    """
    needed = broker_config.required_files(settings)
    names = {"passwd": "passwd", "ca": "tls/ca.crt", "cert": "tls/server.crt"}
    names["key"] = "tls/server.key"
    sources = {names[role]: path for role, path in needed.items()}
    if settings.use_tls and settings.tls_require_client_cert:
        sources["tls/health.crt"] = settings.client_cert
        sources["tls/health.key"] = settings.client_key
    return sources


def _sh(*lines: str) -> str:
    return "\n".join(lines)


def secure_override(settings: Settings) -> dict[str, Any] | None:
    """The compose override for a broker with a password file and/or TLS; None for the dev one.

    - Folders are mounted, not files: `write_atomic` replaces a file by renaming, and a bind
      mount of a single file would keep showing the old one.
    - The command copies what the broker reads into a tmpfs owned by its user (uid 1883), then
      execs mosquitto, which drops from root to that user: whatever the host's uid or OS.
      Images without `mkdir`/`chown` on PATH (ours: busybox with a few applets) use busybox.
    - The healthcheck cannot log in (a password in it would show in `docker inspect`): it makes
      an anonymous CONNECT, over TLS with the CA (and a client certificate when one is
      required), and counts the broker's answer, CONNACK "not authorised" (exit 5), as healthy.
    """
    sources = _secret_sources(settings)
    if not sources:
        return None
    q = shlex.quote  # for the container's POSIX shell, whatever the host OS
    mounts: dict[PurePosixPath, Path] = {}
    copies: list[str] = []
    for name, host in sources.items():
        folder = STAGING / ("auth" if name == "passwd" else "tls")
        mounts[folder] = host.parent
        source, target = q(str(folder / host.name)), q(str(CONTAINER_SECRETS / name))
        copy = f"cat {source} > {target}"
        # The healthcheck's client certificate is optional: without it the check fails, and
        # our own clients say which `inv tls.client` to run.
        copies.append(f"[ ! -f {source} ] || {copy}" if name.startswith("tls/health") else copy)
    secrets_dir = q(str(CONTAINER_SECRETS))
    command = _sh(
        "set -e",
        'command -v mkdir >/dev/null 2>&1 || mkdir() { busybox mkdir "$@"; }',
        'command -v chown >/dev/null 2>&1 || chown() { busybox chown "$@"; }',
        "umask 077",
        f"mkdir -p {q(str(CONTAINER_SECRETS / 'tls'))}",
        *copies,
        f"chown -R {BROKER_UID}:{BROKER_UID} {secrets_dir}",
        f"exec /usr/sbin/mosquitto -c {q(str(CONTAINER_CONFIG))}",
    )
    probe = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(CONTAINER_PORT)]
    if settings.use_tls:
        probe += ["--cafile", f"{CONTAINER_SECRETS}/tls/ca.crt", "--insecure"]
        if settings.tls_require_client_cert:
            probe += ["--cert", f"{CONTAINER_SECRETS}/tls/health.crt"]
            probe += ["--key", f"{CONTAINER_SECRETS}/tls/health.key"]
    probe += ["-t", "$SYS/broker/uptime", "-C", "1", "-W", "3"]
    check = _sh(
        shlex.join(probe) + " >/dev/null 2>&1 && exit 0",
        '[ "$?" = 5 ]  # refused by CONNACK (not authorised): the broker answers',
    )
    service = {
        "volumes": [
            {"type": "bind", "source": str(host), "target": str(target), "read_only": True}
            for target, host in sorted(mounts.items())
        ],
        "tmpfs": [f"{CONTAINER_SECRETS}:mode=0700"],
        "command": ["sh", "-c", _compose_literal(command)],
        "healthcheck": {"test": ["CMD", "sh", "-c", _compose_literal(check)]},
    }
    return {"services": {SERVICE: service}}


def _compose_literal(text: str) -> str:
    """Compose interpolates `$NAME` in its files; `$$` is a literal `$`."""
    return text.replace("$", "$$")


def fingerprint(settings: Settings, config_text: str) -> str:
    """What the container must be recreated for: config, image, ports, mounts and secrets."""
    override = secure_override(settings)
    key = "\n".join(
        [
            config_text,
            settings.mosquitto_image,
            str(settings.mqtt_port),
            str(settings.ws_port),
            json.dumps(override, sort_keys=True) if override else "",
            broker_config.secrets_digest(_secret_sources(settings)) if override else "",
        ]
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def compose_args(
    compose: list[str],
    compose_file: Path,
    project: str,
    extras: frozenset[str],
    *action: str,
    overrides: Sequence[Path] = (),
) -> list[str]:
    """`<compose> -f FILE [-f OVERRIDE ...] -p PROJECT [--profile P ...] ACTION...` (v1 and v2)."""
    args = [*compose, "-f", str(compose_file)]
    for override in overrides:
        args += ["-f", str(override)]
    args += ["-p", project]
    for extra in sorted(extras):
        args += ["--profile", EXTRAS[extra]]
    return [*args, *action]


def compose_env(
    settings: Settings,
    *,
    config_path: Path,
    config_sha: str,
    endpoint: Endpoint | None,
    base: Mapping[str, str],
) -> dict[str, str]:
    """The environment compose runs with: what the compose file interpolates, from settings."""
    env = dict(base)
    env.update(
        MOSQUITTO_IMAGE=settings.mosquitto_image,
        MQTT_BROKER_PORT=str(settings.mqtt_port),
        MQTT_WS_PORT=str(settings.ws_port),
        MOSQUITTO_CONFIG=config_path.as_posix(),
        ADELINE_CONFIG_SHA=config_sha,
    )
    api_port = urlparse(settings.go2rtc_api_url).port
    if api_port:
        env["GO2RTC_API_PORT"] = str(api_port)
    # go2rtc reads the camera credentials from its environment: never from argv or a file.
    for var, value in (
        ("RTSP_SOURCE_USERNAME", settings.rtsp_username),
        ("RTSP_SOURCE_PASSWORD", settings.rtsp_password),
    ):
        if value:
            env[var] = value
    if endpoint is not None and "DOCKER_HOST" not in env:
        env["DOCKER_HOST"] = endpoint.url  # compose talks to the engine the SDK checked
    env.pop("COMPOSE_PROJECT_NAME", None)  # `-p` says it
    return env


def _parse_time(text: str | None) -> float | None:
    """Docker's RFC 3339 time with nanoseconds -> epoch seconds (None for the zero time)."""
    if not text or text.startswith("0001-"):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", text)
    if not match:
        return None
    from datetime import datetime, timezone

    whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    zone = match.group(3) or "Z"
    if zone == "Z":
        offset = 0
    else:
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    fraction = float("0." + match.group(2)) if match.group(2) else 0.0
    return whole.replace(tzinfo=timezone.utc).timestamp() - offset + fraction


# ---------------------------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """One container as the engine describes it: its inspect document (`docker inspect`).

    The attribute names of the SDK's Container, but read over the raw socket when possible.
    """

    attrs: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.attrs["Id"])

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def name(self) -> str:
        return str(self.attrs.get("Name", "")).lstrip("/")

    @property
    def status(self) -> str:
        return str((self.attrs.get("State") or {}).get("Status", ""))

    @property
    def labels(self) -> dict[str, str]:
        return (self.attrs.get("Config") or {}).get("Labels") or {}

    @property
    def restarts(self) -> int:
        return int(self.attrs.get("RestartCount") or 0)


class DockerBackend(Backend):
    name = "docker"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.project = project_name(settings)
        self.compose_file = settings.root / COMPOSE_FILE
        self.dir: Path = settings.state_dir / "docker"
        self.conf = self.dir / "mosquitto.conf"
        self.override = self.dir / SECURE_OVERRIDE
        self._endpoint: Endpoint | None = None
        self._client_obj: Any = None
        self._compose: list[str] | None = None
        self._restarts_at_start: int | None = None
        self._seen: tuple[float, Container | None] | None = None

    # --- engine and compose -----------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        """Where the engine should answer; InfraError in one line naming Docker when nowhere."""
        if self._endpoint is None:
            endpoint = find_endpoint()
            if endpoint is None:
                raise InfraError(
                    "no Docker engine found (DOCKER_HOST is not set and there is no Docker socket)",
                    hint=no_engine_hint(),
                )
            self._endpoint = endpoint
        return self._endpoint

    def client(self) -> Any:
        """The SDK client (logs, volumes, images); InfraError in one line when no engine answers."""
        if self._client_obj is None:
            self._client_obj = _connect(self.endpoint(), timeout=10)
        return self._client_obj

    def _api(self, path: str, sdk_call: Callable[[Any], Any]) -> Any:
        """The engine's JSON answer to GET `path`, None for 404.

        Over the raw socket when the transport allows (no SDK import: `services.up` and
        `status` stay fast), else `sdk_call(APIClient)`, the same request through the SDK.
        """
        endpoint = self.endpoint()
        try:
            answer = _raw_get(endpoint, path, timeout=10)
        except OSError as exc:
            raise _not_answering(endpoint, exc) from None
        if answer is None:
            from docker.errors import DockerException, NotFound

            try:
                return sdk_call(self.client().api)
            except NotFound:
                return None
            except DockerException as exc:
                raise InfraError(
                    f"the Docker engine failed to answer ({_short_reason(exc)})"
                ) from None
        status, body = answer
        if status == 404:
            return None
        if status != 200:
            text = body.decode("utf-8", "replace").strip()
            with contextlib.suppress(ValueError, AttributeError):
                text = json.loads(text).get("message", text)
            raise InfraError(f"the Docker engine failed to answer (HTTP {status}: {text[:120]})")
        return json.loads(body)

    def _sdk_container(self, container: Container) -> Any:
        return self.client().containers.get(container.id)

    def compose(
        self,
        *action: str,
        extras: frozenset[str] = frozenset(),
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
    ) -> Any:
        if self._compose is None:
            self._compose = find_compose()
        overrides = [self.override] if self.override.is_file() else []
        args = compose_args(
            self._compose, self.compose_file, self.project, extras, *action, overrides=overrides
        )
        return procs.run(
            args, env=env or self._env(), check=False, timeout=timeout, cwd=self.compose_file.parent
        )

    def _env(self, config_sha: str = "") -> dict[str, str]:
        by_hand = self.compose_file.parent / "mosquitto.conf"
        return compose_env(
            self.settings,
            config_path=self.conf if self.conf.is_file() else by_hand,
            config_sha=config_sha,
            endpoint=self._endpoint,
            base=os.environ,
        )

    def _containers(self, service: str | None = SERVICE) -> list[Container]:
        labels = [f"com.docker.compose.project={self.project}"]
        if service:
            labels.append(f"com.docker.compose.service={service}")
        filters = {"label": labels}
        query = urlencode({"all": "1", "filters": json.dumps(filters)})
        listed = self._api(
            f"/containers/json?{query}", lambda api: api.containers(all=True, filters=filters)
        )
        found = [self._inspect(summary["Id"]) for summary in listed or ()]
        return [c for c in found if c is not None]  # None: removed since it was listed

    def _inspect(self, cid: str) -> Container | None:
        attrs = self._api(f"/containers/{cid}/json", lambda api: api.inspect_container(cid))
        return None if attrs is None else Container(attrs)

    def container(self) -> Container | None:
        found = self._containers()
        # Prefer a running one (a recreate can briefly leave two).
        found.sort(key=lambda c: c.status != "running")
        container = found[0] if found else None
        self._seen = (time.monotonic(), container)
        return container

    def _recent_container(self) -> Container | None:
        """The container as seen in the last second (`services.up` has just asked), else now."""
        if self._seen is not None and time.monotonic() - self._seen[0] < 1.0:
            return self._seen[1]
        return self.container()

    # --- state ------------------------------------------------------------------------------

    def state(self) -> BrokerState:
        container = self.container()
        detail: dict[str, Any] = {"project": self.project}
        if container is None:
            detail["container"] = None
            return BrokerState(self.name, False, detail=detail)
        attrs = container.attrs
        st = attrs.get("State", {})
        health = (st.get("Health") or {}).get("Status")
        detail.update(
            container=container.name,
            id=container.short_id,
            image=attrs.get("Config", {}).get("Image"),
            container_state=container.status,
            health=health,
            restarts=container.restarts,
        )
        running = container.status == "running"
        return BrokerState(
            self.name,
            running,
            started_at=_parse_time(st.get("StartedAt")) if running else None,
            detail=detail,
        )

    def alive(self) -> bool:
        container = self.container()
        if container is None or container.status not in ("running", "created"):
            return False
        return self._restarts_at_start is None or container.restarts <= self._restarts_at_start

    def config_mismatch(self) -> str | None:
        container = self.container()
        if container is None or container.status != "running":
            return None
        want = fingerprint(self.settings, render_config(self.settings))
        have = container.labels.get(FINGERPRINT_LABEL)
        if have != want:
            return (
                f"the running Docker broker (container {container.name}) was started with other "
                "settings, password file or certificates: run `inv services.restart` to apply them"
            )
        return None

    # --- lifecycle --------------------------------------------------------------------------

    def _check_supported(self, extras: frozenset[str]) -> None:
        unknown = sorted(extras - set(EXTRAS))
        if unknown:
            raise ConfigError(
                f"unknown service {', '.join(unknown)} for --with: expected {', '.join(EXTRAS)}"
            )
        broker_config.check_required_files(self.settings)

    def start(self, *, extras: frozenset[str] = frozenset()) -> None:
        s = self.settings
        self._check_supported(extras)
        container = self._recent_container()
        running = container is not None and container.status == "running"
        if container is not None and running and not extras:
            self._restarts_at_start = container.restarts
            return
        if not running:
            self._check_ports()
        text = render_config(s)
        _write_if_changed(self.conf, text)
        override = secure_override(s)
        if override is None:
            self.override.unlink(missing_ok=True)
        else:  # JSON is YAML: compose reads it as its own format.
            _write_if_changed(self.override, json.dumps(override, indent=2) + "\n")
        sha = fingerprint(s, text)
        # While compose works (~1 s), load the MQTT client the readiness probe needs next.
        threading.Thread(target=_preload_mqtt, daemon=True).start()
        result = self.compose("up", "-d", extras=extras, timeout=900, env=self._env(sha))
        if result.returncode != 0:
            raise InfraError(self._explain_failure(result.stderr or result.stdout or ""))
        # A container compose (re)starts begins with no restarts; a running one keeps its count.
        self._restarts_at_start = container.restarts if container and running else 0
        self._seen = None

    def _check_ports(self) -> None:
        s = self.settings
        for port, var in ((s.mqtt_port, "MQTT_BROKER_PORT"), (s.ws_port, "MQTT_WS_PORT")):
            if procs.port_in_use(port):
                owner = procs.port_owner(port)
                user = self._container_publishing(port)
                if user:
                    by = f" by container {user}"
                elif owner:
                    by = f" by {owner}"
                else:
                    by = " by another program"
                raise InfraError(
                    f"port {port} is already in use{by}",
                    hint=f"stop it or choose another port with {var} in .env",
                )

    def _container_publishing(self, port: int) -> str | None:
        try:
            for container in self.client().containers.list():
                for bindings in (container.ports or {}).values():
                    if any(b.get("HostPort") == str(port) for b in bindings or ()):
                        project = container.labels.get("com.docker.compose.project")
                        return f"{container.name}" + (
                            f" (compose project {project})" if project else ""
                        )
        except Exception:  # only a nicer message; the port check itself already failed
            return None
        return None

    def _explain_failure(self, output: str) -> str:
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() or "denied" in ln.lower()]
        detail = (errors or lines or ["no output"])[-1]
        image = self.settings.mosquitto_image
        from docker.errors import DockerException

        try:
            self.client().images.get(image)
            have_image = True
        except DockerException:
            have_image = False
        if not have_image:
            return (
                f"the image {image} is not on this machine and could not be pulled ({detail}): "
                "check the network, or set MOSQUITTO_IMAGE to an image you have"
            )
        return f"docker compose could not start the broker: {detail}"

    def stop(self) -> bool:
        containers = self._containers(service=None)
        if not containers:
            return False
        was_running = any(
            c.status == "running"
            for c in containers
            if c.labels.get("com.docker.compose.service") == SERVICE
        )
        # Anonymous volumes (an image's VOLUME not covered by a named one, e.g. go2rtc's /config)
        # would pile up at every down: they hold nothing worth keeping, unlike the named ones.
        anonymous = {
            m["Name"]
            for c in containers
            for m in c.attrs.get("Mounts", [])
            if m.get("Type") == "volume" and _ANONYMOUS.fullmatch(m.get("Name", ""))
        }
        result = self.compose("down", "--remove-orphans", extras=frozenset(EXTRAS), timeout=120)
        if result.returncode != 0:
            raise InfraError(f"docker compose down failed: {procs.last_line(result.stderr or '')}")
        if anonymous:
            from docker.errors import DockerException

            for name in anonymous:
                with contextlib.suppress(DockerException):
                    self.client().volumes.get(name).remove()
        return was_running

    def clean(self) -> list[str]:
        label = f"com.docker.compose.project={self.project}"
        volumes = self.client().volumes.list(filters={"label": label})
        if not volumes and not self._containers(service=None):
            return []
        result = self.compose(
            "down", "-v", "--remove-orphans", extras=frozenset(EXTRAS), timeout=120
        )
        if result.returncode != 0:
            raise InfraError(
                f"docker compose down -v failed: {procs.last_line(result.stderr or '')}"
            )
        from docker.errors import NotFound

        for volume in self.client().volumes.list(filters={"label": label}):
            with contextlib.suppress(NotFound):
                volume.remove()
        return [f"volume {v.name}" for v in volumes]

    # --- logs -------------------------------------------------------------------------------

    def log_tail(self, lines: int) -> list[str]:
        container = self.container()
        if container is None or lines <= 0:
            return []
        from docker.errors import NotFound

        try:
            raw = self._sdk_container(container).logs(stdout=True, stderr=True, tail=lines)
        except NotFound:  # removed since it was seen
            return []
        return raw.decode("utf-8", "replace").splitlines()

    def follow_logs(self, tail: int) -> Iterator[str]:
        """The container's log as it grows, across restarts, until the caller stops (Ctrl+C).

        The SDK's stream blocks in a socket read that Ctrl+C cannot always interrupt (Windows),
        so a daemon thread reads it and this generator waits on a queue with a timeout.
        """
        lines: queue.Queue[str | None] = queue.Queue()
        first = True
        since: float | None = None
        while True:
            container = self.container()
            if container is None or container.status not in ("running", "restarting"):
                if first:
                    yield from self.log_tail(tail)
                    first = False
                    since = time.time()
                time.sleep(0.5)  # wait for the broker to be started again
                continue
            kwargs: dict[str, Any] = {"tail": tail} if first else {"since": int(since or 0)}
            first = False
            from docker.errors import NotFound

            try:
                sdk_container = self._sdk_container(container)
            except NotFound:  # removed since it was seen
                continue
            stream = sdk_container.logs(
                stdout=True, stderr=True, stream=True, follow=True, **kwargs
            )
            reader = threading.Thread(target=_pump, args=(stream, lines), daemon=True)
            reader.start()
            try:
                while True:
                    try:
                        line = lines.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    if line is None:  # the container stopped: wait for the next one
                        break
                    yield line
            finally:
                with contextlib.suppress(Exception):
                    stream.close()
            since = time.time()


def _write_if_changed(path: Path, text: str) -> None:
    """Atomically, readable by the container (no secrets: paths only); skipped when unchanged."""
    try:
        if path.read_text("utf-8") == text:
            return
    except OSError:
        pass
    write_atomic(path, text, mode=0o644)


def _preload_mqtt() -> None:
    with contextlib.suppress(Exception):
        import paho.mqtt.client  # noqa: F401


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    pending = ""
    try:
        for chunk in stream:
            pending += chunk.decode("utf-8", "replace")
            *complete, pending = pending.split("\n")
            for line in complete:
                lines.put(line)
    except Exception:
        pass
    finally:
        if pending:
            lines.put(pending)
        lines.put(None)
