"""The Docker backend's pure logic: compose command, project name, config, environment, endpoint.

No engine is needed: these run everywhere, including CI without Docker.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from adeline_infra import settings as settings_mod
from adeline_infra.backends import docker as dk
from adeline_infra.errors import ConfigError, InfraError

from ..helpers import ROOT, socket_dir


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """Where the fake engines' sockets go: a short path, which macOS needs (see socket_dir)."""
    folder = socket_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def load(tmp_path: Path, root: Path | None = None, **env: str) -> settings_mod.Settings:
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    return settings_mod.load(root or ROOT, environ={"ADELINE_ENV_FILE": str(env_file), **env})


# --- which compose ------------------------------------------------------------------------------


def test_compose_v2_is_preferred() -> None:
    assert dk.choose_compose("/usr/bin/docker", True, "/usr/bin/docker-compose") == [
        "/usr/bin/docker",
        "compose",
    ]


def test_compose_v1_when_the_v2_plugin_does_not_work() -> None:
    assert dk.choose_compose("/usr/bin/docker", False, "/usr/bin/docker-compose") == [
        "/usr/bin/docker-compose"
    ]
    assert dk.choose_compose(None, False, "/usr/bin/docker-compose") == ["/usr/bin/docker-compose"]


@pytest.mark.parametrize("docker_cli", [None, "/usr/bin/docker"])
def test_no_compose_is_one_line_naming_what_to_install(docker_cli: str | None) -> None:
    with pytest.raises(InfraError) as err:
        dk.choose_compose(docker_cli, False, None)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("Docker Compose is not installed: ")
    assert "install" in message.split(": ", 1)[1]


def test_compose_args_put_file_project_and_profiles_before_the_action() -> None:
    args = dk.compose_args(
        ["docker", "compose"], Path("f.yml"), "proj", frozenset({"go2rtc"}), "up", "-d"
    )
    assert args == [
        "docker", "compose", "-f", "f.yml", "-p", "proj", "--profile", "go2rtc", "up", "-d",
    ]  # fmt: skip
    assert dk.compose_args(["docker-compose"], Path("f.yml"), "p", frozenset(), "down") == [
        "docker-compose", "-f", "f.yml", "-p", "p", "down",
    ]  # fmt: skip
    with_override = dk.compose_args(
        ["docker-compose"], Path("f.yml"), "p", frozenset(), "up", overrides=[Path("o.yml")]
    )
    assert with_override == ["docker-compose", "-f", "f.yml", "-f", "o.yml", "-p", "p", "up"]


# --- project name -------------------------------------------------------------------------------


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


@pytest.mark.parametrize("bad", ["Upper", "has space", "-dash-first", "dots.no"])
def test_invalid_compose_project_name_is_a_config_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="COMPOSE_PROJECT_NAME"):
        dk.project_name(load(tmp_path, COMPOSE_PROJECT_NAME=bad))


# --- rendered config and what compose is given --------------------------------------------------


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


# --- the secure broker's override -----------------------------------------------------------------


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
        endpoint=dk.Endpoint("unix:///run/docker.sock", "the default socket"),
        base={"PATH": "/bin", "COMPOSE_PROJECT_NAME": "stale"},
    )
    assert env["PATH"] == "/bin"
    assert env["MQTT_BROKER_PORT"] == "23456" and env["MQTT_WS_PORT"] == "23457"
    assert env["MOSQUITTO_IMAGE"] == "img:1"
    assert env["MOSQUITTO_CONFIG"] == (tmp_path / "state" / "mosquitto.conf").as_posix()
    assert env["ADELINE_CONFIG_SHA"] == "abc"
    assert env["GO2RTC_API_PORT"] == "2984"
    assert env["RTSP_SOURCE_USERNAME"] == "cam" and env["RTSP_SOURCE_PASSWORD"] == "s3cret"
    assert env["DOCKER_HOST"] == "unix:///run/docker.sock"  # compose asks the engine we checked
    assert "COMPOSE_PROJECT_NAME" not in env  # `-p` names the project


