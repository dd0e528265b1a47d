"""One settings loader: `.env` (python-dotenv), overridden by the environment, overridden by flags.

Below `.env` sits the pipeline's own config (`PIPELINE_CONFIG`, see `pipeline_config`): its broker
host, port and topics replace our defaults, so the tasks use what the pipeline uses unless told
otherwise. Precedence: defaults < the pipeline's config < `.env` < environment < task options.

Every setting is declared once, as a field of `Settings` made by `setting(...)`: its variable,
default, parser and meaning (`VARIABLES` is derived from the fields, `.env.example` and the
README's table follow it; tests check both). `load()` validates all of them in one pass and
raises `SettingsError` with every problem, each naming its variable and where its value came
from; its line is the first problem's and how many more (exit code 2, no traceback).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .pipeline_config import PipelineConfig
from .text import control_character, quoted

BACKENDS = ("auto", "docker", "native", "external")
COMPOSE_CHOICES = ("auto", "v2", "v1")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _port(raw: str) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise ValueError("a port number from 1 to 65535") from None
    if not 1 <= value <= 65535:
        raise ValueError("a port number from 1 to 65535")
    return value


def _port_or_off(raw: str) -> int:
    """A port, or 0 for "this listener is off"."""
    if raw.strip() == "0":
        return 0
    try:
        return _port(raw)
    except ValueError:
        raise ValueError("a port number from 1 to 65535, or 0 to turn it off") from None


def _opt_port(raw: str) -> int | None:
    """Empty (off) or a port."""
    if not raw.strip():
        return None
    try:
        return _port(raw)
    except ValueError:
        raise ValueError("empty (off) or a port number from 1 to 65535") from None


LOOPBACK = "loopback"
_LOOPBACK_NAMES = {"", "loopback", "localhost"}


def _bind_address(raw: str) -> str:
    """`loopback` (127.0.0.1 and ::1), or one IP address (0.0.0.0 / :: for every interface).

    Host names are refused on purpose: what a name resolves to can change under the broker.
    """
    value = raw.strip().lower()
    if value in _LOOPBACK_NAMES:
        return LOOPBACK
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        raise ValueError(
            "loopback, 0.0.0.0 (every IPv4 interface), :: (every interface) or one IP "
            "address of this machine"
        ) from None
    return str(address)


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("true or false")


def _backend(raw: str) -> str:
    low = raw.strip().lower()
    if low not in BACKENDS:
        raise ValueError(" or ".join(BACKENDS))
    return low


def _compose_choice(raw: str) -> str:
    low = raw.strip().lower()
    if low not in COMPOSE_CHOICES:
        raise ValueError(" or ".join(COMPOSE_CHOICES))
    return low


def _opt_str(raw: str) -> str | None:
    return raw or None


def _credential(raw: str) -> str | None:
    # MQTT carries a user name or password with a 16-bit length: paho raised struct.error
    if len(raw.encode("utf-8", "surrogateescape")) > 65535:
        raise ValueError("at most 65535 bytes (what MQTT can carry)")
    return raw or None


MAX_SETTING_SECONDS = 3600.0  # a timeout setting (MQTT_CONNECT_TIMEOUT...): an hour at most


def _positive_float(raw: str) -> float:
    expected = f"a positive number of seconds (at most {MAX_SETTING_SECONDS:g})"
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(expected) from None
    if not math.isfinite(value) or not 0 < value <= MAX_SETTING_SECONDS:  # nan, inf, 0, -1, 1e309
        raise ValueError(expected)
    return value


def _stop_seconds(raw: str) -> float:
    import math

    try:
        value = float(raw)
    except ValueError:
        raise ValueError("a number of seconds from 1 to 3600") from None
    if not math.isfinite(value) or not 1 <= value <= 3600:
        raise ValueError("a number of seconds from 1 to 3600")
    return value


def _megabytes(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise ValueError("a whole number of megabytes from 1 to 100000")
    value = int(raw, 10)
    if not 1 <= value <= 100_000:
        raise ValueError("a whole number of megabytes from 1 to 100000")
    return value


_HOST_RE = re.compile(r"^[A-Za-z0-9._:%\[\]-]+$")


def _host(raw: str) -> str:
    value = raw.strip()
    if "://" in value or re.match(r"^\[[^\]]*\]:", value):  # mqtt://host, [::1]:1883
        raise ValueError(
            "a host name or IP address alone, no scheme or port (the port is MQTT_BROKER_PORT)"
        )
    if value.startswith("[") and value.endswith("]"):  # [::1], as in a URL: the address in it
        value = value[1:-1]
    # It reaches command lines (e.g. the printed mosquitto_sub hint): no leading '-'.
    if (
        not value
        or len(value) > 253
        or value.startswith("-")
        or "[" in value
        or "]" in value
        or not _HOST_RE.match(value)
    ):
        raise ValueError("a host name or IP address")
    if ":" in value:  # only an IPv6 address has one; `localhost:1883` carries a port
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                "a host name or IP address without a port (the port is MQTT_BROKER_PORT)"
            ) from None
    elif any(not 1 <= len(label) <= 63 for label in value.removesuffix(".").split(".")):
        # `..`, `a..b`, a 64-character label: no name, and the resolver's idna codec raises
        raise ValueError("a host name or IP address (no empty or 64+ character part)")
    return value


def _url(raw: str) -> str:
    from urllib.parse import urlparse

    value = raw.strip()
    if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
        raise ValueError("an http:// or https:// URL")
    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        raise ValueError("an http:// or https:// URL with a port from 1 to 65535") from None
    if not parsed.hostname:
        raise ValueError("an http:// or https:// URL with a host")
    return value.rstrip("/")


def _topic(raw: str) -> str:
    """A topic we publish or subscribe to exactly: no wildcards, no empty levels at the ends."""
    value = raw.strip()
    if not value or "+" in value or "#" in value:
        raise ValueError("an MQTT topic without wildcards (+ or #)")
    if value.startswith("$"):
        raise ValueError("an MQTT topic not starting with $ (the broker's own, e.g. $SYS)")
    if "" in value.split("/"):
        raise ValueError("an MQTT topic without empty levels (no //, no leading or trailing /)")
    if len(value.encode("utf-8")) > 65535:
        raise ValueError("an MQTT topic of at most 65535 bytes")
    return value


def _opt_path(raw: str) -> str | None:
    if "\0" in raw or "\n" in raw or "\r" in raw:
        raise ValueError("a file path (no NUL or line break)")
    return raw.strip() or None


_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.replace(";", ",").split(",") if part.strip())
    for name in names:
        if not _IDENT_RE.match(name):
            # Each becomes the environment variable NAME_ENABLED.
            raise ValueError(
                f"comma-separated names of letters, digits and '_' (not {quoted(name)})"
            )
    return names


def _module(raw: str) -> str:
    value = raw.strip()
    if not all(_IDENT_RE.match(part) for part in value.split(".")):
        raise ValueError("a Python module name such as adeline or my_pkg.main")
    return value


_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


def _file_name(raw: str) -> str:
    value = raw.strip()
    if not _FILE_NAME_RE.match(value) or len(value) > 200:
        # It names files NAME.crt/NAME.key inside MQTT_TLS_DIR: no '/', no '..'.
        raise ValueError("a name of letters, digits, '.', '_' or '-' (no '/')")
    return value


_IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")


_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # what Compose accepts as a project name


def _compose_project(raw: str) -> str | None:
    value = raw.strip()
    if value and (not _PROJECT_RE.match(value) or len(value) > 255):
        # It names the containers, network and volume, and reaches `docker` command lines.
        raise ValueError("lowercase letters, digits, '-' and '_', starting with a letter or digit")
    return value or None


def _image(raw: str) -> str:
    value = raw.strip()
    if not _IMAGE_RE.match(value) or len(value) > 255:
        # It reaches the compose command's environment and `docker` command lines.
        raise ValueError("an image reference such as eclipse-mosquitto:2.0")
    return value


MAX_PATH = 4096  # Linux's PATH_MAX; longer names end in ENAMETOOLONG deep inside a task


def _path(raw: str) -> str:
    if not raw.strip():
        raise ValueError("a path (empty is not one)")
    if len(raw) > MAX_PATH:
        raise ValueError(f"a path of at most {MAX_PATH} characters")
    return raw


# No setting needs a control character, line break or bidi control, and in a path or a name
# they end up inside mosquitto.conf, compose's environment or a command line, where a line
# break is a new configuration line (`text.control_character`).


@dataclass(frozen=True)
class Variable:
    name: str
    attr: str
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False


def setting(
    name: str, default: str, parse: Callable[[str], Any], help: str, *, secret: bool = False
) -> Any:
    """A field of `Settings` that is a setting: its variable's name, its default as `.env` would
    write it, the parser that refuses what it must not be, and its meaning (the README's)."""
    return field(
        repr=not secret,
        metadata={
            "setting": {
                "name": name,
                "default": default,
                "parse": parse,
                "help": help,
                "secret": secret,
            }
        },
    )


@dataclass(frozen=True)
class Settings:
    """Validated settings. Paths are absolute (relative ones are taken from the project root)."""

    root: Path
    env_file: Path
    backend: str = setting(
        "BROKER_BACKEND",
        "auto",
        _backend,
        "How the broker runs: docker, native (a mosquitto binary), external (one you run "
        "elsewhere: nothing is started or stopped), or auto (the running one, else Docker when "
        "an engine answers, else native; never external).",
    )
    mqtt_host: str = setting(
        "MQTT_BROKER_HOST",
        "localhost",
        _host,
        "Host clients connect to (the probe, monitor, control, the pipeline).",
    )
    mqtt_port: int = setting(
        "MQTT_BROKER_PORT",
        "1883",
        _port,
        "MQTT port of the broker (TLS when MQTT_USE_TLS is true).",
    )
    ws_port: int = setting(
        "MQTT_WS_PORT",
        "9001",
        _port_or_off,
        "MQTT over WebSockets port (wss:// when MQTT_USE_TLS is true); 0 turns it off.",
    )  # 0: no WebSockets listener
    bind_address: str = setting(
        "MQTT_BIND_ADDRESS",
        "loopback",
        _bind_address,
        "Where the broker listens: loopback (127.0.0.1 and ::1, this machine only), 0.0.0.0 "
        "(every IPv4 interface), :: (every interface) or one IP address of this machine.",
    )  # LOOPBACK, or an IP address
    expose_anonymous: bool = setting(
        "MQTT_EXPOSE_ANONYMOUS",
        "false",
        _bool,
        "true: accept an anonymous broker beyond loopback (anyone on the network may "
        "read and command the pipeline); every services.up/status and doctor warns.",
    )
    local_port: int | None = setting(
        "MQTT_LOCAL_PORT",
        "",
        _opt_port,
        "With MQTT_USE_TLS=true: an extra plaintext MQTT port on loopback only, same login, "
        "for a client on this machine without TLS (empty: none).",
    )
    username: str | None = setting(
        "MQTT_USERNAME",
        "",
        _credential,
        "User name clients log in with.",
    )
    password: str | None = setting(
        "MQTT_PASSWORD",
        "",
        _credential,
        "Password clients log in with.",
        secret=True,
    )
    allow_anonymous: bool = setting(
        "MQTT_ALLOW_ANONYMOUS",
        "true",
        _bool,
        "false: the broker requires a user from MOSQUITTO_PASSWD_FILE.",
    )
    use_tls: bool = setting(
        "MQTT_USE_TLS",
        "false",
        _bool,
        "true: the MQTT and WebSockets listeners speak TLS (mqtts://, wss://) with the "
        "certificates in MQTT_TLS_DIR.",
    )
    tls_dir: Path = setting(
        "MQTT_TLS_DIR",
        "secrets/tls",
        _path,
        "Folder of ca.crt, server.crt/.key and client certificates (git-ignored).",
    )
    tls_require_client_cert: bool = setting(
        "MQTT_TLS_REQUIRE_CLIENT_CERT",
        "false",
        _bool,
        "true: the broker requires a client certificate signed by the CA (on MQTT and "
        "WebSockets alike).",
    )
    tls_client_name: str = setting(
        "MQTT_TLS_CLIENT_NAME",
        "client",
        _file_name,
        "Client certificate (NAME.crt/NAME.key in MQTT_TLS_DIR) our tools present.",
    )
    passwd_file: Path = setting(
        "MOSQUITTO_PASSWD_FILE",
        "secrets/passwd",
        _path,
        "Mosquitto password file (git-ignored).",
    )
    connect_timeout: float = setting(
        "MQTT_CONNECT_TIMEOUT",
        "3",
        _positive_float,
        "Seconds a client waits for the broker's CONNACK.",
    )
    mosquitto_bin: str | None = setting(
        "MOSQUITTO_BIN",
        "",
        _opt_str,
        "Path of the mosquitto binary for the native backend (default: found on PATH).",
    )
    stop_timeout: float = setting(
        "MOSQUITTO_STOP_TIMEOUT",
        "10",
        _stop_seconds,
        "Seconds services.down waits for the broker to save before killing it "
        "(native: plus 1 s per 20 MB of database).",
    )
    log_max_mb: int = setting(
        "MOSQUITTO_LOG_MAX_MB",
        "10",
        _megabytes,
        "Size of the native broker's log beyond which it is rotated to mosquitto.log.1.",
    )
    state_dir: Path = setting(
        "ADELINE_STATE_DIR",
        ".state",
        _path,
        "Runtime state of the native broker: config, pid, data, log (git-ignored).",
    )
    mosquitto_image: str = setting(
        "MOSQUITTO_IMAGE",
        "eclipse-mosquitto:2.0",
        _image,
        "Image of the Docker backend's broker.",
    )
    compose_project: str | None = setting(
        "COMPOSE_PROJECT_NAME",
        "",
        _compose_project,
        "Compose project name (default: stable per checkout).",
    )
    docker_compose: str = setting(
        "DOCKER_COMPOSE",
        "auto",
        _compose_choice,
        "Which Docker Compose the Docker backend runs: v2 (`docker compose`), v1 "
        "(`docker-compose`), or auto (v2 when it runs, else v1).",
    )
    go2rtc_enabled: bool = setting(
        "GO2RTC_ENABLED",
        "false",
        _bool,
        "true: services.up also starts go2rtc (Docker backend).",
    )
    go2rtc_api_url: str = setting(
        "GO2RTC_API_URL",
        "http://localhost:1984",
        _url,
        "go2rtc's HTTP API, shown by services.status and doctor.",
    )
    rtsp_username: str | None = setting(
        "RTSP_SOURCE_USERNAME",
        "",
        _opt_str,
        "Camera user for go2rtc's RTSP source.",
    )
    rtsp_password: str | None = setting(
        "RTSP_SOURCE_PASSWORD",
        "",
        _opt_str,
        "Camera password for go2rtc's RTSP source.",
        secret=True,
    )
    topic_commands: str = setting(
        "TOPIC_COMMANDS",
        "inference/control/commands",
        _topic,
        "Topic the pipeline takes commands on.",
    )
    topic_status: str = setting(
        "TOPIC_STATUS",
        "inference/control/status",
        _topic,
        "Topic of the pipeline's retained status.",
    )
    topic_detections: str = setting(
        "TOPIC_DETECTIONS",
        "inference/data/detections",
        _topic,
        "Topic of the pipeline's detections.",
    )
    topic_metrics: str = setting(
        "TOPIC_METRICS",
        "inference/data/metrics",
        _topic,
        "Topic of the pipeline's metrics.",
    )
    pipeline_config: Path | None = setting(
        "PIPELINE_CONFIG",
        "config/adeline/config.yaml",
        _opt_path,
        "The pipeline's config.yaml: when it exists, its mqtt.broker.host/port and mqtt.topics.* "
        "are the defaults of MQTT_BROKER_HOST/PORT and TOPIC_* (empty: not read).",
    )
    pipeline_module: str = setting(
        "PIPELINE_MODULE",
        "adeline",
        _module,
        "Module pipeline.run starts with `python -m`.",
    )
    pipeline_disabled_models: tuple[str, ...] = setting(
        "PIPELINE_DISABLED_MODELS",
        "PALIGEMMA,FLORENCE2,OWLV2,CORE_MODEL_SAM,CORE_MODEL_SAM2,CORE_MODEL_CLIP,"
        "CORE_MODEL_GAZE,SMOLVLM2,DEPTH_ESTIMATION,MOONDREAM2,CORE_MODEL_TROCR,"
        "CORE_MODEL_GROUNDINGDINO,CORE_MODEL_YOLO_WORLD,CORE_MODEL_PE",
        _names,
        "Models pipeline.run disables: each NAME becomes NAME_ENABLED=False.",
    )
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    pipeline: PipelineConfig | None = field(default=None, repr=False, compare=False)

    @property
    def endpoint(self) -> str:
        scheme = "mqtts" if self.use_tls else "mqtt"
        host = f"[{self.mqtt_host}]" if ":" in self.mqtt_host else self.mqtt_host
        return f"{scheme}://{host}:{self.mqtt_port}"

    @property
    def loopback_only(self) -> bool:
        """Does every listener bind to loopback addresses only?"""
        from .addresses import is_loopback

        return self.bind_address == LOOPBACK or is_loopback(self.bind_address)

    @property
    def websockets_url(self) -> str | None:
        """ws:// or wss:// (TLS on), None with MQTT_WS_PORT=0."""
        if not self.ws_port:
            return None
        scheme = "wss" if self.use_tls else "ws"
        host = f"[{self.mqtt_host}]" if ":" in self.mqtt_host else self.mqtt_host
        return f"{scheme}://{host}:{self.ws_port}"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def client_cert(self) -> Path:
        return self.tls_dir / f"{self.tls_client_name}.crt"

    @property
    def client_key(self) -> Path:
        return self.tls_dir / f"{self.tls_client_name}.key"

    @property
    def checkout_id(self) -> str:
        """A short id stable for this checkout (folder), e.g. for Compose project names."""
        return hashlib.sha256(str(self.root).encode("utf-8")).hexdigest()[:8]


# Each setting is declared once, as a field of `Settings` (its variable, default, parser and
# meaning); the README's configuration table and `.env.example` follow this order.
VARIABLES: tuple[Variable, ...] = tuple(
    Variable(attr=f.name, **f.metadata["setting"])
    for f in dataclasses.fields(Settings)
    if "setting" in f.metadata
)
BY_NAME = {v.name: v for v in VARIABLES}
_PATH_ATTRS = ("tls_dir", "passwd_file", "state_dir", "pipeline_config")


def _read_env_file(path: Path) -> dict[str, str]:
    """`.env`'s values. A line python-dotenv cannot parse is a `ConfigError` naming its line
    number (never its text: it may hold a password). dotenv itself logs a warning per such line
    and skips it: an unclosed quote would drop a setting silently."""
    if not path.is_file():
        return {}
    import io

    # imported here: tasks that never load settings skip them
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Notepad) is not part of a key
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ConfigError(
                f"{path} line {binding.original.line} is not KEY=VALUE (an unclosed quote?): "
                "fix or remove that line"
            )
    values = dotenv_values(stream=io.StringIO(text))
    return {k: v for k, v in values.items() if v is not None}


