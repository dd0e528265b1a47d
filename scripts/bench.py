#!/usr/bin/env python3
"""Benchmarks that print numbers (run with `nox -s bench`, or directly from the venv).

- startup: `inv --list` over this tasks package vs over a one-task tasks.py (target: <= 1.3x).
- native-up: `inv services.up` (native) minus Invoke's own start-up minus the bare broker's
  spawn-to-CONNACK time (target: <= 250 ms of overhead).

Each figure is the median of several runs on random free ports; nothing touches port 1883.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

ONE_TASK = '''from invoke import task


@task
def noop(c):
    """Do nothing."""
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def inv_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("inv" + (".exe" if os.name == "nt" else ""))
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "invoke"]


def timed(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed: {result.stderr.strip()}")
    return elapsed


def median_of(runs: int, fn: Callable[[], float]) -> float:
    fn()  # warm the OS caches once
    return statistics.median(fn() for _ in range(runs))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def bench_startup(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trivial = Path(tmp)
        (trivial / "tasks.py").write_text(ONE_TASK, encoding="utf-8")
        one = [*inv_cmd(), "--list"]
        for cwd in (trivial, ROOT):  # warm the OS caches and write the .pyc files once
            timed(one, cwd=cwd)
        base_runs, our_runs = [], []
        for _ in range(runs):  # interleaved, so drift in the machine's load hits both alike
            base_runs.append(timed(one, cwd=trivial))
            our_runs.append(timed(one, cwd=ROOT))
    base, ours = statistics.median(base_runs), statistics.median(our_runs)
    print("startup: `inv --list`")
    print(f"  one-task tasks.py        {ms(base)}")
    print(f"  this tasks package       {ms(ours)}")
    print(f"  ratio                    {ours / base:7.2f}x   (target <= 1.30x)")


def bare_broker_connack(binary: str, tmp: Path) -> float:
    """Spawn mosquitto with a minimal config and poll until CONNACK: the floor for any `up`."""
    from adeline_infra import mqtt, settings

    port, ws = free_port(), free_port()
    conf = tmp / "bare.conf"
    conf.write_text(f"listener {port}\nallow_anonymous true\n", encoding="utf-8")
    env = {
        "ADELINE_ENV_FILE": str(tmp / "none.env"),
        "MQTT_BROKER_HOST": "127.0.0.1",
        "MQTT_BROKER_PORT": str(port),
        "MQTT_WS_PORT": str(ws),
    }
    s = settings.load(ROOT, environ=env)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        result = mqtt.wait_ready(s, 10)
        elapsed = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait()
    if not result.ok:
        raise SystemExit(f"bench: bare mosquitto did not answer: {result.reason}")
    return elapsed


def bench_native_up(runs: int) -> None:
    from adeline_infra.backends.native import find_mosquitto

    binary = find_mosquitto(None)
    if binary is None:
        print("native-up: skipped (no mosquitto binary)")
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        trivial = tmp / "trivial"
        trivial.mkdir()
        (trivial / "tasks.py").write_text(ONE_TASK, encoding="utf-8")
        invoke_start = median_of(runs, lambda: timed([*inv_cmd(), "noop"], cwd=trivial))
        bare = median_of(runs, lambda: bare_broker_connack(binary, tmp))

        def one_up() -> float:
            state = Path(tempfile.mkdtemp(dir=tmp))
            env = {
                **os.environ,
                "BROKER_BACKEND": "native",
                "ADELINE_STATE_DIR": str(state),
                "ADELINE_ENV_FILE": str(tmp / "none.env"),
                "MQTT_BROKER_HOST": "127.0.0.1",
                "MQTT_BROKER_PORT": str(free_port()),
                "MQTT_WS_PORT": str(free_port()),
            }
            try:
                return timed([*inv_cmd(), "services.up"], cwd=ROOT, env=env)
            finally:
                subprocess.run(
                    [*inv_cmd(), "services.down"], cwd=ROOT, env=env, capture_output=True
                )
                shutil.rmtree(state, ignore_errors=True)

        up = median_of(runs, one_up)
    overhead = up - invoke_start - bare
    print("native-up: `inv services.up` on a stopped broker")
    print(f"  invoke start-up (no-op)  {ms(invoke_start)}")
    print(f"  bare spawn-to-CONNACK    {ms(bare)}")
    print(f"  inv services.up          {ms(up)}")
    print(f"  overhead                 {ms(overhead)}   (target <= 250 ms)")


BENCHES: dict[str, Callable[[int], None]] = {
    "startup": bench_startup,
    "native-up": bench_native_up,
}


def main() -> int:
    parser = argparse.ArgumentParser(description="Print adeline-infra's performance figures.")
    parser.add_argument("names", nargs="*", choices=[*BENCHES, []], help="benchmarks to run")
    parser.add_argument("--runs", type=int, default=11, help="runs per figure (median)")
    args = parser.parse_args()
    # `inv` runs as a user's does, with its bytecode cached: the warm-up runs write the .pyc
    # files the measured runs read (an environment with PYTHONDONTWRITEBYTECODE=1 would make
    # every run compile the package again, ~30 ms that no user pays).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    print(f"python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} cpus")
    for name in args.names or BENCHES:
        BENCHES[name](args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
