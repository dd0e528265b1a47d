"""text: the one definition of what may not pass through as it is."""

from __future__ import annotations

import pytest

from adeline_infra import text
from adeline_infra.console import printable


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ("a\nb", "\\n"),
        ("esc\x1b[2J", "\\x1b"),
        ("evil\u202egpj.exe", "\\u202e"),
        ("line\u2028sep", "\\u2028"),
        ("nel\x85", "\\x85"),
        ("lone\udc80", "\\udc80"),
    ],
)
def test_control_line_break_and_bidi_characters_are_named(value: str, bad: str) -> None:
    assert text.control_character(value) == bad
    assert bad in text.printable(value) and value not in text.printable(value)


@pytest.mark.parametrize("value", ["plain", "Ёлка проект", "tab-free ✓", "a b"])
def test_ordinary_text_passes(value: str) -> None:
    assert text.control_character(value) is None and text.printable(value) == value


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
