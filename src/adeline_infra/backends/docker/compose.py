"""Docker Compose: which one (one discovery, for the backend and `doctor`), and how it is called.

Discovery prefers v2 (`docker compose`, the CLI plugin users have) and falls back to v1
(`docker-compose`, all Debian's archive has). It runs what it found: a v2 plugin file that does
not run (not executable, wrong architecture) falls back to v1 with a one-line note instead of
failing later with the docker CLI's "Run 'docker --help'".

Running `docker compose version` costs ~52 ms here (the CLI scans and runs its plugins), half
of what `services.up` may spend beyond raw Compose. So a v2 answer is remembered in the state
folder, keyed by the docker CLI and the plugin file (path, size, mtime, mode): a changed or replaced
plugin is run again. `doctor` always runs it afresh.

`DOCKER_COMPOSE=v2|v1` forces one (CI runs the Docker tests under each); `auto` chooses.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ... import procs
from ...errors import InfraError
from ...files import write_atomic

if TYPE_CHECKING:
    from ...settings import Settings

SERVICE = "mosquitto"
EXTRAS = {"go2rtc": "go2rtc"}  # `services.up --with NAME` -> compose profile
COMPOSE_FILE = Path("docker") / "adeline" / "docker-compose.mqtt.yml"
WS_COMPOSE_FILE = COMPOSE_FILE.with_name("docker-compose.ws.yml")  # left out with MQTT_WS_PORT=0
# The go2rtc image when GO2RTC_IMAGE is unset: the compose file's default (a test checks).
GO2RTC_IMAGE = "alexxit/go2rtc"
_CACHE = "compose.json"


@dataclass(frozen=True)
class Compose:
    """The Compose command to run, as found (and run) by `discover`."""

    argv: tuple[str, ...]  # ("/usr/bin/docker", "compose") or ("/usr/bin/docker-compose",)
    kind: str  # "v2" or "v1"
    version: str | None = None  # known when it was run (always for v2)
    note: str | None = None  # why v2 is not used although its plugin is installed

    @property
    def shown(self) -> str:
        return "docker compose" if self.kind == "v2" else "docker-compose"


def install_hint() -> str:
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
    """The Compose v2 plugin file where the docker CLI would find it (no process started).

    Docker's plugin discovery: `~/.docker/cli-plugins` (DOCKER_CONFIG), the `cliPluginsExtraDirs`
    of its config.json, then the system folders. Only the cache key: what runs is what counts.
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


def _cache_key(docker: str, plugin: Path | None) -> str | None:
    if plugin is None:
        return None
    try:
        st = plugin.stat()
    except OSError:
        return None
    return f"{docker}|{plugin}|{st.st_size}|{st.st_mtime_ns}|{st.st_mode:o}"


