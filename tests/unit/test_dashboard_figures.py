"""The dashboard's figures against synthetic messages: windows, rates, percentiles, odd payloads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from adeline_infra.dashboard import figures as F
from adeline_infra.dashboard.figures import DETECTIONS, METRICS, STATUS, SYS, Figures


def det(source: Any = 0, *items: tuple[str, float, Any]) -> bytes:
    return json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00",
            "detection_count": len(items),
            "detections": [
                {"class": c, "confidence": conf, "bbox": box, "class_id": 0}
                for c, conf, box in items
            ],
            "frame": {"frame_id": 1, "source_id": source, "timestamp": "x"},
            "message_id": 1,
        }
    ).encode()


BOX = {"x": 50.0, "y": 40.0, "width": 20.0, "height": 10.0}


def met(fps: float, *reports: tuple[Any, float, float, float]) -> bytes:
    return json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00",
            "throughput_fps": fps,
            "latency_reports": [
                {
                    "source_id": s,
                    "frame_decoding_latency_ms": d,
                    "inference_latency_ms": i,
                    "e2e_latency_ms": e,
                }
                for s, d, i, e in reports
            ],
            "sources_count": len(reports),
        }
    ).encode()


def test_rates_over_a_window_shorter_than_the_run() -> None:
    f = Figures(window=10)
    for second in range(100):  # 100 s at 3 frames/s, then look: only the last 10 s count
        for k in range(3):
            f.ingest(DETECTIONS, det(0, ("person", 0.5, BOX)), 1000 + second + k / 3)
    snap = f.snapshot(1100.0)
    assert snap["totals"]["detections_messages"] == 300  # totals: since the start
    assert snap["rates"]["frames_per_s"] == pytest.approx(3.0, rel=0.05)
    assert len(snap["fps"]["series"]) == 10
    assert set(snap["fps"]["series"][:-1]) == {3}
    assert len(f.buckets) <= 12  # memory: bounded by the window


def test_rate_over_a_run_shorter_than_the_window() -> None:
    f = Figures(window=300)
    f.started = 0.0
    for k in range(20):
        f.ingest(DETECTIONS, det(0, ("car", 0.8, BOX), ("car", 0.6, None)), k * 0.5)
    snap = f.snapshot(10.0)
    assert snap["span_s"] == 10.0
    assert snap["rates"]["frames_per_s"] == 2.0
    assert snap["classes"] == [{"class": "car", "count": 40, "per_s": 4.0, "mean_confidence": 0.7}]


def test_classes_sorted_and_confidence_averaged() -> None:
    f = Figures(window=60)
    f.started = 0.0
    f.ingest(DETECTIONS, det(0, ("person", 0.9, BOX), ("person", 0.7, BOX), ("dog", 0.5, BOX)), 1)
    snap = f.snapshot(2.0)
    assert [(c["class"], c["count"], c["mean_confidence"]) for c in snap["classes"]] == [
        ("person", 2, 0.8),
        ("dog", 1, 0.5),
    ]


def test_percentiles_nearest_rank() -> None:
    assert F.percentile(range(1, 101), 50) == 50
    assert F.percentile(range(1, 101), 95) == 95
    assert F.percentile([7.0], 95) == 7.0
    assert F.percentile([], 50) is None


def test_latency_per_source_last_p50_p95_within_the_window() -> None:
    f = Figures(window=30)
    f.ingest(METRICS, met(10, (0, 999, 999, 999)), 0.0)  # outside the window at the end
    for k in range(1, 101):
        f.ingest(METRICS, met(12.5, (0, k, 10 * k, 20 * k), (1, 1, 2, 3)), 100 + k * 0.1)
    lat = f.snapshot(111.0)["latency"]
    assert lat["0"]["decode"] == {"last": 100.0, "p50": 50.0, "p95": 95.0, "n": 100}
    assert lat["0"]["inference"]["p95"] == 950.0
    assert lat["0"]["e2e"]["last"] == 2000.0
    assert lat["1"]["e2e"] == {"last": 3.0, "p50": 3.0, "p95": 3.0, "n": 100}
    assert f.snapshot(111.0)["fps"]["pipeline"] == 12.5


def test_latency_memory_is_capped() -> None:
    f = Figures(window=3600)
    for k in range(F.LATENCY_SAMPLES * 3):
        f.ingest(METRICS, met(1, (0, 1, 1, 1)), k * 0.001)
    assert len(f.latency["0"]["e2e"]) == F.LATENCY_SAMPLES


def test_missing_bbox_is_counted_and_listed_not_drawn() -> None:
    f = Figures()
    f.ingest(DETECTIONS, det(3, ("cat", 0.4, None), ("cat", 0.6, BOX)), 1.0)
    assert f.totals.without_bbox == 1
    assert f.totals.invalid == 0  # null is what the pipeline sends without a box: not invalid
    latest = f.latest_detections()["3"]["detections"]
    assert latest == [
        {"class": "cat", "confidence": 0.4, "bbox": None},
        {"class": "cat", "confidence": 0.6, "bbox": BOX},
    ]


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1, 2]", b"\xff\xfe", b'"a string"', b"{" * 100000, b""],
)
def test_malformed_payloads_are_counted(payload: bytes) -> None:
    f = Figures()
    f.ingest(DETECTIONS, payload, 1.0)
    f.ingest(METRICS, payload, 1.0)
    snap = f.snapshot(2.0)
    assert snap["totals"]["malformed"] == 2
    assert snap["totals"]["messages"] == 2


@pytest.mark.parametrize(
    "doc",
    [
        {"detections": "nope"},
        {"detections": [1, 2]},
        {"detections": [{"class": "x", "confidence": "high", "bbox": None}]},
        {"detections": [{"class": "x", "confidence": 0.5, "bbox": [1, 2, 3, 4]}]},
    ],
)
def test_invalid_members_are_counted_not_raised(doc: dict[str, Any]) -> None:
    f = Figures()
    f.ingest(DETECTIONS, json.dumps(doc).encode(), 1.0)
    assert f.totals.invalid == 1
    assert f.totals.malformed == 0
    f.snapshot(2.0)


def test_invalid_metrics_are_counted() -> None:
    f = Figures()
    f.ingest(
        METRICS, b'{"throughput_fps": "fast", "latency_reports": [1, {"e2e_latency_ms": "x"}]}', 1
    )
    assert f.totals.invalid == 1
    assert f.snapshot(2.0)["fps"]["pipeline"] is None


def test_source_filter() -> None:
    f = Figures(source="1")
    f.ingest(DETECTIONS, det(0, ("a", 0.5, BOX)), 1.0)
    f.ingest(DETECTIONS, det(1, ("b", 0.5, BOX)), 1.0)
    f.ingest(METRICS, met(5, (0, 1, 1, 1), (1, 2, 2, 2)), 1.0)
    snap = f.snapshot(2.0)
    assert [c["class"] for c in snap["classes"]] == ["b"]
    assert list(snap["latency"]) == ["1"]
    assert snap["totals"]["ignored"] == 1


def test_hostile_class_names_do_not_grow_memory() -> None:
    f = Figures(window=5)
    for k in range(2000):
        f.ingest(DETECTIONS, det(k, (f"class-{k}", 0.5, BOX)), 1.0)
    bucket = f.buckets[-1]
    assert len(bucket.per_class) == F.MAX_CLASSES + 1
    assert len(bucket.per_source) == F.MAX_SOURCES + 1
    assert len(f.latest) == F.MAX_SOURCES
    assert f.totals.detections == 2000  # counted all the same


def test_status_and_age() -> None:
    f = Figures()
    stamp = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    payload = json.dumps({"status": "running", "timestamp": stamp.isoformat()}).encode()
    f.ingest(STATUS, payload, 5.0)
    snap = f.snapshot(8.0, wall=stamp + timedelta(seconds=42))
    assert snap["status"]["status"] == "running"
    assert snap["status"]["age_s"] == 42.0
    assert snap["status"]["received_s_ago"] == 3.0


def test_broker_figures_from_sys() -> None:
    f = Figures()
    f.ingest(SYS, b"4", 1.0, "$SYS/broker/clients/connected")
    f.ingest(SYS, b"600.0", 1.0, "$SYS/broker/load/messages/received/1min")
    f.ingest(SYS, b"120", 1.0, "$SYS/broker/load/publish/dropped/1min")
    b = f.snapshot(2.0)["broker"]
    assert b["clients_connected"] == 4
    assert b["messages_received_per_s"] == 10.0
    assert b["publish_dropped_per_s"] == 2.0
    assert b["messages_sent_per_s"] is None


def test_late_arrival_never_reopens_an_old_bucket() -> None:
    f = Figures(window=10)
    f.ingest(DETECTIONS, det(0), 5.5)
    f.ingest(DETECTIONS, det(0), 4.9)  # stamped earlier, drained later
    assert [b.second for b in f.buckets] == [5]
    assert f.buckets[0].frames == 2


def test_huge_numbers_are_invalid_not_fatal() -> None:
    f = Figures()
    doc = {"detections": [{"class": "x", "confidence": 10**400, "bbox": None}]}
    f.ingest(DETECTIONS, json.dumps(doc).encode(), 1.0)
    f.ingest(METRICS, json.dumps({"throughput_fps": 10**400}).encode(), 1.0)
    assert f.totals.invalid == 1
    assert f.snapshot(2.0)["fps"]["pipeline"] is None


def test_the_fps_series_is_capped_for_a_long_window() -> None:
    f = Figures(window=7 * 24 * 3600)
    f.ingest(DETECTIONS, det(0), 1.0)
    assert len(f.snapshot(100_000.0)["fps"]["series"]) == F.SERIES_SECONDS


def test_latency_samples_older_than_the_window_go_as_new_ones_come() -> None:
    f = Figures(window=10)
    for k in range(100):
        f.ingest(METRICS, met(1, (0, 1, 1, 1)), float(k))
    assert len(f.latency["0"]["e2e"]) == 11  # without any snapshot in between
