"""Modules a task will need next, imported in a thread while it waits for something else.

`preload("paho.mqtt.client")` before `compose up` (~0.5 s of waiting for the engine) or
`preload("rich.table")` before a status look (the broker's answer, `docker exec`): the import's
~15-45 ms then costs nothing, because the waiting thread holds no GIL. Python's import locks
make the later `import` in the task wait for this one instead of importing twice. A failure is
ignored here: the task's own import raises it, where its boundary turns it into one line.
"""

from __future__ import annotations


def preload(*names: str) -> None:
    import threading

    def load() -> None:
        import contextlib
        import importlib

        for name in names:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    threading.Thread(target=load, daemon=True, name="preload").start()
