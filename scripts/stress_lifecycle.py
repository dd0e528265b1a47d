#!/usr/bin/env python3
"""Stress the broker's lifecycle: many trials of concurrent `inv services.up` (some with
one `inv` killed with SIGKILL mid-start), then count what went wrong.

    python scripts/stress_lifecycle.py [--trials 30] [--concurrency 3] [--kill-every 3]
    python scripts/stress_lifecycle.py --backend docker --trials 4 --kill-every 0

--backend docker: each trial is its own Compose project (`COMPOSE_PROJECT_NAME`
stress-<pid>-<trial>), "ours" are that project's running containers, and `status` must name the
one that runs; whatever a trial leaves is removed with `docker rm -f` (its containers only).

Per trial: a fresh state folder and free ports; CONCURRENCY `inv services.up` at once (every
KILL-EVERY-th trial, one of them is killed after a random delay of 0-300 ms); then
`inv services.status --json` and `inv services.down`. Figures printed:

- trials
- tracked: after the ups, exactly one broker of ours ran and `status` exited 0 naming it
  (equal to trials unless every `inv` of a trial was killed)
- untracked: a broker of ours runs but `status` does not say running with its pid (container id)
- doubles: more than one broker of ours ran at once
- orphaned: a broker of ours still runs after `services.down`
- failed_up: an `inv services.up` that was not killed exited non-zero

Exit 0 when all but `trials` are zero, else 1. POSIX only (SIGKILL). Needs mosquitto.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ours(conf: str) -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["cmdline", "status"])
        if conf in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE
    ]


def containers(project: str) -> list[str]:
    """Running containers of one Compose project (ids)."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            f"label=com.docker.compose.project={project}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.split()


def remove_project(project: str) -> None:
    """Every container and network of `project`, running or not (never anyone else's)."""
    label = f"label=com.docker.compose.project={project}"
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True, timeout=30
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=60)
    nets = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", label],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    if nets:
        subprocess.run(["docker", "network", "rm", *nets], capture_output=True, timeout=60)


def inv(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def trial(
    index: int, concurrency: int, kill: bool, base: Path, backend: str = "native"
) -> dict[str, int]:
    state = base / f"t{index}"
    env_file = base / f"t{index}.env"
    env_file.write_text("", encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MQTT_", "MOSQUITTO_", "BROKER_", "ADELINE_"))
    }
    mqtt_port = free_port()
    env.update(
        ADELINE_ENV_FILE=str(env_file),
        ADELINE_STATE_DIR=str(state),
        BROKER_BACKEND=backend,
        MQTT_BROKER_HOST="127.0.0.1",
        MQTT_BROKER_PORT=str(mqtt_port),
        MQTT_WS_PORT=str(free_port()),
    )
    project = f"stress-{os.getpid()}-{index}"
    if backend == "docker":
        env["COMPOSE_PROJECT_NAME"] = project
        env["MQTT_WS_PORT"] = "0"  # fewer ports to race other programs for
    conf = str(state / "native" / "mosquitto.conf")

    def running_now() -> list[str]:
        if backend == "docker":
            return containers(project)
        return [str(pid) for pid in ours(conf)]

    ups = [inv("services.up", env=env) for _ in range(concurrency)]
    killed = None
    if kill:
        time.sleep(random.uniform(0, 0.3))
        killed = random.randrange(concurrency)
        ups[killed].kill()  # SIGKILL
    most = 0
    while any(p.poll() is None for p in ups):
        most = max(most, len(running_now()))
        time.sleep(0.005 if backend == "native" else 0.2)
    failed_up = sum(1 for i, p in enumerate(ups) if i != killed and p.wait() != 0)
    for p in ups:
        p.communicate()
    running = running_now()
    most = max(most, len(running))
    status = inv("services.status", "--json", env=env)
    out, _ = status.communicate(timeout=60)
    try:
        info = json.loads(out or "{}")
    except ValueError:
        info = {}
    detail = info.get("detail", {})
    if backend == "docker":
        tracked = status.returncode == 0 and any(
            c.startswith(str(detail.get("id"))) for c in running
        )
    else:
        tracked = status.returncode == 0 and str(detail.get("pid")) in running
    untracked = int(bool(running) and not tracked)
    inv("services.down", env=env).communicate(timeout=120)
    left = running_now()
    if backend == "docker":
        remove_project(project)  # clean up for the next trial: this trial's project only
    for pid in left if backend == "native" else []:
        with contextlib.suppress(psutil.Error):
            psutil.Process(int(pid)).kill()
    return {
        "tracked": int(tracked and len(running) == 1),
        "untracked": untracked,
        "doubles": int(most > 1),
        "orphaned": int(bool(left)),
        "failed_up": failed_up,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=3)
    p.add_argument("--kill-every", type=int, default=3, help="0: never kill an inv")
    p.add_argument("--backend", choices=("native", "docker"), default="native")
    args = p.parse_args()
    if os.name == "nt":
        print("error: POSIX only (SIGKILL)", file=sys.stderr)
        return 2
    totals = {
        "trials": 0,
        "tracked": 0,
        "untracked": 0,
        "doubles": 0,
        "orphaned": 0,
        "failed_up": 0,
    }
    killed = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stress-lifecycle-") as tmp:
        for i in range(args.trials):
            kill = bool(args.kill_every) and i % args.kill_every == 0
            killed += kill
            for key, value in trial(i, args.concurrency, kill, Path(tmp), args.backend).items():
                totals[key] += value
            totals["trials"] += 1
    totals["with_a_kill_9"] = killed
    print(
        " ".join(f"{k}={v}" for k, v in totals.items())
        + f" backend={args.backend} concurrency={args.concurrency}"
        + f" seconds={time.monotonic() - started:.0f}"
    )
    bad = totals["untracked"] + totals["doubles"] + totals["orphaned"] + totals["failed_up"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
