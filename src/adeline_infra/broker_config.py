"""mosquitto.conf from settings: one renderer for both backends, and the listeners it makes.

The native backend writes it with host paths and binds each listener to MQTT_BIND_ADDRESS; the
Docker backend with the paths the files have inside the container, listening on the container's
interfaces (Compose publishes the ports on MQTT_BIND_ADDRESS). Security follows the settings:
`MQTT_ALLOW_ANONYMOUS=false` adds the password file (for every listener), `MQTT_USE_TLS=true`
makes the MQTT and WebSockets listeners speak TLS with the same certificates and client
certificate requirement; `MQTT_LOCAL_PORT` adds a plaintext MQTT listener on loopback only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from .addresses import LOOPBACK_ADDRESSES, is_loopback
from .errors import ConfigError

if TYPE_CHECKING:
    from .settings import Settings


MAX_PACKET_BYTES = 10 * 1024 * 1024  # the largest MQTT packet the broker accepts


@dataclass(frozen=True)
class BrokerPaths:
    """Where the broker finds its files (host paths natively, container paths in Docker)."""

    data_dir: PurePath
    passwd_file: PurePath | None = None
    ca_file: PurePath | None = None
    cert_file: PurePath | None = None
    key_file: PurePath | None = None


@dataclass(frozen=True)
class Listener:
    """One door of the broker as seen from this machine: where, what protocol, how guarded."""

    role: str  # "mqtt", "websockets" or "local"
    variable: str  # the setting that names its port
    protocol: str  # "mqtt" or "websockets"
    port: int  # on the host
    addresses: tuple[str, ...]  # bound on the host; "::" means every interface
    tls: bool
    client_cert: bool
    anonymous: bool

    @property
    def scheme(self) -> str:
        base = "ws" if self.protocol == "websockets" else "mqtt"
        return base + ("s" if self.tls else "")

    @property
    def loopback_only(self) -> bool:
        return all(is_loopback(a) for a in self.addresses)

    def describe(self) -> str:
        """`mqtts://127.0.0.1:8883, mqtts://[::1]:8883 (TLS, password, client certificate)`."""
        auth = "anonymous allowed" if self.anonymous else "password"
        parts = ["TLS" if self.tls else "plaintext", auth]
        if self.tls:
            parts.append("client certificate required" if self.client_cert else "no client cert")
        where = ", ".join(
            f"{self.scheme}://{f'[{a}]' if ':' in a else a}:{self.port}" for a in self.addresses
        )
        return f"{where} ({', '.join(parts)})"


@functools.lru_cache(maxsize=1)
def ipv6_loopback() -> bool:
    """Does this OS have IPv6 loopback (::1)? Bound to see, since `socket.has_ipv6` only says
    Python was built with IPv6, not that the kernel has it enabled."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def bind_addresses(settings: Settings) -> tuple[str, ...]:
    """The host addresses MQTT_BIND_ADDRESS stands for: loopback is 127.0.0.1 and ::1 where the
    OS has it, for both backends (Docker publishes on each, see `loopback6_override`)."""
    from .settings import LOOPBACK

    if settings.bind_address == LOOPBACK:
        return loopback_addresses()
    return (settings.bind_address,)


def loopback_addresses() -> tuple[str, ...]:
    return LOOPBACK_ADDRESSES if ipv6_loopback() else LOOPBACK_ADDRESSES[:1]


def listeners(settings: Settings) -> list[Listener]:
    """Every listener the settings ask for, as bound on this machine (the Docker backend
    publishes the same addresses)."""
    anonymous = settings.allow_anonymous
    tls, cert = settings.use_tls, settings.use_tls and settings.tls_require_client_cert
    addresses = bind_addresses(settings)
    found = [
        Listener(
            "mqtt", "MQTT_BROKER_PORT", "mqtt", settings.mqtt_port, addresses, tls, cert, anonymous
        )
    ]
    if settings.ws_port:
        found.append(
            Listener(
                "websockets",
                "MQTT_WS_PORT",
                "websockets",
                settings.ws_port,
                addresses,
                tls,
                cert,
                anonymous,
            )
        )
    if settings.use_tls and settings.local_port:
        found.append(
            Listener(
                "local",
                "MQTT_LOCAL_PORT",
                "mqtt",
                settings.local_port,
                loopback_addresses(),
                False,
                False,
                anonymous,
            )
        )
    return found


