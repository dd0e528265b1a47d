"""A strict Python 3.13 TLS (+ MQTT CONNECT) client, run as a subprocess of the test suite.

Python 3.13's `ssl.create_default_context()` sets VERIFY_X509_STRICT; certificates that older
Pythons accept can fail there. The client uses nothing but the standard library, so it runs under
the pyenv 3.13 interpreter (`PYENV_VERSION=3.13.0 python3.13`) without any package installed.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

STRICT_CLIENT = r"""
import os, socket, ssl, struct, sys
host, port, ca, name, user = sys.argv[1:6]
password = os.environ.get("STRICT_PASSWORD", "")
ctx = ssl.create_default_context(cafile=ca)
assert sys.version_info >= (3, 13), sys.version
assert ctx.verify_flags & ssl.VERIFY_X509_STRICT, "not strict"
assert ctx.check_hostname
with socket.create_connection((host, int(port)), timeout=5) as raw:
    with ctx.wrap_socket(raw, server_hostname=name) as tls:
        if user == "-":  # TLS handshake only
            print("handshake ok", tls.version())
            sys.exit(0)
        def s(b): return struct.pack("!H", len(b)) + b
        flags = 0x02 | 0x80 | 0x40
        body = s(b"MQTT") + bytes([4, flags]) + struct.pack("!H", 30)
        body += s(b"strict313") + s(user.encode()) + s(password.encode())
        tls.sendall(bytes([0x10, len(body)]) + body)
        connack = tls.recv(4)
        print("connack", connack.hex(), tls.version())
        sys.exit(0 if connack[:2] == b"\x20\x02" and connack[3] == 0 else 3)
"""


@functools.cache
def python313() -> tuple[str, dict[str, str]] | None:
    """The pyenv Python 3.13 and the environment that selects it, or None when not installed."""
    exe = shutil.which("python3.13")
    if exe is None:
        return None
    env = {**os.environ, "PYENV_VERSION": "3.13.0"}
    env.pop("PYTHONPATH", None)
    try:
        probe = subprocess.run(
            [exe, "-c", "import sys; print(sys.version_info >= (3, 13))"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (exe, env) if probe.stdout.strip() == "True" else None


def strict_client(
    port: int,
    ca: Path,
    *,
    host: str = "127.0.0.1",
    server_hostname: str = "localhost",
    user: str = "-",
    password: str = "-",
) -> subprocess.CompletedProcess[str]:
    """Run the strict client (a TLS handshake, or with `user` an MQTT CONNECT) under 3.13."""
    found = python313()
    assert found is not None, "python3.13 is not installed"
    exe, env = found
    return subprocess.run(
        [exe, "-I", "-c", STRICT_CLIENT, host, str(port), str(ca), server_hostname, user],
        env={**env, "STRICT_PASSWORD": password},  # not in argv, as the product never does
        capture_output=True,
        text=True,
        timeout=30,
    )
