"""Benchmark: `inv services.up` (Docker backend) against the raw Compose sequence it replaces.

Both start the broker from "down" (container removed, data volume kept) and end when the broker
answers an MQTT CONNECT with CONNACK through the published port:

  raw:  `<compose> -f docker/adeline/docker-compose.mqtt.yml -p P up -d`, then CONNACK polling
  inv:  `python -m invoke services.up` with BROKER_BACKEND=docker (process start to exit)

Each run uses its own compose projects and random ports, and removes them (volumes included)
at the end. Needs a Docker engine and the broker image (.ci/start-docker.sh,
.ci/build-mosquitto-image.sh). Usage: python scripts/bench_docker_up.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from adeline_infra import mqtt, procs  # noqa: E402
from adeline_infra import settings as settings_mod  # noqa: E402
from adeline_infra.backends import docker as dk  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _env(tmp: Path, project: str) -> dict[str, str]:
    env_file = tmp / f"{project}.env"
    env_file.write_text("", encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MQTT_", "MOSQUITTO_", "BROKER_", "COMPOSE_"))
    }
    env.update(
        ADELINE_ENV_FILE=str(env_file),
        ADELINE_STATE_DIR=str(tmp / project),
        BROKER_BACKEND="docker",
        COMPOSE_PROJECT_NAME=project,
        MQTT_BROKER_HOST="127.0.0.1",
        MQTT_BROKER_PORT=str(_free_port()),
        MQTT_WS_PORT=str(_free_port()),
    )
    return env


def _raw_up(compose: list[str], env: dict[str, str]) -> float:
    s = settings_mod.load(ROOT, environ=env)
    project = env["COMPOSE_PROJECT_NAME"]
    args = dk.compose_args(compose, ROOT / dk.COMPOSE_FILE, project, frozenset())
    start = time.perf_counter()
    procs.run([*args, "up", "-d"], env=env, timeout=300)
    if not mqtt.wait_ready(s, 30).ok:
        raise SystemExit("raw: the broker did not answer CONNACK within 30 s")
    return time.perf_counter() - start


def _inv(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"inv {' '.join(args)} failed: {result.stderr.strip()}")
    return elapsed


def bench(runs: int = 5) -> dict[str, object]:
    """Median wall times (s) of both sequences, alternating, and their ratio."""
    if not dk.engine_answers(timeout=2):
        raise SystemExit("no Docker engine answers: start one (.ci/start-docker.sh)")
    compose = list(dk.discover(os.environ.get("DOCKER_COMPOSE") or "auto").argv)
    tag = secrets.token_hex(3)
    raw_times: list[float] = []
    inv_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        raw_env = _env(tmp, f"adeline-bench-raw-{tag}")
        inv_env = _env(tmp, f"adeline-bench-inv-{tag}")
        raw_args = dk.compose_args(
            compose, ROOT / dk.COMPOSE_FILE, raw_env["COMPOSE_PROJECT_NAME"], frozenset()
        )
        try:
            # One warm-up each (creates the volumes and networks), not measured.
            _raw_up(compose, raw_env)
            procs.run([*raw_args, "down"], env=raw_env, timeout=120)
            _inv(inv_env, "services.up")
            _inv(inv_env, "services.down")
            for _ in range(runs):
                raw_times.append(_raw_up(compose, raw_env))
                procs.run([*raw_args, "down"], env=raw_env, timeout=120)
                inv_times.append(_inv(inv_env, "services.up"))
                _inv(inv_env, "services.down")
        finally:
            procs.run([*raw_args, "down", "-v"], env=raw_env, check=False, timeout=120)
            _inv(inv_env, "services.clean", "--yes")
        # The fixed cost of any `inv` call (interpreter + invoke + tasks.py), for the record.
        floor = statistics.median(_inv(inv_env, "--list") for _ in range(runs))
    raw_median, inv_median = statistics.median(raw_times), statistics.median(inv_times)
    return {
        "compose": " ".join(Path(compose[0]).name.split() + compose[1:]),
        "runs": runs,
        "raw_compose_up_plus_connack_s": round(raw_median, 3),
        "inv_services_up_s": round(inv_median, 3),
        "ratio": round(inv_median / raw_median, 2),
        "inv_list_floor_s": round(floor, 3),
        "raw_all_s": [round(t, 3) for t in raw_times],
        "inv_all_s": [round(t, 3) for t in inv_times],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    result = bench(args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"compose: {result['compose']}, {result['runs']} runs, medians:")
    print(f"  raw `compose up -d` + CONNACK poll : {result['raw_compose_up_plus_connack_s']:.3f} s")
    print(f"  inv services.up (docker)           : {result['inv_services_up_s']:.3f} s")
    print(f"  ratio                              : {result['ratio']:.2f}x (target <= 1.2x)")
    floor = result["inv_list_floor_s"]
    print(f"  (any `inv` call costs at least     : {floor:.3f} s, as `inv --list` does)")


if __name__ == "__main__":
    main()