def test_compose_env_keeps_the_users_docker_host(tmp_path: Path) -> None:
    env = dk.compose_env(
        load(tmp_path),
        config_path=tmp_path / "c",
        config_sha="",
        endpoint=dk.Endpoint("tcp://elsewhere:2375", "DOCKER_HOST"),
        base={"DOCKER_HOST": "tcp://mine:2375"},
    )
    assert env["DOCKER_HOST"] == "tcp://mine:2375"


def test_compose_file_matches_the_settings_defaults() -> None:
    text = (ROOT / dk.COMPOSE_FILE).read_text(encoding="utf-8")
    default_image = settings_mod.BY_NAME["MOSQUITTO_IMAGE"].default
    assert f"${{MOSQUITTO_IMAGE:-{default_image}}}" in text
    assert not re.search(r"^version:", text, re.M)  # obsolete in Compose v2
    assert "container_name" not in text  # two clones must not fight over one name
    assert "${MOSQUITTO_CONFIG:-./mosquitto.conf}:/mosquitto/config/mosquitto.conf:ro" in text
    assert "healthcheck:" in text and "mosquitto_sub" in text
    assert 'profiles: ["go2rtc"]' in text
    assert f"{dk.FINGERPRINT_LABEL}:" in text
    by_hand = (ROOT / "docker" / "adeline" / "mosquitto.conf").read_text(encoding="utf-8")
    assert "log_dest stderr" in by_hand and "log_dest stdout" not in by_hand


# --- finding the engine -------------------------------------------------------------------------


def test_docker_host_wins(tmp_path: Path) -> None:
    found = dk.find_endpoint({"DOCKER_HOST": "tcp://1.2.3.4:2375"}, home=tmp_path)
    assert found == dk.Endpoint("tcp://1.2.3.4:2375", "DOCKER_HOST")


