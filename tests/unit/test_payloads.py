"""payloads: JSON anyone could publish, read within bounds."""

from __future__ import annotations

import pytest

from adeline_infra import payloads


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 200000 + b"]" * 200000,  # RecursionError in json's scanner
        b"[" * 40 + b"]" * 40,  # parses, but deeper than any walk should go
        b"x" * (payloads.MAX_BYTES + 1),
        b"\xff\xfe",
        b"{not json",
        b"9" * 5000,  # Python's integer-string limit
    ],
    ids=["deep", "too-deep", "huge", "not-utf8", "not-json", "5000-digits"],
)
def test_what_cannot_be_read_within_bounds_is_none(payload: bytes) -> None:
    assert payloads.load(payload) is None


def test_a_real_detections_message_is_read() -> None:
    message = b'{"detections": [{"class": "person", "bbox": {"x": 1}}], "frame": {"frame_id": 3}}'
    assert payloads.load(message) == {
        "detections": [{"class": "person", "bbox": {"x": 1}}],
        "frame": {"frame_id": 3},
    }


@pytest.mark.parametrize("value", ["y" * 10_000, list(range(90_000)), 10**4000, {"a": [[[[[1]]]]]}])
def test_shown_is_bounded(value: object) -> None:
    from adeline_infra import text

    assert len(text.shown(value)) <= 60
