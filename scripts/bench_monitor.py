"""Can `inv monitor.data` keep up with a burst? Compared with `mosquitto_sub` in the same run.

Starts its own mosquitto (native backend) on random ports in a temporary folder, starts both
subscribers, waits until both have their subscription acknowledged, then publishes N QoS 0
detection messages as fast as `mosquitto_pub -l` can (or paho with `--publisher paho`).
For each subscriber it prints messages received, messages lost and messages/s (received divided
by the time from the first publish to the subscriber's end). Then it times `inv monitor.status`.

    python scripts/bench_monitor.py [--messages 50000] [--publisher mosquitto_pub|paho]

Needs mosquitto, mosquitto_sub and mosquitto_pub on PATH. Exit 0 when it measured, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from adeline_infra import mqtt, services  # noqa: E402
from adeline_infra import settings as settings_mod  # noqa: E402
from adeline_infra.settings import Settings  # noqa: E402

TOPIC = "inference/data/detections"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(tmp: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MQTT_", "MOSQUITTO_", "TOPIC_", "BROKER_", "ADELINE_"))
    }
    (tmp / "bench.env").write_text("", encoding="utf-8")
    env.update(
        ADELINE_ENV_FILE=str(tmp / "bench.env"),
        ADELINE_STATE_DIR=str(tmp / "state"),
        BROKER_BACKEND="native",
        MQTT_BROKER_HOST="127.0.0.1",
        MQTT_BROKER_PORT=str(free_port()),
        MQTT_WS_PORT=str(free_port()),
        TOPIC_DETECTIONS=TOPIC,
    )
    return env


def detection(i: int) -> str:
    """A realistic detections payload (~420 bytes), one line."""
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
                {
                    "class": "car",
                    "confidence": 0.774,
                    "bbox": {"x": 300.0, "y": 210.0, "width": 150.5, "height": 90.0},
                    "class_id": 2,
                },
            ],
            "frame": {"frame_id": i, "source_id": 0, "timestamp": "2025-01-01T12:00:00"},
            "message_id": f"bench-{i}",
        },
        separators=(",", ":"),
    )


def wait_for_line(stream: IO[str], needle: str, timeout: float, seen: list[str]) -> bool:
    """Read `stream` until a line contains `needle` (on a thread, so the timeout holds)."""
    found = threading.Event()

    def reader() -> None:
        for line in stream:
            seen.append(line)
            if needle in line:
                found.set()
                break

    threading.Thread(target=reader, daemon=True).start()
    return found.wait(timeout)


def drain(stream: IO[str], into: list[str]) -> threading.Thread:
    t = threading.Thread(target=lambda: into.extend(stream), daemon=True)
    t.start()
    return t


def publish_mosquitto_pub(s: Settings, lines_file: Path) -> float:
    start = time.perf_counter()
    with open(lines_file, "rb") as src:
        subprocess.run(
            [
                "mosquitto_pub",
                "-h",
                s.mqtt_host,
                "-p",
                str(s.mqtt_port),
                "-q",
                "0",
                "-t",
                TOPIC,
                "-l",
            ],
            stdin=src,
            check=True,
        )
    return time.perf_counter() - start


def publish_paho(s: Settings, payloads: list[bytes]) -> float:
    with mqtt.session(s, "bench-pub") as client:
        start = time.perf_counter()
        for p in payloads:
            while client.publish(TOPIC, p, qos=0).rc != 0:  # queue full: let the loop drain
                time.sleep(0.0005)
        # QoS 0 has no acknowledgement: a QoS 1 marker after them is flushed after them
        client.publish(TOPIC + "/end", b"", qos=1).wait_for_publish(30)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--publisher", choices=("mosquitto_pub", "paho"), default="mosquitto_pub")
    parser.add_argument(
        "--idle",
        type=float,
        default=2.0,
        help="a subscriber that received nothing for this long after the burst is done",
    )
    args = parser.parse_args()
    n = args.messages
    for tool in ("mosquitto_sub", "mosquitto_pub"):
        if not shutil.which(tool):
            print(f"error: {tool} is not on PATH (apt install mosquitto-clients)", file=sys.stderr)
            return 1

    with tempfile.TemporaryDirectory(prefix="adeline-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = isolated_env(tmp)
        s = settings_mod.load(ROOT, environ=env)
        services.up(s, timeout=15)
        try:
            return run(s, env, tmp, n, args.publisher, args.idle)
        finally:
            services.down(s)


class Subscriber:
    """A subscriber process writing one payload per line to a file we watch grow."""

    def __init__(self, label: str, argv: list[str], out: Path, env: dict[str, str]) -> None:
        self.label = label
        self.out = out
        self.sink = open(out, "wb")  # noqa: SIM115 (closed in finish())
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.sink,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.size = 0
        self.last_growth = 0.0
        self.ended: float | None = None

    def poll(self, now: float) -> None:
        size = self.out.stat().st_size
        if size != self.size:
            self.size, self.last_growth = size, now
        if self.ended is None and self.proc.poll() is not None:
            self.ended = now

    def lines(self) -> int:
        with open(self.out, "rb") as f:
            return sum(1 for _ in f)

    def finish(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait()
        self.sink.close()


def run(s: Settings, env: dict[str, str], tmp: Path, n: int, publisher: str, idle: float) -> int:
    payloads = [detection(i) for i in range(n)]
    lines_file = tmp / "payloads.txt"
    lines_file.write_text("\n".join(payloads) + "\n", encoding="utf-8")
    print(
        f"broker: mosquitto at {s.endpoint} (config from broker_config); {n} QoS 0 messages of "
        f"{len(payloads[0])} bytes via {publisher}"
    )

    # Both subscribers write to files (page cache: as cheap as /dev/null) so that what arrived
    # can be counted when messages are lost and `--count`/`-C` is never reached.
    monitor = Subscriber(
        "inv monitor.data --json --count N",
        [sys.executable, "-m", "invoke", "monitor.data", "--json", "--count", str(n)],
        tmp / "monitor.out",
        env,
    )
    # mosquitto_sub also subscribes, last, to a topic holding a retained marker: the marker's
    # line in its output means its subscription to TOPIC is active too (handled in order).
    marker_topic = f"bench/ready/{os.getpid()}"
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            s.mqtt_host,
            "-p",
            str(s.mqtt_port),
            "-q",
            "1",
            "-r",
            "-t",
            marker_topic,
            "-m",
            "ready",
        ],
        check=True,
    )
    msub = Subscriber(
        "mosquitto_sub -C N",
        [
            "mosquitto_sub",
            "-h",
            s.mqtt_host,
            "-p",
            str(s.mqtt_port),
            "-q",
            "0",
            "-t",
            TOPIC,
            "-t",
            marker_topic,
            "-C",
            str(n + 1),
        ],
        tmp / "mosquitto_sub.out",
        env,
    )
    subs = (monitor, msub)
    try:
        mon_err: list[str] = []
        assert monitor.proc.stderr is not None
        if not wait_for_line(monitor.proc.stderr, "listening to", 30, mon_err):
            print("error: monitor.data did not subscribe: " + "".join(mon_err), file=sys.stderr)
            return 1
        drain(monitor.proc.stderr, mon_err)
        deadline = time.monotonic() + 30
        while msub.out.stat().st_size == 0:
            if time.monotonic() > deadline or msub.proc.poll() is not None:
                print("error: mosquitto_sub did not subscribe", file=sys.stderr)
                return 1
            time.sleep(0.01)
        msub.size = msub.out.stat().st_size

        published: list[float] = []

        def publish() -> None:
            if publisher == "paho":
                published.append(publish_paho(s, [p.encode() for p in payloads]))
            else:
                published.append(publish_mosquitto_pub(s, lines_file))

        start = time.perf_counter()
        pub = threading.Thread(target=publish)
        pub.start()
        # done: the subscriber exited (count reached), or the publisher is done and nothing
        # arrived for `idle` seconds (messages were lost, so the count is never reached)
        while True:
            now = time.perf_counter()
            for sub in subs:
                sub.poll(now)
            if all(
                sub.ended is not None
                or (published and now - max(sub.last_growth, start + published[0]) > idle)
                for sub in subs
            ):
                break
            time.sleep(0.005)
        pub.join()
    finally:
        for sub in subs:
            sub.finish()

    secs_pub = published[0]
    print(f"publisher: {n} messages in {secs_pub:.3f} s ({n / secs_pub:,.0f} msg/s)")
    print(f"{'subscriber':<36}{'received':>10}{'lost':>8}{'msg/s':>10}{'last msg at':>13}")
    for sub, extra in ((monitor, 0), (msub, 1)):
        got = sub.lines() - extra  # mosquitto_sub's first line is the readiness marker
        end = sub.ended if sub.ended is not None else sub.last_growth
        secs = end - start
        rate = got / secs if secs > 0 else 0.0
        print(f"{sub.label:<36}{got:>10}{n - got:>8}{rate:>10,.0f}{secs:>11.2f} s")

    # monitor.status: the library call and the whole `inv` command
    from adeline_infra import monitor as monitor_mod

    lib = []
    for _ in range(21):
        t0 = time.perf_counter()
        monitor_mod.snapshot(s)
        lib.append(time.perf_counter() - t0)
    cli = []
    for _ in range(7):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "invoke", "monitor.status", "--json"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        cli.append(time.perf_counter() - t0)
    print(
        f"monitor.snapshot() in-process: median {statistics.median(lib) * 1000:.1f} ms "
        f"of {len(lib)}"
    )
    print(
        f"inv monitor.status --json, whole process: median "
        f"{statistics.median(cli) * 1000:.0f} ms of {len(cli)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