def test_the_active_docker_context_is_used(tmp_path: Path) -> None:
    config = tmp_path / ".docker"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"colima").hexdigest()
    meta.mkdir(parents=True)
    (config / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    host = "unix:///Users/me/.colima/default/docker.sock"
    (meta / "meta.json").write_text(json.dumps({"Endpoints": {"docker": {"Host": host}}}))
    found = dk.find_endpoint({}, home=tmp_path, exists=lambda _p: False)
    assert found == dk.Endpoint(host, "docker context 'colima'")


def test_default_sockets_posix_and_windows(tmp_path: Path) -> None:
    assert dk.find_endpoint({}, home=tmp_path, windows=False, exists=lambda _p: False) is None
    found = dk.find_endpoint(
        {}, home=tmp_path, windows=False, exists=lambda p: p == "/var/run/docker.sock"
    )
    assert found is not None and found.url == "unix:///var/run/docker.sock"
    rootless = dk.find_endpoint(
        {"XDG_RUNTIME_DIR": "/run/user/1000"},
        home=tmp_path,
        windows=False,
        exists=lambda p: p == "/run/user/1000/docker.sock",
    )
    assert rootless is not None and rootless.url == "unix:///run/user/1000/docker.sock"
    desktop = str(tmp_path / ".docker" / "run" / "docker.sock")
    mac = dk.find_endpoint({}, home=tmp_path, windows=False, exists=lambda p: p == desktop)
    assert mac is not None and mac.url == f"unix://{desktop}"
    win = dk.find_endpoint({}, home=tmp_path, windows=True, exists=lambda _p: True)
    assert win is not None and win.url.startswith("npipe://")
    assert dk.find_endpoint({}, home=tmp_path, windows=True, exists=lambda _p: False) is None


def test_engine_answers_is_false_without_importing_the_sdk_when_nothing_is_there(
    tmp_path: Path,
) -> None:
    code = (
        "import sys\n"
        "from adeline_infra.backends.docker import engine_answers\n"
        "print(engine_answers(), 'docker' in sys.modules)\n"
    )
    # Without AF_UNIX (Windows' Python) a unix:// endpoint is one only the SDK could try.
    hosts = ["tcp://127.0.0.1:1"] + (
        ["unix:///nonexistent.sock"] if hasattr(socket, "AF_UNIX") else []
    )
    # Python on Windows cannot start (sockets, random numbers) without SYSTEMROOT.
    keep = {k: os.environ[k] for k in ("SYSTEMROOT",) if k in os.environ}
    for host in hosts:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={"DOCKER_HOST": host, "PATH": os.defpath, "HOME": str(tmp_path), **keep},
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,  # not the repo root: its docker/ folder is not the SDK
        )
        assert out.stdout.split() == ["False", "False"], out.stderr


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs unix sockets")
def test_engine_answers_pings_the_socket(sock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(sock_dir / "d.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    seen: list[bytes] = []

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            seen.append(conn.recv(1024))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        assert dk.engine_answers(timeout=2)
    finally:
        thread.join(5)
        server.close()
    assert seen and seen[0].startswith(b"GET /_ping ")


class FakeEngine:
    """A unix-socket HTTP server answering GET paths from a dict, the way dockerd does."""

    def __init__(self, path: str, answers: dict[str, object]) -> None:
        self.answers = answers
        self.seen: list[str] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536).decode()
                path = request.split(" ")[1]
                self.seen.append(path)
                key = path.split("?")[0]
                if key in self.answers:
                    body = json.dumps(self.answers[key]).encode()
                    # chunked, as dockerd sends large answers
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                        + f"{len(body):x}\r\n".encode()
                        + body
                        + b"\r\n0\r\n\r\n"
                    )
                else:
                    msg = b'{"message":"No such container"}'
                    conn.sendall(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(msg), msg)
                    )

    def close(self) -> None:
        self.server.close()


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs unix sockets")
def test_containers_are_read_over_the_raw_socket(
    tmp_path: Path, sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(sock_dir / "d.sock")
    inspect = {
        "Id": "0123456789abcdef" * 4,
        "Name": "/proj_mosquitto_1",
        "State": {"Status": "running", "StartedAt": "2024-01-02T03:04:05.5Z"},
        "Config": {"Labels": {dk.FINGERPRINT_LABEL: "abc"}, "Image": "eclipse-mosquitto:2.0"},
        "RestartCount": 2,
    }
    engine = FakeEngine(
        path,
        {
            "/containers/json": [{"Id": inspect["Id"]}, {"Id": "gone"}],
            f"/containers/{inspect['Id']}/json": inspect,
        },
    )
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        backend = dk.DockerBackend(load(tmp_path, COMPOSE_PROJECT_NAME="proj"))
        (container,) = backend._containers()  # "gone" was removed between list and inspect
        state = backend.state()
    finally:
        engine.close()
    assert container.name == "proj_mosquitto_1" and container.short_id == "0123456789ab"
    assert container.labels == {dk.FINGERPRINT_LABEL: "abc"} and container.restarts == 2
    assert state.running and state.started_at == pytest.approx(1704164645.5)
    assert state.detail["restarts"] == 2 and state.detail["image"] == "eclipse-mosquitto:2.0"
    listed = engine.seen[0]
    assert listed.startswith("/containers/json?all=1&filters=")
    assert "com.docker.compose.project%3Dproj" in listed


def test_engine_that_stops_answering_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'none.sock'}")
    backend = dk.DockerBackend(load(tmp_path))
    with pytest.raises(InfraError, match=r"Docker engine at unix://.*none\.sock.*not answering"):
        backend.state()


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
    assert dk._parse_time("0001-01-01T00:00:00Z") is None
    assert dk._parse_time("2024-01-02T03:04:05.123456789Z") == pytest.approx(1704164645.123456789)
    assert dk._parse_time("2024-01-02T04:04:05+01:00") == pytest.approx(1704164645)
