"""Sessions for contributors and CI: `nox -l` lists them.

Minimal on the `docker` branch: only the Docker backend's integration session. The lead merges
it into the main noxfile (which owns the shared helpers, Python versions and default set).
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"

_ENGINE_CHECK = (
    "from adeline_infra.backends.docker import engine_answers, find_endpoint;"
    "e = find_endpoint();"
    "print('engine:', 'yes' if engine_answers(timeout=2) else 'no', e.url if e else 'none')"
)


@nox.session(default=False)
def integration_docker(session: nox.Session) -> None:
    """services.* on a real Docker engine (skips loudly without one; fails if CI requires it)."""
    session.install("-e", ".[dev]")
    answer = session.run("python", "-c", _ENGINE_CHECK, silent=True) or ""
    required = os.environ.get("ADELINE_REQUIRE_DOCKER") == "1"
    if "engine: yes" not in answer:
        where = answer.strip().rsplit(" ", 1)[-1] if answer.strip() else "none"
        reason = f"no Docker engine answers (endpoint: {where}); start one with .ci/start-docker.sh"
        if required:
            session.error(f"ADELINE_REQUIRE_DOCKER=1 but {reason}")
        session.skip(reason)
    session.run(
        "pytest",
        "-m",
        "docker",
        *(session.posargs or ["tests/integration/test_docker_services.py"]),
        env={"ADELINE_REQUIRE_DOCKER": "1" if required else "0"},
    )