def listener_problems(settings: Settings) -> list[tuple[Listener, str]]:
    """What makes a listener unsafe, as (listener, why): doctor's failing rows."""
    problems: list[tuple[Listener, str]] = []
    found = listeners(settings)
    by_role = {x.role: x for x in found}
    for listener in found:
        exposed = not listener.loopback_only
        if exposed and listener.anonymous and not settings.expose_anonymous:
            problems.append(
                (listener, "anonymous beyond loopback without MQTT_EXPOSE_ANONYMOUS=true")
            )
        if exposed and not listener.tls and not listener.anonymous:
            problems.append(
                (listener, "takes passwords in plaintext beyond loopback: set MQTT_USE_TLS=true")
            )
    ws, mqtt = by_role.get("websockets"), by_role["mqtt"]
    if ws is not None and ((mqtt.tls and not ws.tls) or (mqtt.client_cert and not ws.client_cert)):
        problems.append((ws, "weaker than the MQTT listener (no TLS or no client certificate)"))
    return problems


def required_files(settings: Settings) -> dict[str, Path]:
    """The secret files the settings ask the broker to use, by role. Checked before a start."""
    files: dict[str, Path] = {}
    if not settings.allow_anonymous:
        files["passwd"] = settings.passwd_file
    if settings.use_tls:
        files["ca"] = settings.ca_file
        files["cert"] = settings.tls_dir / "server.crt"
        files["key"] = settings.tls_dir / "server.key"
    return files


def secrets_digest(files: Mapping[str, Path]) -> str:
    """A hash of the secret files' contents (by role): a new password or certificate means the
    running broker is stale, so `services.up` asks for a restart instead of failing to log in."""
    digest = hashlib.sha256()
    for role, path in sorted(files.items()):
        digest.update(role.encode("utf-8") + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"missing")
    return digest.hexdigest()


def check_required_files(settings: Settings) -> dict[str, Path]:
    """Raise ConfigError (exit 2) naming the command that creates the first missing file.

    Also checks that our own clients will be let in (`check_credentials`): a broker that
    refuses the readiness probe's login would start and never be ready.
    """
    files = required_files(settings)
    for role, path in files.items():
        if path.is_file():
            continue
        if role == "passwd":
            raise ConfigError(
                f"MQTT_ALLOW_ANONYMOUS is false but the password file {path} does not exist",
                hint="add a user with `inv auth.add-user NAME`",
            )
        raise ConfigError(
            f"MQTT_USE_TLS is true but {path} does not exist",
            hint="create the certificates with `inv tls.certs`",
        )
    check_credentials(settings)
    return files


def check_credentials(settings: Settings) -> None:
    """With anonymous access off, MQTT_USERNAME/MQTT_PASSWORD must log in: check the file.

    The same check the broker makes (PBKDF2 or legacy SHA512), done before it starts, so a
    wrong .env fails in one line naming the fix instead of as a refused readiness probe.
    """
    if settings.allow_anonymous:
        return
    from . import passwd

    path = settings.passwd_file
    user = settings.username
    if not user or not settings.password:
        raise ConfigError(
            "MQTT_ALLOW_ANONYMOUS is false but MQTT_USERNAME/MQTT_PASSWORD are empty, so no "
            "client (not even the readiness check) could log in",
            hint="set them in .env to a user of the password file (`inv auth.add-user NAME`)",
        )
    hashed = passwd.PasswordFile.load(path).hash_of(user)
    if hashed is None:
        raise ConfigError(
            f"MQTT_USERNAME={user} is not a user of the password file {path}",
            hint=f"add it with `inv auth.add-user {user}`",
        )
    if passwd.scheme_of(hashed) != "unknown" and not passwd.verify_password(
        hashed, settings.password
    ):
        raise ConfigError(
            f"MQTT_PASSWORD is not the password of user {user} in {path}",
            hint=f"fix .env, or set a new password with `inv auth.add-user {user}`",
        )


