"""What the stand-alone scripts share (they run without invoke, and before any install)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line with exit code 2, not the usage block.

    A script that makes one also never crashes on its output's encoding (a user's folder name
    outside Windows' code page): see console.protect_streams.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from .console import protect_streams

        protect_streams()
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


# Task options (invoke gives them typed, but any number: nan, inf, -1, 1e308 all parse).
# A week: longer is a typo, and `time.sleep`/`threading.Event.wait` fail on 1e308.
MAX_OPTION_SECONDS = 7 * 24 * 3600.0


def seconds(option: str, value: float, *, zero_ok: bool = False) -> float:
    """A task's seconds option: finite, positive (or 0 when it means "none"), at most a week.

    Raises ConfigError (exit 2) naming the option.
    """
    import math

    from .errors import ConfigError

    low = "0" if zero_ok else "more than 0"
    too_low = value < 0 or (value == 0 and not zero_ok)
    if not math.isfinite(value) or too_low or value > MAX_OPTION_SECONDS:
        raise ConfigError(
            f"--{option} {value:g} is not valid: expected {low} to {MAX_OPTION_SECONDS:g} s"
        )
    return value


def count(option: str, value: int, *, minimum: int = 0, maximum: int = 10**9) -> int:
    """A task's count option within [minimum, maximum]; ConfigError (exit 2) naming it."""
    from .errors import ConfigError

    if not minimum <= value <= maximum:
        raise ConfigError(f"--{option} {value} is not valid: expected {minimum} to {maximum}")
    return value
