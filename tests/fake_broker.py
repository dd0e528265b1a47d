"""A scripted MQTT server in a thread, for the branches a real mosquitto seldom takes.

The way paho-mqtt's own tests fake a broker: a loopback socket server that reads the client's
CONNECT and answers (or does not) as the test scripts it. Each accepted connection takes the next
behaviour of the script; after the last one, `then` applies to every further connection:

- `CONNACK` (or `connack(code)`): read CONNECT, answer a CONNACK with that MQTT 5 reason code
  (0 = success, 0x86 bad user name or password, 0x87 not authorized, 0x88 server unavailable).
- `CLOSE`: read CONNECT, close the connection without a CONNACK.
- `SILENT`: accept and read, never answer; the connection stays open until the client goes.
- `V311_ONLY`: a broker that speaks MQTT 3.1.1 and no later (amqtt, VerneMQ's default): an
  MQTT 5 CONNECT gets the 3.1.1 CONNACK "unacceptable protocol version" and the connection is
  closed; a 3.1.1 CONNECT is accepted.

`tls=` an `ssl.SSLContext` (server side) makes it a TLS listener: a client that fails the
handshake (wrong CA, plain MQTT, no client certificate when one is required) is dropped.
`retained=` {topic: payload}: after a CONNACK, a SUBSCRIBE gets these (for the filters that match
them, wildcards included) as retained PUBLISHes, then its SUBACK. With `retained_delay=` seconds,
the SUBACK comes first and the retained PUBLISHes that much later, as EMQX's retainer or a broker
with a networked store sends them (MQTT does not order them relative to the SUBACK).

Everything happens on 127.0.0.1 and in milliseconds: use it for probe / wait_ready / session /
services.up branches, and a real mosquitto for what a broker does.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from adeline_infra import settings as settings_mod
from adeline_infra.backends.base import Backend, BrokerState
from adeline_infra.settings import Settings

CONNECT, CONNACK_TYPE, SUBSCRIBE, SUBACK = 0x10, 0x20, 0x82, 0x90
IO_TIMEOUT = 10.0  # a fake broker thread never blocks longer than this on one client


@dataclass(frozen=True)
class Behaviour:
    name: str
    code: int = 0


def connack(code: int = 0) -> Behaviour:
    """Answer CONNECT with a CONNACK carrying this MQTT 5 reason code."""
    return Behaviour("connack", code)


CONNACK = connack(0)
CLOSE = Behaviour("close")
SILENT = Behaviour("silent")
V311_ONLY = Behaviour("v311")


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _subscription(body: bytes) -> tuple[bytes, list[str]]:
    """(packet id, topic filters) of an MQTT 5 SUBSCRIBE body."""
    packet_id, i = body[:2], 2
    props, shift = 0, 0
    while True:  # the properties' length, a variable byte integer; skip the properties
        byte = body[i]
        i += 1
        props |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    i += props
    filters = []
    while i < len(body):
        size = int.from_bytes(body[i : i + 2], "big")
        filters.append(body[i + 2 : i + 2 + size].decode())
        i += 2 + size + 1  # the filter, then its options byte
    return packet_id, filters


def read_packet(sock: socket.socket) -> tuple[int, bytes]:
    """One MQTT control packet: (first byte, body). Raises ConnectionError at EOF."""
    first = _recv_exactly(sock, 1)[0]
    length, shift = 0, 0
    for _ in range(4):  # the remaining length: a variable byte integer of at most 4 bytes
        byte = _recv_exactly(sock, 1)[0]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return first, _recv_exactly(sock, length)


class FakeBroker:
    """`with FakeBroker(CLOSE, CONNACK) as broker:` listens on `broker.host:broker.port`."""

    host = "127.0.0.1"

    def __init__(
        self,
        *script: Behaviour,
        then: Behaviour = CONNACK,
        tls: ssl.SSLContext | None = None,
        retained: dict[str, bytes] | None = None,
        retained_delay: float | None = None,
    ) -> None:
        self.script = list(script)
        self.retained = dict(retained or {})
        self.retained_delay = retained_delay
        self._send_lock = threading.Lock()  # the delayed PUBLISHes and the handler share sockets
        self.subscribed: list[str] = []  # every topic filter subscribed to
        # what happened, in order: ("suback", filter...), ("retained", topic), ("publish", topic)
        self.events: list[tuple[str, str]] = []
        self.answer_subscribe = True  # False: SUBSCRIBEs are never answered
        self.then = then
        self.tls = tls
        self.connections = 0  # connections accepted so far
        self.connects: list[bytes] = []  # the CONNECT packets received (bodies)
        self.handshake_errors: list[str] = []
        self._server = socket.create_server((self.host, 0))
        self.port = int(self._server.getsockname()[1])
        self._stop = threading.Event()
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="fake-broker", daemon=True)

    def __enter__(self) -> FakeBroker:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        # Wake accept() by connecting once; then close every socket we hold.
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1):
            pass
        self._thread.join(IO_TIMEOUT)
        self._server.close()
        with self._lock:
            for client in self._clients:
                with contextlib.suppress(OSError):
                    client.close()

    def _next(self) -> Behaviour:
        with self._lock:
            self.connections += 1
            return self.script.pop(0) if self.script else self.then

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._stop.is_set():
                client.close()
                return
            behaviour = self._next()
            with self._lock:
                self._clients.append(client)
            threading.Thread(
                target=self._handle, args=(client, behaviour), name="fake-client", daemon=True
            ).start()

    def _handle(self, raw: socket.socket, behaviour: Behaviour) -> None:
        sock: socket.socket = raw
        sock.settimeout(IO_TIMEOUT)
        try:
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.handshake_errors.append(str(exc))
                    return
                with self._lock:
                    self._clients.append(sock)
            if behaviour.name == "silent":
                while sock.recv(4096):  # until the client goes (or the broker closes)
                    pass
                return
            first, body = read_packet(sock)
            if first != CONNECT:  # its flags are reserved: 0
                return  # not a CONNECT (e.g. a TLS ClientHello): drop it, as mosquitto does
            self.connects.append(body)
            if behaviour.name == "close":
                return
            if behaviour.name == "v311":  # the protocol level follows the name "MQTT"
                level = body[6] if len(body) > 6 else 0
                sock.sendall(bytes([CONNACK_TYPE, 2, 0, 1 if level > 4 else 0]))
                if level > 4:
                    return
                while read_packet(sock):  # a 3.1.1 client: read until it goes
                    pass
            # MQTT 5 CONNACK: flags 0 (no session present), reason code, no properties.
            sock.sendall(bytes([CONNACK_TYPE, 3, 0, behaviour.code, 0]))
            while True:  # then SUBSCRIBEs (answered), DISCONNECT..., until the client goes
                first, body = read_packet(sock)
                if first == SUBSCRIBE and self.answer_subscribe:
                    self._suback(sock, body)
                elif first >> 4 == 3:  # PUBLISH: noted, QoS 1 acknowledged (not delivered)
                    self._puback(sock, first, body)
        except (OSError, ConnectionError):
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _suback(self, sock: socket.socket, body: bytes) -> None:
        packet_id, filters = _subscription(body)
        self.subscribed += filters
        publishes = b""
        from paho.mqtt.client import topic_matches_sub

        matching = [t for f in filters for t in self.retained if topic_matches_sub(f, t)]
        sent = [("retained", t) for t in matching]
        for topic in matching:  # PUBLISH, QoS 0, retain: topic, no properties, payload
            name = topic.encode()
            publish = len(name).to_bytes(2, "big") + name + b"\0" + self.retained[topic]
            publishes += _packet(0x31, publish)
        # SUBACK: the packet id, no properties, granted QoS 0 for each filter
        suback = _packet(SUBACK, packet_id + b"\0" + bytes(len(filters)))
        acked = [("suback", f) for f in filters]
        if self.retained_delay is None:
            self.events += sent + acked
            self._send(sock, publishes + suback)
            return
        self.events += acked
        self._send(sock, suback)
        if publishes:

            def later() -> None:
                self.events.extend(sent)
                self._send(sock, publishes)

            timer = threading.Timer(self.retained_delay, later)
            timer.daemon = True
            timer.start()

    def _puback(self, sock: socket.socket, first: int, body: bytes) -> None:
        size = int.from_bytes(body[:2], "big")
        self.events.append(("publish", body[2 : 2 + size].decode()))
        if (first >> 1) & 3 == 1:  # PUBACK: the packet id, success (no reason code needed)
            self._send(sock, _packet(0x40, body[2 + size : 4 + size]))

    def _send(self, sock: socket.socket, data: bytes) -> None:
        with self._send_lock, contextlib.suppress(OSError):
            sock.sendall(data)


def server_tls_context(tls_dir: Path, *, require_client_cert: bool = False) -> ssl.SSLContext:
    """A TLS listener's context from a folder `inv tls.certs` made (ca.crt, server.crt/.key)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls_dir / "server.crt"), str(tls_dir / "server.key"))
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(tls_dir / "ca.crt"))
    return context


