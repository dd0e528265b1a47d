"""The one MQTT client factory and the one readiness probe.

- `make_client()` builds a paho-mqtt 2.x client (callback API v2, MQTT 5, a unique client id)
  with the credentials and TLS the settings ask for.
- `probe()` is readiness: an MQTT CONNECT answered by a successful CONNACK, never a TCP connect.
- `wait_ready()` repeats the probe until it succeeds, the deadline passes or the broker dies.
- `session()` is a connected client with its network loop running, for monitor and control.
"""

from __future__ import annotations

import os
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import BrokerUnavailable, ConfigError

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from .settings import Settings


def new_client_id(purpose: str) -> str:
    """A client id no other process uses, so two terminals never kick each other off."""
    return f"adeline-{purpose}-{os.getpid()}-{secrets.token_hex(4)}"


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The client TLS context: trust only our CA, present our client certificate if we have one."""
    ca = settings.ca_file
    if not ca.is_file():
        raise ConfigError(
            f"MQTT_USE_TLS is true but the CA certificate {ca} is missing",
            hint="create the certificates with `inv tls.certs`",
        )
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    cert, key = settings.client_cert, settings.client_key
    if cert.is_file() and key.is_file():
        context.load_cert_chain(str(cert), str(key))
    elif settings.tls_require_client_cert:
        raise ConfigError(
            f"MQTT_TLS_REQUIRE_CLIENT_CERT is true but {cert.name}/{key.name} are missing "
            f"in {settings.tls_dir}",
            hint=f"create them with `inv tls.client {settings.tls_client_name}`",
        )
    return context


def make_client(settings: Settings, purpose: str, *, v311: bool = False) -> mqtt.Client:
    """A paho client configured from settings (credentials, TLS, unique id). Not connected.

    MQTT 5, as Adeline's pipeline speaks it; `v311` only to tell a broker that speaks nothing
    newer than 3.1.1 (`speaks_only_311`)."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=new_client_id(purpose),
        protocol=mqtt.MQTTv311 if v311 else mqtt.MQTTv5,
    )
    client.connect_timeout = settings.connect_timeout
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.use_tls:
        client.tls_set_context(tls_context(settings))
    return client


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str
    refused: bool = False  # the broker answered and said no (credentials): retrying won't help
    elapsed: float = 0.0

    def error(self, settings: Settings) -> BrokerUnavailable:
        return BrokerUnavailable(describe_failure(settings, self.reason))


def describe_failure(settings: Settings, reason: str) -> str:
    return f"MQTT broker at {settings.mqtt_host}:{settings.mqtt_port} {reason}"


def _connect_error(exc: BaseException, *, tls: bool = False) -> str:
    if tls and isinstance(exc, ConnectionResetError | ssl.SSLEOFError):
        # A plaintext listener reads the ClientHello as a broken MQTT packet and hangs up.
        return (
            "closed the connection during the TLS handshake: is it a plaintext listener? "
            "(MQTT_USE_TLS=true expects TLS on MQTT_BROKER_PORT; `inv tls.check` tells)"
        )
    if isinstance(exc, ConnectionRefusedError):
        return "refused the connection (nothing listening): start it with `inv services.up`"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"presented a certificate we do not trust ({exc.verify_message}): "
            "check MQTT_TLS_DIR and MQTT_BROKER_HOST, or run `inv tls.check`"
        )
    if isinstance(exc, ssl.SSLError):
        return f"failed the TLS handshake ({exc.reason or exc}): is MQTT_USE_TLS right?"
    if isinstance(exc, TimeoutError | ssl.SSLZeroReturnError):
        return "did not answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return f"is not reachable ({exc.strerror})"
    return f"is not reachable ({exc})"


def probe(settings: Settings, timeout: float | None = None, *, v311: bool = False) -> ProbeResult:
    """One MQTT CONNECT; success only when the broker answers with a successful CONNACK."""
    timeout = settings.connect_timeout if timeout is None else timeout
    start = time.monotonic()
    client = make_client(settings, "probe", v311=v311)
    client.connect_timeout = timeout
    answer: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        answer["rc"] = reason_code

    client.on_connect = on_connect
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=10)
        deadline = start + timeout
        while "rc" not in answer and time.monotonic() < deadline:
            client.loop(timeout=min(0.05, max(deadline - time.monotonic(), 0.001)))
            if client.socket() is None:  # the broker closed the connection without a CONNACK
                break
        if "rc" in answer and not answer["rc"].is_failure:
            client.disconnect()
    except (OSError, ssl.SSLError) as exc:
        return ProbeResult(
            False, _connect_error(exc, tls=settings.use_tls), elapsed=time.monotonic() - start
        )
    finally:
        client._reset_sockets()  # close the socket and paho's wake-up pair now, not at GC
    elapsed = time.monotonic() - start
    rc = answer.get("rc")
    if rc is None:
        return ProbeResult(False, _no_connack(settings), elapsed=elapsed)
    if rc.is_failure:
        reason = _refusal(settings, rc, v311=v311)
        return ProbeResult(False, reason, refused=True, elapsed=time.monotonic() - start)
    return ProbeResult(True, "answered CONNACK", elapsed=elapsed)


