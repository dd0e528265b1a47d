"""background.beside: a value, an exception in the caller's thread, or None when not done."""

from __future__ import annotations

import threading

import pytest

from adeline_infra import background
from adeline_infra.errors import InfraError


def test_the_value_and_the_exception_reach_the_caller() -> None:
    assert background.beside(lambda: 42).result(timeout=30) == 42

    def fail() -> None:
        raise InfraError("the engine does not answer")

    pending = background.beside(fail)
    with pytest.raises(InfraError, match="does not answer"):
        pending.result(timeout=30)


def test_work_not_done_in_time_is_none_and_its_value_comes_later() -> None:
    go = threading.Event()

    def slow() -> str:
        go.wait(30)
        return "done"

    pending = background.beside(slow)
    assert pending.result(timeout=0.01) is None
    go.set()
    assert pending.result(timeout=30) == "done"


def test_a_preload_that_fails_is_silent_and_leaves_the_import_to_the_task() -> None:
    background.preload("adeline_infra.no_such_module")  # nothing raised, nothing printed
    with pytest.raises(ModuleNotFoundError):
        import adeline_infra.no_such_module  # type: ignore[import-not-found]  # noqa: F401
