from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra import cli
from adeline_infra.errors import ConfigError

from ..helpers import assert_one_line_error, base_env, inv


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0, 1e308])
def test_seconds_options(value: float) -> None:
    with pytest.raises(ConfigError, match="^--timeout"):
        cli.seconds("timeout", value)
    assert cli.seconds("timeout", 0.0, zero_ok=True) == 0.0


@pytest.mark.parametrize(
    "args",
    [
        ("services.logs", "--tail", "x"),
        ("services.logs", "--tail", "-5"),
        ("services.up", "--timeout", "nan"),
        ("services.restart", "--timeout", "-1"),
        ("tls.check", "--days", "1e309"),
        ("monitor.data", "--timeout", "1e309"),
        ("control.pause", "--wait", "--timeout", "1e309"),
        ("monitor.status", "--watch", "--interval", "0"),
        # beyond Python's integer-string limit; and huge values, shown shortened
        ("tls.check", "--days", "9" * 5000),
        ("monitor.data", "--count", "x" * 5000),
        ("tls.certs", "--key-type", "x" * 5000),
    ],
)
def test_task_options_exit_2_naming_the_option(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = inv(*args, env=base_env(tmp_path))
    word = "key type" if args[-2] == "--key-type" else args[-2]
    assert len(assert_one_line_error(result, word, code=2)) < 300  # a huge value shown cut
