"""What may not pass through as it is: control characters, line breaks, bidirectional controls.

The one definition for every module. In a setting, a user name or a path they become a new
line of mosquitto.conf or of the password file; in what we print (a status or a class name
anyone can publish, a user name) an ESC rewrites the terminal and a right-to-left override
(U+202E) makes `evil.exe` read as `exe.live`.
"""

from __future__ import annotations

import unicodedata
from typing import Any

# Line breaks: Python's `str.splitlines`, terminals and editors end a line at each of these.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Bidirectional controls: marks, embeddings, overrides and isolates reorder what is shown.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def unsafe(char: str) -> bool:
    """A control character (C0, DEL, C1), a surrogate, a line break or a bidi control."""
    return (
        char in LINE_BREAKS or char in BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs")
    )


def control_character(value: str) -> str | None:
    """The first unsafe character in `value`, shown escaped (`\\x1b`, `\\u202e`); None if clean."""
    for char in value:
        if unsafe(char):
            return _escaped(char)
    return None


def printable(text: str) -> str:
    """`text` with every unsafe character shown escaped, never sent to the terminal as it is."""
    if text.isprintable() and not any(c in BIDI_CONTROLS for c in text):
        return text
    return "".join(_escaped(c) if unsafe(c) and c != " " else c for c in text)


def _escaped(char: str) -> str:
    return repr(char)[1:-1]  # \n, \x1b, \u202e: every unsafe character is one repr escapes


def shown(value: Any, limit: int = 60) -> str:
    """A value (from a payload, a YAML file) as short text for one line, bounded before it is
    built: a huge number, a long list or an alias bomb (shared nested lists) costs no more than a
    short one."""
    import reprlib

    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 3] + "..."
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<a number of about {int(value.bit_length() * 0.30103) + 1} digits>"
    shortener = reprlib.Repr()
    shortener.maxlevel, shortener.maxlist, shortener.maxdict = 2, 4, 4
    shortener.maxstring = shortener.maxother = limit
    text = shortener.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quoted(value: str, limit: int = 80) -> str:
    """A string the user gave (an argument, a setting) quoted for a one-line message, as `repr`
    shows it (control characters escaped), cut before it is built and its length named: a
    100 kB argument is not a line. (`shown` is for values others wrote: payloads, YAML.)"""
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"... ({len(value)} characters)"
