"""What `inv monitor.dashboard` costs: CPU at 30 fps x 16 sources, a 50,000-message burst, memory.

1. In-process: `Figures.ingest` of realistic detections payloads (messages/s on one core) and
   a snapshot with 16 sources and their latencies (ms).
2. Live, against its own mosquitto (native backend, random ports, a temporary folder):
   `inv monitor.dashboard --json --duration D --window W` while paho publishes 480 messages/s
   (16 sources x 30 fps) plus one metrics message a second; the dashboard's CPU time (psutil)
   divided by the wall time is its share of one core; its RSS is sampled every second, so the
   first and last samples show whether memory stays flat once the window is full.
3. Burst: 50,000 QoS 0 messages as fast as `mosquitto_pub -l` sends them; the document's count
   must be exactly 50,000.

    python scripts/bench_dashboard.py [--rate-seconds 30] [--window 10] [--burst 50000]

Exit 0 when it measured (counts exact), 1 otherwise. Figures, not pass/fail on timing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import psutil  # noqa: E402
from bench_monitor import TOPIC, isolated_env  # noqa: E402

from adeline_infra import mqtt, services  # noqa: E402
from adeline_infra import settings as settings_mod  # noqa: E402
from adeline_infra.dashboard.figures import DETECTIONS, METRICS, Figures  # noqa: E402
from adeline_infra.settings import Settings  # noqa: E402

SOURCES, FPS = 16, 30
METRICS_TOPIC = "inference/data/metrics"


def detection(i: int, source: int) -> bytes:
    return json.dumps(
        {
            "timestamp": "2025-01-01T12:00:00.000000",
            "detection_count": 2,
            "detections": [
                {
                    "class": "person",
                    "confidence": 0.912,
                    "bbox": {"x": 120.5, "y": 80.25, "width": 64.0, "height": 128.0},
                    "class_id": 0,
                },
                {"class": "car", "confidence": 0.774, "bbox": None, "class_id": 2},
            ],
            "frame": {"frame_id": i, "source_id": source, "timestamp": "2025-01-01T12:00:00"},
            "message_id": i,
        },
        separators=(",", ":"),
    ).encode()


def metrics() -> bytes:
    reports = [
        {
            "source_id": s,
            "frame_decoding_latency_ms": 2.5,
            "inference_latency_ms": 25.0,
            "e2e_latency_ms": 40.0,
        }
        for s in range(SOURCES)
    ]
    return json.dumps(
        {"timestamp": "x", "throughput_fps": 480.0, "latency_reports": reports, "sources_count": 16}
    ).encode()


def in_process() -> None:
    payloads = [detection(i, i % SOURCES) for i in range(20_000)]
    f = Figures(window=300)
    start = time.process_time()
    for i, p in enumerate(payloads):
        f.ingest(DETECTIONS, p, i / 480)
        if i % 480 == 0:
            f.ingest(METRICS, metrics(), i / 480)
    cpu = time.process_time() - start
    rate = len(payloads) / cpu
    start = time.perf_counter()
    for _ in range(20):
        f.snapshot(len(payloads) / 480)
    snap_ms = (time.perf_counter() - start) / 20 * 1000
    print(
        f"in-process: Figures.ingest {rate:,.0f} msg/s on one core "
        f"(480 msg/s = {480 / rate * 100:.1f}% of a core); snapshot with {SOURCES} sources "
        f"{snap_ms:.2f} ms"
    )


def dashboard(env: dict[str, str], duration: float, window: float) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "invoke", "monitor.dashboard", "--json"]
    argv += ["--duration", f"{duration:g}", "--window", f"{window:g}"]
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_listening(proc: subprocess.Popen[str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if "listening" in line:
            return
    raise SystemExit(f"the dashboard never listened (exit {proc.wait()})")


def sustained(s: Settings, env: dict[str, str], seconds: float, window: float) -> bool:
    proc = dashboard(env, seconds + 2, window)
    wait_listening(proc)
    p = psutil.Process(proc.pid)
    cpu0 = p.cpu_times()
    rss: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            try:
                rss.append(p.memory_info().rss)
            except psutil.Error:
                return

    threading.Thread(target=sample, daemon=True).start()
    sent = 0
    with mqtt.session(s, "bench-dashboard-pub") as client:
        start = time.perf_counter()
        tick = 1 / (SOURCES * FPS)
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(elapsed / tick)
            while sent < due:
                client.publish(TOPIC, detection(sent, sent % SOURCES), qos=0)
                if sent % (SOURCES * FPS) == 0:
                    client.publish(METRICS_TOPIC, metrics(), qos=0)
                sent += 1
            time.sleep(tick)
        client.publish(TOPIC + "/end", b"", qos=1).wait_for_publish(30)
    cpu1 = p.cpu_times()
    wall = time.perf_counter() - start
    out, err = proc.communicate(timeout=60)
    stop.set()
    if proc.returncode != 0:
        print(f"dashboard failed: {err.strip()}")
        return False
    doc = json.loads(out)
    got = doc["totals"]["detections_messages"]
    used = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    mib = [r / 2**20 for r in rss]
    print(
        f"sustained: {sent} messages at {sent / wall:,.0f}/s for {wall:.0f} s "
        f"({SOURCES} sources x {FPS} fps): counted {got} ({sent - got} lost); dashboard CPU "
        f"{used / wall * 100:.1f}% of one core"
    )
    if mib:
        settled = mib[min(int(window) + 2, len(mib) - 1)]
        quarters = ", ".join(
            f"{mib[min(len(mib) - 1, len(mib) * q // 4)]:.1f} at {len(mib) * q // 4} s"
            for q in (1, 2, 3)
        )
        print(
            f"memory (window {window:g} s): RSS MiB {mib[0]:.1f} at 1 s, {settled:.1f} once "
            f"the window is full, {quarters}, {mib[-1]:.1f} at {len(mib)} s (after the run)"
        )
    return got == sent


def burst(s: Settings, env: dict[str, str], tmp: Path, n: int) -> bool:
    lines = tmp / "burst.txt"
    lines.write_bytes(b"\n".join(detection(i, i % SOURCES) for i in range(n)) + b"\n")
    proc = dashboard(env, 60, 300)  # time enough to read the burst on a busy machine
    wait_listening(proc)
    start = time.perf_counter()
    with open(lines, "rb") as src:
        argv = ["mosquitto_pub", "-h", s.mqtt_host, "-p", str(s.mqtt_port), "-q", "0", "-t", TOPIC]
        subprocess.run([*argv, "-l"], stdin=src, check=True)
    sent_in = time.perf_counter() - start
    out, err = proc.communicate(timeout=90)
    if proc.returncode != 0:
        print(f"dashboard failed: {err.strip()}")
        return False
    got = json.loads(out)["totals"]["detections_messages"]
    print(
        f"burst: {n} QoS 0 messages sent in {sent_in:.2f} s ({n / sent_in:,.0f}/s): "
        f"counted {got} ({n - got} lost)"
    )
    return got == n


def main() -> int:
    import os

    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"machine: {os.cpu_count()} CPUs, load average {load} (shared machines vary)")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-seconds", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=50_000)
    args = parser.parse_args()
    in_process()
    with tempfile.TemporaryDirectory(prefix="adeline-bench-dash-") as tmp_name:
        tmp = Path(tmp_name)
        env = isolated_env(tmp)
        s = settings_mod.load(ROOT, environ=env)
        services.up(s, timeout=15)
        try:
            ok = sustained(s, env, args.rate_seconds, args.window)
            ok = burst(s, env, tmp, args.burst) and ok
        finally:
            services.down(s)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
