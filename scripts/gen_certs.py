#!/usr/bin/env python3
"""Create the broker's TLS files: a private CA, a server certificate, client certificates.

    python scripts/gen_certs.py --out DIR [--hosts localhost,127.0.0.1,::1,...]
                                [--key-type ec|rsa] [--days N] [--client NAME] [--force]

Writes ca.crt, ca.key, server.crt, server.key and NAME.crt/NAME.key (keys mode 0600). An
existing CA is kept and signs the new certificates, so clients that trust it keep working;
existing keys are kept too. --force replaces the CA and the keys. Needs the `cryptography`
package; runs without invoke and without this package installed.
Exit codes: 0 ok, 1 failed, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:  # this checkout's code, installed or not
    sys.path.insert(0, str(SRC))

from adeline_infra.cli import OneLineParser  # noqa: E402
from adeline_infra.errors import InfraError  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="gen_certs.py",
        description="Create a CA, a server certificate for the MQTT broker and client "
        "certificates (strict-verification ready: works with Python 3.13's default context).",
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for the files (created if missing)",
    )
    p.add_argument(
        "--hosts",
        metavar="H1,H2,...",
        help="names and IP addresses the server certificate is valid for "
        "(default: localhost,127.0.0.1,::1,mosquitto)",
    )
    p.add_argument(
        "--key-type",
        choices=("ec", "rsa"),
        help="type of new keys: ec (P-256, default) or rsa (2048)",
    )
    p.add_argument(
        "--days",
        type=int,
        default=825,
        metavar="N",
        help="validity of the server and client certificates in days (default 825)",
    )
    p.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME",
        help="also make NAME.crt/NAME.key (CN=NAME); repeatable. With --client and "
        "without --hosts an existing server certificate is left alone",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing CA and keys (clients must get the new ca.crt)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from adeline_infra import certs
    except ImportError as exc:  # cryptography missing
        print(f"error: {exc}: install it with `pip install cryptography`", file=sys.stderr)
        return 1
    try:
        server = args.hosts is not None or not args.client or args.force
        server = server or not (args.out / "server.crt").exists()
        report = certs.make_tls_dir(
            args.out,
            hosts=args.hosts if args.hosts is not None else certs.DEFAULT_HOSTS,
            key_type=args.key_type,
            days=args.days,
            force=args.force,
            server=server,
            clients=args.client,
        )
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for name, action in report.actions:
        print(f"{args.out / name}: {action}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