def _no_connack(settings: Settings) -> str:
    # What it usually means: a TLS listener that wants a client certificate drops us after the
    # handshake; a TLS listener spoken to in plain TCP ignores our CONNECT.
    if settings.use_tls:
        return (
            "accepted the connection but sent no CONNACK (does it require a client "
            "certificate? see MQTT_TLS_REQUIRE_CLIENT_CERT and `inv tls.client NAME`)"
        )
    return "accepted the connection but sent no CONNACK (a TLS listener? see MQTT_USE_TLS)"


# CONNACK codes for "I do not speak your protocol version": MQTT 5's, and 3.1.1's (which a
# 3.1.1-only broker answers an MQTT 5 CONNECT with).
UNSUPPORTED_PROTOCOL = (0x84, 1)


def speaks_only_311(settings: Settings) -> bool:
    """Does the broker that refused our MQTT 5 CONNECT accept an MQTT 3.1.1 one?"""
    return probe(settings, v311=True).ok


def _only_311(settings: Settings, rc: Any) -> str:
    name = rc.getName() if hasattr(rc, "getName") else str(rc)
    what = "speaks only MQTT 3.1.1" if speaks_only_311(settings) else f"refused MQTT 5 ({name})"
    return (
        f"{what}: Adeline's pipeline (and monitor, control) need MQTT 5; use a broker "
        "that speaks it (mosquitto >= 1.6, EMQX, VerneMQ allowing version 5)"
    )


def _refusal(settings: Settings, rc: Any, *, v311: bool = False) -> str:
    name = rc.getName() if hasattr(rc, "getName") else str(rc)
    if rc.value in UNSUPPORTED_PROTOCOL and not v311:
        return _only_311(settings, rc)
    if rc.value in (0x86, 0x87, 4, 5):  # bad user name or password / not authorized
        who = f"user {settings.username!r}" if settings.username else "anonymous access"
        return (
            f"refused {who} ({name}): check MQTT_USERNAME/MQTT_PASSWORD in .env "
            "against the password file (`inv auth.list-users`)"
        )
    return f"refused the connection ({name})"


