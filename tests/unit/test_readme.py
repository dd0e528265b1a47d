"""The README is a newcomer's first read: its generated tables and commands must be true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_task_and_settings_tables_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_readme.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_inv_task_the_readme_names_exists() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    tasks = set(re.findall(r"^\s{2}(\S+)", listed.stdout, flags=re.MULTILINE))
    named = set(re.findall(r"\binv ([a-z][\w.-]*)", README)) - {"--list", "--help"}
    assert named, "the README names no task"
    assert named <= tasks, f"README names unknown tasks: {sorted(named - tasks)}"


def test_every_nox_session_the_readme_names_exists() -> None:
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    sessions = set(re.findall(r"^def (\w+)\(session", noxfile, flags=re.MULTILINE))
    section = README.split("## Running the tests")[1].split("\n## ")[0]
    named = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))
    assert named and named <= sessions, sorted(named - sessions)


def test_the_package_docstring_indexes_every_module() -> None:
    import adeline_infra

    src = ROOT / "src" / "adeline_infra"
    modules = {p.stem for p in src.glob("*.py") if p.stem != "__init__"} | {"backends"}
    missing = {m for m in modules if f"`{m}`" not in (adeline_infra.__doc__ or "")}
    assert not missing


def test_the_readme_says_why_the_native_broker_runs_as_root_when_run_as_root() -> None:
    """The generated config says `user root` under root (`NativeBackend._render`): the README
    says what mosquitto would drop to otherwise, and why it must not."""
    native = README[README.index("- `native`:") : README.index("- `auto`")]
    assert "`user root`" in native
    assert "`mosquitto` user" in native and "retained messages" in native
