"""The three changes this project makes to invoke: a usage error exits 2, like every other one;
bytecode is cached (`write_bytecode`); and a successful `inv` ends without the interpreter's
teardown (`exit_now`).

What it changes: `invoke.program.Program.parse_tasks`, which parses the task names and their
options once the tasks are loaded, is wrapped so that
- a `ParseError` (unknown task or option, missing value) becomes `Exit(message, 2)`, and
- a `ValueError` from invoke's casting of a typed option (`int("x")` for `--days x`) becomes
  `Exit(one line naming the option, 2)`.
It also keeps the argument list it parsed, so `passthrough()` can hand a task what followed `--`
exactly as typed (invoke gives tasks only `Context.remainder`, the words joined by spaces).

Why: the project's contract is exit 2 for bad usage; invoke's `Program.run` prints a
ParseError and exits 1, and offers no setting or hook for that code. Its documented way is a
`Program` subclass for a binary of one's own, but users run `inv` (and `invoke`) themselves.

What it depends on (invoke 2.x-3.x): `Program.run` calls `parse_tasks` after the collection is
loaded and inside its `except (..., Exit, ParseError)`; `Program.argv` holds the argument list
being parsed (`normalize_argv`), also under an in-process `Program.run(argv)`; invoke prints an
`Exit`'s message as one line. If a future invoke drops `parse_tasks`, the patch is skipped and
usage errors exit 1 again (tests/unit/test_tasks.py says so).

It is applied once, when the tasks package is imported (`inv` does that before parsing).

The end of a successful run: `Program.execute` (the tasks ran) and `Program.parse_cleanup`'s
plain `Exit` (`--list`, `--help`) are wrapped so that the `inv` command itself (invoke's
`invoke.main.program`, which `inv`, `invoke` and `python -m invoke` run; never a `Program` a
test runs in-process) ends with `exit_now(0)`: standard streams flushed, the `atexit` handlers
run (coverage's data, logging, temporary folders), then `os._exit(0)`. What it skips is the
interpreter's teardown, which frees every module and object one by one: 17-40 ms for invoke
and the modules a task imports, measured on this machine (`python -c "import invoke.program,
tasks, ..."` with and without `os._exit`, medians of 9), i.e. `inv --list` 156 -> 126 ms and
`inv services.up` 730 -> 711 ms (medians of 10, interleaved). Nothing the tasks write is left
in a buffer: files are written through `files.write_atomic` or closed by `with`. When another
thread that Python would wait for still runs, or a standard stream cannot be flushed, the
normal exit runs instead, as it does where `atexit._run_exitfuncs` (CPython's, undocumented)
is missing. A failure (an exit code other than 0) always takes the normal path.
A reader of stdout that has left (`inv --list | head -1`) ends it with exit 1 and no traceback,
there and when invoke's own printing meets it (`quiet_broken_pipe`).

Bytecode: invoke sets `sys.dont_write_bytecode` unless `--write-pyc` is given (so that a folder
of tasks gets no .pyc files), and an editable install compiles nothing, so every `inv` call
compiled the tasks package and each library module it imported from source again: ~40 ms of
`inv services.up`'s time beyond `inv --list` on this machine (scripts/bench.py startup and
scripts/bench_docker_up.py, before and after). `__pycache__` is git-ignored; PYTHONDONTWRITEBYTECODE
or `python -B` still turn it off.
"""

from __future__ import annotations

import re
from typing import Any

_parsed: list[str] = []  # the argv `parse_tasks` saw last (argv[0] is the program)


def passthrough(remainder: str) -> list[str]:
    """What came after `--` on the command line, as typed; `remainder` when argv is unknown."""
    if "--" in _parsed:
        return _parsed[_parsed.index("--") + 1 :]
    import shlex

    return shlex.split(remainder) if remainder else []


def cast_error(message: str, argv: list[str]) -> str:
    """`invalid literal for int() with base 10: 'x'` -> `error: --days 'x' is not valid: ...`."""
    match = re.search(r""": (['"])(.*?)\1?$""", message)  # int() quotes up to 200 characters
    value = match.group(2) if match else ""
    args = argv[1:]
    if not match and "digits" in message:  # Python's integer-string limit: no value quoted
        value = next((a for a in args if len(a) > 4300 and a.lstrip("+-").isdigit()), "")
    elif value not in args:
        value = next((a for a in args if value and a.startswith(value)), value)
    option = next(
        (args[i - 1] for i in range(len(args) - 1, 0, -1) if args[i] == value), "an option"
    )
    kind = "a whole number" if "int()" in message else "a number"
    shown = repr(value) if len(value) <= 40 else f"{value[:40]!r}... ({len(value)} characters)"
    return f"error: {option} {shown} is not valid: expected {kind} (see `inv --help TASK`)"


def write_bytecode() -> None:
    """Cache bytecode as Python does by default, unless the user turned it off (see above)."""
    import sys

    if not sys.flags.dont_write_bytecode:
        sys.dont_write_bytecode = False


def exit_now(code: int) -> None:
    """End the process as `sys.exit(code)` would, minus the interpreter's teardown (see above);
    returns (for the normal exit) when a non-daemon thread runs or stdout/stderr cannot flush."""
    import atexit
    import os
    import sys
    import threading

    current = threading.current_thread()
    if any(t is not current and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)  # CPython's, 3.10-3.13 and on
    if run_exitfuncs is None:
        return
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except BrokenPipeError:  # `inv ... | head -1`: the reader has left
        from adeline_infra import console

        console.reader_gone()
        code = 1
    except (OSError, ValueError):
        return  # a closed stream: the normal exit reports it as it always does
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _done(program: Any) -> None:
    """The `inv` command's successful end: `exit_now(0)`; a test's own Program returns."""
    import invoke.main

    if program is invoke.main.program:
        exit_now(0)


def quiet_broken_pipe() -> None:
    """A BrokenPipeError that reaches the top (invoke's own `--list` and `--help` print line by
    line, so `inv --list | head -1` met one) ends the process silently with exit 1 instead of a
    traceback. Every other exception is printed as before."""
    import sys

    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if issubclass(kind, BrokenPipeError):
            from adeline_infra import console

            console.reader_gone()
            return
        previous(kind, value, tb)

    sys.excepthook = hook


def apply() -> None:
    from invoke import Exit
    from invoke.parser import ParseError
    from invoke.program import Program

    original = getattr(Program, "parse_tasks", None)
    if original is None or getattr(original, "adeline_wrapped", False):
        return
    execute, cleanup = Program.execute, Program.parse_cleanup
    quiet_broken_pipe()

    def parse_tasks(self: Any) -> None:
        argv = list(getattr(self, "argv", None) or [])
        _parsed[:] = argv
        try:
            original(self)
        except ParseError as exc:
            raise Exit(str(exc), code=2) from None
        except ValueError as exc:
            raise Exit(cast_error(str(exc), argv), code=2) from None

    def run_tasks(self: Any) -> None:
        execute(self)
        _done(self)

    def parse_cleanup(self: Any) -> None:
        try:
            cleanup(self)
        except Exit as exc:
            if exc.code == 0 and not exc.message:  # --list, --help: printed, nothing failed
                _done(self)
            raise

    parse_tasks.adeline_wrapped = True  # type: ignore[attr-defined]
    Program.parse_tasks = parse_tasks  # type: ignore[method-assign]
    Program.execute = run_tasks  # type: ignore[method-assign]
    Program.parse_cleanup = parse_cleanup  # type: ignore[method-assign]
