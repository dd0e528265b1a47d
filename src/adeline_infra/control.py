"""Commands to the pipeline: `{"command": NAME}` at QoS 1, reported sent only when acknowledged.

Success means the broker answered the publish with a successful PUBACK: handing a message to a
client that is not connected (or to a broker that refused the connection) is not "sent".
`wait=True` also waits for the command's own answer, where the pipeline gives it (`ANSWERS`): a
new retained status for pause/resume/stop/status/health (the health report is a JSON document
published as the status), a message on the metrics topic for metrics. We subscribe to that topic
before publishing and skip what the broker replays on subscribe (delivered with the retain flag
set), so the answer printed is one published after the command. For any other command
(toggle_crop, stabilization_stats, ...) the answer is unknown - the pipeline drops commands it
does not have - so `wait=True` is refused before anything is sent.
"""

from __future__ import annotations

import json
import queue
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import mqtt, payloads
from .commands import ANSWERS
from .errors import ConfigError, InfraError
from .text import quoted

if TYPE_CHECKING:
    import paho.mqtt.client as paho

    from .settings import Settings

NO_MATCHING_SUBSCRIBERS = 0x10


def answer_topic(settings: Settings, command: str) -> str:
    """The topic the pipeline answers `command` on; ConfigError (exit 2) when it does not."""
    kind = ANSWERS.get(command)
    if kind is None:
        raise ConfigError(
            f"cannot wait for {command!r}: the pipeline publishes no known answer to it "
            f"(--wait works for {', '.join(ANSWERS)}); send it without --wait"
        )
    return settings.topic_status if kind == "status" else settings.topic_metrics


@dataclass
class SendResult:
    command: str
    topic: str
    acknowledged_after: float  # seconds from connect to PUBACK
    subscribers: bool | None  # False when the broker said nobody subscribes to the topic
    status: dict[str, Any] | None = None  # the pipeline's next status, with wait=True
    metrics: dict[str, Any] | None = None  # its metrics message, for `metrics` with wait=True
    answer_topic: str | None = None  # where the answer was awaited (wait=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "topic": self.topic,
            "acknowledged": True,
            "acknowledged_after_s": round(self.acknowledged_after, 3),
            "subscribers": self.subscribers,
            "answer_topic": self.answer_topic,
            "status": self.status,
            "metrics": self.metrics,
        }


def payload(command: str) -> bytes:
    return json.dumps({"command": command}).encode("utf-8")


def check_name(command: str) -> str:
    name = command.strip()
    if not name or any(c.isspace() for c in name):
        raise ConfigError(f"{quoted(command)} is not a command name: give one word, e.g. pause")
    return name


def send(
    settings: Settings,
    command: str,
    *,
    wait: bool = False,
    timeout: float = 5.0,
) -> SendResult:
    """Publish the command and wait for the broker's PUBACK (and, with `wait`, the next status).

    Raises BrokerUnavailable when the broker is down or refuses us; InfraError when it does not
    acknowledge (within the connect timeout) or rejects the publish, or when no status arrives
    within `timeout` seconds of the acknowledgement.
    """
    name = check_name(command)
    awaited = answer_topic(settings, name) if wait else None  # refused before connecting
    ack_timeout = settings.connect_timeout
    start = time.monotonic()
    statuses: queue.Queue[Any] = queue.Queue()
    pubacks: dict[int, Any] = {}

    def on_message(msg: Any) -> None:
        if msg.retain:  # replayed on subscribe: the status from before our command
            return
        statuses.put(msg.payload)

    def on_publish(_c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        pubacks[mid] = reason

    # With --wait: the command goes out once everything retained on the answer's topic has
    # arrived (and been skipped), however late the broker sends it.
    reader = mqtt.RetainedReader([awaited], on_message, qos=1) if awaited else None

    def on_connect(client: paho.Client) -> None:
        # set in the network thread, before any answer can arrive
        client.on_publish = on_publish
        if reader is not None:
            reader.subscribe(client)

    with mqtt.session(settings, "control", on_connect=on_connect) as client:
        if reader is not None:
            if not reader.wait(ack_timeout):
                raise InfraError(
                    mqtt.describe_failure(
                        settings, f"did not acknowledge a SUBSCRIBE within {ack_timeout:g} s"
                    )
                )
            if reader.refused:
                raise InfraError(
                    f"the broker refused the subscription to {awaited} "
                    f"({reader.refused[0]}): check the user's ACL, or send without --wait"
                )
        info = client.publish(settings.topic_commands, payload(name), qos=1)
        try:
            info.wait_for_publish(ack_timeout)
        except (RuntimeError, ValueError) as exc:
            raise InfraError(f"{name!r} was not sent: {exc}") from None
        if not info.is_published():
            raise InfraError(
                f"{name!r} was not acknowledged by the broker within {ack_timeout:g} s "
                "(no PUBACK): it may or may not reach the pipeline"
            )
        acked = time.monotonic() - start
        reason = pubacks.get(info.mid)
        if reason is not None and reason.is_failure:
            raise InfraError(
                f"the broker rejected {name!r} on {settings.topic_commands} ({reason}): "
                "check the user's ACL"
            )
        subscribers = None
        if reason is not None:
            subscribers = reason.value != NO_MATCHING_SUBSCRIBERS
        result = SendResult(name, settings.topic_commands, acked, subscribers)
        if awaited is not None:
            result.answer_topic = awaited
            what = "status" if awaited == settings.topic_status else "metrics"
            try:
                raw = statuses.get(timeout=timeout)
            except queue.Empty:
                raise InfraError(
                    f"sent {name!r}, but the pipeline published no {what} on {awaited} within "
                    f"{timeout:g} s: is it running? (`inv monitor.status`)"
                ) from None
            if what == "status":
                result.status = _status(raw)
            else:
                result.metrics = _status(raw)
    return result


def _status(raw: bytes) -> dict[str, Any]:
    data = payloads.load(raw)
    if isinstance(data, dict):
        return payloads.unwrap_status(data)  # the health report: fields, not a string
    text = raw[:200].decode("utf-8", "replace")
    return {"status": None, "malformed": text + ("..." if len(raw) > 200 else "")}
