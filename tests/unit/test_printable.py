from __future__ import annotations

import pytest

from adeline_infra.console import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("running", "running"),
        ("café 人 [bold]", "café 人 [bold]"),  # printable text is untouched
        ("ok\x1b[2J", "ok\\x1b[2J"),
        ("a\nb\tc\r", "a\\nb\\tc\\r"),
        ("\x9b31m", "\\x9b31m"),  # the 8-bit CSI
        ("x\u2028y", "x\\u2028y"),
    ],
)
def test_printable_escapes_control_characters_only(raw: str, shown: str) -> None:
    assert printable(raw) == shown
