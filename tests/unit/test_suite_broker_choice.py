"""The suite chooses its broker through variables of its own (MOSQUITTO_* are settings, which
base_env drops so a developer's .env cannot leak into a test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .. import docker_helpers
from ..helpers import base_env


def test_adeline_test_mosquitto_is_the_native_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOSQUITTO_BIN", "/leaked/from/a/developer/mosquitto")
    assert "MOSQUITTO_BIN" not in base_env(tmp_path)
    monkeypatch.setenv("ADELINE_TEST_MOSQUITTO", "/opt/mosquitto-2.1.2/sbin/mosquitto")
    assert base_env(tmp_path)["MOSQUITTO_BIN"] == "/opt/mosquitto-2.1.2/sbin/mosquitto"
    # a test's own value still wins (a missing binary, a broken one)
    assert base_env(tmp_path, MOSQUITTO_BIN="/nowhere")["MOSQUITTO_BIN"] == "/nowhere"


def test_the_docker_tests_run_the_chosen_image(tmp_path: Path) -> None:
    env = docker_helpers.docker_env(tmp_path)
    assert env["MOSQUITTO_IMAGE"] == docker_helpers.IMAGE
    assert docker_helpers.docker_env(tmp_path, MOSQUITTO_IMAGE="x:1")["MOSQUITTO_IMAGE"] == "x:1"
