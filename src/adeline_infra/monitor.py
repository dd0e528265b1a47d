"""What the broker and the pipeline are doing: `$SYS` snapshots, the pipeline's status, live data.

- `snapshot()` is one look at everything. `$SYS` values and the pipeline's status are retained,
  so it returns as soon as the broker has sent them (`mqtt.retained`): it never waits for a
  `sys_interval` tick.
- `Watcher` keeps one subscription to `$SYS/#` and the status topic open and renders the same
  view again and again (`--watch`), so a broker restart shows as "unreachable" then recovers.
- `tail()` follows the detections (and metrics). The per-message work happens in paho's network
  thread and goes straight into a buffered binary stream that the main thread flushes ten times
  a second: no queue hop, no flush per line, no rich on the hot path.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from . import mqtt, payloads
from .console import printable
from .errors import InfraError
from .text import shown

if TYPE_CHECKING:
    import paho.mqtt.client as paho

    from .settings import Settings

SYS_FILTER = "$SYS/#"
_B = "$SYS/broker/"


def _int(text: str) -> int | None:
    head = text.strip().split(" ")[0]
    try:
        return int(head)
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        return float(text.strip().split(" ")[0])
    except ValueError:
        return None


def _version(text: str) -> str | None:
    return text.removeprefix("mosquitto version ").strip() or None


# $SYS topic (under $SYS/broker/) -> (key in the snapshot, parser). heap/* is in some builds only.
_SYS_FIELDS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("version", "version", _version),
    ("uptime", "uptime_s", _int),
    ("clients/connected", "clients_connected", _int),
    ("clients/total", "clients_total", _int),
    ("load/messages/received/1min", "messages_received_per_min", _float),
    ("load/messages/sent/1min", "messages_sent_per_min", _float),
    ("load/bytes/received/1min", "bytes_received_per_min", _float),
    ("load/bytes/sent/1min", "bytes_sent_per_min", _float),
    ("load/publish/dropped/1min", "publish_dropped_per_min", _float),
    ("retained messages/count", "retained_messages", _int),
    ("subscriptions/count", "subscriptions", _int),
    ("messages/stored", "messages_stored", _int),
    ("heap/current", "heap_bytes", _int),
)


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", "replace")


def _emqx_uptime(text: str) -> int | None:
    """EMQX's uptime: "N seconds", or "1 days, 2 hours, 3 minutes, 4 seconds" (4.x)."""
    units = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}
    total, found = 0, False
    for part in text.split(","):
        words = part.split()
        if len(words) == 2 and words[0].isdigit() and words[1].rstrip("s") in units:
            total += int(words[0]) * units[words[1].rstrip("s")]
            found = True
        elif part.strip():
            return None
    return total if found else None


# EMQX's tree: $SYS/brokers/<node>/ + topic -> (key, parser)
_EMQX_FIELDS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("version", "version", lambda t: t.strip() or None),
    ("uptime", "uptime_s", _emqx_uptime),
    ("stats/connections/count", "clients_connected", _int),
    ("stats/retained/count", "retained_messages", _int),
    ("stats/subscriptions/count", "subscriptions", _int),
)
# What a status view shows of the broker: named when unknown.
_SHOWN = {
    "version": "version",
    "uptime_s": "uptime",
    "clients_connected": "clients",
    "messages_received_per_min": "load",
    "retained_messages": "retained count",
    "subscriptions": "subscriptions",
}


def emqx_node(sys_values: Mapping[str, bytes]) -> str | None:
    """The node of an EMQX `$SYS/brokers/<node>/...` tree, if there is one."""
    for topic in sorted(sys_values):
        parts = topic.split("/")
        if len(parts) >= 4 and parts[:2] == ["$SYS", "brokers"] and parts[3] == "version":
            return parts[2]
    return None


