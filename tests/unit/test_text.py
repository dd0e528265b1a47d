"""text: the one definition of what may not pass through as it is."""

from __future__ import annotations

import pytest

from adeline_infra import text


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
