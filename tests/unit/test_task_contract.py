"""The task layer's contract: every task's name, help text and options, pinned.

Users and their scripts depend on these; a change to one is a change to the product. The
snapshot is `task_contract.json`; after an intended change, regenerate it with
`UPDATE_TASK_CONTRACT=1 pytest tests/unit/test_task_contract.py` and review the diff.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import sys
from typing import Any

from ..helpers import ROOT

SNAPSHOT = ROOT / "tests" / "unit" / "task_contract.json"


def arguments(t: Any) -> list[Any]:
    """A task's options, without consuming its help (invoke's `get_arguments` pops it)."""
    probe = copy.copy(t)
    probe.help = dict(t.help)
    return list(probe.get_arguments())


def contract() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    try:
        import tasks  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT))

    def walk(collection, prefix=""):  # type: ignore[no-untyped-def]
        for name, t in collection.tasks.items():
            yield prefix + name, t
        for name, sub in collection.collections.items():
            yield from walk(sub, f"{prefix}{name}.")

    out: dict[str, Any] = {}
    for name, t in sorted(walk(tasks.ns)):
        out[name] = {
            "doc": inspect.getdoc(t.body),
            "options": {
                arg.name: {
                    "flags": sorted(arg.names),
                    "kind": arg.kind.__name__,
                    "default": arg.default,
                    "positional": arg.positional,
                    "help": arg.help,
                }
                for arg in sorted(arguments(t), key=lambda a: a.name)
            },
        }
    return out


def test_tasks_names_help_and_options_are_unchanged() -> None:
    current = contract()
    if os.environ.get("UPDATE_TASK_CONTRACT"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    pinned = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == pinned


def test_every_task_and_option_has_help() -> None:
    missing = [
        f"{name}{f' --{option}' if option else ''}"
        for name, task in contract().items()
        for option, help_ in [
            ("", task["doc"]),
            *((o, a["help"]) for o, a in task["options"].items()),
        ]
        if not help_
    ]
    assert not missing