def broker_info(sys_values: Mapping[str, bytes], *, reachable: bool = True) -> dict[str, Any]:
    """The broker part of a snapshot from `$SYS` values (topic -> payload). Missing -> None.

    `$SYS` is mosquitto's (`$SYS/broker/...`); EMQX has `$SYS/brokers/<node>/...`; others a part
    of either, or none. `sys_tree` says which was found ("mosquitto", "emqx", None), and
    `sys_note` names what is not known (None when nothing the view shows is missing): a broker
    without `$SYS` is no less healthy, only less described.
    """
    info: dict[str, Any] = {"reachable": reachable}
    for topic, key, parse in _SYS_FIELDS:
        raw = sys_values.get(_B + topic)
        info[key] = parse(_text(raw)) if raw is not None else None
    tree = "mosquitto" if any(t.startswith(_B) for t in sys_values) else None
    node = None if tree else emqx_node(sys_values)
    if node is not None:
        tree = "emqx"
        for topic, key, parse in _EMQX_FIELDS:
            raw = sys_values.get(f"$SYS/brokers/{node}/{topic}")
            info[key] = parse(_text(raw)) if raw is not None else None
    info["sys_tree"] = tree
    missing = [name for key, name in _SHOWN.items() if info[key] is None]
    if not reachable:
        info["sys_note"] = None
    elif tree is None:
        info["sys_note"] = (
            "no $SYS values: this broker publishes none (or not to this user), so its "
            "version, uptime, clients and load are unknown"
        )
    elif missing:
        where = f"EMQX's $SYS/brokers/{node}/" if node else "its $SYS"
        info["sys_note"] = f"{where} has no {', '.join(missing)}: unknown"
    else:
        info["sys_note"] = None
    return info


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:  # the pipeline writes local time without an offset
        stamp = stamp.astimezone()
    return stamp


_STATUS_KEYS = ("status", "timestamp", "client_id")


@dataclass
class PipelineInfo:
    """The pipeline's status, read from its retained status payload.

    A status is `{"status": "running", "timestamp", "client_id"}`; anything else in a JSON
    object is a structured status: its other members are in `fields` (None for a plain status).
    A `status` member that is an object, or a string holding a JSON object (the health report
    the pipeline publishes after `health`), is a structured status too: its members are fields.
    `problem` says why there is no status to show.
    """

    status: str | None = None
    timestamp: Any = None
    client_id: Any = None
    age_s: float | None = None
    fields: dict[str, Any] | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "timestamp": self.timestamp,
            "client_id": self.client_id,
            "age_s": self.age_s,
            "fields": self.fields,
            "problem": self.problem,
        }


@dataclass
class Snapshot:
    """One look at the broker (`$SYS` figures by name, None where it does not say) and the
    pipeline's status on `topic`. `as_dict` is `monitor.status --json`."""

    broker: dict[str, Any]
    topic: str
    pipeline: PipelineInfo

    def as_dict(self) -> dict[str, Any]:
        return {"broker": self.broker, "pipeline": {"topic": self.topic, **self.pipeline.as_dict()}}


def pipeline_info(payload: bytes | None, *, now: datetime | None = None) -> PipelineInfo:
    """The pipeline's status from its retained status payload (None: never published)."""
    info = PipelineInfo()
    if payload is None:
        info.problem = "no status published (has the pipeline ever run on this broker?)"
        return info
    if payloads.too_big(payload):
        info.problem = (
            f"the retained status is {len(payload)} bytes, far more than a status: "
            f"{_preview(payload)}"
        )
        return info
    data = payloads.load(payload)
    if not isinstance(data, dict):
        info.problem = f"the retained status is not a JSON object: {_preview(payload)}"
        return info
    data = payloads.unwrap_status(data)  # the health report: a string holding JSON
    status = data.get("status")
    info.status = status if isinstance(status, str) else None
    info.timestamp = data.get("timestamp")
    info.client_id = data.get("client_id")
    stamp = _parse_time(data.get("timestamp"))
    if stamp is not None:
        now = now or datetime.now(timezone.utc)
        info.age_s = round(max((now - stamp).total_seconds(), 0.0), 1)
    fields = {k: v for k, v in data.items() if k not in _STATUS_KEYS}
    if isinstance(status, dict):  # {"status": {...}}: the document is the status
        fields = {**status, **fields}
    info.fields = fields or None
    if info.status is None and not fields:
        info.problem = f"the retained status has no 'status' field: {_preview(payload)}"
    return info


MAX_FIELDS = 200  # rows of a structured status shown; a status is a screen, not a dump
MAX_FIELD_CHARS = 200