def cached_version(cache: Path | None, key: str | None) -> str | None:
    if cache is None or key is None:
        return None
    try:
        data = json.loads(cache.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("key") == key and isinstance(data.get("version"), str):
        return str(data["version"])
    return None


def _remember(cache: Path | None, key: str | None, version: str) -> None:
    if cache is None or key is None:
        return
    with contextlib.suppress(OSError):  # only a cache: the next call runs the plugin again
        write_atomic(cache, json.dumps({"key": key, "version": version}) + "\n", mode=0o644)


def _reason(output: str) -> str:
    text = procs.last_line(output) or "no output"
    return text[:120] + ("..." if len(text) > 120 else "")


def discover(
    choice: str = "auto",
    *,
    env: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    fresh: bool = False,
    v1_version: bool = False,
) -> Compose:
    """The Compose to use: v2 when `docker compose version` runs, else v1, else InfraError.

    `cache_dir`: where a v2 answer is remembered (see the module docstring); `fresh` ignores
    it. `v1_version`: also run `docker-compose version` (~250 ms: `doctor` only).
    """
    environ = os.environ if env is None else env
    docker = procs.which("docker")
    legacy = procs.which("docker-compose")
    note = None
    if choice in ("auto", "v2") and docker:
        plugin = compose_plugin(environ)
        cache = cache_dir / _CACHE if cache_dir is not None else None
        key = _cache_key(docker, plugin)
        version = None if fresh else cached_version(cache, key)
        if version is None:
            try:
                result = procs.run(
                    [docker, "compose", "version", "--short"], env=env, check=False, timeout=20
                )
                ok, output = result.returncode == 0, result.stdout + result.stderr
            except InfraError as exc:
                ok, output = False, str(exc)
            if ok:
                version = result.stdout.strip().splitlines()[0].lstrip("v") if output else "?"
                _remember(cache, key, version)
            elif choice == "v2":
                raise InfraError(
                    f"DOCKER_COMPOSE=v2 but `docker compose` does not run ({_reason(output)})",
                    hint=install_hint() + ", or set DOCKER_COMPOSE=auto",
                )
            elif plugin is not None:
                note = (
                    f"the Compose v2 plugin {plugin} does not run ({_reason(output)}): "
                    "using docker-compose (v1)"
                )
        if version is not None:
            return Compose((docker, "compose"), "v2", version)
    elif choice == "v2":
        raise InfraError(
            "DOCKER_COMPOSE=v2 but the `docker` command is not installed",
            hint=install_hint() + ", or set DOCKER_COMPOSE=auto",
        )
    if legacy:
        version = None
        if v1_version:
            try:
                result = procs.run([legacy, "version", "--short"], env=env, check=False, timeout=30)
                version = result.stdout.strip() or None if result.returncode == 0 else None
            except InfraError:
                version = None
        return Compose((legacy,), "v1", version, note)
    if choice == "v1":
        raise InfraError(
            "DOCKER_COMPOSE=v1 but `docker-compose` is not installed",
            hint="`sudo apt install docker-compose`, or set DOCKER_COMPOSE=auto",
        )
    raise InfraError(
        "Docker Compose is not installed" + (f" ({note})" if note else ""), hint=install_hint()
    )


# --- how Compose is called ----------------------------------------------------------------


def project_name(settings: Settings) -> str:
    """COMPOSE_PROJECT_NAME (validated by the settings), else
    `adeline-<folder>-<8 hex of the checkout's path>`."""
    if settings.compose_project:
        return settings.compose_project
    folder = re.sub(r"[^a-z0-9]+", "-", settings.root.name.lower()).strip("-")[:24].strip("-")
    parts = (
        ["adeline", folder, settings.checkout_id] if folder else ["adeline", settings.checkout_id]
    )
    return "-".join(parts)


def compose_args(
    compose: Sequence[str],
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
    base: Mapping[str, str],
) -> dict[str, str]:
    """The environment compose runs with: what the compose file interpolates, from settings.

    The engine is whatever the user's environment points `docker` at (DOCKER_HOST, contexts):
    compose is left to find it the same way.
    """
    from urllib.parse import urlparse

    env = dict(base)
    env.update(
        MOSQUITTO_IMAGE=settings.mosquitto_image,
        MQTT_BROKER_PORT=str(settings.mqtt_port),
        MQTT_WS_PORT=str(settings.ws_port),
        ADELINE_PUBLISH_ADDRESS=publish_address(settings),
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
    env.pop("COMPOSE_PROJECT_NAME", None)  # `-p` says it
    return env


def publish_address(settings: Settings) -> str:
    """Where Compose publishes the ports (ADELINE_PUBLISH_ADDRESS): MQTT_BIND_ADDRESS.

    Loopback is 127.0.0.1 here, and `::` (every interface) is 0.0.0.0: the IPv6 side of each
    (::1, [::]) is published by an override of its own where the OS has IPv6
    (`broker_setup.loopback6_override`), so both stacks answer, as the native broker's do. An
    IPv6 address goes in brackets, as Compose wants.
    """
    from ...settings import LOOPBACK

    address = settings.bind_address
    if address == LOOPBACK:
        return "127.0.0.1"
    if address == "::":  # published on [::] alone, 127.0.0.1 was refused
        return "0.0.0.0"
    return f"[{address}]" if ":" in address else address


def service_images(
    settings: Settings, extras: frozenset[str], env: Mapping[str, str]
) -> dict[str, str]:
    """Service -> the image compose will run for it (for error messages)."""
    images = {SERVICE: settings.mosquitto_image}
    if "go2rtc" in extras:
        images["go2rtc"] = env.get("GO2RTC_IMAGE") or GO2RTC_IMAGE
    return images
