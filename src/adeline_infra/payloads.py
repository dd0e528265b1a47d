"""JSON that anyone who can publish to the broker wrote: read within bounds, never trusted.

A retained status or a detections message may be 9 MB, or `[` nested 200,000 deep (json's
parser then raises RecursionError, and so would anything walking the result). Every payload the
tools parse goes through `load`: what it cannot read within the bounds is `None`, which callers
count and show as malformed, shortened.
"""

from __future__ import annotations

import json
from typing import Any

# Far above what the pipeline publishes (a status, a health report, one frame's detections).
MAX_BYTES = 1024 * 1024
# Far deeper than any real document; shallow enough that no walk of it recurses too far.
MAX_DEPTH = 32


def load(payload: bytes, *, max_bytes: int = MAX_BYTES) -> Any | None:
    """The JSON value in `payload`, or None when it is too big, too deep, or not JSON/UTF-8."""
    if len(payload) > max_bytes:
        return None
    try:
        value = json.loads(payload)  # C scanner: a deep one raises RecursionError, fast
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if _shallow(value) else None


def _shallow(value: Any) -> bool:
    """Is `value` nested at most MAX_DEPTH deep? Iterative: it visits containers only."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return True


def unwrap_status(data: dict[str, Any]) -> dict[str, Any]:
    """A status message with its `status` member as an object when it is a string holding a JSON
    object: the real pipeline answers `health` with `publish_status(json.dumps(health, indent=2))`.
    Anything else is returned as it is."""
    status = data.get("status")
    if isinstance(status, str) and status.lstrip().startswith("{"):
        inner = load(status.encode("utf-8", "surrogatepass"))
        if isinstance(inner, dict):
            return {**data, "status": inner}
    return data


def too_big(payload: bytes, *, max_bytes: int = MAX_BYTES) -> bool:
    return len(payload) > max_bytes