def tighten_modes(files: dict[str, Path]) -> list[Path]:
    """Make our secret files (password file, TLS key) owner-only, as mosquitto 2.0.16+ wants.

    Only files we own, only on POSIX; returns the files changed. Certificates stay readable.
    """
    import os
    import sys

    changed: list[Path] = []
    if sys.platform == "win32":  # no POSIX modes there (see README: secrets on Windows)
        return changed
    for role in ("passwd", "key"):
        path = files.get(role)
        if path is None:
            continue
        try:
            st = path.stat()
            if st.st_uid == os.geteuid() and st.st_mode & 0o077:
                path.chmod(0o600)
                changed.append(path)
        except OSError:
            continue
    return changed


def _p(path: PurePath) -> str:
    # mosquitto reads forward slashes on every OS
    return path.as_posix()


_LINE_BREAKS = (
    "\n",
    "\r",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
)


def _check_lines(lines: Sequence[str]) -> None:
    """The second line of defence after settings' validation: a value holding a line break
    would add its own configuration lines (e.g. `allow_anonymous true`), so refuse it."""
    for line in lines:
        if any(mark in line for mark in _LINE_BREAKS):
            shown = line.split(" ", 1)[0] or "a value"
            raise ConfigError(
                f"refusing to write mosquitto.conf: the {shown} line holds a line break or NUL "
                f"({line[:60]!r}): remove it from the setting it came from"
            )


def _listener_lines(
    port: int, address: str | None, protocol: str, tls_lines: Sequence[str]
) -> list[str]:
    """One `listener` block. `address` None or "::": every interface (both IP families).

    mosquitto 2.0.11 ignores the address of a WebSockets listener (upstream #2085, fixed in
    2.0.12) unless `socket_domain` is given too, so it always is: seen with psutil here.
    """
    if address in (None, "::"):
        lines = [f"listener {port}"]
    else:
        lines = [f"listener {port} {address}"]
        if protocol == "websockets":
            lines.append(f"socket_domain {'ipv6' if ':' in address else 'ipv4'}")
    return [*lines, f"protocol {protocol}", *tls_lines, ""]


