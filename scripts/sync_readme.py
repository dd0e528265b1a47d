#!/usr/bin/env python3
"""Keep the README's task list and configuration table in step with the code.

The task list comes from the tasks package (what `inv --list` shows), the configuration table from
`settings.VARIABLES`. `python scripts/sync_readme.py` rewrites both blocks; `--check` exits 1
when the README is stale (a unit test runs it).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT / "src"))


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


def task_rows() -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT))
    try:
        ns = importlib.import_module("tasks").ns
    finally:
        sys.path.remove(str(ROOT))
    rows: list[tuple[str, str]] = []

    def walk(collection: object, prefix: str) -> None:
        for name, t in sorted(collection.tasks.items()):  # type: ignore[attr-defined]
            rows.append((prefix + name, _first_line(t.__doc__ or t.body.__doc__)))
        for name, sub in sorted(collection.collections.items()):  # type: ignore[attr-defined]
            walk(sub, f"{prefix}{name}.")

    walk(ns, "")
    return rows


def tasks_block() -> str:
    lines = ["| task | what it does |", "|---|---|"]
    lines += [f"| `inv {name}` | {doc} |" for name, doc in task_rows()]
    return "\n".join(lines)


def settings_block() -> str:
    from adeline_infra.settings import VARIABLES

    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for v in VARIABLES:
        default = v.default if len(v.default) < 40 else v.default[:37] + "..."
        lines.append(
            f"| `{v.name}` | `{default}` | {v.help} |"
            if default
            else f"| `{v.name}` | | {v.help} |"
        )
    return "\n".join(lines)


def render(text: str) -> str:
    for marker, block in (("tasks", tasks_block()), ("settings", settings_block())):
        start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = f"{head}{start}\n{block}\n{end}{tail}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if current != wanted:
            print("README.md is stale: run `python scripts/sync_readme.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
