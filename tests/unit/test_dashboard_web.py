"""The page server's gatekeeping and its event hub, without a browser."""

from __future__ import annotations

import pytest

from adeline_infra.dashboard import web


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Host": "127.0.0.1:8000"}, True),
        ({"Host": "localhost:8000", "Origin": "http://localhost:8000"}, True),
        ({"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8000"}, True),
        ({"Host": "evil.example:8000"}, False),  # DNS rebinding: the attacker's name
        ({"Host": "127.0.0.1:8001"}, False),
        ({}, False),
        ({"Host": "127.0.0.1:8000", "Origin": "http://evil.example"}, False),
        ({"Host": "127.0.0.1:8000", "Origin": "null"}, False),
        ({"Host": "127.0.0.1:8000", "Origin": "https://127.0.0.1:8000"}, False),
    ],
)
def test_request_allowed(headers: dict[str, str], allowed: bool) -> None:
    assert web.request_allowed(headers, 8000) is allowed


def test_hub_hands_out_the_latest_event_once() -> None:
    hub = web.Hub()
    hub.publish({"a": 1})
    hub.publish({"a": 2})
    serial, event = hub.wait(-1, 0.01)
    assert serial == 2 and b'"a":2' in event and event.endswith(b"\n\n")
    assert hub.wait(serial, 0.01) == (serial, event)  # nothing new: times out with the same


def test_static_files_are_package_data_and_fetch_nothing_from_elsewhere() -> None:
    from importlib import resources

    for name, _kind in web.STATIC.values():
        text = resources.files("adeline_infra.dashboard").joinpath("static", name).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
