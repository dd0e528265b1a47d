"""Which hosts are this machine itself: the one definition of "loopback" every module uses."""

from __future__ import annotations

import ipaddress

# What a loopback-only listener binds to (IPv4 and IPv6), and what "every interface" is.
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::")
# The names a default broker answers on: 127.0.0.2 is loopback too, but another endpoint.
LOOPBACK_NAMES = ("localhost", *LOOPBACK_ADDRESSES)


def is_loopback(host: str) -> bool:
    """`localhost`, or an address in 127.0.0.0/8 or ::1 (case and IPv6 brackets ignored)."""
    host = host.strip().lower().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_host(a: str, b: str) -> bool:
    """Do two host names mean the same broker? Equal ignoring case, or both `LOOPBACK_NAMES`."""
    a, b = a.strip().lower().strip("[]"), b.strip().lower().strip("[]")
    return a == b or (a in LOOPBACK_NAMES and b in LOOPBACK_NAMES)