def render(
    settings: Settings,
    paths: BrokerPaths,
    *,
    port: int,
    ws_port: int,
    local_port: int | None = None,
    addresses: Sequence[str] | None = None,
    run_as: str | None = None,
) -> str:
    """The whole mosquitto.conf.

    `port`/`ws_port`/`local_port` are the ports inside the broker's network (`ws_port` is
    ignored when MQTT_WS_PORT is 0, `local_port` unless TLS is on and MQTT_LOCAL_PORT set).
    `addresses` are what the MQTT and WebSockets listeners bind to (None: every interface, as
    in a container); the local listener binds to loopback only (every interface when
    `addresses` is None: the container's port is published on loopback).
    """
    lines = [
        "# Generated by adeline-infra from your settings (.env). Edits here are overwritten:",
        "# change .env instead and run `inv services.restart`.",
    ]
    if run_as:
        lines.append(f"user {run_as}")
    # No `per_listener_settings`: `false` is the default of 2.0 and 2.1, and 2.1 logs a
    # deprecation warning at every start when the option is there at all.
    lines += [
        f"allow_anonymous {'true' if settings.allow_anonymous else 'false'}",
    ]
    if not settings.allow_anonymous:
        if paths.passwd_file is None:
            raise ConfigError("MQTT_ALLOW_ANONYMOUS is false but no password file was given")
        lines.append(f"password_file {_p(paths.passwd_file)}")
    lines += [
        "",
        "persistence true",
        f"persistence_location {_p(paths.data_dir).rstrip('/')}/",
        "autosave_interval 10",
        "",
        # stderr, not stdout: stdout without a TTY is block-buffered and shows nothing live.
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        # explicit: 2.1's default is 2,000,000 bytes (2.0's 256 MB); frames and payloads that
        # pass through the pipeline may be larger than 2 MB
        f"max_packet_size {MAX_PACKET_BYTES}",
        "sys_interval 10",
        # small packets at once: without it a SUBSCRIBE's retained messages wait ~40 ms for
        # the client's delayed ACK (monitor.status went from ~45 ms to ~4 ms)
        "set_tcp_nodelay true",
        # A subscriber that falls behind a burst (monitor.data under 50,000 QoS 0 messages) would
        # lose all but 1000 queued messages (the default); messages are stored once and queued
        # by reference, so a deeper queue costs little memory on a development broker.
        "max_queued_messages 100000",
        "",
    ]
    tls_lines: list[str] = []
    if settings.use_tls:
        if not (paths.ca_file and paths.cert_file and paths.key_file):
            raise ConfigError("MQTT_USE_TLS is true but no certificate paths were given")
        tls_lines = [
            f"cafile {_p(paths.ca_file)}",
            f"certfile {_p(paths.cert_file)}",
            f"keyfile {_p(paths.key_file)}",
            f"require_certificate {'true' if settings.tls_require_client_cert else 'false'}",
        ]
    bound: Sequence[str | None] = list(addresses) if addresses is not None else [None]
    for address in bound:
        lines += _listener_lines(port, address, "mqtt", tls_lines)
    if settings.ws_port:
        # The same certificates and client-certificate requirement: no weaker side door.
        for address in bound:
            lines += _listener_lines(ws_port, address, "websockets", tls_lines)
    if settings.use_tls and settings.local_port and local_port:
        local: Sequence[str | None] = loopback_addresses() if addresses is not None else [None]
        lines.append("# MQTT_LOCAL_PORT: plaintext, loopback only, same login")
        for address in local:
            lines += _listener_lines(local_port, address, "mqtt", [])
    _check_lines(lines)
    return "\n".join(lines)


def tls_listeners(settings: Settings) -> list[Listener]:
    """Our broker's TLS listeners, which `tls.check` covers; none for an external broker (its
    listeners are its owner's: only MQTT_BROKER_HOST is checked against the certificate)."""
    if settings.backend == "external":
        return []
    return [x for x in listeners(settings) if x.tls]


