"""Benchmark: `inv services.up` / `services.status` (Docker backend) against raw Compose.

Under each Compose this machine has (v2 from CI's plugin folder, v1), from "down" (container
removed, data volume kept) to a broker answering MQTT CONNECT with CONNACK:

  raw up:  `<compose> -f docker/adeline/docker-compose.mqtt.yml -f docker-compose.ws.yml
           [-f LOOPBACK6] -p P up -d`, then CONNACK polling (in this process: no interpreter
           start-up). The same ports as `inv services.up` publishes (MQTT and WebSockets, on
           127.0.0.1 and, where the OS has it, [::1]: every published port is a docker-proxy
           process the engine starts), so that the difference is what `inv` spends.
  hand:    `<compose> -f docker-compose.mqtt.yml -f docker-compose.ws.yml -p P up -d`, what the
           compose files' header tells a user to type (MQTT and WebSockets on 127.0.0.1 only: two
           ports, as the one compose file had when issue 19 measured 176-233 ms), for information
  one:     the first file alone (MQTT on 127.0.0.1: one port), for information
  inv up:  `python -m invoke services.up` with BROKER_BACKEND=docker (process start to exit)
  floor:   `python -m invoke --list` (what any `inv` call costs before a task runs)
  target:  inv up - (floor + raw up) <= 0.100 s, the median of each round's own difference
           (the rounds interleave all four, so drift in the engine or the machine's load
           hits each round's terms alike)

and, with the broker running:

  status:  `python -m invoke services.status` against `<compose> -f ... -p P ps`; target <= 2x,
           counting what `inv` spends beyond its own start-up (inv status - floor), which no
           task can go under: `compose ps` starts no Python. The raw ratio is printed too.

Medians of --runs alternating runs. Each run uses its own compose projects and random ports
and removes them (volumes included). Needs a Docker engine and the broker image
(.ci/start-docker.sh, .ci/build-mosquitto-image.sh); v2 needs .ci/install-compose-v2.sh.
Usage: python scripts/bench_docker_up.py [--runs N] [--json] [--compose v2|v1]
"""

from __future__ import annotations

import argparse
import contextlib
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
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from adeline_infra import mqtt, procs  # noqa: E402
from adeline_infra import settings as settings_mod  # noqa: E402
from adeline_infra.backends import docker as dk  # noqa: E402
from adeline_infra.backends.docker.broker_setup import loopback6_override  # noqa: E402
from adeline_infra.backends.docker.compose import WS_COMPOSE_FILE  # noqa: E402
from adeline_infra.errors import InfraError  # noqa: E402

V2_CONFIG = Path(os.environ.get("ADELINE_COMPOSE_V2_CONFIG") or ROOT / ".ci" / "docker-v2")


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


RAW = ("same", "hand", "one")  # the raw compose commands, as above


def _raw_args(compose: list[str], env: dict[str, str], raw: str = "same") -> list[str]:
    """The compose command a user would type for the broker `inv services.up` starts."""
    s = settings_mod.load(ROOT, environ=env)
    overrides: list[Path] = []
    if raw in ("same", "hand"):
        overrides.append(ROOT / WS_COMPOSE_FILE)
    if raw == "same":
        six = loopback6_override(s)
        if six is not None:
            path = Path(env["ADELINE_STATE_DIR"] + "-loopback6.yml")
            path.write_text(json.dumps(six), encoding="utf-8")
            overrides.append(path)
    project = env["COMPOSE_PROJECT_NAME"]
    return dk.compose_args(
        compose, ROOT / dk.COMPOSE_FILE, project, frozenset(), overrides=overrides
    )


def _raw_up(compose: list[str], env: dict[str, str], raw: str = "same") -> float:
    s = settings_mod.load(ROOT, environ=env)
    args = _raw_args(compose, env, raw)
    start = time.perf_counter()
    procs.run([*args, "up", "-d"], env=env, timeout=300)
    if not mqtt.wait_ready(s, 30).ok:
        raise SystemExit("raw: the broker did not answer CONNACK within 30 s")
    return time.perf_counter() - start


