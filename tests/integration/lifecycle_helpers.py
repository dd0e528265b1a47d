"""Helpers for the lifecycle tests: which mosquittos of a test's state folder run, awaited."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from ..helpers import inv


def conf_of(env: dict[str, str]) -> str:
    return str(Path(env["ADELINE_STATE_DIR"]) / "native" / "mosquitto.conf")


def ours(env: dict[str, str]) -> list[psutil.Process]:
    """Every live mosquitto running this env's config file (tracked or not).

    On Windows the broker names its config relative to its working folder (`-c mosquitto.conf`,
    native.broker_argv): there the folder it runs in says whose it is.
    """
    conf = conf_of(env)
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if conf in cmd or (Path(conf).name in cmd and _runs_in(proc, Path(conf).parent)):
            found.append(proc)
    return found


def _runs_in(proc: psutil.Process, folder: Path) -> bool:
    try:
        cwd = proc.cwd()
    except psutil.Error:
        return False
    return os.path.normcase(os.path.abspath(cwd)) == os.path.normcase(os.path.abspath(folder))


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
