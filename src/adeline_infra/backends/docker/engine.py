"""The Docker engine, reached one way: the user's own `docker` command (backend and doctor alike).

Why the CLI and not the Docker SDK. Measured on the CI machine (2 cores, engine 20.10, docker
CLI 28.2; medians of 15 runs, `/tmp`-free loopback socket):

  - `docker ps -a --filter label=...`: 10 ms; `docker inspect ID`: 12 ms; `docker version`: 14 ms.
  - SDK: `import docker` + `docker.from_env(use_context=True)` + one list: 66 ms (then 0.6 ms a
    call).

`services.up` and `services.status` ask the engine two to four times (list + inspect, then
alive checks while waiting for CONNACK), so the CLI costs 20-45 ms where the SDK costs 67 ms
or more. Beyond speed, the CLI reaches the engine exactly as the user's `docker` does —
DOCKER_HOST, DOCKER_CONTEXT and `docker context use` (TLS and ssh included), the Windows named
pipe, Docker Desktop's sockets — without this project re-implementing any of it (the SDK needs
`use_context=True` for contexts and speaks ssh through paramiko or a shell-out), and Compose v2
is a CLI plugin anyway. So there is no SDK import and no hand-written HTTP client here: a
failing `docker` call is an `InfraError` with the CLI's own one-line reason.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ... import procs
from ...errors import InfraError

# Commands that answer from the engine's memory; a remote engine over ssh can take a while.
TIMEOUT = 30.0


def no_engine_hint() -> str:
    if sys.platform == "darwin" or procs.WINDOWS:
        start = "start Docker Desktop"
    else:
        start = "start it (`sudo systemctl start docker`, or Docker Desktop)"
    return f"{start}, or use the mosquitto binary with BROKER_BACKEND=native"


@dataclass(frozen=True)
class Container:
    """One container as the engine describes it: its `docker inspect` document."""

    attrs: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.attrs["Id"])

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def name(self) -> str:
        return str(self.attrs.get("Name", "")).lstrip("/")

    @property
    def status(self) -> str:
        return str((self.attrs.get("State") or {}).get("Status", ""))

    @property
    def labels(self) -> dict[str, str]:
        return (self.attrs.get("Config") or {}).get("Labels") or {}

    @property
    def restarts(self) -> int:
        return int(self.attrs.get("RestartCount") or 0)

    @property
    def image(self) -> str:
        return str((self.attrs.get("Config") or {}).get("Image") or "")

    @property
    def health(self) -> str | None:
        return ((self.attrs.get("State") or {}).get("Health") or {}).get("Status")

    @property
    def started_at(self) -> float | None:
        return parse_time((self.attrs.get("State") or {}).get("StartedAt"))

    @property
    def exit_code(self) -> int | None:
        """The main process's exit code once the container has stopped (None while it runs)."""
        state = self.attrs.get("State") or {}
        if state.get("Running") or "ExitCode" not in state:
            return None
        return int(state["ExitCode"])

    @property
    def volumes(self) -> list[str]:
        return [
            str(m["Name"])
            for m in self.attrs.get("Mounts") or ()
            if m.get("Type") == "volume" and m.get("Name")
        ]


_DURING_CONNECT = re.compile(r'error during connect: \w+ "[^"]*": (.*)$')
_NO_CONTEXT = re.compile(r'context ("[^"]*"): context not found')
_CANNOT_CONNECT = re.compile(r"Cannot connect to the Docker daemon at (\S+?)\.?(?:\s|$)")


def explain(stderr: str) -> InfraError:
    """The docker CLI's complaint as one line naming the engine, with what to do."""
    text = " ".join(stderr.split())
    unreachable = _CANNOT_CONNECT.search(text)
    if unreachable:
        return InfraError(
            f"the Docker engine at {unreachable.group(1)} is not answering",
            hint=no_engine_hint() + "; check DOCKER_HOST and `docker context ls`",
        )
    during = _DURING_CONNECT.search(text)
    if during:  # the request's URL says nothing to the user: the reason after it does
        return InfraError(
            f"the Docker engine is not answering ({_clip(during.group(1))})",
            hint=no_engine_hint() + "; check DOCKER_HOST and `docker context ls`",
        )
    context = _NO_CONTEXT.search(text)
    if context:
        return InfraError(
            f"the docker context {context.group(1)} does not exist",
            hint="choose one from `docker context ls` (DOCKER_CONTEXT or `docker context use`)",
        )
    if "permission denied" in text.lower() and "docker" in text.lower():
        return InfraError(
            "the Docker engine refused this user (permission denied on its socket)",
            hint="add yourself to the `docker` group (then log in again), or use "
            "BROKER_BACKEND=native",
        )
    return InfraError(f"the Docker engine failed to answer ({_clip(procs.last_line(stderr))})")


def _clip(text: str) -> str:
    text = text or "no output"
    return text[:160] + ("..." if len(text) > 160 else "")


