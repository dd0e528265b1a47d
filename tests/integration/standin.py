"""A stand-in for Adeline's pipeline: retained statuses, detections, and the commands it gets.

`StandInPipeline(settings)` connects with our settings (TLS and credentials included).
`ConfiguredPipeline(workdir, environ)` connects the way the real pipeline does: host, port and
topics from `workdir/config/adeline/config.yaml` only (PyYAML), MQTT_USERNAME / MQTT_PASSWORD
from `environ`, paho with MQTT v5 and the fixed client id `inference_control`, no TLS.
Both answer like the real one: pause/resume/stop/status with a new retained status, health with
a JSON document as the retained status, metrics on the metrics topic; anything else (e.g.
toggle_crop without adaptive ROI) is recorded and dropped.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from adeline_infra import mqtt
from adeline_infra.settings import Settings

# What the real pipeline answers with a new (retained) status.
ANSWERS = {"pause": "paused", "resume": "running", "stop": "stopped", "status": None}


def status_payload(status: str) -> bytes:
    return json.dumps(
        {
            "status": status,
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "client_id": "inference_control",
        }
    ).encode()


def detection_payload(i: int, classes: tuple[str, ...] = ("person", "car")) -> bytes:
    return json.dumps(
        {
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "detection_count": len(classes),
            "detections": [
                {
                    "class": c,
                    "confidence": 0.9,
                    "bbox": {"x": 1.0, "y": 2.0, "width": 3.0, "height": 4.0},
                    "class_id": k,
                }
                for k, c in enumerate(classes)
            ],
            "frame": {"frame_id": i, "source_id": 0, "timestamp": "2025-01-01T00:00:00"},
            "message_id": f"m{i}",
        }
    ).encode()


def health_report() -> dict[str, Any]:
    """The document the real pipeline builds for `health` (adeline/control: `health`)."""
    return {
        "status": "healthy",
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "version": "3.0.0",
        "checks": {"pipeline_running": True, "mqtt_connected": True, "avg_fps": 2.0},
    }


def health_payload() -> bytes:
    """What `health` publishes as the retained status, as the real pipeline does it:
    `publish_status(json.dumps(health, indent=2))`, so the `status` member is a *string* holding
    indented JSON, not an object."""
    return status_payload(json.dumps(health_report(), indent=2))


def metrics_payload() -> bytes:
    return json.dumps(
        {
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "throughput_fps": 12.5,
            "latency_reports": [
                {
                    "source_id": 0,
                    "frame_decoding_latency_ms": 1.0,
                    "inference_latency_ms": 20.0,
                    "e2e_latency_ms": 25.0,
                }
            ],
            "sources_count": 1,
        }
    ).encode()


class StandInPipeline:
    """Connects like the pipeline: subscribes to commands, answers with retained statuses."""

    def __init__(self, settings: Settings, *, answer: bool = True) -> None:
        self.settings = settings
        self.answer = answer
        self.commands: queue.Queue[Any] = queue.Queue()
        self.status = "running"
        self._subscribed = threading.Event()
        self.client = mqtt.make_client(settings, "standin-pipeline")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()

    def __enter__(self) -> StandInPipeline:
        self.client.connect(self.settings.mqtt_host, self.settings.mqtt_port)
        self.client.loop_start()
        self.client.subscribe(self.settings.topic_commands, qos=1)
        assert self._subscribed.wait(5), "stand-in pipeline: no SUBACK"
        return self

    def __exit__(self, *_exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish_status(self, status: str, *, retain: bool = True) -> None:
        self.status = status
        info = self.client.publish(
            self.settings.topic_status, status_payload(status), qos=1, retain=retain
        )
        info.wait_for_publish(5)
        assert info.is_published()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(5)
        assert info.is_published()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        data = json.loads(msg.payload)
        self.commands.put(data)
        if not self.answer:
            return
        name = data.get("command")
        if name in ANSWERS:
            self.publish_status_async(ANSWERS[name] or self.status)
        elif name == "health":
            self.client.publish(self.settings.topic_status, health_payload(), qos=1, retain=True)
        elif name == "metrics":
            self.client.publish(self.settings.topic_metrics, metrics_payload(), qos=0)

    def publish_status_async(self, status: str) -> None:
        # from the network thread: publish without waiting for our own PUBACK
        self.status = status
        self.client.publish(self.settings.topic_status, status_payload(status), qos=1, retain=True)

    def next_command(self, timeout: float = 5.0) -> Any:
        return self.commands.get(timeout=timeout)


class ConfiguredPipeline(StandInPipeline):
    """The stand-in, configured as the real pipeline configures itself (see the module doc)."""

    def __init__(self, workdir: Path, environ: Mapping[str, str] | None = None) -> None:
        import paho.mqtt.client as paho
        import yaml

        env = os.environ if environ is None else environ
        config = yaml.safe_load((workdir / "config" / "adeline" / "config.yaml").read_text())
        mqtt_cfg = config["mqtt"]
        topics = mqtt_cfg["topics"]
        self.settings = SimpleNamespace(  # type: ignore[assignment]
            mqtt_host=mqtt_cfg["broker"]["host"],
            mqtt_port=int(mqtt_cfg["broker"]["port"]),
            topic_commands=topics["control_commands"],
            topic_status=topics["control_status"],
            topic_detections=topics["data"],
            topic_metrics=topics["metrics"],
        )
        self.answer = True
        self.commands = queue.Queue()
        self.status = "running"
        self._subscribed = threading.Event()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id="inference_control", protocol=paho.MQTTv5
        )
        user, password = env.get("MQTT_USERNAME"), env.get("MQTT_PASSWORD")
        if user and password:
            self.client.username_pw_set(user, password)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
