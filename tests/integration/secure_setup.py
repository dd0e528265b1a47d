"""Password file and TLS certificates for the secure-broker tests, made here directly.

Stop-gap until the `secure` branch (auth.add-user, tls.certs) is merged: then `prepare()` should
call those tasks instead, so the tests also cover the files users generate. The formats follow
/work/shared/reference/verified-facts.md: `$7$` PBKDF2-SHA512 lines, and certificates strict
enough for Python 3.13 (critical basicConstraints on the CA, SKI/AKI and a SAN on the leaf).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
from pathlib import Path

USER = "adeline-test"


def passwd_line(user: str, password: str) -> str:
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, 101, dklen=64)
    b64 = base64.b64encode
    return f"{user}:$7$101${b64(salt).decode()}${b64(digest).decode()}\n"


def make_certs(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "adeline test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.crt").write_bytes(ca.public_bytes(pem))
    (folder / "server.crt").write_bytes(leaf.public_bytes(pem))
    key_file = folder / "server.key"
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(key_file, 0o600)


def prepare(env: dict[str, str], tmp: Path) -> dict[str, str]:
    """`env` turned into a broker requiring a user and speaking TLS, with the files it needs."""
    password = secrets.token_urlsafe(16)
    passwd = tmp / "secrets" / "passwd"
    passwd.parent.mkdir(parents=True, exist_ok=True)
    passwd.write_text(passwd_line(USER, password), encoding="utf-8")
    os.chmod(passwd, 0o600)
    make_certs(tmp / "secrets" / "tls")
    return {
        **env,
        "MQTT_ALLOW_ANONYMOUS": "false",
        "MOSQUITTO_PASSWD_FILE": str(passwd),
        "MQTT_USERNAME": USER,
        "MQTT_PASSWORD": password,
        "MQTT_USE_TLS": "true",
        "MQTT_TLS_DIR": str(tmp / "secrets" / "tls"),
    }
