"""The dashboard's terminal screen through rich's recording console, at 80×24."""

from __future__ import annotations

import json

from rich.console import Console

from adeline_infra.dashboard import tui
from adeline_infra.dashboard.figures import DETECTIONS, METRICS, STATUS, SYS, Figures


def busy_figures() -> Figures:
    f = Figures(window=60)
    f.started = 0.0
    f.ingest(
        STATUS, json.dumps({"status": "running", "timestamp": "2026-01-01T00:00:00Z"}).encode(), 0
    )
    f.ingest(SYS, b"3", 0, "$SYS/broker/clients/connected")
    for k in range(600):
        at = k / 10
        classes = [f"class-{n}" for n in range(8)] + ["person" * 20]
        dets = [{"class": c, "confidence": 0.5, "bbox": None} for c in classes]
        frame = {"source_id": k % 9, "frame_id": k}
        f.ingest(DETECTIONS, json.dumps({"detections": dets, "frame": frame}).encode(), at)
        reports = [
            {
                "source_id": s,
                "frame_decoding_latency_ms": 1.5,
                "inference_latency_ms": 120.0,
                "e2e_latency_ms": 12345.6,
            }
            for s in range(9)
        ]
        f.ingest(
            METRICS, json.dumps({"throughput_fps": 30.0, "latency_reports": reports}).encode(), at
        )
    f.ingest(DETECTIONS, b"garbage", 59.0)
    return f


def render(doc: dict, note: str = "", width: int = 80) -> list[str]:
    console = Console(record=True, width=width, height=24, force_terminal=True, color_system=None)
    console.print(tui.view(doc, endpoint="127.0.0.1:1883", note=note, width=width))
    return console.export_text().splitlines()


def test_fits_80_by_24_with_many_sources_and_classes() -> None:
    lines = render(busy_figures().snapshot(60.0), note="sent 'pause' (acknowledged)" + "x" * 200)
    assert len(lines) <= 23  # one line left for the cursor
    assert all(len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    assert "running" in text
    assert "+4 more" in text  # 9 sources, 5 shown
    assert "malformed 1" in text
    assert "sent 'pause'" in text
    assert "1.5/1.5/1.5" in text


def test_empty_figures_draw() -> None:
    text = "\n".join(render(Figures().snapshot(1.0)))
    assert "no status" in text
    assert "(none yet)" in text and "(no detections yet)" in text


def test_control_characters_in_payloads_are_not_drawn_raw() -> None:
    f = Figures()
    f.ingest(
        DETECTIONS,
        json.dumps(
            {
                "detections": [{"class": "\x1b[2Jevil", "confidence": 1}],
                "frame": {"source_id": "\x1b]0;x\x07"},
            }
        ).encode(),
        1.0,
    )
    f.ingest(METRICS, json.dumps({"latency_reports": [{"source_id": "\x1b[31m"}]}).encode(), 1.0)
    text = "\n".join(render(f.snapshot(2.0)))
    assert "\x1b" not in text


def test_sparkline_scales_to_the_maximum() -> None:
    assert tui.sparkline([0, 4, 8], 3) == " ▄█"
    assert tui.sparkline([None, 1], 4) == "   █"
    assert tui.sparkline([], 2) == "  "