def wait_ready(
    settings: Settings,
    timeout: float,
    *,
    alive: Callable[[], bool] | None = None,
) -> ProbeResult:
    """Probe until CONNACK, the deadline, a refusal, or `alive()` saying the broker died.

    Between attempts it backs off from 5 ms to 100 ms: a connection refused comes back at once,
    so this polls the broker's own answer rather than sleeping for a guessed time.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    result = ProbeResult(False, "did not answer")
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return result
        result = probe(settings, timeout=min(remaining, settings.connect_timeout))
        if result.ok or result.refused:
            return result
        if alive is not None and not alive():
            return ProbeResult(False, "exited before it answered", elapsed=result.elapsed)
        time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
        delay = min(delay * 2, 0.1)


@contextmanager
def session(
    settings: Settings,
    purpose: str,
    *,
    on_connect: Callable[[mqtt.Client], None] | None = None,
    timeout: float | None = None,
) -> Iterator[mqtt.Client]:
    """A connected client with its network loop running; disconnects on exit.

    Raises `BrokerUnavailable` (one line) when the broker is down, silent, or refuses us, within
    the connect timeout. `on_connect` runs on every successful (re)connect: subscribe there.
    """
    timeout = settings.connect_timeout if timeout is None else timeout
    client = make_client(settings, purpose)
    client.connect_timeout = timeout
    connected = threading.Event()
    answer: dict[str, Any] = {}

    def _on_connect(c: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        answer["rc"] = reason_code
        _no_delay(c)
        if not reason_code.is_failure and on_connect is not None:
            on_connect(c)
        connected.set()

    client.on_connect = _on_connect
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=30)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerUnavailable(
            describe_failure(settings, _connect_error(exc, tls=settings.use_tls))
        ) from None
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise BrokerUnavailable(
                describe_failure(settings, f"sent no CONNACK within {timeout:g} s")
            )
        rc = answer["rc"]
        if rc.is_failure:
            raise BrokerUnavailable(describe_failure(settings, _refusal(settings, rc)))
        yield client
    finally:
        try:
            client.disconnect()
        finally:
            client.loop_stop()


def _no_delay(client: mqtt.Client) -> None:
    """Send small packets at once. paho leaves Nagle on, so a second SUBSCRIBE (the witness in
    `RetainedReader`) or a PUBLISH right after one waited for the delayed ACK: ~40 ms per call."""
    import contextlib
    import socket

    sock = client.socket()
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]


# The retained message a mosquitto broker always holds (unless $SYS is off or denied to us).
WITNESS = "$SYS/broker/version"
# How long the broker may stay silent after the SUBACK before we take it that every retained
# message has arrived, when no witness says so sooner.
RETAINED_GRACE = 0.25


class RetainedReader:
    """Subscribe to `filters` and know when the retained messages they match have all arrived.

    MQTT does not order a subscription's retained messages relative to its SUBACK: mosquitto sends
    them right after the SUBACK, before it reads our next packet; EMQX's retainer or a broker with
    a networked store sends them later. So after the filters' SUBSCRIBE we send a second one, to
    `WITNESS`, and the retained messages have all arrived when either
    - retained messages of the filters came before the second SUBACK (mosquitto: they are sent
      with the subscription, so all of them are in: no wait at all), or
    - the witness's retained message has arrived (mosquitto again, when nothing matched the
      filters: it is queued after every retained message of the first SUBSCRIBE), or
    - its SUBACK is back and the broker has then sent nothing for `grace` seconds (any other
      broker, or a mosquitto whose `$SYS` we may not read).

    The one implementation of "what is retained now" (`retained()`, `monitor.status`, `--watch`,
    `--follow`, `control.* --wait`). Call `subscribe(client)` from the session's `on_connect`
    (it sets the client's `on_message` and `on_subscribe`); `handler` gets every message except
    the witness's own, in paho's network thread. `wait()` blocks until they have all arrived.
    """

    def __init__(
        self,
        filters: list[str],
        handler: Callable[[Any], None] | None = None,
        *,
        qos: int = 0,
        grace: float = RETAINED_GRACE,
    ) -> None:
        self.filters = list(filters)
        self.handler = handler
        self.qos = qos
        self.grace = grace
        self.refused: list[str] = []  # reason codes of refused filters (an ACL), as text
        self.messages = 0  # messages handed to `handler` since the last subscribe
        self._cond = threading.Condition()
        self._mids: tuple[int | None, int | None] = (None, None)
        self._acked: set[int] = set()
        self._witness_needed = 1
        self._witness_seen = 0
        self._filter_messages = 0
        self._before_second_suback = False
        self._last = 0.0  # monotonic time of the last SUBACK or message

    def subscribe(self, client: mqtt.Client) -> None:
        from paho.mqtt.client import topic_matches_sub

        client.on_message = self.on_message
        client.on_subscribe = self.on_subscribe
        with self._cond:
            self._acked.clear()
            self.refused.clear()
            self.messages = 0
            self._witness_seen = 0
            self._filter_messages = 0
            self._before_second_suback = False
            # a filter that covers the witness ($SYS/#) brings its own copy first
            self._witness_needed = 1 + any(topic_matches_sub(f, WITNESS) for f in self.filters)
            _, first = client.subscribe([(f, self.qos) for f in self.filters])
            _, second = client.subscribe(WITNESS, 0)
            self._mids = (first, second)

    def on_subscribe(self, _c: Any, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        with self._cond:
            if mid == self._mids[0]:
                self.refused += [str(rc) for rc in codes if rc.is_failure]
            elif mid == self._mids[1]:
                # retained messages of the filters came before the witness's SUBACK: the broker
                # sends them with the subscription (mosquitto), so they are all in already
                self._before_second_suback = self._filter_messages > 0
            self._acked.add(mid)
            self._last = time.monotonic()
            self._cond.notify_all()

    def on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._cond:
            self._last = time.monotonic()
            if msg.topic == WITNESS:
                self._witness_seen += 1
                self._cond.notify_all()
                if self._witness_needed == 1:
                    return  # ours, not the caller's
            else:
                self._filter_messages += 1
            self.messages += 1
        if self.handler is not None:
            self.handler(msg)

    def _state(self) -> tuple[bool, float]:
        """(done, seconds of grace left) under the lock."""
        both = all(m is not None and m in self._acked for m in self._mids)
        if not both:
            return False, self.grace
        if self._witness_seen >= self._witness_needed or self._before_second_suback:
            return True, 0.0
        left = self._last + self.grace - time.monotonic()
        return left <= 0, left

    def wait(self, timeout: float) -> bool:
        """True once the retained messages have all arrived; False when the SUBACKs did not
        come back within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                done, left = self._state()
                if done:
                    return True
                acked = all(m is not None and m in self._acked for m in self._mids)
                remaining = deadline - time.monotonic()
                if not acked and remaining <= 0:
                    return False
                self._cond.wait(left if acked else min(remaining, left))


def retained(
    settings: Settings,
    filters: list[str],
    *,
    purpose: str = "snapshot",
    timeout: float | None = None,
) -> dict[str, bytes]:
    """The retained messages currently matching `filters` (e.g. `$SYS/#`), without waiting for
    anything but the broker (see `RetainedReader`)."""
    timeout = settings.connect_timeout if timeout is None else timeout
    messages: dict[str, bytes] = {}

    def on_message(msg: Any) -> None:
        messages[msg.topic] = msg.payload

    reader = RetainedReader(filters, on_message)
    with session(settings, purpose, timeout=timeout, on_connect=reader.subscribe):
        if not reader.wait(timeout):
            raise BrokerUnavailable(
                describe_failure(settings, f"did not answer a SUBSCRIBE within {timeout:g} s")
            )
    return dict(messages)
