"""`inv dev` and Ctrl+C on the long-running tasks, as a user meets them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adeline_infra import mqtt

from ..conftest import settings_from
from ..helpers import ROOT, inv, running_task

pytestmark = pytest.mark.integration


def test_dev_creates_the_env_file_and_brings_the_broker_up(
    env: dict[str, str], tmp_path: Path
) -> None:
    env_file = tmp_path / "fresh" / ".env"
    env_file.parent.mkdir()
    env["ADELINE_ENV_FILE"] = str(env_file)
    try:
        result = inv("dev", env=env)
        assert result.returncode == 0, result.stderr
        assert env_file.read_bytes() == (ROOT / ".env.example").read_bytes()
        if os.name != "nt":
            assert env_file.stat().st_mode & 0o777 == 0o600
        assert f"mqtt://127.0.0.1:{env['MQTT_BROKER_PORT']}" in result.stdout
        assert mqtt.probe(settings_from(env)).ok
        again = inv("dev", env=env)  # idempotent: keeps the file, finds the broker running
        assert again.returncode == 0 and "already running" in again.stdout
        assert "created" not in again.stdout
    finally:
        inv("services.down", env=env)


@pytest.mark.parametrize("task", ["monitor.status", "monitor.broker"])
def test_watch_ends_cleanly_on_ctrl_c(
    native_broker: object, env: dict[str, str], task: str
) -> None:
    with running_task(task, "--watch", "--json", "--interval", "0.2", env=env) as (out, _err):
        first = out.next(timeout=15)  # the first redraw has been printed: it is watching
        assert first and first.strip(), "no output from --watch"
