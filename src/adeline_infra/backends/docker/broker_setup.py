"""What the broker's container is given: its mosquitto.conf, the secure override, a fingerprint.

- The broker's mosquitto.conf is rendered from settings (the same renderer as the native
  backend, with the paths files have inside the container) into `ADELINE_STATE_DIR/docker/`,
  and the compose file mounts it through `MOSQUITTO_CONFIG`.
- With a password file or TLS, an override beside it mounts their folders and copies them in
  for the broker's user (`secure_override`).
- Loopback is ::1 too where the OS has it: an override publishes the same ports on [::1]
  (`loopback6_override`).
- The fingerprint (a container label) says which settings the running broker was started with.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ... import broker_config
from ...errors import ConfigError
from ...files import write_atomic
from .compose import COMPOSE_FILE, SERVICE, publish_address

if TYPE_CHECKING:
    from ...settings import Settings

FINGERPRINT_LABEL = "org.adeline.config-sha"
SECURE_OVERRIDE = "compose.secure.yml"
LOOPBACK6_OVERRIDE = "compose.loopback6.yml"

# Where things live inside the container (the image's layout, as in eclipse-mosquitto).
CONTAINER_PORT = 1883
CONTAINER_WS_PORT = 9001
CONTAINER_LOCAL_PORT = 1884  # MQTT_LOCAL_PORT's listener, published on loopback only
CONTAINER_DATA = PurePosixPath("/mosquitto/data")
CONTAINER_CONFIG = PurePosixPath("/mosquitto/config/mosquitto.conf")
# The secure broker: the host folders of the password file and of the TLS files are mounted
# read-only under STAGING; at every container start the files the broker needs are copied into
# CONTAINER_SECRETS (a tmpfs: never on the engine's disk) and given to the broker's user, since
# the host files are 0600 and owned by the host user (see `secure_override`).
CONTAINER_SECRETS = PurePosixPath("/mosquitto/secrets")
STAGING = PurePosixPath("/run/adeline")
BROKER_UID = 1883  # the `mosquitto` user of eclipse-mosquitto images (and of our CI image)


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
    return broker_config.render(
        settings,
        paths,
        port=CONTAINER_PORT,
        ws_port=CONTAINER_WS_PORT,
        local_port=CONTAINER_LOCAL_PORT,
    )


def check_local_door(settings: Settings) -> None:
    """Under Docker, MQTT_LOCAL_PORT needs the login: ConfigError (exit 2) when anonymous.

    Inside the container the broker cannot bind that plaintext door to loopback (the published
    port is forwarded to the container's address), so other containers could reach it where
    the engine enforces no network isolation (`dockerd --iptables=false`); the compose file
    keeps the broker on a network of its own with inter-container traffic off where it does.
    """
    if settings.use_tls and settings.local_port and settings.allow_anonymous:
        raise ConfigError(
            "MQTT_LOCAL_PORT with MQTT_ALLOW_ANONYMOUS=true under Docker would open a plaintext "
            "door without a login that other containers may reach: set MQTT_ALLOW_ANONYMOUS=false "
            "(`inv auth.add-user NAME`) or leave MQTT_LOCAL_PORT empty",
            variable="MQTT_LOCAL_PORT",
        )


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
    service: dict[str, Any] = {
        "volumes": [
            {"type": "bind", "source": str(host), "target": str(target), "read_only": True}
            for target, host in sorted(mounts.items())
        ],
        "tmpfs": [f"{CONTAINER_SECRETS}:mode=0700"],
        "command": ["sh", "-c", _compose_literal(command)],
        "healthcheck": {"test": ["CMD", "sh", "-c", _compose_literal(check)]},
    }
    if settings.use_tls and settings.local_port:
        # The plaintext door is for this machine only, whatever MQTT_BIND_ADDRESS says.
        service["ports"] = [f"127.0.0.1:{settings.local_port}:{CONTAINER_LOCAL_PORT}"]
    return {"services": {SERVICE: service}}


def loopback6_override(settings: Settings) -> dict[str, Any] | None:
    """The ports published on IPv6 as well, where the OS has IPv6 loopback; None otherwise.

    MQTT and WebSockets on [::1] when MQTT_BIND_ADDRESS is loopback, and on [::] when it is `::`
    (every interface: `publish_address` gives 0.0.0.0, this the IPv6 side); MQTT_LOCAL_PORT on
    [::1] always (it is for this machine only). The engine's userland proxy binds [::1] with or
    without IPv6 set up in the engine (seen with engine 20.10, `--ipv6=false`: a client of [::1]
    reaches the broker, one of 127.0.0.2 does not). Without ::1 the entries are left out: the
    proxy could not bind.
    """
    from ...settings import LOOPBACK

    if not broker_config.ipv6_loopback():
        return None
    ports = []
    if settings.bind_address in (LOOPBACK, "::"):
        six = "::1" if settings.bind_address == LOOPBACK else "::"
        ports.append(f"[{six}]:{settings.mqtt_port}:{CONTAINER_PORT}")
        if settings.ws_port:
            ports.append(f"[{six}]:{settings.ws_port}:{CONTAINER_WS_PORT}")
    if settings.use_tls and settings.local_port:
        ports.append(f"[::1]:{settings.local_port}:{CONTAINER_LOCAL_PORT}")
    return {"services": {SERVICE: {"ports": ports}}} if ports else None


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
            publish_address(settings),
            json.dumps(override, sort_keys=True) if override else "",
            json.dumps(loopback6_override(settings), sort_keys=True),
            broker_config.secrets_digest(_secret_sources(settings)) if override else "",
            _compose_text(settings),
        ]
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _compose_text(settings: Settings) -> str:
    """The compose file itself: `up --no-recreate` keeps a container made from an older one
    (e.g. on the project's default network instead of the broker's own), so a change there
    must say `services.restart` like any other."""
    try:
        return (settings.root / COMPOSE_FILE).read_text("utf-8")
    except OSError:
        return ""


def write_if_changed(path: Path, text: str) -> None:
    """Atomically, readable by the container (no secrets: paths only); skipped when unchanged."""
    try:
        if path.read_text("utf-8") == text:
            return
    except OSError:
        pass
    write_atomic(path, text, mode=0o644)