# CONNACK reason codes a scripted broker answers with (MQTT 5).
NOT_AUTHORIZED, BAD_CREDENTIALS, SERVER_UNAVAILABLE = 0x87, 0x86, 0x88


# --- what tests point at a fake broker --------------------------------------------------


def settings_for(tmp_path: Path, port: int, **environ: str) -> Settings:
    env_file = tmp_path / "test.env"
    env_file.write_text("", encoding="utf-8")
    return settings_mod.load(
        tmp_path,
        environ={
            "ADELINE_ENV_FILE": str(env_file),
            "ADELINE_STATE_DIR": str(tmp_path / "state"),
            "MQTT_BROKER_HOST": "127.0.0.1",
            "MQTT_BROKER_PORT": str(port),
            "MQTT_CONNECT_TIMEOUT": "2",
            **environ,
        },
    )


class ScriptedBackend(Backend):
    """A backend whose broker is the fake one: start() does nothing, alive() is scripted."""

    name = "scripted"

    def __init__(
        self,
        settings: Settings,
        *,
        running: bool = False,
        alive: bool = True,
        mismatch: str | None = None,
        log: tuple[str, ...] = (),
        managed: bool = True,
        started_at: float | None = None,
    ) -> None:
        super().__init__(settings)
        self.running, self._alive, self.mismatch, self.log = running, alive, mismatch, log
        self.managed, self.started_at = managed, started_at
        self.started = 0

    def state(self) -> BrokerState:
        return BrokerState(self.name, self.running, self.started_at, {"pid": 4242})

    def version(self) -> str | None:
        return "9.9.9-from-the-binary"

    def start(self, *, extras: frozenset[str] = frozenset()) -> None:
        self.started += 1

    def stop(self) -> bool:
        return False

    def alive(self) -> bool:
        return self._alive

    def log_tail(self, lines: int) -> list[str]:
        return list(self.log)[-lines:]

    def follow_logs(self, tail: int) -> Iterator[str]:
        yield from self.log_tail(tail)

    def clean(self) -> list[str]:
        return []

    def config_mismatch(self) -> str | None:
        return self.mismatch
