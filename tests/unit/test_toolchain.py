"""The dev toolchain agrees with itself: one ruff version, tools in dependency groups."""

from __future__ import annotations

import re

from ..helpers import ROOT


def test_one_ruff_version_for_nox_the_venv_and_pre_commit() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pinned = re.findall(r'"ruff==([\w.]+)"', pyproject)
    assert len(pinned) == 1, "pyproject.toml pins ruff once, in the lint group"
    hooks = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    revs = re.findall(r"ruff-pre-commit\s+rev:\s*v([\w.]+)", hooks)
    assert revs == pinned, "bump .pre-commit-config.yaml's ruff rev with the lint group"
