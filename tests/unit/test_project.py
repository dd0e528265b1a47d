"""The dev toolchain agrees with itself: one ruff version, tools in dependency groups."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .. import docker_helpers
from ..helpers import ROOT, base_env


def test_one_ruff_version_for_nox_the_venv_and_pre_commit() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pinned = re.findall(r'"ruff==([\w.]+)"', pyproject)
    assert len(pinned) == 1, "pyproject.toml pins ruff once, in the lint group"
    hooks = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    revs = re.findall(r"ruff-pre-commit\s+rev:\s*v([\w.]+)", hooks)
    assert revs == pinned, "bump .pre-commit-config.yaml's ruff rev with the lint group"


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


def test_adeline_test_mosquitto_is_the_native_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOSQUITTO_BIN", "/leaked/from/a/developer/mosquitto")
    assert "MOSQUITTO_BIN" not in base_env(tmp_path)
    monkeypatch.setenv("ADELINE_TEST_MOSQUITTO", "/opt/mosquitto-2.1.2/sbin/mosquitto")
    assert base_env(tmp_path)["MOSQUITTO_BIN"] == "/opt/mosquitto-2.1.2/sbin/mosquitto"
    # a test's own value still wins (a missing binary, a broken one)
    assert base_env(tmp_path, MOSQUITTO_BIN="/nowhere")["MOSQUITTO_BIN"] == "/nowhere"


def test_the_docker_tests_run_the_chosen_image(tmp_path: Path) -> None:
    env = docker_helpers.docker_env(tmp_path)
    assert env["MOSQUITTO_IMAGE"] == docker_helpers.IMAGE
    assert docker_helpers.docker_env(tmp_path, MOSQUITTO_IMAGE="x:1")["MOSQUITTO_IMAGE"] == "x:1"


def _bootstrap() -> dict[str, object]:
    import runpy

    return runpy.run_path(str(ROOT / "scripts" / "bootstrap.py"), run_name="bootstrap")


def test_bootstrap_reports_a_usage_error_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import runpy

    bootstrap = runpy.run_path(str(ROOT / "scripts" / "bootstrap.py"), run_name="bootstrap")
    with pytest.raises(SystemExit) as caught:
        bootstrap["main"](["--bogus"])
    assert caught.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("version", "path", "refused"),
    [
        ((3, 11), r"C:\Users\Ёлка\adeline-infra", True),
        ((3, 10), r"C:\Users\Ёлка\adeline-infra", True),
        ((3, 13), r"C:\Users\Ёлка\adeline-infra", False),  # 3.13 reads .pth files as UTF-8
        ((3, 11), r"C:\Users\José\adeline-infra", False),  # é is in code page 1252
    ],
)
def test_bootstrap_knows_when_an_editable_install_cannot_work(
    version: tuple[int, int], path: str, refused: bool
) -> None:
    """Python 3.10-3.12 write and read an editable install's .pth in the ANSI code page: a
    checkout path outside it fails `pip install -e .` (issue 17, defect 2)."""
    problem = _bootstrap()["editable_install_problem"]
    assert callable(problem)
    message = problem(Path(path), version, "cp1252")
    assert (message is not None) == refused
    if message:
        assert "\n" not in message and "3.13" in message and "cp1252" in message


def test_bootstrap_explains_a_checkout_path_outside_the_code_page_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import locale

    main = _bootstrap()["main"]
    assert callable(main)
    bootstrap = main.__globals__  # run_path returns a copy of the script's globals
    created: list[bool] = []
    bootstrap["ROOT"] = tmp_path / "Ёлка проект"
    bootstrap["VENV"] = bootstrap["ROOT"] / ".venv"  # where its bin/ is shown from
    bootstrap["ensure_venv"] = lambda: created.append(True)
    bootstrap["install"] = lambda force: None
    bootstrap["ensure_env_file"] = lambda: None
    monkeypatch.setattr(locale, "getpreferredencoding", lambda do_setlocale=True: "cp1252")
    if sys.version_info >= (3, 13):
        assert main(["--no-broker"]) == 0 and created
        return
    with pytest.raises(SystemExit) as caught:
        main(["--no-broker"])
    assert caught.value.code == 1 and not created
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Ёлка проект" in err
