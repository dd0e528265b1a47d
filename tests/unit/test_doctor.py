"""doctor's checks that need no broker: settings rows, certificates, password file, ports."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from adeline_infra import (
    certs,
    doctor,
    passwd,
    procs,
    settings,
    views,
)
from adeline_infra import settings as settings_mod
from adeline_infra.backends.base import BrokerState
from adeline_infra.backends.native import NativeBackend

from ..helpers import ROOT, base_env, free_port, make_settings
from .test_broker_config import make

NOW = dt.datetime(2030, 6, 1, tzinfo=dt.timezone.utc)


def env_with_file(tmp_path: Path, text: str) -> dict[str, str]:
    env = base_env(tmp_path)
    for name in ("MQTT_BROKER_PORT", "MQTT_WS_PORT"):
        env.pop(name)
    Path(env["ADELINE_ENV_FILE"]).write_text(text, encoding="utf-8")
    return env


def test_every_bad_value_is_a_failing_row_naming_its_variable(tmp_path: Path) -> None:
    env = env_with_file(
        tmp_path, "MQTT_BROKER_PORT=abc\nMQTT_USE_TLS=maybe\nMQTT_CONNECT_TIMEOUT=nan\n"
    )
    loads = []
    real_load = settings_mod.load
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings_mod, "load", lambda *a, **k: loads.append(1) or real_load(*a, **k))
        s, rows, repaired = doctor.load_settings(ROOT, None, env)
    assert s is None and len(loads) == 1  # one pass names them all
    assert [r.name for r in rows] == [
        "setting MQTT_BROKER_PORT",
        "setting MQTT_USE_TLS",
        "setting MQTT_CONNECT_TIMEOUT",
    ]
    assert all(r.status == doctor.FAIL for r in rows)
    assert "abc" in rows[0].detail and "MQTT_BROKER_PORT" in rows[0].fix
    assert repaired is not None and repaired.mqtt_port == 1883  # defaults stand in


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("MQTT_BROKER_PORT=9001\nMQTT_WS_PORT=9001\n", "MQTT_WS_PORT"),
        ("MQTT_PASSWORD=s3cret\n", "MQTT_USERNAME"),
    ],
)
def test_a_rule_between_variables_is_reported_once(tmp_path: Path, text: str, named: str) -> None:
    s, rows, repaired = doctor.load_settings(ROOT, None, env_with_file(tmp_path, text))
    assert s is None
    assert len(rows) == 1 and rows[0].name == f"setting {named}" and "s3cret" not in rows[0].detail


def test_secrets_are_not_shown_in_rows(tmp_path: Path) -> None:
    env = env_with_file(tmp_path, "RTSP_SOURCE_PASSWORD=hunter2\nMQTT_CONNECT_TIMEOUT=-1\n")
    _, rows, _ = doctor.load_settings(ROOT, None, env)
    assert rows and "hunter2" not in repr(rows)


def test_valid_settings_have_no_rows(tmp_path: Path) -> None:
    s, rows, repaired = doctor.load_settings(ROOT, None, base_env(tmp_path))
    assert s is not None and rows == [] and repaired is s


def test_exit_code_is_one_only_for_a_failing_row() -> None:
    report = doctor.Report([doctor.Check("a", doctor.OK, ""), doctor.Check("b", doctor.WARN, "")])
    report.backend = "native"
    assert report.exit_code == 0
    assert report.summary() == "the native backend can run (1 warning(s))"
    report.checks.append(doctor.Check("c", doctor.FAIL, "broken"))
    assert report.exit_code == 1
    assert report.as_dict()["ok"] is False
    assert "c" in report.summary()


def test_python_version() -> None:
    assert doctor.check_python((3, 9, 18)).status == doctor.FAIL
    assert doctor.check_python((3, 13, 0)).status == doctor.OK


def test_missing_env_file_is_a_warning(tmp_path: Path) -> None:
    row = doctor.check_env_file(tmp_path / "nope.env")
    assert row.status == doctor.WARN and "inv dev" in row.fix


def make_cert(
    path: Path,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
) -> Path:
    ca = certs.CA.create(not_before=not_before, not_after=not_after)
    server = ca.issue_server(hosts, not_before=not_before, not_after=not_after)
    path.write_bytes(server.cert_pem())
    return path


def cert_status(path: Path, host: str | None = None) -> doctor.Check:
    return doctor.certificate_row("cert", path, fix="renew", host=host, now=NOW)


def test_certificate_validity(tmp_path: Path) -> None:
    day = dt.timedelta(days=1)
    good = make_cert(tmp_path / "good.crt", not_before=NOW - day, not_after=NOW + 365 * day)
    soon = make_cert(tmp_path / "soon.crt", not_before=NOW - day, not_after=NOW + 10 * day)
    old = make_cert(tmp_path / "old.crt", not_before=NOW - 30 * day, not_after=NOW - day)
    early = make_cert(tmp_path / "early.crt", not_before=NOW + day, not_after=NOW + 30 * day)
    assert cert_status(good).status == doctor.OK
    assert cert_status(soon).status == doctor.WARN and "10 day" in cert_status(soon).detail
    assert cert_status(old).status == doctor.FAIL and "expired" in cert_status(old).detail
    assert cert_status(early).status == doctor.FAIL
    assert cert_status(good, host="localhost").status == doctor.OK
    assert cert_status(good, host="127.0.0.1").status == doctor.OK
    assert cert_status(good, host="broker.lan").status == doctor.WARN


def test_missing_or_garbage_certificate_fails(tmp_path: Path) -> None:
    assert cert_status(tmp_path / "none.crt").status == doctor.FAIL
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate", encoding="utf-8")
    row = cert_status(junk)
    assert row.status == doctor.FAIL and row.fix == "renew"


def test_certificates_skipped_without_tls_and_checked_with_it(tmp_path: Path) -> None:
    assert doctor.check_certificates(make_settings(tmp_path))[0].status == doctor.SKIP
    tls = tmp_path / "tls"
    tls.mkdir()
    s = make_settings(
        tmp_path, MQTT_USE_TLS="true", MQTT_TLS_DIR=str(tls), MQTT_BROKER_HOST="localhost"
    )
    rows = {r.name: r for r in doctor.check_certificates(s, now=NOW)}
    assert rows["CA certificate"].status == doctor.FAIL
    assert "inv tls.certs" in rows["CA certificate"].fix
    assert rows["server key"].status == doctor.FAIL
    day = dt.timedelta(days=1)
    for name in ("ca.crt", "server.crt"):
        make_cert(tls / name, not_before=NOW - day, not_after=NOW + 400 * day)
    (tls / "server.key").write_text("key", encoding="utf-8")
    rows = {r.name: r for r in doctor.check_certificates(s, now=NOW)}
    assert {r.status for r in rows.values()} == {doctor.OK}
    assert "client certificate" not in rows  # neither required nor present


def test_password_file(tmp_path: Path) -> None:
    assert doctor.check_password_file(make_settings(tmp_path)).status == doctor.SKIP
    path = tmp_path / "passwd"
    s = make_settings(
        tmp_path,
        MQTT_ALLOW_ANONYMOUS="false",
        MOSQUITTO_PASSWD_FILE=str(path),
        MQTT_USERNAME="alice",
        MQTT_PASSWORD="pw",
    )
    missing = doctor.check_password_file(s)
    assert missing.status == doctor.FAIL and "inv auth.add-user alice" in missing.fix
    path.write_text("bob:$7$101$abc$def\n", encoding="utf-8")
    path.chmod(0o600)
    other = doctor.check_password_file(s)
    assert other.status == doctor.FAIL and "alice" in other.detail
    # the check services.up makes: MQTT_PASSWORD must be alice's password in the file
    wrong = passwd.hash_password("not-pw", iterations=1000)
    path.write_text(f"bob:$7$101$abc$def\nalice:{wrong}\n", encoding="utf-8")
    mismatch = doctor.check_password_file(s)
    assert mismatch.status == doctor.FAIL and "MQTT_PASSWORD" in mismatch.detail
    assert "inv auth.add-user alice" in mismatch.fix
    right = passwd.hash_password("pw", iterations=1000)
    path.write_text(f"bob:$7$101$abc$def\nalice:{right}\n", encoding="utf-8")
    assert doctor.check_password_file(s).status == doctor.OK
    if os.name != "nt":
        path.chmod(0o644)
        loose = doctor.check_password_file(s)
        assert loose.status == doctor.WARN and "644" in loose.detail and "chmod 600" in loose.fix


def test_ports_free_ours_or_someone_elses(tmp_path: Path) -> None:
    """doctor words a busy port as the tasks do (procs.port_busy): a real listener on the
    MQTT port is named with the setting to change; our own broker holding it is fine."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        s = make_settings(tmp_path, MQTT_BROKER_PORT=str(port), MQTT_WS_PORT="0")
        backend = NativeBackend(s)
        foreign = doctor.check_ports(s, backend, BrokerState("native", False))
        assert [r.status for r in foreign] == [doctor.FAIL]
        assert f"port {port} is already in use on 127.0.0.1" in foreign[0].detail
        assert "MQTT_BROKER_PORT" in foreign[0].fix
        ours = BrokerState("native", True, detail={"port": port})
        held_by_us = doctor.check_ports(s, backend, ours)
        assert [r.status for r in held_by_us] == [doctor.OK]
        assert "this checkout's native broker" in held_by_us[0].detail
    free = doctor.check_ports(s, backend, BrokerState("native", False))
    assert [(r.status, r.detail) for r in free] == [(doctor.OK, "free")]


