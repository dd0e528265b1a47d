"""pipeline.*: run Adeline's pipeline with this checkout's settings (`adeline_infra.pipeline`)."""

from __future__ import annotations

from invoke import Collection, Context, Exit

from . import _program
from ._boundary import load_settings, task
from .services import up


@task(
    name="run",
    help={
        "with_services": "start the broker first (services.up, waits for CONNACK): "
        "the Makefile's full-start",
        "timeout": "with --with-services: seconds to wait for the broker (default 15)",
    },
)
def run(c: Context, with_services: bool = False, timeout: float = 15.0) -> None:
    """Run the pipeline (python -m PIPELINE_MODULE) with our MQTT settings and *_ENABLED=False.

    It gets the credentials in its environment (never its arguments) and runs where it finds
    PIPELINE_CONFIG; it refuses to start when that file names another broker or topics than
    ours. `python -m adeline` reads no arguments; for another PIPELINE_MODULE, arguments after
    `--` are passed on. Its exit code is ours; Ctrl+C stops it cleanly.
    """
    from adeline_infra import pipeline

    s = load_settings()
    pipeline.check_agreement(s)
    if with_services:
        up(c, timeout=timeout)
    code = pipeline.run(s, _program.passthrough(c.remainder))
    if code:
        raise Exit(code=code)


ns = Collection("pipeline", run)
