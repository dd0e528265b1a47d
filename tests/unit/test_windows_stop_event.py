"""Windows' stop of mosquitto (its named event) while the broker is still starting.

mosquitto creates `mosq<PID>_shutdown` only after its config, database and listeners (its
signal__setup), so an early stop finds no event: waited for, then reported as "not asked",
never as the "another user" refusal. The kernel32 calls are scripted, so this runs everywhere.
"""

from __future__ import annotations

from typing import Any

import pytest

from adeline_infra import procs
from adeline_infra.errors import InfraError

NOT_FOUND, DENIED = 2, 5


class Kernel32:
    """OpenEventW answers 0 with the scripted error codes first, then a handle."""

    def __init__(self, errors: list[int]) -> None:
        self.errors = list(errors)
        self.code = 0
        self.calls: list[str] = []

    def OpenEventW(self, access: int, inherit: bool, name: str) -> int:
        self.calls.append("open")
        if self.errors:
            self.code = self.errors.pop(0)
            return 0
        return 7

    def SetEvent(self, handle: int) -> bool:
        self.calls.append("set")
        return True

    def CloseHandle(self, handle: int) -> bool:
        self.calls.append("close")
        return True


def set_event(k: Kernel32, **kwargs: Any) -> bool:
    name = "mosq9_shutdown"
    return procs.set_windows_event(name, kernel32=k, last_error=lambda: k.code, **kwargs)


def test_an_event_not_created_yet_is_waited_for_then_set() -> None:
    k = Kernel32([NOT_FOUND, NOT_FOUND])
    assert set_event(k, wait=30) is True
    assert k.calls == ["open", "open", "open", "set", "close"]


def test_an_event_that_never_appears_is_not_asked_not_a_refusal() -> None:
    k = Kernel32([NOT_FOUND] * 1000)
    assert set_event(k, wait=0) is False
    assert "set" not in k.calls


def test_a_broker_that_ends_while_we_wait_needs_no_stop() -> None:
    k = Kernel32([NOT_FOUND] * 1000)
    assert set_event(k, wait=30, alive=lambda: False) is True
    assert k.calls == ["open"]


def test_access_denied_is_the_other_user_error_at_once() -> None:
    k = Kernel32([DENIED])
    with pytest.raises(InfraError, match="Windows error 5"):
        set_event(k, wait=30)
    assert k.calls == ["open"]


class Proc:
    pid = 9

    def is_running(self) -> bool:
        return True


@pytest.mark.parametrize(("found", "asked"), [(True, True), (False, False)])
def test_request_stop_on_windows_passes_the_wait_and_says_whether_it_asked(
    monkeypatch: pytest.MonkeyPatch, found: bool, asked: bool
) -> None:
    seen: dict[str, Any] = {}

    def fake(name: str, **kwargs: Any) -> bool:
        seen.update(kwargs, name=name)
        return found

    monkeypatch.setattr(procs, "set_windows_event", fake)
    assert procs.request_stop(Proc(), method="event", wait=12.5) is asked
    assert seen["name"] == "mosq9_shutdown" and seen["wait"] == 12.5 and seen["alive"]()


def test_request_stop_on_posix_always_asks() -> None:
    class Signalled(Proc):
        def send_signal(self, sig: int) -> None:
            self.sig = sig

    assert procs.request_stop(Signalled(), method="sigterm", wait=0) is True
