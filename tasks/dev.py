"""dev: set up a checkout for development (`adeline_infra.devenv`)."""

from __future__ import annotations

from invoke import Context

from ._boundary import ROOT, load_settings, task
from .services import up


@task(help={"timeout": "seconds to wait for the broker (default 15)"})
def dev(c: Context, timeout: float = 15.0) -> None:
    """Set up for development: .env from .env.example if missing, broker up, how to connect."""
    from adeline_infra import cli, console, devenv

    cli.seconds("timeout", timeout)
    created = devenv.ensure_env_file(ROOT)
    if created:
        console.out(f"created {created.name} from .env.example (edit it to change settings)")
    up(c, timeout=timeout)
    s = load_settings()
    for line in devenv.connection_help(s):
        console.out(line)
    for line in devenv.pipeline_disagreements(s):
        console.err(line)