def env_file_for(root: Path, environ: Mapping[str, str] | None = None) -> Path:
    """The `.env` the loader reads: `ADELINE_ENV_FILE`, else `<root>/.env`."""
    env = os.environ if environ is None else environ
    named = env.get("ADELINE_ENV_FILE")
    return Path(named).expanduser().resolve() if named else root / ".env"


def load(
    root: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate settings.

    `overrides` maps variable names to task-flag values; `None` values mean "flag not given".
    """
    root_path = Path(root if root is not None else os.getcwd()).resolve()
    env = os.environ if environ is None else environ
    env_file = env_file_for(root_path, env)
    from_file = _read_env_file(env_file)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(flags) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}")  # a programming error, not the user's

    def layered(var: Variable) -> tuple[str, str] | None:
        if var.name in flags:
            raw = flags[var.name]
            if isinstance(raw, bool):
                raw = "true" if raw else "false"
            return str(raw), "a task option"
        if var.name in env:
            return env[var.name], "the environment"
        if var.name in from_file:
            return from_file[var.name], _display(env_file, root_path)
        return None

    # A secret's value never appears in a message, even inside ANOTHER variable's value: e.g.
    # MQTT_BROKER_HOST="localhost  (quote left open) swallowing the MQTT_PASSWORD=... line.
    secrets = [found[0] for var in VARIABLES if var.secret and (found := layered(var))]
    try:
        # The pipeline's config sits between the defaults and .env: find and read it first.
        pipeline = _pipeline_config(root_path, layered(BY_NAME["PIPELINE_CONFIG"]))
    except ConfigError as exc:
        exc.variable = exc.variable or "PIPELINE_CONFIG"
        raise _redacted(exc, secrets) from None

    # Every value is checked, so that one run names every bad one; a bad value's default
    # stands in for it, so the rules between variables can still be checked.
    problems: list[ConfigError] = []
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for var in VARIABLES:
        found = layered(var)
        if found is not None:
            raw, source = found
        elif pipeline is not None and var.name in pipeline.values:
            raw = pipeline.values[var.name].raw
            source = pipeline.source(var.name, _display(pipeline.path, root_path))
        else:
            raw, source = var.default, "the default"
        try:
            _refuse_control_characters(var, raw, source)
            try:
                values[var.attr] = var.parse(raw)
            except ValueError as exc:
                shown = "<hidden>" if var.secret else _shown(raw)
                raise ConfigError(
                    f"{var.name}={shown} (from {source}) is not valid: expected {exc}",
                    variable=var.name,
                    source=source,
                ) from None
            sources[var.name] = source
        except ConfigError as exc:
            problems.append(exc)
            values[var.attr] = var.parse(var.default)
            sources[var.name] = "the default"

    for attr in _PATH_ATTRS:
        if values[attr] is None:
            continue
        path = Path(values[attr]).expanduser()
        values[attr] = path if path.is_absolute() else root_path / path
    checks: list[Callable[[], None]] = [
        *(
            functools.partial(_check_folder, name, values[BY_NAME[name].attr], sources[name])
            for name in ("ADELINE_STATE_DIR", "MQTT_TLS_DIR")
        ),
        functools.partial(_check_ports, values),
        functools.partial(_check_credentials, values),
    ]
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        problems = [_redacted(p, secrets) for p in problems]
        try:
            partial: Settings | None = Settings(
                root=root_path, env_file=env_file, sources=sources, pipeline=pipeline, **values
            )
        except Exception:  # defaults that are no valid whole together: nothing to offer
            partial = None
        raise SettingsError(problems, partial)
    return Settings(root=root_path, env_file=env_file, sources=sources, pipeline=pipeline, **values)


class SettingsError(ConfigError):
    """Every problem `settings.load` found in one pass (at least one).

    Its line is the first problem's, with how many more there are; `problems` has them all, and
    `partial` the settings with each bad value replaced by its default (None when even that is
    not a valid whole), for a checklist that still wants to look at the tools.
    """

    def __init__(self, problems: list[ConfigError], partial: Settings | None = None) -> None:
        first = problems[0]
        more = len(problems) - 1
        suffix = f" (and {more} more: `inv doctor` lists them)" if more else ""
        super().__init__(str(first) + suffix, variable=first.variable, source=first.source)
        self.problems = problems
        self.partial = partial


def _redacted(exc: ConfigError, secrets: list[str]) -> ConfigError:
    """`exc`, or a copy of it with every secret value replaced by <hidden>."""
    message = _redact(exc.message, secrets)
    hint = _redact(exc.hint, secrets) if exc.hint else exc.hint
    if (message, hint) == (exc.message, exc.hint):
        return exc
    return ConfigError(message, hint=hint, variable=exc.variable, source=exc.source)


def _check_credentials(values: Mapping[str, Any]) -> None:
    if bool(values["username"]) != bool(values["password"]):
        missing = "MQTT_PASSWORD" if values["username"] else "MQTT_USERNAME"
        raise ConfigError(
            f"{missing} is empty but the other credential is set: set both or neither",
            variable=missing,
        )


def _pipeline_config(root: Path, found: tuple[str, str] | None) -> PipelineConfig | None:
    """The pipeline's config named by PIPELINE_CONFIG (`found`: its value and source, None for
    the default), read; None when PIPELINE_CONFIG is empty."""
    from . import pipeline_config

    var = BY_NAME["PIPELINE_CONFIG"]
    raw, source = found if found is not None else (var.default, "the default")
    _refuse_control_characters(var, raw, source)
    try:
        named = var.parse(raw)
    except ValueError as exc:
        raise ConfigError(
            f"PIPELINE_CONFIG={_shown(raw)} (from {source}) is not valid: expected {exc}"
        ) from None
    if named is None:
        return None
    path = Path(named).expanduser()
    path = path if path.is_absolute() else root / path
    shown = _display(path, root)
    if len(shown) > 200:  # one line, not a 100 kB one
        shown = f"{shown[:200]}... ({len(shown)} characters)"
    return pipeline_config.read(path, shown)


def _redact(message: str, secrets: list[str]) -> str:
    """`message` with every secret value (and its repr'd form) replaced by <hidden>. Values
    shorter than 4 characters are left: replacing them would garble the message, not hide much.
    """
    for secret in sorted(secrets, key=len, reverse=True):
        for form in {secret.strip(), repr(secret)[1:-1].strip()}:
            if len(form) >= 4:
                message = message.replace(form, "<hidden>")
    return message


def _shown(raw: str) -> str:
    """A value for a one-line error: repr'd, and cut when huge (a 100 kB value is not a line).

    Cut before a secret variable's `NAME=` too: a quote left open in `.env` makes the next
    lines (e.g. `MQTT_PASSWORD=...`) part of this value.
    """
    for var in VARIABLES:
        at = raw.find(f"{var.name}=") if var.secret else -1
        if at >= 0:
            return repr(raw[:at]) + f"... (then {var.name}=<hidden>: a quote left open?)"
    raw = _URL_PASSWORD.sub(r"\1***@", raw)  # http://admin:pw@host, however invalid the rest
    return repr(raw) if len(raw) <= 200 else repr(raw[:200]) + f"... ({len(raw)} characters)"


# The password of a URL's user info: `//user:PASSWORD@`.
_URL_PASSWORD = re.compile(r"(//[^/@:\s]*:)[^@/\s]*@")


def _refuse_control_characters(var: Variable, raw: str, source: str) -> None:
    bad = control_character(raw)
    if bad is None:
        return
    shown = "<hidden>" if var.secret else _shown(raw)
    try:
        var.parse(raw)
        expected = "no setting may hold a line break, NUL or other control character"
    except ValueError as exc:  # say what is expected too, as for any other bad value
        expected = f"expected {exc}"
    raise ConfigError(
        f"{var.name}={shown} (from {source}) contains a control character ({bad}): "
        f"remove it ({expected})",
        variable=var.name,
        source=source,
    )


def _check_folder(name: str, path: Path, source: str) -> None:
    """A folder setting must be a folder, or creatable (`files.folder_problem`)."""
    from .files import folder_problem

    problem = folder_problem(path)
    if problem:
        shown = str(path) if len(str(path)) <= 200 else str(path)[:200] + "..."
        raise ConfigError(
            f"{name}={shown!r} (from {source}) is not valid: it {problem}, not a folder",
            variable=name,
            source=source,
        )


def _check_ports(values: Mapping[str, Any]) -> None:
    ports = [
        ("MQTT_BROKER_PORT", values["mqtt_port"]),
        ("MQTT_WS_PORT", values["ws_port"]),
        ("MQTT_LOCAL_PORT", values["local_port"]),
    ]
    used = [(name, port) for name, port in ports if port]
    for i, (name, port) in enumerate(used):
        for other, other_port in used[:i]:
            if port == other_port:
                raise ConfigError(
                    f"{name} and {other} are both {port}: give each listener its own port",
                    variable=name,
                )
    if values["local_port"] and not values["use_tls"]:
        raise ConfigError(
            "MQTT_LOCAL_PORT is set but MQTT_USE_TLS is false: the MQTT port already speaks "
            "plaintext, so leave MQTT_LOCAL_PORT empty (it is a loopback door beside TLS)",
            variable="MQTT_LOCAL_PORT",
        )


def check_exposure(settings: Settings) -> None:
    """Binding beyond loopback with anonymous access needs MQTT_EXPOSE_ANONYMOUS=true (exit 2).

    Checked by `services.up` (and reported by doctor), not by `load()`: the tasks that fix it,
    such as `auth.add-user`, must still run.
    """
    if settings.allow_anonymous and not settings.loopback_only and not settings.expose_anonymous:
        raise ConfigError(
            f"MQTT_BIND_ADDRESS={settings.bind_address} with MQTT_ALLOW_ANONYMOUS=true would let "
            "anyone on the network read the detections and command the pipeline: set "
            "MQTT_ALLOW_ANONYMOUS=false (`inv auth.add-user NAME`), bind to loopback, or accept "
            "it with MQTT_EXPOSE_ANONYMOUS=true"
        )


def exposure_warning(settings: Settings) -> str | None:
    """The warning an accepted anonymous broker beyond loopback earns at every look."""
    if settings.allow_anonymous and not settings.loopback_only:
        return (
            f"the broker is anonymous and listens on {settings.bind_address} "
            "(MQTT_EXPOSE_ANONYMOUS=true): anyone who reaches this machine can read the "
            "detections and command the pipeline"
        )
    return None


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
