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
