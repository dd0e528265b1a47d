"""The Docker backend's pure logic: compose command, project name, config, environment, endpoint.

No engine is needed: these run everywhere, including CI without Docker."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adeline_infra import settings as settings_mod
from adeline_infra.backends import docker as dk
from adeline_infra.backends.docker import broker_setup
from adeline_infra.backends.docker import engine as engine_mod
from adeline_infra.backends.docker.backend import DockerBackend
from adeline_infra.backends.docker.engine import Container
from adeline_infra.errors import ConfigError, InfraError

from ..helpers import make_settings

load = functools.partial(make_settings, defaults=True)  # the suite's builder, over the defaults


def _options(args: list[str], action: list[str]) -> tuple[list[str], set[tuple[str, str]]]:
    """(the global options before the action, as (flag, value) pairs) of a compose argv."""
    assert args[len(args) - len(action) :] == action, args  # the action and its flags come last
    before = args[: len(args) - len(action)]
    return before, set(zip(before[::2], before[1::2], strict=False))


def test_compose_args_put_file_project_and_profiles_before_the_action() -> None:
    # What Compose needs, not one spelling: each global option with its value, before the
    # action; the CLI it was given first.
    args = dk.compose_args(
        ["docker", "compose"], Path("f.yml"), "proj", frozenset({"go2rtc"}), "up", "-d"
    )
    assert args[:2] == ["docker", "compose"]
    _, pairs = _options(args[2:], ["up", "-d"])
    assert pairs == {("-f", "f.yml"), ("-p", "proj"), ("--profile", "go2rtc")}

    args = dk.compose_args(["docker-compose"], Path("f.yml"), "p", frozenset(), "down")
    assert args[0] == "docker-compose"
    assert _options(args[1:], ["down"])[1] == {("-f", "f.yml"), ("-p", "p")}

    with_override = dk.compose_args(
        ["docker-compose"], Path("f.yml"), "p", frozenset(), "up", overrides=[Path("o.yml")]
    )
    before, pairs = _options(with_override[1:], ["up"])
    assert pairs >= {("-f", "f.yml"), ("-f", "o.yml"), ("-p", "p")}
    assert before.index("f.yml") < before.index("o.yml")  # a later file overrides an earlier one


def test_project_name_is_stable_per_checkout_and_differs_between_checkouts(tmp_path: Path) -> None:
    a1 = dk.project_name(load(tmp_path, root=tmp_path / "Clone One"))
    a2 = dk.project_name(load(tmp_path, root=tmp_path / "Clone One"))
    b = dk.project_name(load(tmp_path, root=tmp_path / "clone-two"))
    assert a1 == a2
    assert a1 != b
    for name in (a1, b):
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name), name
    assert a1.startswith("adeline-clone-one-")


def test_project_name_from_compose_project_name(tmp_path: Path) -> None:
    assert dk.project_name(load(tmp_path, COMPOSE_PROJECT_NAME="my_broker-2")) == "my_broker-2"


@pytest.mark.parametrize("bad", ["Upper", "has space", "-dash-first", "dots.no", "x" * 256])
def test_invalid_compose_project_name_is_a_config_error(tmp_path: Path, bad: str) -> None:
    # The settings loader refuses it, naming where it came from, like every other value.
    with pytest.raises(ConfigError, match=r"COMPOSE_PROJECT_NAME=.* \(from .*\) is not valid"):
        load(tmp_path, COMPOSE_PROJECT_NAME=bad)


def test_config_uses_container_paths_and_ports_whatever_the_host_ports(tmp_path: Path) -> None:
    text = dk.render_config(load(tmp_path, MQTT_BROKER_PORT="23456", MQTT_WS_PORT="23457"))
    lines = text.splitlines()
    assert "persistence_location /mosquitto/data/" in lines
    assert "listener 1883" in lines and "listener 9001" in lines
    assert "protocol websockets" in lines
    assert "log_dest stderr" in lines  # stdout would be block-buffered without a TTY
    assert "23456" not in text
    assert not any(line.startswith("user ") for line in lines)  # drop to `mosquitto`, as upstream


def test_fingerprint_follows_config_image_and_ports(tmp_path: Path) -> None:
    base = load(tmp_path)
    text = dk.render_config(base)
    sha = dk.fingerprint(base, text)
    assert sha == dk.fingerprint(load(tmp_path), dk.render_config(load(tmp_path)))
    assert sha != dk.fingerprint(load(tmp_path, MQTT_BROKER_PORT="2000"), text)
    assert sha != dk.fingerprint(load(tmp_path, MOSQUITTO_IMAGE="other:1"), text)
    assert sha != dk.fingerprint(base, text + "\n# changed")


def secure(tmp_path: Path, **env: str) -> settings_mod.Settings:
    return load(
        tmp_path,
        MQTT_ALLOW_ANONYMOUS="false",
        MOSQUITTO_PASSWD_FILE=str(tmp_path / "auth" / "users.txt"),
        MQTT_TLS_DIR=str(tmp_path / "tls"),
        **env,
    )


def test_no_override_for_the_dev_broker(tmp_path: Path) -> None:
    assert dk.secure_override(load(tmp_path)) is None


def test_an_anonymous_local_door_is_refused_under_docker(tmp_path: Path) -> None:
    door = {"MQTT_USE_TLS": "true", "MQTT_LOCAL_PORT": "18841"}
    with pytest.raises(ConfigError, match="MQTT_ALLOW_ANONYMOUS=false") as caught:
        broker_setup.check_local_door(load(tmp_path, MQTT_ALLOW_ANONYMOUS="true", **door))
    assert caught.value.variable == "MQTT_LOCAL_PORT"
    broker_setup.check_local_door(secure(tmp_path, **door))  # with the login: fine
    broker_setup.check_local_door(load(tmp_path, MQTT_ALLOW_ANONYMOUS="true"))  # no door


def test_the_broker_has_a_network_of_its_own_without_inter_container_traffic() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker" / "adeline" / "docker-compose.mqtt.yml").read_text())
    assert compose["services"]["mosquitto"]["networks"] == ["broker"]
    assert "networks" not in compose["services"]["go2rtc"]  # the project's default, not broker
    options = compose["networks"]["broker"]["driver_opts"]
    assert options == {"com.docker.network.bridge.enable_icc": "false"}


def test_fingerprint_follows_the_compose_file(tmp_path: Path) -> None:
    s = load(tmp_path)
    compose = tmp_path / "checkout" / "docker" / "adeline" / "docker-compose.mqtt.yml"
    compose.parent.mkdir(parents=True)
    compose.write_text("services: {}\n")
    checkout = dataclasses.replace(s, root=tmp_path / "checkout")
    before = broker_setup.fingerprint(checkout, "conf")
    compose.write_text("services: {}\nnetworks: {broker: {}}\n")
    assert broker_setup.fingerprint(checkout, "conf") != before


def test_override_mounts_the_password_folder_and_copies_it_for_the_broker_user(
    tmp_path: Path,
) -> None:
    service = dk.secure_override(secure(tmp_path))["services"]["mosquitto"]  # type: ignore[index]
    assert service["volumes"] == [
        {
            "type": "bind",
            "source": str(tmp_path / "auth"),  # the folder: a file mount keeps the old inode
            "target": "/run/adeline/auth",
            "read_only": True,
        }
    ]
    assert service["tmpfs"] == ["/mosquitto/secrets:mode=0700"]
    sh, dash_c, script = service["command"]
    assert (sh, dash_c) == ("sh", "-c")
    lines = script.splitlines()
    assert "cat /run/adeline/auth/users.txt > /mosquitto/secrets/passwd" in lines
    assert "chown -R 1883:1883 /mosquitto/secrets" in lines
    assert lines[-1] == "exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf"
    assert re.search(r"(?<!\$)\$(?!\$)", script) is None  # every $ escaped for compose
    check = service["healthcheck"]["test"]
    assert check[:3] == ["CMD", "sh", "-c"]
    assert "--cafile" not in check[3] and "-P" not in check[3].split()
    assert '[ "$$?" = 5 ]' in check[3]  # CONNACK "not authorised" is an answer


def test_override_with_tls_and_client_certificates(tmp_path: Path) -> None:
    s = secure(tmp_path, MQTT_USE_TLS="true", MQTT_TLS_REQUIRE_CLIENT_CERT="true")
    service = dk.secure_override(s)["services"]["mosquitto"]  # type: ignore[index]
    assert {v["target"]: v["source"] for v in service["volumes"]} == {
        "/run/adeline/auth": str(tmp_path / "auth"),
        "/run/adeline/tls": str(tmp_path / "tls"),
    }
    script = service["command"][2]
    for name in ("ca.crt", "server.crt", "server.key"):
        assert f"cat /run/adeline/tls/{name} > /mosquitto/secrets/tls/{name}" in script
    assert "/run/adeline/tls/client.key" in script  # for the healthcheck's TLS handshake
    assert "ca.key" not in script
    check = service["healthcheck"]["test"][3]
    assert "--cafile /mosquitto/secrets/tls/ca.crt" in check
    assert "--cert /mosquitto/secrets/tls/health.crt" in check
    # TLS without a password file: only the TLS folder.
    tls_only = load(tmp_path, MQTT_USE_TLS="true", MQTT_TLS_DIR=str(tmp_path / "tls"))
    mounts = dk.secure_override(tls_only)["services"]["mosquitto"]["volumes"]  # type: ignore[index]
    assert [m["target"] for m in mounts] == ["/run/adeline/tls"]


def test_fingerprint_follows_the_secret_files(tmp_path: Path) -> None:
    s = secure(tmp_path, MQTT_USE_TLS="true")
    text = dk.render_config(s)
    (tmp_path / "auth").mkdir()
    (tmp_path / "tls").mkdir()
    s.passwd_file.write_text("erin:$7$old\n", encoding="utf-8")
    for name in ("ca.crt", "server.crt", "server.key"):
        (s.tls_dir / name).write_text(name, encoding="utf-8")
    before = dk.fingerprint(s, text)
    assert dk.fingerprint(s, text) == before
    s.passwd_file.write_text("erin:$7$new\n", encoding="utf-8")
    after_passwd = dk.fingerprint(s, text)
    assert after_passwd != before
    (s.tls_dir / "server.crt").write_text("reissued", encoding="utf-8")
    after_cert = dk.fingerprint(s, text)
    assert after_cert != after_passwd
    (s.tls_dir / "ca.key").write_text("the broker never reads it", encoding="utf-8")
    assert dk.fingerprint(s, text) == after_cert


def test_compose_env_carries_the_settings(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        MQTT_BROKER_PORT="23456",
        MQTT_WS_PORT="23457",
        MOSQUITTO_IMAGE="img:1",
        GO2RTC_API_URL="http://localhost:2984",
        RTSP_SOURCE_USERNAME="cam",
        RTSP_SOURCE_PASSWORD="s3cret",
    )
    env = dk.compose_env(
        s,
        config_path=tmp_path / "state" / "mosquitto.conf",
        config_sha="abc",
        base={"PATH": "/bin", "COMPOSE_PROJECT_NAME": "stale"},
    )
    assert env["PATH"] == "/bin"
    assert env["MQTT_BROKER_PORT"] == "23456" and env["MQTT_WS_PORT"] == "23457"
    assert env["MOSQUITTO_IMAGE"] == "img:1"
    assert env["MOSQUITTO_CONFIG"] == (tmp_path / "state" / "mosquitto.conf").as_posix()
    assert env["ADELINE_CONFIG_SHA"] == "abc"
    assert env["GO2RTC_API_PORT"] == "2984"
    assert env["RTSP_SOURCE_USERNAME"] == "cam" and env["RTSP_SOURCE_PASSWORD"] == "s3cret"
    assert "DOCKER_HOST" not in env  # compose finds the engine as the user's `docker` does
    assert "COMPOSE_PROJECT_NAME" not in env  # `-p` names the project


def test_compose_env_keeps_the_users_docker_host(tmp_path: Path) -> None:
    env = dk.compose_env(
        load(tmp_path),
        config_path=tmp_path / "c",
        config_sha="",
        base={"DOCKER_HOST": "tcp://mine:2375"},
    )
    assert env["DOCKER_HOST"] == "tcp://mine:2375"


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "Cannot connect to the Docker daemon at unix:///nope.sock. Is the docker daemon"
            " running?\n",
            r"^the Docker engine at unix:///nope\.sock is not answering: start",
        ),
        (
            "error during connect: Get http://x: Cannot connect to the Docker daemon at"
            " tcp://127.0.0.1:9. Is the docker daemon running?",
            r"^the Docker engine at tcp://127\.0\.0\.1:9 is not answering",
        ),
        (
            "permission denied while trying to connect to the Docker daemon socket at"
            " unix:///var/run/docker.sock",
            r"refused this user.*docker. group",
        ),
        (
            'error during connect: Get "http://garbage:2375/v1.50/containers/json?all=1": dial'
            " tcp: lookup garbage: no such host",
            r"^the Docker engine is not answering \(dial tcp: lookup garbage: no such host\)",
        ),
        (
            'Failed to initialize: unable to resolve docker endpoint: context "nope": context'
            " not found: open /root/.docker/contexts/meta/x/meta.json: no such file",
            r'^the docker context "nope" does not exist: choose one from `docker context ls`',
        ),
        ("", r"failed to answer \(no output\)"),
        ("x" * 5000, r"failed to answer \(x{160}\.\.\.\)$"),
    ],
)
def test_docker_cli_errors_are_one_line_naming_the_engine(stderr: str, expected: str) -> None:
    message = str(engine_mod.explain(stderr))
    assert "\n" not in message
    assert re.search(expected, message), message


def test_container_reads_the_inspect_document() -> None:
    container = engine_mod.Container(
        {
            "Id": "0123456789abcdef" * 4,
            "Name": "/proj_mosquitto_1",
            "State": {
                "Status": "running",
                "StartedAt": "2024-01-02T03:04:05.5Z",
                "Health": {"Status": "starting"},
            },
            "Config": {"Labels": {dk.FINGERPRINT_LABEL: "abc"}, "Image": "eclipse-mosquitto:2.0"},
            "RestartCount": 2,
            "Mounts": [
                {"Type": "volume", "Name": "a" * 64},
                {"Type": "bind", "Source": "/x"},
                {"Type": "volume", "Name": "proj_mosquitto_data"},
            ],
        }
    )
    assert container.name == "proj_mosquitto_1" and container.short_id == "0123456789ab"
    assert container.labels == {dk.FINGERPRINT_LABEL: "abc"} and container.restarts == 2
    assert container.started_at == pytest.approx(1704164645.5)
    assert container.health == "starting" and container.image == "eclipse-mosquitto:2.0"
    assert container.volumes == ["a" * 64, "proj_mosquitto_data"]
    assert engine_mod.Container({"Id": "x"}).health is None


def test_importing_the_backend_loads_no_docker_sdk(tmp_path: Path) -> None:
    code = "import sys\nimport adeline_infra.backends.docker\nprint('docker' in sys.modules)\n"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,  # not the repo root: its docker/ folder is not the SDK
    )
    assert out.stdout.split() == ["False"], out.stderr


def test_engine_answers_is_false_when_nothing_is_there(tmp_path: Path) -> None:
    code = "from adeline_infra.backends.docker import engine_answers\nprint(engine_answers(2))\n"
    # Python on Windows cannot start (sockets, random numbers) without SYSTEMROOT.
    keep = {k: os.environ[k] for k in ("SYSTEMROOT",) if k in os.environ}
    for env in (
        {"DOCKER_HOST": "unix:///nonexistent.sock", "PATH": os.environ.get("PATH", "")},
        {"PATH": str(tmp_path)},  # no docker command at all
    ):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "HOME": str(tmp_path), **keep},
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert out.stdout.split() == ["False"], out.stderr


def test_compose_plugin_is_found_where_the_docker_cli_looks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    windows_env = {"ProgramData": str(tmp_path / "pd"), "ProgramFiles": str(tmp_path / "pf")}
    assert dk.compose_plugin(windows_env, home=home, windows=True) is None
    system = tmp_path / "pf" / "Docker" / "cli-plugins" / "docker-compose.exe"
    system.parent.mkdir(parents=True)
    system.write_text("", encoding="utf-8")
    assert dk.compose_plugin(windows_env, home=home, windows=True) == system

    user = home / ".docker" / "cli-plugins" / "docker-compose"
    user.parent.mkdir(parents=True)
    user.write_text("", encoding="utf-8")
    assert dk.compose_plugin({}, home=home, windows=False) == user
    # DOCKER_CONFIG moves the config folder; config.json may name extra plugin folders.
    config = tmp_path / "cfg"
    extra = tmp_path / "brew" / "cli-plugins"
    extra.mkdir(parents=True)
    (extra / "docker-compose").write_text("", encoding="utf-8")
    config.mkdir()
    (config / "config.json").write_text(
        json.dumps({"cliPluginsExtraDirs": [str(extra)]}), encoding="utf-8"
    )
    found = dk.compose_plugin({"DOCKER_CONFIG": str(config)}, home=home, windows=False)
    assert found == extra / "docker-compose"


def test_docker_times_parse() -> None:
    parse = engine_mod.parse_time
    assert parse("0001-01-01T00:00:00Z") is None and parse(None) is None and parse("junk") is None
    assert parse("2024-01-02T03:04:05.123456789Z") == pytest.approx(1704164645.123456789)
    assert parse("2024-01-02T05:04:05+02:00") == pytest.approx(1704164645)
    assert engine_mod.parse_time("2024-01-02T04:04:05+01:00") == pytest.approx(1704164645)


class Recorder:
    """A fake engine and compose that log every call."""

    def __init__(self, seen: dict[str, Any] | None) -> None:
        self.seen = seen
        self.calls: list[str] = []

    def inspect(self, ids: list[str]) -> list[Container]:
        self.calls.append("inspect")
        return [Container(self.seen)] if self.seen else []

    def containers(self, labels: list[str]) -> list[Container]:
        self.calls.append("ps")
        return []

    def compose(self, *action: str, **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append("compose " + " ".join(action))
        return subprocess.CompletedProcess(list(action), 0, "", "")


def backend(tmp_path: Path, seen: dict[str, Any] | None) -> tuple[DockerBackend, Recorder]:
    s = make_settings(tmp_path, BROKER_BACKEND="docker", COMPOSE_PROJECT_NAME="p")
    rec = Recorder(seen)
    b = DockerBackend(s, engine=rec)  # type: ignore[arg-type]
    b.compose = rec.compose  # type: ignore[method-assign]
    return b, rec


def container(b: DockerBackend, status: str, fingerprint: str | None = None) -> dict[str, Any]:
    want = broker_setup.fingerprint(b.settings, broker_setup.render_config(b.settings))
    labels = {
        "com.docker.compose.project": "p",
        "com.docker.compose.service": dk.SERVICE,
        broker_setup.FINGERPRINT_LABEL: fingerprint or want,
    }
    return {
        "Id": "c" * 64,
        "Name": "/p-mosquitto-1",
        "State": {"Status": status, "StartedAt": "2024-01-02T03:04:05Z"},
        "Config": {"Labels": labels, "Image": "eclipse-mosquitto:2.0"},
        "RestartCount": 1,
    }


def test_from_down_compose_is_the_only_call_on_the_way(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)
    assert b.bring_up() is False
    assert "ps" not in rec.calls  # the label search the old look fell back to
    assert rec.calls.count("inspect") == 1
    assert "compose up -d --no-recreate" in rec.calls


def test_a_running_broker_with_these_settings_is_left_as_it_is(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)
    rec.seen = container(b, "running")
    assert b.bring_up() is True
    assert rec.calls.count("compose up -d --no-recreate") == 1 and "compose up -d" not in rec.calls


def test_a_running_broker_with_other_settings_is_the_mismatch_error(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)
    rec.seen = container(b, "running", fingerprint="old")
    with pytest.raises(InfraError, match="services.restart"):
        b.bring_up()
    assert "compose up -d" not in rec.calls  # --no-recreate left it alone


def test_a_stopped_container_of_older_settings_is_replaced(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)
    rec.seen = container(b, "exited", fingerprint="old")
    assert b.bring_up() is False
    assert rec.calls[-1] == "compose up -d"  # recreated with the current settings


def test_an_engine_that_does_not_answer_is_the_error_not_composes_wording(tmp_path: Path) -> None:
    b, rec = backend(tmp_path, None)

    def down(ids: list[str]) -> list[Container]:
        raise InfraError("the Docker engine at unix:///x does not answer")

    def failing(*action: str, **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(action), 1, "", "unable to get image")

    rec.inspect = down  # type: ignore[method-assign]
    b.compose = failing  # type: ignore[method-assign]
    with pytest.raises(InfraError, match="Docker engine"):
        b.bring_up()