def _timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    procs.run(args, env=env, timeout=120)
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


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def bench(kind: str, runs: int = 5) -> dict[str, object]:
    """Median wall times (s) under Compose `kind` (v2 or v1), and the two targets."""
    extra = {"DOCKER_COMPOSE": kind}
    if kind == "v2" and (V2_CONFIG / "cli-plugins" / "docker-compose").is_file():
        extra["DOCKER_CONFIG"] = str(V2_CONFIG)
    compose = list(dk.discover(kind, env={**os.environ, **extra}).argv)
    tag = secrets.token_hex(3)
    floors: list[float] = []
    ups: dict[str, list[float]] = {raw: [] for raw in RAW}
    inv_up: list[float] = []
    raw_ps: list[float] = []
    inv_status: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        envs = {raw: {**_env(tmp, f"adeline-bench-{raw}-{tag}"), **extra} for raw in RAW}
        argvs = {raw: _raw_args(compose, envs[raw], raw) for raw in RAW}
        inv_env = {**_env(tmp, f"adeline-bench-inv-{tag}"), **extra}
        inv_ps = dk.compose_args(
            compose, ROOT / dk.COMPOSE_FILE, inv_env["COMPOSE_PROJECT_NAME"], frozenset(), "ps"
        )
        try:
            # One warm-up each (creates the volumes and networks), not measured.
            for raw in RAW:
                _raw_up(compose, envs[raw], raw)
                procs.run([*argvs[raw], "down"], env=envs[raw], timeout=120)
            _inv(inv_env, "services.up")
            _inv(inv_env, "services.down")
            for i in range(runs):

                def raw_round() -> None:
                    for raw in RAW:
                        ups[raw].append(_raw_up(compose, envs[raw], raw))
                        procs.run([*argvs[raw], "down"], env=envs[raw], timeout=120)

                def inv_round() -> None:
                    floors.append(_inv(inv_env, "--list"))
                    inv_up.append(_inv(inv_env, "services.up"))
                    raw_ps.append(_timed(inv_ps, inv_env))
                    inv_status.append(_inv(inv_env, "services.status"))
                    _inv(inv_env, "services.down")

                for part in (raw_round, inv_round) if i % 2 else (inv_round, raw_round):
                    part()
        finally:
            for raw in RAW:
                procs.run([*argvs[raw], "down", "-v"], env=envs[raw], check=False, timeout=120)
            _inv(inv_env, "services.clean", "--yes")
    # The fixed cost of any `inv` call (interpreter + invoke + the tasks package).
    floor = _median(floors)
    beyond: dict[str, list[float]] = {
        raw: [u - f - r for u, f, r in zip(inv_up, floors, ups[raw], strict=True)] for raw in RAW
    }
    per_round = beyond["same"]
    up_overhead = statistics.median(per_round)
    quartiles = statistics.quantiles(per_round, n=4) if len(per_round) > 1 else per_round * 3
    return {
        "compose": f"{kind} ({' '.join([Path(compose[0]).name, *compose[1:]])})",
        "runs": runs,
        "inv_list_floor_s": floor,
        "raw_compose_up_plus_connack_s": _median(ups["same"]),
        "hand_compose_up_plus_connack_s": _median(ups["hand"]),
        "one_compose_up_plus_connack_s": _median(ups["one"]),
        "inv_services_up_s": _median(inv_up),
        "up_overhead_s": round(up_overhead, 3),
        "up_ok": up_overhead <= 0.100,
        "up_overhead_quartiles_s": [round(q, 3) for q in (quartiles[0], quartiles[2])],
        "up_overhead_vs_hand_s": round(statistics.median(beyond["hand"]), 3),
        "up_overhead_vs_one_s": round(statistics.median(beyond["one"]), 3),
        "compose_ps_s": _median(raw_ps),
        "inv_services_status_s": _median(inv_status),
        "status_ratio_raw": round(_median(inv_status) / _median(raw_ps), 2),
        "status_ratio": round((_median(inv_status) - floor) / _median(raw_ps), 2),
        "status_ok": _median(inv_status) - floor <= 2 * _median(raw_ps),
        "raw_up_all_s": [round(t, 3) for t in ups["same"]],
        "inv_up_all_s": [round(t, 3) for t in inv_up],
        "floor_all_s": [round(t, 3) for t in floors],
        "hand_up_all_s": [round(t, 3) for t in ups["hand"]],
        "one_up_all_s": [round(t, 3) for t in ups["one"]],
    }


def available() -> list[str]:
    kinds = []
    with contextlib.suppress(InfraError):  # CI's plugin folder, else the machine's own plugin
        env = {**os.environ, "DOCKER_CONFIG": str(V2_CONFIG)}
        if not (V2_CONFIG / "cli-plugins" / "docker-compose").is_file():
            env = dict(os.environ)
        if dk.discover("v2", env=env, fresh=True).kind == "v2":
            kinds.append("v2")
    if procs.which("docker-compose"):
        kinds.append("v1")
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=12, help="measured rounds (default 12: the engine is noisy)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--compose", choices=["v2", "v1"], help="only this Compose")
    args = parser.parse_args()
    # `inv` runs as a user's does, with its bytecode cached: the warm-up runs write the .pyc
    # files the measured runs read (an environment with PYTHONDONTWRITEBYTECODE=1 would make
    # every run compile the package again, ~30 ms that no user pays).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if not dk.engine_answers(timeout=2):
        raise SystemExit("no Docker engine answers: start one (.ci/start-docker.sh)")
    kinds = [args.compose] if args.compose else available()
    results = [bench(kind, args.runs) for kind in kinds]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"compose {r['compose']}, {r['runs']} runs, medians:")
        print(f"  inv --list (floor of any inv call)    : {r['inv_list_floor_s']:.3f} s")
        print(
            f"  raw `compose up -d` + CONNACK poll     : {r['raw_compose_up_plus_connack_s']:.3f} s"
        )
        print(
            "  the same, as the header says (2 ports) : "
            f"{r['hand_compose_up_plus_connack_s']:.3f} s"
        )
        print(
            f"  the same, one file (one port)          : {r['one_compose_up_plus_connack_s']:.3f} s"
        )
        print(f"  inv services.up (docker)               : {r['inv_services_up_s']:.3f} s")
        verdict = "ok" if r["up_ok"] else "OVER"
        q1, q3 = cast("list[float]", r["up_overhead_quartiles_s"])
        print(
            f"  up beyond floor + raw (per round)      : {r['up_overhead_s']:+.3f} s"
            f" (target <= 0.100: {verdict}; quartiles {q1:+.3f}, {q3:+.3f})"
        )
        print(
            f"  the same against the header's command  : {r['up_overhead_vs_hand_s']:+.3f} s"
            " (the [::1] ports' cost counted in)"
        )
        print(
            f"  the same against the one-file compose  : {r['up_overhead_vs_one_s']:+.3f} s"
            " (three ports' cost counted in)"
        )
        print(f"  `compose ps`                           : {r['compose_ps_s']:.3f} s")
        verdict = "ok" if r["status_ok"] else "OVER"
        print(
            f"  inv services.status (docker)           : {r['inv_services_status_s']:.3f} s"
            f" = {r['status_ratio_raw']:.2f}x raw"
        )
        print(
            f"  status beyond floor / `compose ps`     : {r['status_ratio']:.2f}x"
            f" (target <= 2x: {verdict})"
        )


if __name__ == "__main__":
    main()
