"""The `inv` surface: cheap to import, help on every option, usage errors exit 2."""

from __future__ import annotations

import copy
import inspect
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from ..helpers import ROOT, assert_one_line_error, base_env, inv, inv_here

HEAVY = ("paho", "docker", "rich", "cryptography", "dotenv", "psutil")


AT_START = ["adeline_infra", "adeline_infra.commands", "adeline_infra.errors"]


def test_the_tasks_package_imports_nothing_heavy() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r});"  # embeddable Python: no cwd
        "import invoke.program; before = set(sys.modules); import tasks;"
        "print(sorted(m for m in set(sys.modules) - before"
        f" if m.split('.')[0] in {HEAVY!r} + ('adeline_infra',)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == repr(AT_START)


@pytest.mark.parametrize("flag", ["", "1"])
def test_inv_caches_bytecode_unless_the_user_turned_it_off(tmp_path, flag) -> None:  # type: ignore[no-untyped-def]
    import shutil

    shutil.copytree(
        ROOT / "tasks", tmp_path / "tasks", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(ROOT / "src"), **({"PYTHONDONTWRITEBYTECODE": flag} if flag else {}))
    subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    # tasks/__init__ and _program are compiled before the flag is restored: ~1 ms
    cached = {p.name.split(".")[0] for p in (tmp_path / "tasks" / "__pycache__").glob("*.pyc")}
    assert cached == (
        set()
        if flag
        else {
            "_boundary",
            "auth",
            "control",
            "dev",
            "doctor",
            "monitor",
            "pipeline",
            "services",
            "tls",
        }
    )


def test_a_successful_inv_runs_its_atexit_handlers_and_flushes_all_it_printed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # exit_now skips the interpreter's teardown, not what a normal exit promises.
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "from invoke.main import program\n"
        "program.run(['inv', *sys.argv[1:]])\n"
        "print('not reached: exit_now ended the process')\n"
    )
    # A task that succeeds (nothing to stop) ends in exit_now; --list and --help in Exit(0).
    for argv in (["services.down", "--backend", "native"], ["--list"], ["--help", "tls.check"]):
        result = subprocess.run(
            [sys.executable, "-c", code, *argv],
            cwd=ROOT,
            env=base_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[-1] == "atexit ran" and "not reached" not in result.stdout
        assert len(lines) > 1  # what the task printed, all of the list or help: flushed


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes: EPIPE on the first write")
@pytest.mark.parametrize("argv", [["--list"], ["--help", "services.up"], ["services.status"]])
def test_output_to_a_reader_that_has_left_ends_with_exit_1_and_no_traceback(tmp_path, argv) -> None:  # type: ignore[no-untyped-def]
    # `inv --list | head -1`: here the reader is gone before the first write.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *argv],
            cwd=ROOT,
            env=base_env(tmp_path, BROKER_BACKEND="native"),
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert result.returncode == 1, result.stderr  # as rich ends a task's table there


def test_exit_now_leaves_the_end_to_python_while_a_thread_it_waits_for_runs() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"  # embeddable Python: no cwd
        "import threading, time, tasks._program as p\n"
        "threading.Thread(target=time.sleep, args=(0.2,)).start()\n"
        "p.exit_now(0)\n"
        "print('normal exit')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.strip()) == (0, "normal exit")


@pytest.mark.parametrize(
    "argv",
    [("services.up", "--bogus"), ("services.nope",), ("services.status", "extra-arg")],
)
def test_usage_errors_exit_2_in_one_line(tmp_path, argv) -> None:  # type: ignore[no-untyped-def]
    result = inv(*argv, env=base_env(tmp_path))
    assert_one_line_error(result, code=2)
    assert "Traceback" not in result.stderr


def test_status_json_of_a_stopped_broker_still_says_why_on_stderr(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    result = inv("services.status", "--json", env=base_env(tmp_path, BROKER_BACKEND="native"))
    assert json.loads(result.stdout)["running"] is False  # stdout stays JSON
    assert_one_line_error(result, "not running", code=3)


def test_usage_errors_name_the_option_from_the_argv_being_parsed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # In-process, sys.argv is pytest's: the option must come from what invoke parsed.
    result = inv_here("tls.check", "--days", "x", env=base_env(tmp_path))
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        "error: --days 'x' is not valid: expected a whole number (see `inv --help TASK`)"
    ]


def test_what_follows_the_double_dash_is_kept_as_typed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import tasks._program  # type: ignore[import-not-found]

    inv_here("auth.list-users", "--json", "--", "--config", "a b.yaml", env=base_env(tmp_path))
    assert tasks._program.passthrough("--config a b.yaml") == ["--config", "a b.yaml"]


SNAPSHOT = ROOT / "tests" / "unit" / "task_contract.json"


def arguments(t: Any) -> list[Any]:
    """A task's options, without consuming its help (invoke's `get_arguments` pops it)."""
    probe = copy.copy(t)
    probe.help = dict(t.help)
    return list(probe.get_arguments())


def contract() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    try:
        import tasks  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT))

    def walk(collection, prefix=""):  # type: ignore[no-untyped-def]
        for name, t in collection.tasks.items():
            yield prefix + name, t
        for name, sub in collection.collections.items():
            yield from walk(sub, f"{prefix}{name}.")

    out: dict[str, Any] = {}
    for name, t in sorted(walk(tasks.ns)):
        out[name] = {
            "doc": inspect.getdoc(t.body),
            "options": {
                arg.name: {
                    "flags": sorted(arg.names),
                    "kind": arg.kind.__name__,
                    "default": arg.default,
                    "positional": arg.positional,
                    "help": arg.help,
                }
                for arg in sorted(arguments(t), key=lambda a: a.name)
            },
        }
    return out


def test_tasks_names_help_and_options_are_unchanged() -> None:
    current = contract()
    if os.environ.get("UPDATE_TASK_CONTRACT"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    pinned = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == pinned


def test_every_task_and_option_has_help() -> None:
    missing = [
        f"{name}{f' --{option}' if option else ''}"
        for name, task in contract().items()
        for option, help_ in [
            ("", task["doc"]),
            *((o, a["help"]) for o, a in task["options"].items()),
        ]
        if not help_
    ]
    assert not missing
