"""One Compose discovery: v2 when `docker compose` runs, else v1 with a note, else one line.

These run the real docker CLI (no engine needed) with a DOCKER_CONFIG folder of their own;
the working-v2 cases use the Compose v2 plugin CI installs (.ci/install-compose-v2.sh), found
through ADELINE_COMPOSE_V2_CONFIG or .ci/docker-v2, and skip without it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from adeline_infra import settings as settings_mod
from adeline_infra.backends import docker as dk
from adeline_infra.backends.docker import compose as compose_mod
from adeline_infra.errors import InfraError

from ..helpers import ROOT

needs_docker_cli = pytest.mark.skipif(
    not shutil.which("docker") or sys.platform == "win32",
    reason="needs the docker command, and plugins without .exe and file modes (not Windows)",
)


def _v2_plugin() -> Path:
    folder = Path(os.environ.get("ADELINE_COMPOSE_V2_CONFIG") or ROOT / ".ci" / "docker-v2")
    plugin = folder / "cli-plugins" / "docker-compose"
    if not plugin.is_file():
        pytest.skip(f"no Compose v2 plugin at {plugin} (sh .ci/install-compose-v2.sh {folder})")
    return plugin


def _config_with(tmp_path: Path, plugin_bytes: bytes | None, mode: int = 0o755) -> dict[str, str]:
    config = tmp_path / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    if plugin_bytes is not None:
        plugin = config / "cli-plugins" / "docker-compose"
        plugin.write_bytes(plugin_bytes)
        plugin.chmod(mode)
    return {**os.environ, "DOCKER_CONFIG": str(config)}


@needs_docker_cli
@pytest.mark.skipif(not shutil.which("docker-compose"), reason="no docker-compose (v1)")
def test_a_plugin_that_does_not_run_falls_back_to_v1_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _config_with(tmp_path, b"#!/bin/sh\nexit 1\n", mode=0o644)  # not executable
    monkeypatch.setenv("DOCKER_CONFIG", env["DOCKER_CONFIG"])
    found = compose_mod.discover("auto", env=env)
    assert found.kind == "v1" and found.argv == (shutil.which("docker-compose"),)
    assert found.note is not None and "\n" not in found.note
    assert str(Path(env["DOCKER_CONFIG"]) / "cli-plugins" / "docker-compose") in found.note
    assert found.note.endswith("using docker-compose (v1)")


@needs_docker_cli
def test_forcing_v2_that_does_not_run_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _config_with(tmp_path, None)
    monkeypatch.setenv("DOCKER_CONFIG", env["DOCKER_CONFIG"])
    if compose_mod.compose_plugin(env) is not None:
        pytest.skip("a system-wide Compose v2 plugin is installed")
    with pytest.raises(InfraError) as err:
        compose_mod.discover("v2", env=env)
    message = str(err.value)
    assert message.startswith("DOCKER_COMPOSE=v2 but `docker compose` does not run (")
    assert "\n" not in message and "DOCKER_COMPOSE=auto" in message


def test_forcing_v1_without_docker_compose_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither docker nor docker-compose
    with pytest.raises(InfraError, match=r"^DOCKER_COMPOSE=v1 but `docker-compose` is not"):
        compose_mod.discover("v1")
    with pytest.raises(InfraError, match=r"^Docker Compose is not installed: install"):
        compose_mod.discover("auto")


@needs_docker_cli
def test_v2_is_preferred_run_once_and_remembered_until_the_plugin_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _config_with(tmp_path, _v2_plugin().read_bytes())
    monkeypatch.setenv("DOCKER_CONFIG", env["DOCKER_CONFIG"])
    cache = tmp_path / "state"
    found = compose_mod.discover("auto", env=env, cache_dir=cache)
    assert found.kind == "v2" and found.argv[1:] == ("compose",)
    assert found.version and found.version[0].isdigit() and found.note is None
    assert (cache / "compose.json").is_file()
    assert compose_mod.discover("v2", env=env, cache_dir=cache) == found  # from the cache

    # The same plugin made non-executable: the cache key changes, the plugin is run again.
    plugin = Path(env["DOCKER_CONFIG"]) / "cli-plugins" / "docker-compose"
    plugin.chmod(0o644)
    if shutil.which("docker-compose"):
        again = compose_mod.discover("auto", env=env, cache_dir=cache)
        assert again.kind == "v1" and again.note is not None
    with pytest.raises(InfraError, match="DOCKER_COMPOSE=v2 but"):
        compose_mod.discover("v2", env=env, cache_dir=cache)


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "compose.json"
    for text in ("", "{", "[]", '{"key": 1}', '{"key": "k", "version": 2}'):
        cache.write_text(text, encoding="utf-8")
        assert compose_mod.cached_version(cache, "k") is None
    cache.write_text('{"key": "k", "version": "2.40.3"}', encoding="utf-8")
    assert compose_mod.cached_version(cache, "k") == "2.40.3"
    assert compose_mod.cached_version(cache, "other") is None


@pytest.mark.parametrize(("raw", "value"), [("auto", "auto"), (" V2 ", "v2"), ("v1", "v1")])
def test_docker_compose_setting(tmp_path: Path, raw: str, value: str) -> None:
    from adeline_infra import settings as settings_mod

    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    environ = {"ADELINE_ENV_FILE": str(env_file), "DOCKER_COMPOSE": raw}
    assert settings_mod.load(ROOT, environ=environ).docker_compose == value


@pytest.mark.parametrize("raw", ["", "v3", "v2\nx", "v2\x00", "compose", "x" * 10000])
def test_docker_compose_setting_refuses_other_values(tmp_path: Path, raw: str) -> None:
    from adeline_infra import settings as settings_mod
    from adeline_infra.errors import ConfigError

    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^DOCKER_COMPOSE=.*expected auto or v2 or v1"):
        settings_mod.load(ROOT, environ={"ADELINE_ENV_FILE": str(env_file), "DOCKER_COMPOSE": raw})


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / dk.COMPOSE_FILE).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_no_obsolete_version_key_and_no_fixed_container_names(compose: dict[str, Any]) -> None:
    assert "version" not in compose  # obsolete in Compose v2, not needed by v1.29
    for name, service in compose["services"].items():
        assert "container_name" not in service, name  # two clones must not fight over one name


def test_images_default_to_the_names_the_code_uses(compose: dict[str, Any]) -> None:
    default_image = settings_mod.BY_NAME["MOSQUITTO_IMAGE"].default
    assert compose["services"]["mosquitto"]["image"] == f"${{MOSQUITTO_IMAGE:-{default_image}}}"
    go2rtc = f"${{GO2RTC_IMAGE:-{compose_mod.GO2RTC_IMAGE}}}"  # named in error messages
    assert compose["services"]["go2rtc"]["image"] == go2rtc


def test_every_published_port_is_on_loopback_unless_asked(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${ADELINE_PUBLISH_ADDRESS:-127.0.0.1}:"), (name, port)


def test_broker_reads_the_rendered_config_and_keeps_its_data(compose: dict[str, Any]) -> None:
    broker = compose["services"]["mosquitto"]
    mounts = {
        v.split(":")[-2] if v.endswith(":ro") else v.split(":")[-1] for v in broker["volumes"]
    }
    assert "/mosquitto/config/mosquitto.conf" in mounts
    assert "/mosquitto/data" in mounts
    config = next(v for v in broker["volumes"] if "/mosquitto/config/" in v)
    assert config.startswith("${MOSQUITTO_CONFIG:-") and config.endswith(":ro")
    named = {v.split(":")[0] for v in broker["volumes"]} & set(compose["volumes"])
    assert named, "the broker's data lives in a named volume (`down` keeps it)"


def test_healthcheck_is_an_mqtt_round_trip(compose: dict[str, Any]) -> None:
    check = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "mosquitto_sub"]  # an exec, no shell
    assert "$$SYS/broker/uptime" in check  # `$$` is Compose's literal `$`


def test_go2rtc_only_on_request_and_labels_carry_the_fingerprint(compose: dict[str, Any]) -> None:
    assert compose["services"]["go2rtc"]["profiles"] == ["go2rtc"]
    assert "profiles" not in compose["services"]["mosquitto"]
    assert dk.FINGERPRINT_LABEL in compose["services"]["mosquitto"]["labels"]


def test_hand_written_broker_config_logs_to_stderr() -> None:
    lines = (ROOT / "docker" / "adeline" / "mosquitto.conf").read_text(encoding="utf-8")
    options = [line.split() for line in lines.splitlines() if line.strip() and line[0] != "#"]
    assert ["log_dest", "stderr"] in options and ["log_dest", "stdout"] not in options