def tls_listener_problems(settings: Settings) -> list[str]:
    """What `tls.check` finds wrong with the TLS listeners beyond the certificate files.

    - A listener bound to one address of this machine must be named by server.crt, since
      clients elsewhere reach it by that address.
    - Every TLS listener that accepts connections now must complete a TLS handshake and present
      server.crt: a plaintext WebSockets listener beside TLS, or a broker still using an old
      certificate, is a problem. A listener nothing answers on is not (the broker is down).
    """
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from .certs import load_cert

    cert = load_cert(settings.tls_dir / "server.crt")
    server_der = cert.public_bytes(Encoding.DER)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        named_ips = set(ext.value.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        named_ips = set()
    problems: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # only "does it speak TLS, with which certificate"
    context.verify_mode = ssl.CERT_NONE
    if settings.client_cert.is_file() and settings.client_key.is_file():
        with contextlib.suppress(ssl.SSLError, OSError):  # tls.check reports a bad pair itself
            context.load_cert_chain(str(settings.client_cert), str(settings.client_key))
    for listener in (x for x in listeners(settings) if x.tls):
        where = f"the {listener.scheme} listener on port {listener.port}"
        ip = ipaddress.ip_address(listener.addresses[0])
        if not (ip.is_unspecified or ip.is_loopback) and ip not in named_ips:
            problems.append(
                f"server.crt does not name {ip}, where {where} binds: "
                f"`inv tls.certs --hosts ...` with {ip}"
            )
        host = ("127.0.0.1" if ip.version == 4 else "::1") if ip.is_unspecified else str(ip)
        try:
            raw = socket.create_connection((host, listener.port), timeout=2)
        except OSError:
            continue  # nothing answers: the broker is not running
        try:
            with raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
                presented = tls.getpeercert(binary_form=True)
        except (ssl.SSLError, OSError) as exc:
            problems.append(
                f"{where} does not complete a TLS handshake ({type(exc).__name__}): is it "
                "a broker started before MQTT_USE_TLS=true? `inv services.restart`"
            )
            continue
        if presented != server_der:
            problems.append(
                f"{where} presents another certificate than server.crt: the broker predates "
                "the last `inv tls.certs`, run `inv services.restart`"
            )
    return problems


NO_SPACE = "no space left on the device"


def save_failure_hint(problem: str, data: PurePath, log: PurePath) -> str:
    """What to do about a failed save: free space only when the disk was full."""
    after = "then `inv services.up` brings back what was saved before"
    if problem.startswith(NO_SPACE):
        return f"free some space, {after}"
    return f"check that the broker can write to {data} (see {log}), {after}"


def save_failure(log_text: str) -> str | None:
    """What went wrong with mosquitto's save at shutdown, from its log since the stop; None if
    nothing did. mosquitto 2.0 logs "Error: No space left on device." after "Saving ..." .

    Both backends read it: the native broker's log file, the container's log under Docker.
    """
    lines = [line for line in log_text.splitlines() if "Error" in line or "error" in line]
    for line in lines:
        if "No space left" in line:
            return NO_SPACE
    for line in lines:
        if "sav" in line.lower() or "persist" in line.lower() or "database" in line.lower():
            return line.split(": ", 1)[-1].strip()
    return None


# --- the broker that runs, as it is ------------------------------------------------------


@dataclass(frozen=True)
class ConfiguredListener:
    """A `listener` block of a rendered mosquitto.conf. `address` None: every interface."""

    port: int
    address: str | None
    protocol: str
    tls: bool

    def shown(self) -> str:
        where = "every interface" if self.address is None else self.address
        where = f"[{where}]" if ":" in where else where
        return f"{self.protocol}{'+TLS' if self.tls else ''} {where}:{self.port}"


@dataclass(frozen=True)
class ParsedConfig:
    anonymous: bool
    listeners: tuple[ConfiguredListener, ...]


def parse_config(text: str) -> ParsedConfig:
    """What a mosquitto.conf this project rendered says about the broker's surface."""
    anonymous = False
    found: list[ConfiguredListener] = []
    block: dict[str, object] | None = None

    def close() -> None:
        if block is not None:
            found.append(
                ConfiguredListener(
                    int(str(block["port"])),
                    block["address"] if isinstance(block["address"], str) else None,
                    str(block.get("protocol", "mqtt")),
                    bool(block.get("tls")),
                )
            )

    for raw in text.splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        key = words[0]
        if key == "allow_anonymous" and len(words) > 1:
            anonymous = words[1] == "true"
        elif key == "listener" and len(words) > 1 and words[1].isdigit():
            close()
            address = words[2] if len(words) > 2 and words[2] != "::" else None
            block = {"port": words[1], "address": address}
        elif block is not None and key == "protocol" and len(words) > 1:
            block["protocol"] = words[1]
        elif block is not None and key in ("certfile", "cafile"):
            block["tls"] = True
    close()
    return ParsedConfig(anonymous, tuple(found))


@dataclass(frozen=True)
class RunningSurface:
    """The running broker's surface: the configuration it was started with (its own file) and
    the sockets it holds (read from the OS, or published by the engine for Docker)."""

    config_file: str
    config: ParsedConfig
    sockets: tuple[tuple[str, int], ...]  # (address, port) it listens on
    differences: tuple[str, ...]  # how it differs from what the current settings would start

    @property
    def addresses(self) -> list[str]:
        return sorted({a for a, _ in self.sockets}, key=lambda a: (":" in a, a))

    @property
    def exposed(self) -> list[str]:
        """`address:port` beyond loopback that it listens on."""
        return [
            f"[{a}]:{p}" if ":" in a else f"{a}:{p}" for a, p in self.sockets if not is_loopback(a)
        ]

    @property
    def exposed_anonymous(self) -> bool:
        return self.config.anonymous and bool(self.exposed)

    def exposure(self) -> str | None:
        """The warning an anonymous broker beyond loopback earns, from what it holds."""
        if not self.exposed_anonymous:
            return None
        return (
            f"the running broker is anonymous and listens on {', '.join(self.exposed)}: anyone "
            "who reaches this machine can read the detections and command the pipeline"
        )

    def listens(self) -> str:
        shown = [f"[{a}]:{p}" if ":" in a else f"{a}:{p}" for a, p in self.sockets]
        return ", ".join(shown) or "no socket found"

    def describe(self) -> str:
        login = "anonymous allowed" if self.config.anonymous else "password"
        return f"listens on {self.listens()} ({login}; config {self.config_file})"


def sockets_of(config: ParsedConfig) -> tuple[tuple[str, int], ...]:
    """The sockets a config's listeners make, when the OS cannot be asked."""
    found: list[tuple[str, int]] = []
    for x in config.listeners:
        found += (
            [("0.0.0.0", x.port), ("::", x.port)] if x.address is None else [(x.address, x.port)]
        )
    return tuple(dict.fromkeys(found))


def config_differences(running: ParsedConfig, wanted: ParsedConfig) -> list[str]:
    """How the running broker's configuration differs from the current settings', named."""
    differs = []
    if running.anonymous != wanted.anonymous:
        now, want = (
            ("anonymous", "a password") if running.anonymous else ("a password", "anonymous")
        )
        differs.append(f"it takes {now} (the settings: {want})")
    ran = {x.shown() for x in running.listeners}
    new = {x.shown() for x in wanted.listeners}
    if ran != new:
        only_ran, only_new = sorted(ran - new), sorted(new - ran)
        differs.append(
            f"it listens on {', '.join(only_ran) or 'nothing more'} (the settings: "
            f"{', '.join(only_new) or 'nothing more'})"
        )
    return differs


def running_surface(
    config_file: str,
    text: str,
    sockets: Sequence[tuple[str, int]] | None,
    wanted_text: str | None,
    wanted_sockets: Sequence[tuple[str, int]] | None = None,
) -> RunningSurface:
    """The surface from the running broker's config text and the sockets it holds (None when
    they could not be read: then the config's listeners stand for them). `wanted_sockets`: where
    the settings would publish it (Docker, whose broker listens everywhere in its container)."""
    config = parse_config(text)
    held = tuple(dict.fromkeys(sockets)) if sockets is not None else sockets_of(config)
    differs = config_differences(config, parse_config(wanted_text)) if wanted_text else []
    if wanted_sockets is not None and set(held) != set(wanted_sockets):
        shown = RunningSurface("", config, tuple(sorted(set(held) - set(wanted_sockets))), ())
        want = RunningSurface("", config, tuple(sorted(set(wanted_sockets) - set(held))), ())
        differs.append(f"it is published on {shown.listens()} (the settings: {want.listens()})")
    return RunningSurface(config_file, config, held, tuple(differs))


def published_sockets(settings: Settings) -> list[tuple[str, int]]:
    """Where the Docker backend publishes the settings' listeners on the host (`::` is both
    0.0.0.0 and [::], as `compose.publish_address` and the IPv6 override make it)."""
    found: list[tuple[str, int]] = []
    for listener in listeners(settings):
        for address in listener.addresses:
            both = ["0.0.0.0", "::"] if ipv6_loopback() else ["0.0.0.0"]
            found += [(a, listener.port) for a in (both if address == "::" else [address])]
    return found


def reaches(host: str, port: int, surface: RunningSurface) -> bool:
    """Does `host:port` lead to one of the sockets the broker holds? (False only when the host's
    addresses are known and none is among them; a name that does not resolve here is not judged.)"""
    bound = {a for a, p in surface.sockets if p == port}
    if bound & {"0.0.0.0", "::"}:
        return True
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return True
    found = {str(a).split("%")[0] for a in found}
    return bool(found & bound)
