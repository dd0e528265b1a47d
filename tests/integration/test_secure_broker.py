"""A secure native broker (password file, TLS, client certificates) as a user sets it up.

Real mosquitto on random ports; files made by the real `mosquitto_passwd` and edited by our
script; certificates from `inv tls.certs`; every refusal checked with the one probe the product
uses (`mqtt.probe`), plus a strict Python 3.13 client speaking raw MQTT over TLS.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adeline_infra import certs, mqtt
from adeline_infra.settings import Settings

from ..conftest import settings_from
from ..docker_helpers import docker_env, remove_project
from ..helpers import ROOT, assert_one_line_error, base_env, inv, inv_here
from ..tls_helpers import python313, strict_client

pytestmark = pytest.mark.integration

LEGACY_DAVE = (  # mosquitto 1.x `$6$` line for dave / "legacy"
    "dave:$6$MDEyMzQ1Njc4OWFi$o+kR64O3R9PIRAxj/pouFubH2DpGd/QHCgnAHw+gTru54VOqAOzQtUlYQ3pg"
    "NcUzyhfoF5eZLv3spn06FR8NnA=="
)


def mosquitto_passwd(path: Path, user: str, password: str, *, create: bool = False) -> None:
    """The real tool, fed through its prompt (stdin), never `-b` with the password in argv."""
    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        pytest.skip("mosquitto_passwd is not installed (apt install mosquitto)")
    args = [exe, *(["-c"] if create else []), str(path), user]
    subprocess.run(
        args,
        input=f"{password}\n{password}\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=30,
    )


def gen_passwd(*args: str, password: str | None = None) -> None:
    """Our script, as a user runs it."""
    script = ROOT / "scripts" / "gen_passwd.py"
    extra = ["--password-stdin"] if password is not None else []
    result = subprocess.run(
        [sys.executable, str(script), *extra, *args],
        input=f"{password}\n" if password is not None else None,
        stdin=None if password is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def as_user(s: Settings, user: str | None, password: str | None) -> Settings:
    return dataclasses.replace(s, username=user, password=password)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _secure(tmp_path: Path, make_env: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_env(
        tmp_path,
        MQTT_ALLOW_ANONYMOUS="false",
        MOSQUITTO_PASSWD_FILE=str(tmp_path / "secrets" / "passwd"),
        MQTT_TLS_DIR=str(tmp_path / "secrets" / "tls"),
        MQTT_USERNAME="erin",
        MQTT_PASSWORD="erin-pass",
    )


@pytest.fixture(params=["native", pytest.param("docker", marks=pytest.mark.docker)])
def secure_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings for a secure broker (files not made yet), on each backend in turn.

    Docker: its own compose project, whose containers, network and volumes go at teardown.
    """
    if request.param == "native":
        env = _secure(tmp_path, base_env)
        yield env
        inv_here("services.down", env=env)
        return
    engine = request.getfixturevalue("engine")
    env = _secure(tmp_path, docker_env)
    try:
        yield env
    finally:
        remove_project(engine, env["COMPOSE_PROJECT_NAME"])  # containers, network, volumes


@pytest.fixture
def files_env(tmp_path: Path) -> dict[str, str]:
    """Settings naming the secret files, for tasks that start no broker."""
    return _secure(tmp_path, base_env)


