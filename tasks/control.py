"""control.*: commands to the pipeline, one task per row of `adeline_infra.commands.TABLE`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from invoke import Collection, Context

from adeline_infra import commands  # plain data: costs nothing

from ._boundary import load_settings, task

CONTROL_HELP = {
    "wait": "then wait for the pipeline's answer and print it (its next status; metrics: its "
    "next metrics message)",
    "timeout": "seconds --wait waits for that answer (default 5)",
    "json": "print the result as JSON",
}
NO_ANSWER_HELP = {"json": "print the result as JSON"}


def _send(command: str, wait: bool, timeout: float, json: bool) -> None:
    from adeline_infra import cli, console, control, views

    if wait:  # the timeout bounds the wait only (toggle-crop sends 0: no wait)
        cli.seconds("timeout", timeout)
    s = load_settings()
    result = control.send(s, command, wait=wait, timeout=timeout)
    if json:
        console.print_json(result.as_dict())
        return
    views.control_result(result)


def _command_task(command: str, answer: str | None, doc: str) -> Any:
    body: Callable[..., None]
    if answer is not None:

        def answered(
            c: Context, wait: bool = False, timeout: float = 5.0, json: bool = False
        ) -> None:
            _send(command, wait, timeout, json)

        body, help_ = answered, CONTROL_HELP
    else:

        def unanswered(c: Context, json: bool = False) -> None:
            _send(command, False, 0.0, json)

        body, help_ = unanswered, NO_ANSWER_HELP
    body.__doc__ = doc
    body.__name__ = body.__qualname__ = command
    return task(name=command.replace("_", "-"), help=help_)(body)


@task(
    help={
        "name": "the command, e.g. toggle_crop or stabilization_stats",
        **CONTROL_HELP,
        "wait": "wait for the answer (only for commands whose answer is known: "
        "pause, resume, stop, status, health, metrics; exit 2 otherwise)",
    }
)
def send(
    c: Context, name: str, wait: bool = False, timeout: float = 5.0, json: bool = False
) -> None:
    """Send any command by NAME: publishes {"command": NAME} to TOPIC_COMMANDS."""
    _send(name, wait, timeout, json)


ns = Collection(
    "control", *(_command_task(name, *row) for name, row in commands.TABLE.items()), send
)
