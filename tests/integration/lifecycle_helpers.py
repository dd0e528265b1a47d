"""Helpers for the lifecycle tests: which mosquittos of a test's state folder run, awaited."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from ..helpers import inv


def conf_of(env: dict[str, str]) -> str:
    return str(Path(env["ADELINE_STATE_DIR"]) / "native" / "mosquitto.conf")


def ours(env: dict[str, str]) -> list[psutil.Process]:
    """Every live mosquitto running this env's config file (tracked or not)."""
    conf = conf_of(env)
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        if conf in cmd and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def await_true(condition: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def status_json(env: dict[str, str]) -> tuple[int, dict[str, object]]:
    result = inv("services.status", "--json", env=env)
    return result.returncode, json.loads(result.stdout or "{}")


def kill_all(env: dict[str, str]) -> None:
    """Last resort in a test's cleanup: no mosquitto of this test outlives it."""
    for proc in ours(env):
        try:
            proc.kill()
            proc.wait(5)
        except psutil.Error:
            pass
