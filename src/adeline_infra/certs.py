"""A small private CA for the broker's TLS listener, over the `cryptography` package.

In the spirit of trustme: `CA.create()`, `ca.issue_server(hosts)`, `ca.issue_client(name)`, and
on top `make_tls_dir()` / `add_client()` that write the files a user needs:

    ca.crt  ca.key  server.crt  server.key  NAME.crt  NAME.key      (keys: mode 0600)

The certificates pass Python 3.13's strict default verification (`VERIFY_X509_STRICT`): the CA has
a critical basicConstraints and a subject key identifier, leaf certificates have SKI/AKI and the
server's a subjectAltName with every host (names and IP addresses).

Nothing that exists is thrown away without `force`: an existing CA signs the new certificates
(clients that trust it keep working), an existing server or client key is reused for its new
certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InfraError
from .files import write_atomic
from .text import quoted

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

    PrivateKey = CertificateIssuerPrivateKeyTypes

KEY_TYPES = ("ec", "rsa")
COMPOSE_SERVICE = "mosquitto"  # the broker's host name inside the compose network
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1", COMPOSE_SERVICE)
DEFAULT_DAYS = 825  # leaf certificates (the longest some TLS stacks accept)
CA_DAYS = 3650
WARN_DAYS = 30
RESERVED_NAMES = ("ca", "server")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DNS_RE = re.compile(
    r"^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)


# --- inputs -----------------------------------------------------------------------------------


def parse_hosts(hosts: str | Iterable[str]) -> list[str]:
    """Host names and IP addresses from 'a,b' or a list; IPs normalised, duplicates dropped."""
    items = hosts.replace(";", ",").split(",") if isinstance(hosts, str) else list(hosts)
    out: list[str] = []
    for raw in items:
        host = raw.strip()
        if not host:
            continue
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            if not _DNS_RE.match(host) or len(host) > 253:
                raise ConfigError(
                    f"{quoted(raw.strip())} is not a host name or IP address",
                    hint="give e.g. --hosts localhost,127.0.0.1,broker.example.org",
                ) from None
            host = host.rstrip(".").lower()
        if host not in out:
            out.append(host)
    if not out:
        raise ConfigError("no hosts given for the server certificate")
    return out


def check_key_type(key_type: str | None) -> str | None:
    if key_type is not None and key_type not in KEY_TYPES:
        raise ConfigError(f"key type {quoted(key_type)} is not valid: expected ec or rsa")
    return key_type


def check_days(days: int) -> int:
    if not 1 <= days <= 36500:
        raise ConfigError(f"{days} days is not valid: expected 1 to 36500")
    return days


def check_client_name(name: str) -> str:
    if not _NAME_RE.match(name) or name.lower() in RESERVED_NAMES:
        raise ConfigError(
            f"client name {quoted(name)} is not valid: use letters, digits, '.', '_' or '-' "
            f"(not {' or '.join(RESERVED_NAMES)}); it names the files NAME.crt/NAME.key"
        )
    return name


# --- keys and certificates --------------------------------------------------------------------


def new_key(key_type: str = "ec") -> PrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    check_key_type(key_type)
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_type_of(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ec"
    return type(key).__name__


def key_pem(key: PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _public_der(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _san(hosts: Sequence[str]) -> list[Any]:
    from cryptography import x509

    names: list[Any] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


@dataclass
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    def key_pem(self) -> bytes:
        return key_pem(self.key)


class CA(Issued):
    """A self-signed certificate authority that issues server and client certificates."""

    @classmethod
    def create(
        cls,
        *,
        key_type: str = "ec",
        days: int = CA_DAYS,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> CA:
        """A new CA valid for `days` from an hour ago, or from `not_before` to `not_after`."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        key = new_key(key_type)
        # A unique name: two CAs on one machine are never mistaken for each other.
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "adeline-infra"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Adeline MQTT CA {secrets.token_hex(4)}"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, cert_file: Path, key_file: Path) -> CA:
        cert, key = load_cert(cert_file), load_key(key_file)
        if _public_der(cert.public_key()) != _public_der(key.public_key()):
            raise ConfigError(
                f"{key_file.name} does not belong to {cert_file.name}",
                hint="restore the matching pair, or make a new CA with --force",
            )
        return cls(cert, key)

    def _leaf(
        self,
        subject_cn: str,
        key: PrivateKey,
        days: int,
        *,
        eku: Any,
        hosts: Sequence[str] = (),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        is_rsa = key_type_of(key) == "rsa"
        now = _now()
        end = min(not_after or now + dt.timedelta(days=days), self.cert.not_valid_after_utc)
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "adeline-infra"),
                        x509.NameAttribute(NameOID.COMMON_NAME, subject_cn),
                    ]
                )
            )
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=is_rsa,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
        )
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(_san(hosts)), critical=False
            )
        return Issued(builder.sign(self.key, hashes.SHA256()), key)

    def issue_server(
        self,
        hosts: Sequence[str] = DEFAULT_HOSTS,
        *,
        days: int = DEFAULT_DAYS,
        key: PrivateKey | None = None,
        key_type: str = "ec",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        """A server certificate valid for every host (DNS names and IPs) in `hosts`, for `days`
        from an hour ago or from `not_before` to `not_after` (never past the CA's end)."""
        from cryptography.x509.oid import ExtendedKeyUsageOID

        hosts = parse_hosts(hosts)
        dns = [h for h in hosts if not _is_ip(h)]
        cn = dns[0] if dns else hosts[0]
        return self._leaf(
            cn,
            key or new_key(key_type),
            days,
            eku=ExtendedKeyUsageOID.SERVER_AUTH,
            hosts=hosts,
            not_before=not_before,
            not_after=not_after,
        )

    def issue_client(
        self,
        name: str,
        *,
        days: int = DEFAULT_DAYS,
        key: PrivateKey | None = None,
        key_type: str = "ec",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        """A client certificate with CN = `name` (mosquitto's `use_identity_as_username`)."""
        from cryptography.x509.oid import ExtendedKeyUsageOID

        check_client_name(name)
        return self._leaf(
            name,
            key or new_key(key_type),
            days,
            eku=ExtendedKeyUsageOID.CLIENT_AUTH,
            not_before=not_before,
            not_after=not_after,
        )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def load_cert(path: Path) -> x509.Certificate:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist", hint="create the certificates with `inv tls.certs`"
        ) from None
    except OSError as exc:
        raise InfraError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ConfigError(f"{path} is not a PEM certificate") from None


def load_key(path: Path) -> PrivateKey:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except OSError as exc:
        raise InfraError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise ConfigError(f"{path} is not an unencrypted PEM private key") from None
    if key_type_of(key) not in KEY_TYPES:
        raise ConfigError(f"{path} is a {key_type_of(key)} key: expected EC or RSA")
    return key  # type: ignore[return-value]


# --- the files --------------------------------------------------------------------------------


@dataclass
class Written:
    """What a call did to the folder, file by file, for the user to read."""

    out: Path
    actions: list[tuple[str, str]] = field(default_factory=list)  # (file name, what happened)
    warnings: list[str] = field(default_factory=list)

    def note(self, name: str, action: str) -> None:
        self.actions.append((name, action))


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    write_atomic(path, cert_pem(cert), mode=0o644)  # public: readable is fine


def _write_key(path: Path, key: PrivateKey) -> None:
    write_atomic(path, key_pem(key), mode=0o600)


def _ensure_ca(out: Path, key_type: str | None, force: bool, report: Written) -> CA:
    crt, key = out / "ca.crt", out / "ca.key"
    if not force and (crt.exists() or key.exists()):
        if not (crt.exists() and key.exists()):
            present, missing = (crt, key) if crt.exists() else (key, crt)
            raise ConfigError(
                f"{present} exists but {missing.name} does not",
                hint="restore it, or make a new CA with --force (clients must then get the "
                "new ca.crt)",
            )
        ca = CA.load(crt, key)
        report.note("ca.crt", "kept (existing CA)")
        return ca
    if force and crt.exists():
        report.warnings.append(
            "a new CA replaced the old one: every client must get the new ca.crt"
        )
    ca = CA.create(key_type=key_type or "ec", days=CA_DAYS)
    _write_key(key, ca.key)
    _write_cert(crt, ca.cert)
    report.note("ca.key", "created")
    report.note("ca.crt", "created")
    return ca


def _leaf_key(path: Path, key_type: str | None, force: bool, report: Written) -> PrivateKey:
    if path.exists() and not force:
        key = load_key(path)
        if key_type is not None and key_type_of(key) != key_type:
            raise ConfigError(
                f"{path.name} is an {key_type_of(key).upper()} key but --key-type {key_type} "
                "was asked for",
                hint="leave --key-type out to keep it, or add --force to replace the keys",
            )
        report.note(path.name, "kept")
        return key
    key = new_key(key_type or "ec")
    _write_key(path, key)
    report.note(path.name, "created")
    return key


def make_tls_dir(
    out: Path,
    *,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    key_type: str | None = None,
    days: int = DEFAULT_DAYS,
    force: bool = False,
    server: bool = True,
    clients: Sequence[str] = (),
) -> Written:
    """CA (created or kept), server certificate (reissued), client certificates, in `out`.

    `key_type` None keeps existing keys' types and makes new keys EC. `force` replaces the CA
    and the keys it touches.
    """
    check_key_type(key_type)
    check_days(days)
    host_list = parse_hosts(hosts) if server else []
    for name in clients:
        check_client_name(name)
    report = Written(out)
    _check_out_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        ca = _ensure_ca(out, key_type, force, report)
        if server:
            key = _leaf_key(out / "server.key", key_type, force, report)
            issued = ca.issue_server(host_list, days=days, key=key)
            existed = (out / "server.crt").exists()
            _write_cert(out / "server.crt", issued.cert)
            report.note(
                "server.crt",
                ("reissued" if existed else "created") + f" for {', '.join(host_list)}",
            )
        for name in clients:
            key = _leaf_key(out / f"{name}.key", key_type, force, report)
            existed = (out / f"{name}.crt").exists()
            _write_cert(out / f"{name}.crt", ca.issue_client(name, days=days, key=key).cert)
            report.note(f"{name}.crt", "reissued" if existed else "created")
    except OSError as exc:  # read-only, full disk, /proc, ...
        raise InfraError(
            f"cannot write in {out}: {exc.strerror or exc}: choose a writable folder"
        ) from None
    report.warnings += _stale_certificates(out, ca)
    return report


def _check_out_folder(out: Path) -> None:
    """`out` must be a folder or creatable (`files.folder_problem`)."""
    from .files import folder_problem

    problem = folder_problem(out)
    if problem:
        raise ConfigError(f"{out} {problem}: name a folder for the certificates")


def add_client(
    out: Path,
    name: str,
    *,
    key_type: str | None = None,
    days: int = DEFAULT_DAYS,
    force: bool = False,
) -> Written:
    """A client certificate NAME.crt/NAME.key from the existing CA (which must exist)."""
    check_client_name(name)
    if not (out / "ca.crt").exists() or not (out / "ca.key").exists():
        raise ConfigError(
            f"no CA in {out} (ca.crt and ca.key)", hint="create it with `inv tls.certs`"
        )
    # never force a new CA from here: only NAME's key may be replaced
    check_key_type(key_type)
    check_days(days)
    report = Written(out)
    ca = CA.load(out / "ca.crt", out / "ca.key")
    key = _leaf_key(out / f"{name}.key", key_type, force, report)
    existed = (out / f"{name}.crt").exists()
    _write_cert(out / f"{name}.crt", ca.issue_client(name, days=days, key=key).cert)
    report.note(f"{name}.crt", "reissued" if existed else "created")
    return report


def _stale_certificates(out: Path, ca: CA) -> list[str]:
    """Certificates in `out` that the current CA did not sign (left from a replaced CA)."""
    warnings = []
    for path in sorted(out.glob("*.crt")):
        if path.name == "ca.crt":
            continue
        try:
            load_cert(path).verify_directly_issued_by(ca.cert)
        except Exception:
            name = path.stem
            fix = "`inv tls.certs`" if name == "server" else f"`inv tls.client {name}`"
            warnings.append(f"{path.name} was not signed by this CA: reissue it with {fix}")
    return warnings


# --- inspection -------------------------------------------------------------------------------


@dataclass
class CertInfo:
    file: str
    subject: str
    issuer: str
    sans: list[str]
    not_after: str
    days_left: int
    key_type: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def describe(path: Path, *, now: dt.datetime | None = None) -> CertInfo:
    from cryptography import x509

    cert = load_cert(path)
    now = now or _now()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [str(n.value) for n in san]
    except x509.ExtensionNotFound:
        sans = []
    left = cert.not_valid_after_utc - now
    return CertInfo(
        file=path.name,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_after=cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
        days_left=left.days,
        key_type=key_type_of(cert.public_key()),
    )


def host_matches(sans: Sequence[str], host: str) -> bool:
    """Whether `host` (a name or IP) is covered by the SAN entries (one-label wildcards too)."""
    host = host.strip("[]")
    if _is_ip(host):
        want = ipaddress.ip_address(host)
        return any(_is_ip(s) and ipaddress.ip_address(s) == want for s in sans)
    name = host.rstrip(".").lower()
    for san in sans:
        s = san.lower()
        if s == name:
            return True
        if s.startswith("*.") and "." in name and name.split(".", 1)[1] == s[2:]:
            return True
    return False


def remote_names(sans: Sequence[str]) -> list[str]:
    """The names in a server certificate that clients on other machines can use: neither
    loopback (localhost, 127.x, ::1) nor the Compose service name (for containers only)."""
    from .addresses import is_loopback

    return [
        s
        for s in sans
        if s.lower() not in ("localhost", COMPOSE_SERVICE)
        and not s.lower().endswith(".localhost")
        and not (_is_ip(s) and is_loopback(s))
    ]


def remote_clients(sans: Sequence[str], bind_address: str) -> tuple[list[str], str | None]:
    """For a broker bound beyond loopback: the names clients on other machines must use, and a
    warning when the certificate has none (they would all reject it)."""
    names = remote_names(sans)
    if names:
        return names, None
    import socket

    here = socket.gethostname() or "THIS-HOST"
    hosts = ",".join([*DEFAULT_HOSTS, here])
    return [], (
        f"the broker listens on {bind_address} but server.crt names only "
        f"{', '.join(sans) or 'no hosts'}: clients from other machines will reject it; "
        f"regenerate it with this machine's names: `inv tls.certs --hosts {hosts},...` "
        "(add its DNS names and IP addresses)"
    )


def remote_clients_for(settings: Any, result: CheckResult) -> tuple[list[str], str | None]:
    """`remote_clients` for the settings' broker: nothing to say when it stays on loopback."""
    server = next((c for c in result.certificates if c.file == "server.crt"), None)
    if settings.loopback_only or server is None:
        return [], None
    return remote_clients(server.sans, settings.bind_address)


@dataclass
class CheckResult:
    certificates: list[CertInfo]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    tls_dir: Path,
    host: str,
    *,
    client_name: str | None = None,
    warn_days: int = WARN_DAYS,
    now: dt.datetime | None = None,
) -> CheckResult:
    """Read ca.crt, server.crt (and NAME.crt when it exists); list what is wrong with them.

    Problems: expired or expiring within `warn_days`, the server certificate not valid for
    `host`, not signed by ca.crt, or not matching server.key. Missing files are ConfigError.
    """
    now = now or _now()
    ca_file, server_file = tls_dir / "ca.crt", tls_dir / "server.crt"
    for path in (ca_file, server_file):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist", hint="create it with `inv tls.certs`")
    files = [ca_file, server_file]
    if client_name and (tls_dir / f"{client_name}.crt").is_file():
        files.append(tls_dir / f"{client_name}.crt")
    infos = [describe(p, now=now) for p in files]
    problems: list[str] = []
    for info in infos:
        if info.days_left < 0:
            problems.append(f"{info.file} expired on {info.not_after}")
        elif info.days_left < warn_days:
            problems.append(f"{info.file} expires in {info.days_left} days ({info.not_after})")
    server = infos[1]
    if not host_matches(server.sans, host):
        problems.append(
            f"server.crt is not valid for MQTT_BROKER_HOST={host} (it covers "
            f"{', '.join(server.sans) or 'no hosts'}): `inv tls.certs --hosts ...` with {host}"
        )
    ca_cert = load_cert(ca_file)
    for path in files[1:]:
        try:
            load_cert(path).verify_directly_issued_by(ca_cert)
        except Exception:
            problems.append(f"{path.name} was not signed by ca.crt")
            continue
        key_file = path.with_suffix(".key")
        if key_file.is_file():
            try:
                key = load_key(key_file)
            except InfraError as exc:
                problems.append(str(exc))
                continue
            if _public_der(key.public_key()) != _public_der(load_cert(path).public_key()):
                problems.append(f"{key_file.name} does not belong to {path.name}")
    if not problems:
        problem = _strict_verify(ca_cert, load_cert(server_file), host, now)
        if problem:
            problems.append(problem)
    return CheckResult(infos, problems)


def _strict_verify(
    ca: x509.Certificate, leaf: x509.Certificate, host: str, now: dt.datetime
) -> str | None:
    """RFC 5280 path validation (as strict clients do it); None when it passes."""
    try:
        from cryptography import x509
        from cryptography.x509 import verification as v
    except ImportError:  # pragma: no cover - cryptography < 42
        return None
    subject: Any = (
        x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
        if _is_ip(host.strip("[]"))
        else x509.DNSName(host)
    )
    try:
        verifier = v.PolicyBuilder().store(v.Store([ca])).time(now).build_server_verifier(subject)
        verifier.verify(leaf, [])
    except Exception as exc:  # VerificationError, or a name the verifier cannot take
        return f"server.crt does not pass strict verification: {exc}"
    return None
