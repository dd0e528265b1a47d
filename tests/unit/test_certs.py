"""The certificate library and scripts/gen_certs.py: extensions, files, no silent overwrite."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adeline_infra import certs
from adeline_infra.errors import ConfigError

from ..helpers import ROOT, assert_one_line_error
from ..tls_helpers import python313, strict_client

SCRIPT = ROOT / "scripts" / "gen_certs.py"


def ext(cert: x509.Certificate, cls: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(cls)


@pytest.fixture(scope="module")
def ca() -> certs.CA:
    return certs.CA.create()


def test_ca_has_critical_basic_constraints_and_ski(ca: certs.CA) -> None:
    bc = ext(ca.cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = ext(ca.cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign
    assert ext(ca.cert, x509.SubjectKeyIdentifier).value.digest
    assert ca.cert.subject == ca.cert.issuer


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_server_certificate_covers_every_host_with_ski_aki(ca: certs.CA, key_type: str) -> None:
    issued = ca.issue_server(["localhost", "127.0.0.1", "::1", "mosquitto"], key_type=key_type)
    cert = issued.cert
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "mosquitto"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert ext(cert, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert ext(cert, x509.BasicConstraints).value.ca is False
    aki = ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ext(ca.cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.SubjectKeyIdentifier).value.digest
    assert certs.key_type_of(issued.key) == key_type
    cert.verify_directly_issued_by(ca.cert)


def test_client_certificate_has_cn_name_and_client_auth(ca: certs.CA) -> None:
    cert = ca.issue_client("laptop").cert
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "laptop"
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(ca.cert)


def test_hosts_are_parsed_and_validated() -> None:
    assert certs.parse_hosts("localhost, 127.0.0.1,[::1],LOCALHOST,broker.local.") == [
        "localhost",
        "127.0.0.1",
        "::1",
        "broker.local",
    ]
    for bad in ("bad host", "a/b", "", "-x.org"):
        with pytest.raises(ConfigError):
            certs.parse_hosts(bad)


@pytest.mark.parametrize("name", ["", "ca", "server", "../x", "a b", "x" * 65])
def test_bad_client_names(name: str) -> None:
    with pytest.raises(ConfigError):
        certs.check_client_name(name)


def test_make_tls_dir_writes_the_files_with_key_modes(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    report = certs.make_tls_dir(out, clients=["laptop"])
    names = {p.name for p in out.iterdir()}
    assert names == {"ca.crt", "ca.key", "server.crt", "server.key", "laptop.crt", "laptop.key"}
    assert ("ca.key", "created") in report.actions
    if os.name == "posix":
        for p in out.iterdir():
            want = 0o600 if p.suffix == ".key" else 0o644
            assert stat.S_IMODE(p.stat().st_mode) == want, p


def test_rerun_keeps_ca_and_keys_and_old_ca_crt_still_trusts_the_new_cert(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    certs.make_tls_dir(out)
    before = {n: (out / n).read_bytes() for n in ("ca.crt", "ca.key", "server.key", "server.crt")}
    report = certs.make_tls_dir(out, hosts=["localhost", "10.1.2.3"], days=30)
    assert (out / "ca.crt").read_bytes() == before["ca.crt"]
    assert (out / "ca.key").read_bytes() == before["ca.key"]
    assert (out / "server.key").read_bytes() == before["server.key"]
    assert (out / "server.crt").read_bytes() != before["server.crt"]
    assert ("server.key", "kept") in report.actions
    old_ca = x509.load_pem_x509_certificate(before["ca.crt"])
    new_server = certs.load_cert(out / "server.crt")
    new_server.verify_directly_issued_by(old_ca)
    assert certs.describe(out / "server.crt").sans == ["localhost", "10.1.2.3"]


def test_force_replaces_the_ca_and_warns_about_stale_client_certificates(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    certs.make_tls_dir(out, clients=["laptop"])
    old_ca = (out / "ca.crt").read_bytes()
    report = certs.make_tls_dir(out, force=True)
    assert (out / "ca.crt").read_bytes() != old_ca
    assert any("new ca.crt" in w for w in report.warnings)
    assert any("laptop.crt" in w and "tls.client laptop" in w for w in report.warnings)


def test_never_overwrites_a_lone_ca_file_or_a_key_of_another_type(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    out.mkdir()
    (out / "ca.key").write_text("precious", encoding="utf-8")
    with pytest.raises(ConfigError, match="--force"):
        certs.make_tls_dir(out)
    assert (out / "ca.key").read_text(encoding="utf-8") == "precious"
    other = tmp_path / "tls2"
    certs.make_tls_dir(other, key_type="ec")
    key = (other / "server.key").read_bytes()
    with pytest.raises(ConfigError, match="--key-type"):
        certs.make_tls_dir(other, key_type="rsa")
    assert (other / "server.key").read_bytes() == key


def test_add_client_needs_a_ca_and_never_replaces_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls.certs"):
        certs.add_client(tmp_path, "laptop")
    certs.make_tls_dir(tmp_path)
    ca = (tmp_path / "ca.crt").read_bytes()
    certs.add_client(tmp_path, "laptop", force=True)
    assert (tmp_path / "ca.crt").read_bytes() == ca
    certs.load_cert(tmp_path / "laptop.crt").verify_directly_issued_by(
        certs.load_cert(tmp_path / "ca.crt")
    )


def test_check_reports_expiry_host_and_signature(tmp_path: Path) -> None:
    certs.make_tls_dir(tmp_path, hosts=["localhost", "127.0.0.1", "*.example.org"], days=100)
    ok = certs.check(tmp_path, "localhost")
    assert ok.ok, ok.problems
    assert certs.check(tmp_path, "127.0.0.1").ok
    assert certs.check(tmp_path, "mqtt.example.org").ok
    wrong = certs.check(tmp_path, "10.0.0.1")
    assert any("MQTT_BROKER_HOST=10.0.0.1" in p for p in wrong.problems)
    now = dt.datetime.now(dt.timezone.utc)
    soon = certs.check(tmp_path, "localhost", now=now + dt.timedelta(days=80))
    assert any("server.crt expires in" in p for p in soon.problems)
    late = certs.check(tmp_path, "localhost", now=now + dt.timedelta(days=200))
    assert any("server.crt expired" in p for p in late.problems)
    # a server certificate from another CA
    other = tmp_path / "other"
    certs.make_tls_dir(other)
    (tmp_path / "server.crt").write_bytes((other / "server.crt").read_bytes())
    assert any("not signed by ca.crt" in p for p in certs.check(tmp_path, "localhost").problems)
    with pytest.raises(ConfigError, match="tls.certs"):
        certs.check(tmp_path / "missing", "localhost")


def test_host_matches() -> None:
    sans = ["localhost", "::1", "*.example.org"]
    assert certs.host_matches(sans, "LOCALHOST")
    assert certs.host_matches(sans, "0:0:0:0:0:0:0:1")
    assert certs.host_matches(sans, "a.example.org")
    assert not certs.host_matches(sans, "a.b.example.org")
    assert not certs.host_matches(sans, "127.0.0.1")


@pytest.fixture
def tls_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[int, Path]]:
    certs.make_tls_dir(tmp_path, key_type=request.param)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, tmp_path / "ca.crt"
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@pytest.mark.skipif(python313() is None, reason="Python 3.13 (pyenv 3.13.0) is not installed")
@pytest.mark.parametrize("tls_server", ["ec", "rsa"], indirect=True)
@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1"])
def test_python_313_strict_context_accepts_the_server_certificate(
    tls_server: tuple[int, Path], name: str
) -> None:
    port, ca = tls_server
    result = strict_client(port, ca, server_hostname=name)
    assert result.returncode == 0, result.stderr
    assert "handshake ok" in result.stdout


@pytest.mark.skipif(python313() is None, reason="Python 3.13 (pyenv 3.13.0) is not installed")
@pytest.mark.parametrize("tls_server", ["ec"], indirect=True)
def test_python_313_refuses_a_host_not_in_the_san(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    result = strict_client(port, ca, server_hostname="example.org")
    assert result.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=ROOT.parent,
    )


def test_script_creates_reuses_and_refuses(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    first = run_script("--out", str(out), "--client", "laptop")
    assert first.returncode == 0, first.stderr
    assert (out / "laptop.crt").exists() and (out / "server.crt").exists()
    ca = (out / "ca.crt").read_bytes()
    server = (out / "server.crt").read_bytes()
    # --client alone leaves an existing server certificate alone
    assert run_script("--out", str(out), "--client", "phone").returncode == 0
    assert (out / "server.crt").read_bytes() == server
    bad = run_script("--out", str(out), "--key-type", "rsa")
    assert_one_line_error(bad, "--force", code=2)
    assert run_script("--out", str(out), "--hosts", "bad host").returncode == 2
    assert run_script("--out", str(out), "--days", "0").returncode == 2
    assert run_script("--hosts", "x").returncode == 2  # --out missing: usage error
    assert (out / "ca.crt").read_bytes() == ca
    forced = run_script("--out", str(out), "--force", "--key-type", "rsa")
    assert forced.returncode == 0, forced.stderr
    assert (out / "ca.crt").read_bytes() != ca
    assert "warning" in forced.stderr


def test_validity_dates_can_be_chosen_for_tests_of_expiry() -> None:
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(2020, 6, 1, tzinfo=dt.timezone.utc)
    ca = certs.CA.create(not_before=start, not_after=end)
    server = ca.issue_server(("localhost",), not_before=start, not_after=end + dt.timedelta(days=9))
    client = ca.issue_client("cam1", not_before=start, not_after=end)
    for issued in (ca, server, client):
        assert issued.cert.not_valid_before_utc == start
        assert issued.cert.not_valid_after_utc == end  # never past the CA's end


@pytest.mark.parametrize("kind", ["file", "dangling symlink", "under a file"])
def test_a_certificate_folder_that_is_not_one_is_a_config_error(tmp_path: Path, kind: str) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("x", encoding="utf-8")
    out = {"file": a_file, "under a file": a_file / "tls", "dangling symlink": tmp_path / "l"}[kind]
    if kind == "dangling symlink":
        try:
            out.symlink_to(tmp_path / "nothing")
        except OSError:
            pytest.skip("no permission to create symlinks")
    with pytest.raises(ConfigError, match="certificates") as caught:
        certs.make_tls_dir(out)
    assert "\n" not in str(caught.value)
