"""addresses: the one definition of "loopback"."""

from __future__ import annotations

import pytest

from adeline_infra import addresses


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "::1", "[::1]"]
)
def test_loopback(host: str) -> None:
    assert addresses.is_loopback(host)


@pytest.mark.parametrize("host", ["broker.lan", "0.0.0.0", "::", "192.168.1.10", "", "x:1883"])
def test_not_loopback(host: str) -> None:
    assert not addresses.is_loopback(host)


def test_same_host_is_one_endpoint_not_one_machine() -> None:
    assert addresses.same_host("localhost", "127.0.0.1")
    assert addresses.same_host("Broker.Lan", "broker.lan")
    assert addresses.same_host("[::1]", "localhost")
    assert not addresses.same_host("127.0.0.1", "127.0.0.2")  # loopback, but another socket
