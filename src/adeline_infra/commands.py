"""The pipeline's commands: each one's name, where the pipeline answers it, and what it does.

The one table `control` sends from and the `control.*` tasks are built from. Plain data and no
imports, because `inv` reads it at start-up to list the tasks.
"""

from __future__ import annotations

# name -> (where the pipeline answers: "status" (TOPIC_STATUS), "metrics" (TOPIC_METRICS) or
# None (only in its log: sent to pipelines with adaptive ROI / stabilization), what it does)
TABLE: dict[str, tuple[str | None, str]] = {
    "pause": ("status", "Ask the pipeline to pause inference."),
    "resume": ("status", "Ask the pipeline to resume inference."),
    "stop": ("status", "Ask the pipeline to stop."),
    "status": ("status", "Ask the pipeline to publish its status."),
    "metrics": ("metrics", "Ask the pipeline to publish its metrics."),
    "health": ("status", "Ask the pipeline for a health check."),
    "toggle_crop": (
        None,
        "Toggle the adaptive ROI crop (pipelines with adaptive ROI; it answers on its log only).",
    ),
    "stabilization_stats": (
        None,
        "Ask for detection-stabilization statistics (pipelines with stabilization; in its log).",
    ),
}

# The commands the pipeline answers on MQTT, and where; `control.send NAME` sends any other.
ANSWERS = {name: answer for name, (answer, _) in TABLE.items() if answer is not None}
COMMANDS = tuple(ANSWERS)
OPTIONAL_COMMANDS = tuple(name for name in TABLE if name not in ANSWERS)
