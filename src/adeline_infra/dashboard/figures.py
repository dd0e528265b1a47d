"""The dashboard's figures: pure bookkeeping over the pipeline's messages, no I/O.

`Figures.ingest(kind, payload, at)` takes one message (its kind — detections, metrics, status
or a `$SYS` topic — its raw payload and the monotonic time it arrived) and counts it;
`Figures.snapshot(now)` computes everything the screens and `--json` show. Memory is bounded by
the window, not by the run's length: rates live in one bucket per second (the buckets older
than the window are dropped), latencies in a fixed-size deque per source and stage, and the
number of distinct classes and sources kept is capped (the rest count under `OTHER`), so a
hostile publisher cannot grow it either. Totals since the start are plain integers.

What the pipeline publishes (see the seed system's reference): detections as
`{"detections": [{"class", "confidence", "bbox": {x, y, width, height} (centre, pixels) or
null}], "frame": {"frame_id", "source_id", ...}}`; metrics as `{"throughput_fps",
"latency_reports": [{"source_id", "frame_decoding_latency_ms", "inference_latency_ms",
"e2e_latency_ms"}]}`. A payload that is not a JSON object is *malformed*; a JSON object whose
members have the wrong types (a detection that is not an object, a confidence that is not a
number, a bbox that is neither an object nor null) is *invalid* — counted, never raised.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads

DETECTIONS, METRICS, STATUS, SYS = "detections", "metrics", "status", "sys"
OTHER = "(other)"
MAX_CLASSES = 256  # distinct class names kept per bucket and in totals
MAX_SOURCES = 64  # distinct sources kept
LATENCY_SAMPLES = 2048  # per source and stage: p50/p95 over at most this many, within the window
SERIES_SECONDS = 600  # the fps plot covers at most the last 10 minutes of the window
LATEST_DETECTIONS = 100  # detections kept from the latest frame of each source (for the page)
STAGES = (
    ("decode", "frame_decoding_latency_ms"),
    ("inference", "inference_latency_ms"),
    ("e2e", "e2e_latency_ms"),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return number if math.isfinite(number) else None


def _source_key(value: Any) -> str:
    """A source id as text (the pipeline sends integers); None for a missing one."""
    if value is None or isinstance(value, dict | list):
        return "?"
    return str(value)[:64]


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def _capped(table: dict[str, Any], key: str, limit: int) -> str:
    return key if key in table or len(table) < limit else OTHER


@dataclass
class Bucket:
    """What arrived during one second."""

    second: int
    frames: int = 0  # detections messages (one per frame)
    metrics: int = 0
    detections: int = 0
    malformed: int = 0
    invalid: int = 0
    fps: float | None = None  # the pipeline's own throughput_fps, last reported in this second
    per_class: dict[str, list[float]] = field(
        default_factory=dict
    )  # class -> [count, conf sum, conf n]
    per_source: dict[str, int] = field(default_factory=dict)  # frames per source


@dataclass
class Totals:
    messages: int = 0
    detections_messages: int = 0
    metrics_messages: int = 0
    status_messages: int = 0
    sys_messages: int = 0
    malformed: int = 0
    invalid: int = 0
    detections: int = 0
    without_bbox: int = 0
    ignored: int = 0  # messages of other sources with --source

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Figures:
    """Counts the messages of one dashboard. Not thread-safe: one thread ingests and reads."""

    def __init__(self, window: float = 300.0, *, source: str | None = None) -> None:
        if not window > 0:
            raise ValueError("window must be positive")
        self.window = float(window)
        self.source = source
        self.totals = Totals()
        self.buckets: deque[Bucket] = deque()
        self.latency: dict[str, dict[str, deque[tuple[float, float]]]] = {}
        self.last_latency: dict[str, dict[str, float | None]] = {}
        self.latest: dict[str, dict[str, Any]] = {}  # source -> latest frame's detections
        self.status_payload: bytes | None = None
        self.status_at: float | None = None
        self.sys_values: dict[str, bytes] = {}
        self.started: float | None = None
        self.last_fps: float | None = None
        self.sources_count: int | None = None

    # ---- ingest --------------------------------------------------------------------------

    def _bucket(self, at: float) -> Bucket:
        second = int(at)
        if self.buckets and self.buckets[-1].second >= second:
            return self.buckets[-1]  # never go back: a late arrival counts in the newest second
        bucket = Bucket(second)
        self.buckets.append(bucket)
        self._prune(at)
        return bucket

    def _prune(self, now: float) -> None:
        oldest = int(now) - math.ceil(self.window)
        while self.buckets and self.buckets[0].second < oldest:
            self.buckets.popleft()

    def ingest(self, kind: str, payload: bytes, at: float, topic: str = "") -> None:
        """Count one message of `kind` (DETECTIONS, METRICS, STATUS, SYS) that arrived at `at`."""
        if self.started is None:
            self.started = at
        t = self.totals
        t.messages += 1
        if kind == SYS:
            t.sys_messages += 1
            if len(self.sys_values) < 512 or topic in self.sys_values:
                self.sys_values[topic] = payload
            return
        if kind == STATUS:
            t.status_messages += 1
            self.status_payload, self.status_at = payload, at
            return
        data = payloads.load(payload)
        if not isinstance(data, dict):
            t.malformed += 1
            self._bucket(at).malformed += 1
            return
        if kind == METRICS:
            self._metrics(data, at)
        else:
            self._detections(data, at)

    def _detections(self, data: Mapping[str, Any], at: float) -> None:
        t = self.totals
        frame = data.get("frame")
        frame = frame if isinstance(frame, dict) else {}
        source = _source_key(frame.get("source_id"))
        if self.source is not None and source != self.source:
            t.ignored += 1
            return
        t.detections_messages += 1
        bucket = self._bucket(at)
        bucket.frames += 1
        key = _capped(bucket.per_source, source, MAX_SOURCES)
        bucket.per_source[key] = bucket.per_source.get(key, 0) + 1
        items = data.get("detections")
        bad = not isinstance(items, list)
        kept: list[dict[str, Any]] = []
        for d in items if isinstance(items, list) else ():
            if not isinstance(d, dict):
                bad = True
                continue
            name = d.get("class")
            name = str(name)[:64] if isinstance(name, str | int) else "?"
            conf = _number(d.get("confidence"))
            box = d.get("bbox")
            if conf is None or not (box is None or isinstance(box, dict)):
                bad = True
            t.detections += 1
            bucket.detections += 1
            cls = _capped(bucket.per_class, name, MAX_CLASSES)
            row = bucket.per_class.setdefault(cls, [0, 0.0, 0])
            row[0] += 1
            if conf is not None:
                row[1] += conf
                row[2] += 1
            shape = _bbox(box)
            if shape is None:
                t.without_bbox += 1
            if len(kept) < LATEST_DETECTIONS:
                kept.append({"class": name, "confidence": conf, "bbox": shape})
        if bad:
            t.invalid += 1
            bucket.invalid += 1
        if source in self.latest or len(self.latest) < MAX_SOURCES:
            self.latest[source] = {
                "frame_id": frame.get("frame_id")
                if _number(frame.get("frame_id")) is not None
                else None,
                "at": at,
                "detections": kept,
            }

    def _metrics(self, data: Mapping[str, Any], at: float) -> None:
        t = self.totals
        t.metrics_messages += 1
        bucket = self._bucket(at)
        bucket.metrics += 1
        fps = _number(data.get("throughput_fps"))
        if fps is not None:
            bucket.fps = self.last_fps = fps
        count = data.get("sources_count")
        if isinstance(count, int) and not isinstance(count, bool):
            self.sources_count = count
        reports = data.get("latency_reports")
        bad = reports is not None and not isinstance(reports, list)
        for r in reports if isinstance(reports, list) else ():
            if not isinstance(r, dict):
                bad = True
                continue
            source = _source_key(r.get("source_id"))
            if self.source is not None and source != self.source:
                continue
            if source not in self.latency and len(self.latency) >= MAX_SOURCES:
                source = OTHER
            stages = self.latency.setdefault(
                source, {name: deque(maxlen=LATENCY_SAMPLES) for name, _ in STAGES}
            )
            last = self.last_latency.setdefault(source, {name: None for name, _ in STAGES})
            for name, member in STAGES:
                value = _number(r.get(member))
                if value is None:
                    if member in r and r[member] is not None:
                        bad = True
                    continue
                samples = stages[name]
                samples.append((at, value))
                while samples[0][0] < at - self.window:  # bounded by the window, not only the cap
                    samples.popleft()
                last[name] = value
        if bad:
            t.invalid += 1
            bucket.invalid += 1

    # ---- read ----------------------------------------------------------------------------

    def snapshot(self, now: float, *, wall: datetime | None = None) -> dict[str, Any]:
        """Every figure, as plain data (what `--json` prints and the screens draw)."""
        from ..monitor import broker_info, pipeline_info

        self._prune(now)
        start = now - self.window
        span = self.window if self.started is None else min(self.window, now - self.started)
        span = max(span, 1e-9)
        buckets = [b for b in self.buckets if b.second >= int(start)]
        frames = sum(b.frames for b in buckets)
        detections = sum(b.detections for b in buckets)
        classes: dict[str, list[float]] = {}
        sources: dict[str, int] = {}
        for b in buckets:
            for name, (n, total, k) in b.per_class.items():
                row = classes.setdefault(name, [0, 0.0, 0])
                row[0] += n
                row[1] += total
                row[2] += k
            for name, n in b.per_source.items():
                sources[name] = sources.get(name, 0) + n
        first = max(int(start) + 1, int(now) + 1 - SERIES_SECONDS)
        by_second = {b.second: b for b in buckets}
        series = [by_second[s].frames if s in by_second else 0 for s in range(first, int(now) + 1)]
        fps_series = [
            by_second[s].fps if s in by_second else None for s in range(first, int(now) + 1)
        ]
        status = pipeline_info(self.status_payload, now=wall).as_dict()
        status["received_s_ago"] = (
            None if self.status_at is None else round(now - self.status_at, 1)
        )
        broker = broker_info(self.sys_values, reachable=bool(self.sys_values))
        for key in ("messages_received", "messages_sent", "publish_dropped"):
            per_min = broker.get(f"{key}_per_min")
            broker[f"{key}_per_s"] = None if per_min is None else round(per_min / 60, 2)
        return {
            "window_s": self.window,
            "span_s": round(span, 3),
            "source": self.source,
            "status": status,
            "totals": self.totals.as_dict(),
            "rates": {
                "frames_per_s": round(frames / span, 3),
                "detections_per_s": round(detections / span, 3),
                "malformed_per_s": round(sum(b.malformed for b in buckets) / span, 3),
            },
            "fps": {
                "pipeline": self.last_fps,
                "observed": round(frames / span, 3),
                "series": series,
                "pipeline_series": fps_series,
            },
            "latency": self._latency(start),
            "classes": [
                {
                    "class": name,
                    "count": int(n),
                    "per_s": round(n / span, 3),
                    "mean_confidence": None if not k else round(total / k, 4),
                }
                for name, (n, total, k) in sorted(
                    classes.items(), key=lambda kv: (-kv[1][0], kv[0])
                )
            ],
            "sources": {
                name: {"frames": n, "frames_per_s": round(n / span, 3)}
                for name, n in sorted(sources.items())
            },
            "sources_count": self.sources_count,
            "broker": broker,
        }

    def _latency(self, start: float) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for source in sorted(self.latency):
            stages = self.latency[source]
            row = {}
            for name, _ in STAGES:
                samples = stages[name]
                while samples and samples[0][0] < start:
                    samples.popleft()
                values = [v for _, v in samples]
                row[name] = {
                    "last": self.last_latency[source][name],
                    "p50": percentile(values, 50),
                    "p95": percentile(values, 95),
                    "n": len(values),
                }
            out[source] = row
        return out

    def latest_detections(self) -> dict[str, dict[str, Any]]:
        """The latest frame's detections per source: {source: {frame_id, detections}}."""
        return {
            s: {"frame_id": v["frame_id"], "detections": list(v["detections"])}
            for s, v in sorted(self.latest.items())
        }


def _bbox(box: Any) -> dict[str, float] | None:
    """A detection's box (centre x, y, width, height in pixels) or None when absent or unusable."""
    if not isinstance(box, dict):
        return None
    values = {k: _number(box.get(k)) for k in ("x", "y", "width", "height")}
    if any(v is None for v in values.values()):
        return None
    return values  # type: ignore[return-value]