def flat_fields(fields: Mapping[str, Any] | None, prefix: str = "") -> list[tuple[str, str]]:
    """A structured status as (dotted key, text) rows: nested objects become `a.b` keys. At most
    MAX_FIELDS rows (the last says how many more) of at most MAX_FIELD_CHARS each."""
    rows = _flat(fields or {}, prefix)
    if len(rows) > MAX_FIELDS:
        more = len(rows) - MAX_FIELDS + 1
        rows = [*rows[: MAX_FIELDS - 1], ("...", f"{more} more fields not shown")]
    return [(_cut(k), _cut(v)) for k, v in rows]


def _flat(fields: Mapping[str, Any], prefix: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in fields.items():
        if len(rows) > MAX_FIELDS:
            break
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and len(prefix) < 200:
            rows += _flat(value, name + ".")
        elif isinstance(value, str):
            rows.append((name, value))
        else:
            rows.append((name, json.dumps(value, default=str)))
    return rows


def _cut(text: str) -> str:
    return text if len(text) <= MAX_FIELD_CHARS else text[: MAX_FIELD_CHARS - 3] + "..."


def status_line(info: PipelineInfo) -> str:
    """One line for a status (`--follow`): the status, or the fields of a structured one."""
    parts = []
    if info.status is not None:
        parts.append(str(info.status))
    if info.fields:
        parts.append(", ".join(f"{k}={v}" for k, v in flat_fields(info.fields)))
    if not parts:
        parts.append(info.problem or "unknown")
    extra = [str(v) for v in (info.timestamp, info.client_id) if v]
    line = " ".join(parts) + (f"  ({', '.join(extra)})" if extra else "")
    return line.replace("\n", " ").replace("\r", " ")


def _preview(payload: bytes, limit: int = 80) -> str:
    text = _text(payload).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def snapshot(settings: Settings) -> Snapshot:
    """The broker and the pipeline now. BrokerUnavailable when down or refused."""
    values = mqtt.retained(settings, [SYS_FILTER, settings.topic_status], purpose="monitor")
    return Snapshot(
        broker={"endpoint": settings.endpoint, **broker_info(values)},
        topic=settings.topic_status,
        pipeline=pipeline_info(values.get(settings.topic_status)),
    )


def sys_tree(settings: Settings) -> dict[str, str]:
    """Every retained `$SYS` value, sorted by topic."""
    values = mqtt.retained(settings, [SYS_FILTER], purpose="monitor-broker")
    return {topic: _text(values[topic]) for topic in sorted(values)}


class Watcher:
    """One long-lived subscription to `$SYS/#` and the status topic, for `--watch`.

    Values arrive when the broker publishes them (every `sys_interval`); the view is rendered
    from the latest ones. Reconnects are paho's; while disconnected, `reachable` is False.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.values: dict[str, bytes] = {}
        self.received_at: dict[str, float] = {}
        self.connected = False
        self._reader = mqtt.RetainedReader([SYS_FILTER, settings.topic_status], self._on_message)
        self._lock = threading.Lock()

    def _subscribe(self, client: paho.Client) -> None:
        # callbacks are set here, in the network thread, before anything can arrive
        client.on_disconnect = self._on_disconnect
        self.connected = True
        self._reader.subscribe(client)

    def _on_message(self, msg: Any) -> None:
        with self._lock:
            self.values[msg.topic] = msg.payload
            self.received_at[msg.topic] = time.monotonic()

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected = False

    def run(self, render: Callable[[], None], interval: float) -> None:
        """Call `render()` every `interval` seconds until Ctrl+C (which ends it normally)."""
        with mqtt.session(self.settings, "monitor-watch", on_connect=self._subscribe):
            self._reader.wait(self.settings.connect_timeout)  # the retained values are in
            try:
                while True:
                    render()
                    time.sleep(interval)
            except KeyboardInterrupt:
                pass

    def current(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self.values)

    def snapshot(self) -> Snapshot:
        values = self.current()
        broker = {
            "endpoint": self.settings.endpoint,
            **broker_info(values, reachable=self.connected),
        }
        # uptime is published every sys_interval: count on from when we last heard it
        uptime_at = self.received_at.get(_B + "uptime")
        if broker["uptime_s"] is not None and uptime_at is not None:
            broker["uptime_s"] += int(time.monotonic() - uptime_at)
        status = values.get(self.settings.topic_status)
        return Snapshot(broker, self.settings.topic_status, pipeline_info(status))

    def sys_tree(self) -> dict[str, str]:
        values = self.current()
        return {t: _text(values[t]) for t in sorted(values) if t.startswith("$SYS/")}


def follow(
    settings: Settings,
    *,
    as_json: bool = False,
    emit: Callable[[str], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> None:
    """Print one line per status the pipeline publishes, as it happens, until Ctrl+C.

    The first line is the status retained at the start (if any). The same payload twice in a
    row (the broker replays the retained status after a reconnect) is printed once. With
    `as_json`, each line is `{"received_at", "retained", "topic", **pipeline_info}`.
    Ctrl+C ends it normally, as it ends `--watch`.
    """
    import queue

    emit = emit or (lambda line: print(line, flush=True))
    note = note or (lambda line: print(line, file=sys.stderr, flush=True))
    topic = settings.topic_status
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def on_message(msg: Any) -> None:
        events.put(("message", (msg.payload, bool(msg.retain))))

    def on_disconnect(*_args: Any) -> None:
        events.put(("lost", None))

    reader = mqtt.RetainedReader([topic], on_message, qos=1)

    def on_connect(client: paho.Client) -> None:
        client.on_disconnect = on_disconnect
        reader.subscribe(client)

    last: bytes | None = None
    with mqtt.session(settings, "monitor-follow", on_connect=on_connect):
        note(f"following {topic} on {settings.endpoint} (Ctrl+C to stop)")
        try:
            if not reader.wait(settings.connect_timeout):
                raise InfraError(
                    mqtt.describe_failure(settings, "did not acknowledge the subscription in time")
                )
            if reader.refused:
                raise InfraError(
                    f"the broker refused the subscription to {topic} ({reader.refused[0]}): "
                    "check the user's ACL"
                )
            if reader.messages == 0:  # everything retained has arrived, and there was nothing
                note("no status published yet: waiting for the first one")
            while True:
                try:
                    kind, value = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if kind == "lost":
                    note("connection to the broker lost: reconnecting ...")
                elif kind == "message":
                    payload, retained = value
                    if payload == last:
                        continue
                    last = payload
                    info = pipeline_info(payload)
                    if as_json:
                        stamp = datetime.now(timezone.utc).isoformat()
                        doc = {
                            "received_at": stamp,
                            "retained": retained,
                            "topic": topic,
                            **info.as_dict(),
                        }
                        emit(json.dumps(doc, default=str))
                    else:
                        clock = datetime.now().strftime("%H:%M:%S")
                        emit(f"{clock} {printable(status_line(info))}")
        except KeyboardInterrupt:
            pass  # the normal way to stop following


# ---------------------------------------------------------------------------------------------
# monitor.data
# ---------------------------------------------------------------------------------------------


@dataclass
class Totals:
    """What `tail()` saw, printed when it ends."""

    messages: int = 0
    detection_messages: int = 0
    metrics_messages: int = 0
    malformed: int = 0
    detections: int = 0
    per_class: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "detection_messages": self.detection_messages,
            "metrics_messages": self.metrics_messages,
            "malformed": self.malformed,
            "detections": self.detections,
            "per_class": dict(self.per_class.most_common()),
            "elapsed_s": round(self.elapsed, 3),
        }

    def summary_lines(self) -> list[str]:
        rate = self.messages / self.elapsed if self.elapsed > 0 else 0.0
        lines = [
            f"{self.messages} messages in {self.elapsed:.1f} s ({rate:.0f}/s): "
            f"{self.detection_messages} detections messages, {self.metrics_messages} metrics, "
            f"{self.malformed} malformed"
        ]
        if self.per_class:
            classes = ", ".join(
                f"{printable(name)} {n}" for name, n in self.per_class.most_common()
            )
            lines.append(f"{self.detections} detections by class: {classes}")
        else:
            lines.append(f"{self.detections} detections")
        return lines


def _num(value: Any, fmt: str = "g") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?" if value is None else shown(value)
    try:
        return format(value, fmt)
    except (OverflowError, ValueError):  # an integer too big for a float
        return shown(value)


def _clock(value: Any) -> str:
    stamp = _parse_time(value)
    if stamp is None:
        return "--:--:--"
    return stamp.astimezone().strftime("%H:%M:%S.%f")[:-3]


def format_detections(n: int, data: Mapping[str, Any], verbose: bool) -> list[str]:
    """The readable line(s) for one detections message. Tolerates missing or odd fields."""
    raw_frame = data.get("frame")
    frame: Mapping[str, Any] = raw_frame if isinstance(raw_frame, dict) else {}
    detections = data.get("detections")
    items = detections if isinstance(detections, list) else []
    count = data.get("detection_count", len(items))
    per_class = Counter(shown(d.get("class", "?")) for d in items if isinstance(d, dict))
    classes = ", ".join(f"{k} {v}" for k, v in per_class.most_common())
    line = (
        f"#{n} {_clock(data.get('timestamp'))} frame {_num(frame.get('frame_id'))} "
        f"source {_num(frame.get('source_id'))}: {_num(count)} detection"
        f"{'' if count == 1 else 's'}" + (f" ({classes})" if classes else "")
    )
    lines = [line]
    if verbose:
        for d in items:
            if not isinstance(d, dict):
                lines.append(f"    ? {shown(d)}")
                continue
            box = d.get("bbox")
            if isinstance(box, dict):
                where = (
                    f"x={_num(box.get('x'), '.1f')} y={_num(box.get('y'), '.1f')} "
                    f"w={_num(box.get('width'), '.1f')} h={_num(box.get('height'), '.1f')}"
                )
            else:
                where = "no box"
            name = shown(d.get("class", "?"))
            lines.append(f"    {name} {_num(d.get('confidence'), '.2f')} {where}")
    return lines


def format_metrics(n: int, data: Mapping[str, Any], verbose: bool) -> list[str]:
    reports = data.get("latency_reports")
    items = [r for r in reports if isinstance(r, dict)] if isinstance(reports, list) else []
    e2e = [r.get("e2e_latency_ms") for r in items]
    e2e_nums = [v for v in e2e if isinstance(v, int | float) and not isinstance(v, bool)]
    worst = f", e2e max {max(e2e_nums):.1f} ms" if e2e_nums else ""
    lines = [
        f"#{n} {_clock(data.get('timestamp'))} metrics: "
        f"{_num(data.get('throughput_fps'), '.1f')} fps, "
        f"{_num(data.get('sources_count'))} sources{worst}"
    ]
    if verbose:
        for r in items:
            lines.append(
                f"    source {_num(r.get('source_id'))}: decode "
                f"{_num(r.get('frame_decoding_latency_ms'), '.1f')} ms, inference "
                f"{_num(r.get('inference_latency_ms'), '.1f')} ms, e2e "
                f"{_num(r.get('e2e_latency_ms'), '.1f')} ms"
            )
    return lines


class Tail:
    """The per-message handler of `tail()`: count, format, write. Runs in paho's thread."""

    def __init__(
        self,
        settings: Settings,
        out: ByteSink,
        *,
        as_json: bool = False,
        verbose: bool = False,
        count: int | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.detections_topic = settings.topic_detections
        self.metrics_topic = settings.topic_metrics
        self.out = out
        self.as_json = as_json
        self.verbose = verbose
        self.count = count
        self.note = note or (lambda line: print(line, file=sys.stderr, flush=True))
        self.totals = Totals()
        self.done = threading.Event()
        self.dirty = False

    def handle(self, topic: str, payload: bytes) -> None:
        if self.done.is_set():
            return  # --count reached: what still arrives before we disconnect is not ours
        totals = self.totals
        totals.messages += 1
        n = totals.messages
        data = payloads.load(payload)
        if not isinstance(data, dict):
            totals.malformed += 1
            line = printable(
                f"#{n} malformed payload on {topic} ({len(payload)} bytes): {_preview(payload)}"
            )
            if self.as_json:
                self.note(line)  # stdout stays valid JSON lines for whoever reads it
            else:
                self.out.write(line.encode("utf-8") + b"\n")
        else:
            if topic == self.metrics_topic:
                totals.metrics_messages += 1
                lines = None if self.as_json else format_metrics(n, data, self.verbose)
            else:
                totals.detection_messages += 1
                detections = data.get("detections")
                if isinstance(detections, list):
                    for d in detections:
                        if isinstance(d, dict):
                            totals.detections += 1
                            totals.per_class[shown(d.get("class", "?"))] += 1
                lines = None if self.as_json else format_detections(n, data, self.verbose)
            if lines is None:
                if b"\n" in payload or b"\r" in payload:  # keep one object per line
                    payload = json.dumps(data, separators=(",", ":")).encode("utf-8")
                self.out.write(payload + b"\n")
            else:
                self.out.write("\n".join(map(printable, lines)).encode("utf-8") + b"\n")
        self.dirty = True
        if self.count is not None and n >= self.count:
            totals.ended = time.monotonic()
            self.done.set()

    def on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        self.handle(msg.topic, msg.payload)

    def flush(self) -> None:
        if self.dirty:
            self.dirty = False
            try:
                self.out.flush()
            except BrokenPipeError:  # `| head`: the reader is gone, so are we
                self.done.set()


class ByteSink(Protocol):
    """Where `tail()` writes: a binary stream (stdout's buffer, a file, BytesIO)."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


def binary_stdout() -> ByteSink:
    """stdout as bytes (UTF-8 on every OS, Windows consoles included), after what print() wrote."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # stdout replaced by something text-only (an IDE, a test harness)
        return _TextAsBytes(sys.stdout)
    return cast(ByteSink, buffer)


class _TextAsBytes:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        return self.stream.write(data.decode("utf-8", "replace"))

    def flush(self) -> None:
        self.stream.flush()


def tail(
    settings: Settings,
    *,
    out: ByteSink | None = None,
    metrics: bool = False,
    as_json: bool = False,
    verbose: bool = False,
    count: int | None = None,
    timeout: float | None = None,
    on_ready: Callable[[], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> Totals:
    """Print detections (and metrics) until `count` messages, `timeout` seconds or Ctrl+C.

    `on_ready` runs once the broker acknowledged the subscription: from then on nothing
    published is missed. Returns the totals; `Totals.ended` is set.
    """
    if count is not None and count < 1:
        raise InfraError("--count must be at least 1")
    stream = out if out is not None else binary_stdout()
    handler = Tail(settings, stream, as_json=as_json, verbose=verbose, count=count, note=note)
    topics = [settings.topic_detections] + ([settings.topic_metrics] if metrics else [])
    subscribed = threading.Event()
    refused: list[str] = []

    def on_disconnect(*_args: Any) -> None:
        if not handler.done.is_set():
            handler.note("connection to the broker lost: reconnecting ...")

    def on_connect(client: paho.Client) -> None:
        # callbacks are set here, in the network thread, before the SUBACK or a message can arrive
        client.on_message = handler.on_message
        client.on_subscribe = on_subscribe
        client.on_disconnect = on_disconnect
        client.subscribe([(t, 0) for t in topics])

    def on_subscribe(_c: Any, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        bad = [str(rc) for rc in codes if rc.is_failure]
        if bad:
            refused.append(", ".join(bad))
        subscribed.set()

    deadline = None if timeout is None else time.monotonic() + timeout
    with mqtt.session(settings, "monitor-data", on_connect=on_connect):
        if not subscribed.wait(settings.connect_timeout):
            raise InfraError(
                mqtt.describe_failure(settings, "did not acknowledge the subscription in time")
            )
        if refused:
            raise InfraError(
                f"the broker refused the subscription to {', '.join(topics)} ({refused[0]}): "
                "check the user's ACL"
            )
        handler.totals.started = time.monotonic()
        if on_ready is not None:
            on_ready()
        try:
            while not handler.done.is_set():
                wait = 0.1
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                handler.done.wait(wait)
                handler.flush()
        except KeyboardInterrupt:
            pass  # the normal way to stop tailing
        finally:
            handler.done.set()
            if handler.totals.ended is None:
                handler.totals.ended = time.monotonic()
    handler.dirty = True
    handler.flush()
    return handler.totals
