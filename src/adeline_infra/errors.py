"""Expected failures: each ends a task with one line on stderr and a documented exit code.

Exit codes: 0 ok, 1 failed, 2 bad configuration or usage, 3 the broker is stopped
(`services.status`). Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class InfraError(Exception):
    """An expected failure: `str(err)` is the one line the user sees."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


class ConfigError(InfraError):
    """A bad `.env` value, flag or missing file the configuration asks for (exit 2).

    `variable` names the setting at fault and `source` where its value came from (".env", "the
    environment", "a task option", the pipeline's config, "the default"), when one is.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        variable: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.variable = variable
        self.source = source


class BrokerUnavailable(InfraError):
    """The broker could not be reached, or refused us (exit 1)."""

    exit_code = 1