def test_a_busy_port_names_the_system_mosquitto_fix_of_this_os(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    rows = doctor.check_ports(
        s,
        NativeBackend(s),
        BrokerState("native", False),
        busy_of=lambda port, var, _bind: (f"port {port} busy", f"set {var}"),
    )
    assert [r.status for r in rows] == [doctor.FAIL, doctor.FAIL]
    assert [r.fix for r in rows] == ["set MQTT_BROKER_PORT", "set MQTT_WS_PORT"]
    assert "sc stop mosquitto" in procs.owner_hint("nt", "win32")
    assert "brew services stop mosquitto" in procs.owner_hint("posix", "darwin")
    assert "systemctl stop mosquitto" in procs.owner_hint("posix", "linux")


def test_missing_mosquitto_fails_only_for_the_native_backend(tmp_path: Path) -> None:
    s = make_settings(tmp_path, MOSQUITTO_BIN=str(tmp_path / "no-such-mosquitto"))
    needed = doctor.check_mosquitto(s, needed=True)
    assert needed.status == doctor.FAIL and "MOSQUITTO_BIN" in needed.detail and needed.fix
    assert doctor.check_mosquitto(s, needed=False).status == doctor.SKIP
    assert doctor.check_mosquitto(s, needed=None).status == doctor.WARN


def test_go2rtc_row(tmp_path: Path) -> None:
    assert doctor.check_go2rtc(make_settings(tmp_path), "native") is None  # not configured
    url = f"http://127.0.0.1:{free_port()}"
    native = doctor.check_go2rtc(
        make_settings(tmp_path, GO2RTC_ENABLED="true", GO2RTC_API_URL=url), "native"
    )
    assert native is not None and native.status == doctor.FAIL
    down = doctor.check_go2rtc(make_settings(tmp_path, GO2RTC_API_URL=url), "docker")
    assert down is not None and down.status == doctor.WARN and down.detail.startswith("go2rtc at")
    assert "--with go2rtc" in down.fix


def test_render_escapes_markup(capsys: Any) -> None:
    report = doctor.Report([doctor.Check("x", doctor.FAIL, "[bold]not markup[/bold]", "[fix]")])
    views.doctor_report(report)
    out = capsys.readouterr().out
    assert "[bold]not markup[/bold]" in out and "[fix]" in out


def _settings(tmp_path: Path, path: Path, user: str = "alice") -> settings_mod.Settings:
    return make_settings(
        tmp_path,
        MQTT_ALLOW_ANONYMOUS="false",
        MOSQUITTO_PASSWD_FILE=str(path),
        MQTT_USERNAME=user,
        MQTT_PASSWORD="pw",
    )


PW = passwd.hash_password("pw", iterations=1000).encode("ascii")


@pytest.mark.parametrize(
    "content",
    [
        b"  alice:PW\n",  # a user line with a leading blank
        b"# caf\xe9 (latin-1 in a comment)\nalice:PW\n",  # a non-UTF-8 byte
        b"alice:PW\r\n",  # Windows line endings
    ],
)
def test_files_the_library_accepts_pass(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(content.replace(b"PW", PW))
    path.chmod(0o600)
    assert "alice" in passwd.PasswordFile.load(path).users()  # what auth.* and the broker see
    row = doctor.check_password_file(_settings(tmp_path, path))
    assert row.status == doctor.OK, row


def test_a_folder_or_unreadable_file_is_a_failing_row(tmp_path: Path) -> None:
    folder = tmp_path / "passwd"
    folder.mkdir()
    row = doctor.check_password_file(_settings(tmp_path, folder))
    assert row.status == doctor.FAIL and "\n" not in row.detail
    if os.name == "posix" and os.geteuid() != 0:
        path = tmp_path / "locked"
        path.write_text("alice:x\n", encoding="utf-8")
        path.chmod(0)
        assert doctor.check_password_file(_settings(tmp_path, path)).status == doctor.FAIL


def test_doctor_listener_rows(tmp_path: Path) -> None:
    rows = {c.name: c for c in doctor.check_listeners(make(tmp_path))}
    assert rows["listener mqtt"].status == doctor.OK
    assert rows["listener websockets"].detail.startswith("ws://127.0.0.1")
    plain = dataclasses.replace(make(tmp_path), bind_address="0.0.0.0", allow_anonymous=False)
    rows = {c.name: c for c in doctor.check_listeners(plain)}
    assert (
        rows["listener mqtt"].status == doctor.FAIL and "plaintext" in rows["listener mqtt"].detail
    )
    anon = dataclasses.replace(make(tmp_path), bind_address="0.0.0.0")
    rows = {c.name: c for c in doctor.check_listeners(anon)}
    assert rows["listener mqtt"].status == doctor.FAIL
    off = {c.name: c for c in doctor.check_listeners(make(tmp_path, MQTT_WS_PORT="0"))}
    assert off["listener websockets"].status == doctor.SKIP


posix_only = pytest.mark.skipif(os.name == "nt", reason="FIFOs and the execute bit are POSIX")


@posix_only
def test_doctor_fails_a_mosquitto_bin_without_the_execute_bit(tmp_path: Path) -> None:
    binary = tmp_path / "mosquitto"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o644)
    s = settings_mod.load(ROOT, environ=base_env(tmp_path, MOSQUITTO_BIN=str(binary)))
    row = doctor.check_mosquitto(s, needed=True)
    assert row.status == doctor.FAIL
    assert "not executable" in row.detail


def test_doctor_says_what_protects_secrets_on_windows(tmp_path: Path) -> None:
    from adeline_infra import doctor

    home = tmp_path / "Users" / "me"
    checkout = home / "src" / "adeline"
    checkout.mkdir(parents=True)
    s = settings.load(checkout, environ={"ADELINE_ENV_FILE": str(checkout / ".env")})
    assert doctor.check_secrets_acl(s, windows=False, home=home) is None  # POSIX: modes say it
    inside = doctor.check_secrets_acl(s, windows=True, home=home)
    assert inside is not None and inside.status == doctor.OK
    assert "no mode 0600" in inside.detail
    shared = tmp_path / "src" / "adeline"  # C:\src\adeline: readable by every local user
    shared.mkdir(parents=True)
    s = settings.load(shared, environ={"ADELINE_ENV_FILE": str(shared / ".env")})
    outside = doctor.check_secrets_acl(s, windows=True, home=home)
    assert outside is not None and outside.status == doctor.WARN
    assert "MQTT_TLS_DIR" in outside.detail and str(home) in outside.fix
    assert "\n" not in outside.detail + outside.fix
