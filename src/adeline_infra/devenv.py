"""The developer's environment: `.env` from `.env.example`, and how to connect."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .files import write_atomic
from .settings import env_file_for

if TYPE_CHECKING:
    from .settings import Settings


def ensure_env_file(root: Path) -> Path | None:
    """Create the settings file (`.env`, or `ADELINE_ENV_FILE`) from `.env.example` when it is
    missing. Returns the path when created. Standard library only: bootstrap calls it first."""
    env, example = env_file_for(root), root / ".env.example"
    if env.exists() or not example.is_file():
        return None
    write_atomic(env, example.read_bytes(), mode=0o600)  # it will hold credentials
    return env


def connection_help(settings: Settings) -> list[str]:
    lines = [
        "",
        f"  MQTT        {settings.endpoint}",
        f"  WebSockets  {settings.websockets_url or 'off (MQTT_WS_PORT=0)'}",
    ]
    if settings.use_tls and settings.local_port:
        lines.append(f"  local       mqtt://127.0.0.1:{settings.local_port} (plaintext, loopback)")
    if settings.username:
        lines.append(f"  user        {settings.username} (password in .env)")
    if settings.use_tls:
        lines.append(f"  CA          {settings.ca_file}")
    lines += [
        "",
        "  inv services.status    is it up and answering?",
        "  inv services.logs -f   follow the broker's log",
        "  inv --list             every task",
    ]
    if shutil.which("mosquitto_sub"):
        # "#", not '#': cmd.exe keeps single quotes, PowerShell and sh need the quotes
        lines.append(f'  mosquitto_sub -h {settings.mqtt_host} -p {settings.mqtt_port} -t "#" -v')
    return lines


def pipeline_disagreements(settings: Settings) -> list[str]:
    """Warnings for `inv dev` when the pipeline's config and `.env` (or the environment) name
    another broker or topics: the pipeline reads only its config for those."""
    from .pipeline import disagreements

    found = disagreements(settings)
    if not found:
        return []
    return [f"warning: {d.line()}" for d in found] + [
        "warning: the pipeline reads only its config for these: set them in one place "
        "(`inv doctor` shows where each value comes from)"
    ]
