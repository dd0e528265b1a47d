"""A secure broker's files for tests, made the way a user makes them: `inv tls.certs` and
`inv auth.add-user --password-stdin`, so the tests also cover the files users generate."""

from __future__ import annotations

import secrets
from pathlib import Path

from ..helpers import inv_here

USER = "adeline-test"


def prepare(env: dict[str, str], tmp: Path) -> dict[str, str]:
    """`env` turned into a broker requiring a user and speaking TLS, with the files it needs."""
    password = secrets.token_urlsafe(16)
    secured = {
        **env,
        "MQTT_ALLOW_ANONYMOUS": "false",
        "MOSQUITTO_PASSWD_FILE": str(tmp / "secrets" / "passwd"),
        "MQTT_USERNAME": USER,
        "MQTT_PASSWORD": password,
        "MQTT_USE_TLS": "true",
        "MQTT_TLS_DIR": str(tmp / "secrets" / "tls"),
    }
    certs = inv_here("tls.certs", env=secured)
    assert certs.returncode == 0, certs.stderr
    added = inv_here("auth.add-user", USER, "--password-stdin", env=secured, input=password + "\n")
    assert added.returncode == 0, added.stderr
    assert password not in added.stdout + added.stderr
    return secured
