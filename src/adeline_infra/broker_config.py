"""mosquitto.conf from settings: one renderer for both backends.

The native backend writes it with host paths; the Docker backend with the paths the files have
inside the container. Security follows the settings: `MQTT_ALLOW_ANONYMOUS=false` adds the
password file, `MQTT_USE_TLS=true` makes the MQTT listener speak TLS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class BrokerPaths:
    """Where the broker finds its files (host paths natively, container paths in Docker)."""

    data_dir: PurePath
    passwd_file: PurePath | None = None
    ca_file: PurePath | None = None
    cert_file: PurePath | None = None
    key_file: PurePath | None = None


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


def render(
    settings: Settings,
    paths: BrokerPaths,
    *,
    port: int,
    ws_port: int,
    run_as: str | None = None,
) -> str:
    """The whole mosquitto.conf. `port`/`ws_port` are the ports inside the broker's network."""
    lines = [
        "# Generated by adeline-infra from your settings (.env). Edits here are overwritten:",
        "# change .env instead and run `inv services.restart`.",
    ]
    if run_as:
        lines.append(f"user {run_as}")
    lines += [
        "per_listener_settings false",
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
        "max_packet_size 10485760",
        "sys_interval 10",
        # small packets at once: without it a SUBSCRIBE's retained messages wait ~40 ms for
        # the client's delayed ACK (monitor.status went from ~45 ms to ~4 ms)
        "set_tcp_nodelay true",
        # A subscriber that falls behind a burst (monitor.data under 50,000 QoS 0 messages) would
        # lose all but 1000 queued messages (the default); messages are stored once and queued
        # by reference, so a deeper queue costs little memory on a development broker.
        "max_queued_messages 100000",
        "",
        f"listener {port}",
        "protocol mqtt",
    ]
    if settings.use_tls:
        if not (paths.ca_file and paths.cert_file and paths.key_file):
            raise ConfigError("MQTT_USE_TLS is true but no certificate paths were given")
        lines += [
            f"cafile {_p(paths.ca_file)}",
            f"certfile {_p(paths.cert_file)}",
            f"keyfile {_p(paths.key_file)}",
            f"require_certificate {'true' if settings.tls_require_client_cert else 'false'}",
        ]
    lines += ["", f"listener {ws_port}", "protocol websockets", ""]
    return "\n".join(lines)