class Engine:
    """`docker <args>` with the caller's environment; every failure is one `InfraError` line."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = env
        self._cli: str | None = None

    @property
    def cli(self) -> str:
        if self._cli is None:
            found = procs.which("docker")
            if found is None:
                raise InfraError(
                    "the `docker` command is not installed or not on PATH",
                    hint="install Docker (Docker Desktop, or `sudo apt install docker.io`), "
                    "or use the mosquitto binary with BROKER_BACKEND=native",
                )
            self._cli = found
        return self._cli

    def run(
        self, *args: str, timeout: float = TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = procs.run([self.cli, *args], env=self.env, check=False, timeout=timeout)
        if check and result.returncode != 0:
            raise explain(result.stderr or result.stdout or "")
        return result

    # --- questions ------------------------------------------------------------------------

    def server_version(self, timeout: float = TIMEOUT) -> str:
        """The engine's version; InfraError (naming the engine) when it does not answer."""
        return self.run(
            "version", "--format", "{{.Server.Version}}", timeout=timeout
        ).stdout.strip()

    def server_os(self, timeout: float = TIMEOUT) -> str:
        """The OS of the engine's containers: `linux`, or `windows` (Docker Desktop switched to
        Windows containers, which cannot run the broker's Linux image)."""
        return self.run("version", "--format", "{{.Server.Os}}", timeout=timeout).stdout.strip()

    def linux_containers_problem(self, timeout: float = TIMEOUT) -> InfraError | None:
        """The one line for an engine in Windows containers mode (None when it runs Linux
        containers or cannot tell): there a pull fails with a misleading "no matching
        manifest", so this is asked when something failed, and by doctor."""
        try:
            server_os = self.server_os(timeout=timeout)
        except InfraError:
            return None
        if server_os.lower() != "windows":
            return None
        return InfraError(
            "Docker runs Windows containers, and the broker's image is a Linux image",
            hint="switch Docker Desktop to Linux containers (its tray menu: 'Switch to Linux "
            "containers...'), or use the mosquitto binary with BROKER_BACKEND=native",
        )

    def answers(self, timeout: float = 5.0) -> bool:
        """Does an engine answer? For `BROKER_BACKEND=auto`: never raises."""
        try:
            return bool(self.server_version(timeout=timeout))
        except InfraError:
            return False

    def containers(self, labels: Sequence[str]) -> list[Container]:
        """Every container (running or not) with all these `key=value` labels, inspected."""
        args = ["ps", "--all", "--quiet", "--no-trunc"]
        for label in labels:
            args += ["--filter", f"label={label}"]
        ids = self.run(*args).stdout.split()
        return self.inspect(ids) if ids else []

    def inspect(self, ids: Sequence[str]) -> list[Container]:
        """The containers among `ids` that still exist (one may be removed since listed)."""
        if not ids:
            return []
        result = self.run("container", "inspect", *ids, check=False)
        try:
            docs = json.loads(result.stdout or "[]")
        except ValueError:
            docs = None
        if not isinstance(docs, list) or (result.returncode != 0 and not docs):
            if "no such" in (result.stderr or "").lower():
                return []
            raise explain(result.stderr or result.stdout or "")
        return [Container(d) for d in docs if isinstance(d, dict) and d.get("Id")]

    def image_present(self, image: str) -> bool:
        result = self.run("image", "inspect", "--format", "{{.Id}}", image, check=False)
        if result.returncode == 0:
            return True
        if "no such" in (result.stderr or "").lower():
            return False
        raise explain(result.stderr or "")

    def publishing(self, port: int) -> str | None:
        """The running container that publishes host `port`, as `NAME of compose project P`."""
        fmt = '{{.Names}}\t{{.Label "com.docker.compose.project"}}'
        out = self.run("ps", "--filter", f"publish={port}", "--format", fmt, check=False).stdout
        for line in out.splitlines():
            name, _, project = line.partition("\t")
            if name:
                return name + (f" of compose project {project}" if project else "")
        return None

    def volumes(self, labels: Sequence[str]) -> list[str]:
        args = ["volume", "ls", "--quiet"]
        for label in labels:
            args += ["--filter", f"label={label}"]
        return self.run(*args).stdout.split()

    def remove_volumes(self, names: Sequence[str]) -> None:
        """Remove what can be removed; a volume still in use or gone is left alone."""
        if names:
            self.run("volume", "rm", *names, check=False)

    def log_tail(self, container: str, lines: int) -> list[str]:
        """The last `lines` lines of the container's log, stdout and stderr as the engine keeps
        them (mosquitto writes to one of them only)."""
        result = self.run("logs", "--tail", str(lines), container, check=False)
        if result.returncode != 0:
            return []  # removed since it was seen
        return (result.stdout + result.stderr).splitlines()

    def logs_since(self, container: str, since: float) -> str:
        """What the container logged from `since` (epoch seconds) on, stdout and stderr."""
        result = self.run("logs", "--since", f"{since:.3f}", container, check=False)
        return (result.stdout or "") + (result.stderr or "") if result.returncode == 0 else ""

    def follow_logs(self, container: str, *, tail: int | None, since: int | None) -> Iterator[str]:
        """The container's log as it grows, until the container stops (or the caller does)."""
        args = ["logs", "--follow"]
        args += ["--tail", str(tail)] if tail is not None else ["--since", str(since or 0)]
        child = procs.stream([self.cli, *args, container], env=self.env)
        try:
            assert child.stdout is not None
            for line in child.stdout:
                yield line.rstrip("\n")
        finally:
            with contextlib.suppress(OSError):
                child.terminate()
            child.wait()


def parse_time(text: str | None) -> float | None:
    """Docker's RFC 3339 time with nanoseconds -> epoch seconds (None for the zero time)."""
    if not text or text.startswith("0001-"):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", text)
    if not match:
        return None
    from datetime import datetime, timezone

    whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    zone = match.group(3) or "Z"
    if zone == "Z":
        offset = 0
    else:
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    fraction = float("0." + match.group(2)) if match.group(2) else 0.0
    return whole.replace(tzinfo=timezone.utc).timestamp() - offset + fraction
