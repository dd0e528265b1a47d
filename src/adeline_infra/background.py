"""Work a task starts in a thread so that it runs while the task waits for something else.

`beside(fn)` runs `fn()` in a daemon thread and returns a `Pending`, whose `result(timeout)`
waits for it and returns its value, or raises its exception in the caller's thread; None when
it did not finish in time. The task meanwhile waits for a child process or the network, and a
waiting thread holds no GIL, so the two overlap: the Docker backend looks for the container
while `compose up` runs, `auto` asks the engine while psutil looks for a native broker,
`services.status` reads the running broker's config while the broker answers over MQTT.

`preload(*modules)` is the same for an import the task needs next: paho while compose works,
rich while the broker answers (~15-45 ms each, then free). Python's import locks make the
task's own `import` wait for this one instead of importing twice; a failure is left for that
import to raise, where the task's boundary turns it into one line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Pending(Generic[T]):
    """`fn()` running in a daemon thread (never waited for at exit)."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._value: list[T] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], T]) -> None:
        try:
            self._value.append(fn())
        except BaseException as exc:  # handed to the caller by result(), never printed here
            self._error.append(exc)

    def result(self, timeout: float) -> T | None:
        """`fn`'s value once it is done (its exception raised here), or None after `timeout` s."""
        self._thread.join(timeout)
        if self._error:
            raise self._error[0]
        return self._value[0] if self._value else None


def beside(fn: Callable[[], T]) -> Pending[T]:
    return Pending(fn)


def preload(*modules: str) -> None:
    import importlib

    def load() -> None:
        for name in modules:
            importlib.import_module(name)

    beside(load)
