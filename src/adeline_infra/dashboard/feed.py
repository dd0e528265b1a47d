"""The dashboard's one MQTT subscription: messages stamped and queued, counted by the reader.

paho calls `on_message` in its network thread; it only appends `(kind, payload, time, topic)`
to a deque (atomic, no lock), so the network thread keeps reading the socket at full speed
even while the screen is being drawn. `drain()` moves what arrived into the `Figures`: that
is where the parsing happens, in the thread that draws, and nothing is ever dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import mqtt
from ..errors import InfraError
from .figures import DETECTIONS, METRICS, STATUS, SYS, Figures

if TYPE_CHECKING:
    import paho.mqtt.client as paho

    from ..settings import Settings

SYS_FILTER = "$SYS/broker/#"


class Feed:
    """Subscribes to detections, metrics, the status and `$SYS`; queues what arrives."""

    def __init__(self, settings: Settings, figures: Figures) -> None:
        self.settings = settings
        self.figures = figures
        self.queue: deque[tuple[str, bytes, float, str]] = deque()
        self.kinds = {
            settings.topic_detections: DETECTIONS,
            settings.topic_metrics: METRICS,
            settings.topic_status: STATUS,
        }
        self.connected = False
        self.subscribed = threading.Event()
        self.refused: list[str] = []
        self.client: paho.Client | None = None
        self.reconnects = 0

    def on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        topic = msg.topic
        self.queue.append((self.kinds.get(topic, SYS), msg.payload, time.monotonic(), topic))

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        bad = [str(rc) for rc in codes if rc.is_failure]
        if bad:
            self.refused.append(", ".join(bad))
        self.subscribed.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected = False

    def _on_connect(self, client: paho.Client) -> None:
        # set in the network thread, before the SUBACK or any message can arrive
        if self.client is not None:
            self.reconnects += 1
        self.client = client
        client.on_message = self.on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        self.connected = True
        s = self.settings
        client.subscribe(
            [(s.topic_detections, 0), (s.topic_metrics, 0), (s.topic_status, 1), (SYS_FILTER, 0)]
        )

    def drain(self, limit: int | None = None) -> int:
        """Count what arrived (at most `limit` messages); returns how many were counted."""
        ingest, pop, n = self.figures.ingest, self.queue.popleft, 0
        while self.queue and (limit is None or n < limit):
            kind, payload, at, topic = pop()
            ingest(kind, payload, at, topic)
            n += 1
        return n

    @contextmanager
    def running(self) -> Iterator[Feed]:
        """Connected and subscribed (SUBACK received), until the block ends."""
        with mqtt.session(self.settings, "dashboard", on_connect=self._on_connect):
            if not self.subscribed.wait(self.settings.connect_timeout):
                raise InfraError(
                    mqtt.describe_failure(
                        self.settings, "did not acknowledge the subscription in time"
                    )
                )
            if self.refused:
                raise InfraError(
                    f"the broker refused a subscription of the dashboard ({self.refused[0]}): "
                    "check the user's ACL"
                )
            yield self


def collect(
    settings: Settings,
    *,
    window: float,
    source: str | None,
    duration: float,
    on_ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Listen for `duration` seconds, then return the figures (what `--json` prints)."""
    figures = Figures(window, source=source)
    feed = Feed(settings, figures)
    with feed.running():
        start = time.monotonic()
        figures.started = start
        if on_ready is not None:
            on_ready()
        deadline = start + duration
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
            feed.drain()
    feed.drain()
    doc = figures.snapshot(time.monotonic())
    doc["broker"]["endpoint"] = settings.endpoint
    doc["connected"] = feed.connected
    return doc