def test_file_from_mosquitto_passwd_edited_by_the_script(
    secure_env: dict[str, str], tmp_path: Path
) -> None:
    pw = Path(secure_env["MOSQUITTO_PASSWD_FILE"])
    pw.parent.mkdir(parents=True)
    mosquitto_passwd(pw, "alice", "alice-pass", create=True)
    mosquitto_passwd(pw, "bob", "bob-old")
    mosquitto_passwd(pw, "carol", "carol-pass")
    with open(pw, "a", encoding="utf-8") as f:
        f.write(LEGACY_DAVE + "\n")
    alice_line = pw.read_text(encoding="utf-8").splitlines()[0]

    gen_passwd(str(pw), "bob", password="bob-new")  # update
    gen_passwd("-D", str(pw), "carol")  # delete
    gen_passwd(str(pw), "erin", password="erin-pass")  # add: the tools' own user
    assert pw.read_text(encoding="utf-8").splitlines()[0] == alice_line  # untouched, verbatim
    if os.name == "posix":
        assert mode(pw) == 0o600

    up = inv_here("services.up", env=secure_env)
    assert up.returncode == 0, up.stderr
    s = settings_from(secure_env)
    accepted = {
        "alice": "alice-pass",  # written by mosquitto_passwd, untouched
        "dave": "legacy",  # legacy $6$, untouched
        "bob": "bob-new",  # updated
        "erin": "erin-pass",  # added
    }
    for user, password in accepted.items():
        result = mqtt.probe(as_user(s, user, password), timeout=5)
        assert result.ok, (user, result.reason)
    refused = [("bob", "bob-old"), ("carol", "carol-pass"), ("alice", "wrong"), (None, None)]
    for user, password in refused:
        result = mqtt.probe(as_user(s, user, password), timeout=5)
        assert not result.ok and result.refused, (user, result.reason)
    anonymous = mqtt.probe(as_user(s, None, None), timeout=5)
    assert "anonymous" in anonymous.reason

    status = inv_here("services.status", "--json", env=secure_env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["healthy"] is True
    assert "erin-pass" not in status.stdout + status.stderr + up.stdout + up.stderr


@pytest.fixture
def tls_env(secure_env: dict[str, str]) -> dict[str, str]:
    """Password file and certificates made with the tasks, TLS on."""
    added = inv_here(
        "auth.add-user", "erin", "--password-stdin", env=secure_env, input="erin-pass\n"
    )
    assert added.returncode == 0, added.stderr
    made = inv_here("tls.certs", env=secure_env)
    assert made.returncode == 0, made.stderr
    return {**secure_env, "MQTT_USE_TLS": "true"}


def test_tls_with_credentials(tls_env: dict[str, str], tmp_path: Path) -> None:
    s = settings_from(tls_env)
    trusted = tmp_path / "client-copy"  # a client that got ca.crt once, before any reissue
    trusted.mkdir()
    shutil.copy(s.ca_file, trusted / "ca.crt")

    up = inv_here("services.up", env=tls_env)
    assert up.returncode == 0, up.stderr
    assert "mqtts://" in up.stdout
    for host in ("localhost", "127.0.0.1"):
        result = mqtt.probe(dataclasses.replace(s, mqtt_host=host), timeout=5)
        assert result.ok, (host, result.reason)

    plain = mqtt.probe(dataclasses.replace(s, use_tls=False), timeout=3)
    assert not plain.ok and "MQTT_USE_TLS" in plain.reason
    wrong_pw = mqtt.probe(as_user(s, "erin", "nope"), timeout=5)
    assert not wrong_pw.ok and wrong_pw.refused
    anonymous = mqtt.probe(as_user(s, None, None), timeout=5)
    assert not anonymous.ok and anonymous.refused
    other = tmp_path / "other-ca"
    certs.make_tls_dir(other)
    wrong_ca = mqtt.probe(dataclasses.replace(s, tls_dir=other), timeout=5)
    assert not wrong_ca.ok and "do not trust" in wrong_ca.reason

    status = inv_here("services.status", "--json", env=tls_env)
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["healthy"] is True and info["endpoint"].startswith("mqtts://")
    assert inv_here("tls.check", env=tls_env).returncode == 0

    if os.name == "posix":
        for path in (s.passwd_file, s.tls_dir / "ca.key", s.tls_dir / "server.key"):
            assert mode(path) == 0o600, path

    # Reissue the server certificate from the same CA: a client holding the old ca.crt still
    # connects after the restart.
    again = inv_here("tls.certs", "--hosts", "localhost,127.0.0.1,broker.example.org", env=tls_env)
    assert again.returncode == 0, again.stderr
    assert "kept (existing CA)" in again.stdout
    assert inv_here("services.restart", env=tls_env).returncode == 0
    result = mqtt.probe(dataclasses.replace(s, tls_dir=trusted), timeout=5)
    assert result.ok, result.reason


@pytest.mark.skipif(python313() is None, reason="Python 3.13 (pyenv 3.13.0) is not installed")
def test_strict_python_313_client_logs_in_over_tls(tls_env: dict[str, str]) -> None:
    assert inv_here("services.up", env=tls_env).returncode == 0
    s = settings_from(tls_env)
    for name in ("localhost", "127.0.0.1"):
        ok = strict_client(
            s.mqtt_port, s.ca_file, server_hostname=name, user="erin", password="erin-pass"
        )
        assert ok.returncode == 0, (name, ok.stdout, ok.stderr)
        assert "connack 20020000" in ok.stdout
    refused = strict_client(s.mqtt_port, s.ca_file, user="erin", password="wrong")
    assert refused.returncode == 3, refused.stderr


def test_client_certificate_required(tls_env: dict[str, str]) -> None:
    env = {**tls_env, "MQTT_TLS_REQUIRE_CLIENT_CERT": "true"}
    made = inv_here("tls.client", "client", env=env)
    assert made.returncode == 0, made.stderr
    up = inv_here("services.up", env=env)
    assert up.returncode == 0, up.stderr  # our probe presents client.crt
    s = settings_from(env)
    assert mqtt.probe(s, timeout=5).ok
    without = dataclasses.replace(s, tls_client_name="nobody", tls_require_client_cert=False)
    result = mqtt.probe(without, timeout=3)
    assert not result.ok and "client certificate" in result.reason, result.reason
    if os.name == "posix":
        assert mode(s.client_key) == 0o600


def test_restart_applies_an_edited_password_file(tls_env: dict[str, str]) -> None:
    assert inv_here("services.up", env=tls_env).returncode == 0
    s = settings_from(tls_env)
    for user, password in (("frank", "frank-pass"), ("erin", "erin-new")):
        r = inv_here("auth.add-user", user, "--password-stdin", env=tls_env, input=f"{password}\n")
        assert r.returncode == 0, r.stderr
    assert mqtt.probe(as_user(s, "frank", "frank-pass"), timeout=5).refused  # read at start only

    new_env = {**tls_env, "MQTT_PASSWORD": "erin-new"}
    stale = inv_here("services.up", env=new_env)
    assert stale.returncode == 1
    assert "services.restart" in stale.stderr  # the secrets are part of the broker's identity
    restarted = inv_here("services.restart", env=new_env)
    assert restarted.returncode == 0, restarted.stderr
    assert mqtt.probe(as_user(s, "frank", "frank-pass"), timeout=5).ok
    assert mqtt.probe(as_user(s, "erin", "erin-new"), timeout=5).ok
    assert mqtt.probe(as_user(s, "erin", "erin-pass"), timeout=5).refused
    assert "already running" in inv_here("services.up", env=new_env).stdout


@pytest.mark.parametrize(
    "secure_env", [pytest.param("docker", marks=pytest.mark.docker)], indirect=True
)
def test_docker_healthcheck_under_auth_and_tls_never_holds_the_password(
    secure_env: dict[str, str], tls_env: dict[str, str], engine: Any
) -> None:
    env = {**tls_env, "MQTT_TLS_REQUIRE_CLIENT_CERT": "true"}
    assert inv_here("tls.client", "client", env=env).returncode == 0
    assert inv_here("services.up", env=env).returncode == 0
    label = f"com.docker.compose.project={env['COMPOSE_PROJECT_NAME']}"
    (container,) = engine.containers.list(filters={"label": label})
    deadline = time.monotonic() + 60
    while container.attrs["State"]["Health"]["Status"] != "healthy":
        assert container.attrs["State"]["Health"]["Status"] != "unhealthy", container.attrs
        assert time.monotonic() < deadline, "healthcheck never turned healthy"
        time.sleep(0.5)  # Docker runs the check on its own clock (every 5 s)
        container.reload()
    assert "erin-pass" not in json.dumps(container.attrs)  # what `docker inspect` shows
    status = inv_here("services.status", "--json", env=env)
    assert json.loads(status.stdout)["detail"]["health"] == "healthy"


def test_up_refuses_what_the_settings_ask_for_but_is_missing(secure_env: dict[str, str]) -> None:
    no_passwd = inv("services.up", env=secure_env)  # the command line: one line, exit 2
    assert_one_line_error(no_passwd, "inv auth.add-user", code=2)

    added = inv_here(
        "auth.add-user", "erin", "--password-stdin", env=secure_env, input="erin-pass\n"
    )
    assert added.returncode == 0, added.stderr
    no_certs = inv_here("services.up", env={**secure_env, "MQTT_USE_TLS": "true"})
    assert no_certs.returncode == 2
    assert "inv tls.certs" in no_certs.stderr

    wrong = inv_here("services.up", env={**secure_env, "MQTT_PASSWORD": "not-it"})
    assert wrong.returncode == 2
    assert "MQTT_PASSWORD" in wrong.stderr and "not-it" not in wrong.stderr
    unknown = inv_here("services.up", env={**secure_env, "MQTT_USERNAME": "zed"})
    assert unknown.returncode == 2 and "inv auth.add-user zed" in unknown.stderr
    empty = inv_here("services.up", env={**secure_env, "MQTT_USERNAME": "", "MQTT_PASSWORD": ""})
    assert empty.returncode == 2 and "MQTT_USERNAME" in empty.stderr
    assert inv_here("services.status", env=secure_env).returncode == 3  # nothing was started


def test_auth_tasks_round_trip(files_env: dict[str, str]) -> None:
    path = Path(files_env["MOSQUITTO_PASSWD_FILE"])
    for user in ("alice", "bob"):
        r = inv_here("auth.add-user", user, "--password-stdin", env=files_env, input=f"{user}-pw\n")
        assert r.returncode == 0, r.stderr
        assert f"{user}-pw" not in r.stdout + r.stderr
    listed = inv_here("auth.list-users", "--json", env=files_env)
    assert listed.returncode == 0, listed.stderr
    users = json.loads(listed.stdout)["users"]
    assert [u["user"] for u in users] == ["alice", "bob"]
    assert "$7$" not in listed.stdout
    assert inv_here("auth.remove-user", "alice", env=files_env).returncode == 0
    gone = inv_here("auth.remove-user", "alice", env=files_env)
    assert gone.returncode == 1 and "not in" in gone.stderr
    no_tty = inv_here("auth.add-user", "carol", env=files_env)  # no terminal, no --password-stdin
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    bad = inv_here("auth.add-user", "a:b", "--password-stdin", env=files_env, input="x\n")
    assert bad.returncode == 2 and "':'" in bad.stderr
    assert "alice" not in path.read_text(encoding="utf-8")


def test_tls_check_exit_codes(files_env: dict[str, str]) -> None:
    missing = inv_here("tls.check", env=files_env)
    assert missing.returncode == 2 and "inv tls.certs" in missing.stderr
    assert inv_here("tls.certs", env=files_env).returncode == 0
    ok = inv_here("tls.check", "--json", env=files_env)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["ok"] is True
    server = next(c for c in data["certificates"] if c["file"] == "server.crt")
    assert {"localhost", "127.0.0.1", "::1", "mosquitto"} <= set(server["sans"])
    elsewhere = inv_here("tls.check", env={**files_env, "MQTT_BROKER_HOST": "broker.example.org"})
    assert elsewhere.returncode == 1 and "broker.example.org" in elsewhere.stderr
    soon = inv_here("tls.check", "--days", "5000", env=files_env)
    assert soon.returncode == 1 and "expires in" in soon.stderr
