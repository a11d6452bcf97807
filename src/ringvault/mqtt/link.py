"""``MqttLink``: the bridge's one connection to the broker (aiomqtt), kept up for as long as the bridge runs.

What it guarantees, whatever the broker does:

- **Availability.** The Last-Will sets ``<base>/status`` to ``offline`` (retained, QoS 1) when the bridge vanishes
  (killed, network gone); every (re)connect publishes ``online`` (retained) first; a clean stop publishes ``offline``
  before disconnecting.
- **Retained state survives the broker.** Every retained message (discovery configs, availability, states) is kept
  in a cache (topic → last payload). On every (re)connect — a broker restarted without persistence has lost its
  retained messages — and on Home Assistant's birth message (``<discovery>/status`` = ``online``) the whole cache is
  published again. While connected, only the topics that changed since are sent.
- **Events are never lost silently.** ``event()`` puts a message in a bounded outbox; it leaves the outbox only after
  the broker's PUBACK (QoS 1), so an outage, or a disconnect mid-publish, keeps it for the next connection (where it
  is sent again: at least once; duplicates only if the broker dies between storing it and acknowledging, and the
  ``event_id`` in each payload tells them apart). Beyond ``event_queue_max`` the oldest is dropped, counted, logged.
- **One log line per outage**, not per attempt; reconnects back off from ``reconnect_initial_s`` to
  ``reconnect_max_s``. A broker that refuses the login ends ``run()`` with ``BrokerLoginError`` (one line, never
  the password): retrying a wrong password forever helps nobody.

Commands and the birth message are received here and handed to ``on_command`` (topic, payload); the bridge does the
rest. A retained message on a ``set`` topic is ignored (with one line): the broker would replay it at every
reconnect, and a door would be unlocked again each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from ringvault.cloud.errors import RingError
from ringvault.transport.redaction import install_log_redaction, register_secret
from ringvault.transport.retry import ExponentialBackoff

if TYPE_CHECKING:
    from ringvault.mqtt.model import Topics
    from ringvault.mqtt.options import BridgeOptions, BrokerUrl

__all__ = ["BrokerLoginError", "BrokerTlsError", "LinkStats", "MqttLink", "OutboxMessage"]

log = logging.getLogger("ringvault.mqtt.link")

#: CONNACK codes that mean "these credentials are refused" (MQTT 3.1.1: 4, 5; paho's MQTT 5 reason codes 134, 135).
_REFUSED = {4, 5, 134, 135}
#: Retained messages published at once (their PUBACKs awaited together); paho's in-flight window is 20.
_BATCH = 20
#: Transient messages (``event`` entity triggers) kept while the broker is away: triggers are for now, not later.
_TRANSIENT_MAX = 100
#: How long a publish may wait for its PUBACK before the connection counts as broken.
_PUBLISH_TIMEOUT_S = 10.0


class BrokerTlsError(RingError):
    """The CA file for an ``mqtts://`` broker cannot be read or is no certificate (one line)."""


class BrokerLoginError(RingError):
    """The broker refused the username/password (or the client). One line; the password never appears in it.
    (A ``RingError`` so that the command line reports it as one line, like Ring refusing a login.)"""


@dataclass(eq=False)
class OutboxMessage:
    """One event message waiting for its PUBACK."""

    topic: str
    payload: bytes
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class LinkStats:
    """What the bridge's diagnostic shows: connected since when, reconnects, events queued/sent/dropped."""

    connected_since: datetime | None = None
    connects: int = 0
    outages: int = 0
    events_sent: int = 0
    events_dropped: int = 0
    birth_republishes: int = 0

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)


class MqttLink:
    """The broker connection: ``run()`` until cancelled (or ``stop()``); publish with ``retain`` (cached),
    ``transient`` and ``event`` (outbox). All publishing calls are synchronous and cheap: one sender task sends."""

    def __init__(
        self,
        broker: BrokerUrl,
        topics: Topics,
        options: BridgeOptions,
        *,
        on_command: Callable[[str, bytes], None] | None = None,
        on_state: Callable[[], None] | None = None,
    ) -> None:
        self.broker = broker
        register_secret(broker.password)  # a log line that would quote it (a library's error text) shows ***
        install_log_redaction("ringvault.mqtt")
        self.topics = topics
        self.options = options
        self.on_command = on_command
        """Called with (topic, payload) of each non-retained message on a ``.../set`` topic."""
        self.on_state = on_state
        """Called when the connection came up or went down (the bridge's diagnostic follows)."""
        self.stats = LinkStats()
        self.client_id = options.client_id or f"ringvault-{secrets.token_hex(4)}"
        self._retained: dict[str, bytes] = {}
        self._dirty: dict[str, None] = {}  # an ordered set: discovery before states, as they were first put
        self._transient: deque[tuple[str, bytes]] = deque(maxlen=_TRANSIENT_MAX)
        self._outbox: deque[OutboxMessage] = deque()
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._running = False
        self._finished = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._sent_once: asyncio.Event = asyncio.Event()
        self._tls: ssl.SSLContext | None = None
        if broker.tls:
            try:
                self._tls = ssl.create_default_context(cafile=broker.ca_file)
            except (OSError, ssl.SSLError) as exc:  # (an SSLError is an OSError; said apart for the reader)
                raise BrokerTlsError(
                    f"cannot use {broker.ca_file} as the broker's CA certificate ({exc.strerror or exc}); give a "
                    "PEM file with --ca-file"
                ) from None
        self._backoff = ExponentialBackoff(
            initial_s=options.reconnect_initial_s, max_s=options.reconnect_max_s, jitter_s=options.reconnect_initial_s
        )

    # -- what the bridge calls ------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def queued_events(self) -> int:
        return len(self._outbox)

    def retain(self, topic: str, payload: str | bytes) -> bool:
        """Publish ``payload`` retained on ``topic`` (now, or once connected) unless that is what the broker holds;
        True when it was new."""
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        if self._retained.get(topic) == data:
            return False
        self._retained[topic] = data
        self._dirty[topic] = None
        self._wake.set()
        return True

    def retained_now(self) -> dict[str, bytes]:
        """Every retained topic and the payload the broker should hold for it (what a reconnect publishes)."""
        return dict(self._retained)

    def cached(self, topic: str) -> bytes | None:
        """The retained payload last put on ``topic`` (None: none)."""
        return self._retained.get(topic)

    def transient(self, topic: str, payload: str | bytes) -> None:
        """Publish, not retained, QoS 0 (an ``event`` entity's trigger). Kept briefly while the broker is away."""
        self._transient.append((topic, payload.encode("utf-8") if isinstance(payload, str) else payload))
        self._wake.set()

    def event(self, topic: str, payload: str | bytes) -> None:
        """Queue an event message (QoS 1, not retained); it leaves the outbox once the broker acknowledged it."""
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        self._outbox.append(OutboxMessage(topic, data))
        if len(self._outbox) > self.options.event_queue_max:
            dropped = self._outbox.popleft()
            self.stats.events_dropped += 1
            log.warning(
                "MQTT event outbox full (%d events while the broker is away): dropped the oldest, for %s "
                "(%d dropped so far)",
                self.options.event_queue_max,
                dropped.topic,
                self.stats.events_dropped,
            )
        self._wake.set()

    def republish(self, topic: str) -> None:
        """Send the retained payload of ``topic`` again, unchanged (after a command: Home Assistant sees the truth)."""
        if topic in self._retained:
            self._dirty[topic] = None
            self._wake.set()

    def republish_all(self) -> None:
        """Send every retained message again (Home Assistant restarted, or the broker may have lost them)."""
        for topic in self._retained:
            self._dirty[topic] = None
        self._wake.set()

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Until the link is connected and has sent its whole cache on this connection (tests, benchmarks)."""
        await asyncio.wait_for(self._sent_once.wait(), timeout)

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """A clean stop: the running session publishes ``offline`` (retained) and disconnects (so no Last-Will
        follows); returns once ``run()`` has ended (or after ``timeout``)."""
        self._stopping = True
        self._stop_event.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), timeout)

    # -- the connection loop --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, keep connected, reconnect with backoff; returns after ``stop()``. Raises ``BrokerLoginError``
        when the broker refuses the credentials."""
        self._running = True
        self._finished.clear()
        try:
            await self._run()
        finally:
            self._running = False
            self._finished.set()

    async def _run(self) -> None:
        failures = 0
        in_outage = False
        while not self._stopping:
            connects = self.stats.connects
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                refused = _refused(exc)
                if refused is not None:
                    raise BrokerLoginError(
                        f"the MQTT broker {self.broker.display} refused the login ({refused}); check the username "
                        "and password (--broker mqtt://USER@host, password in RINGVAULT_MQTT_PASSWORD)"
                    ) from None
                if self._stopping:
                    break
                if self.stats.connects > connects:  # it was up: a new outage begins
                    failures, in_outage = 0, False
                failures += 1
                if not in_outage:
                    in_outage = True
                    self.stats.outages += 1
                    log.warning(
                        "MQTT broker %s %s (%s); reconnecting (every %.0f s at most), events are kept until it is back",
                        self.broker.display,
                        "unreachable" if self.stats.connects == 0 else "connection lost",
                        _reason(exc),
                        self.options.reconnect_max_s,
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), self._backoff.wait(failures, None))
            else:
                failures, in_outage = 0, False
        self._connected.clear()

    def _make_client(self) -> aiomqtt.Client:
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.client_id,
            will=aiomqtt.Will(self.topics.status, b"offline", qos=1, retain=True),
            keepalive=self.options.keepalive_s,
            tls_context=self._tls,
            timeout=_PUBLISH_TIMEOUT_S,
            logger=logging.getLogger("ringvault.mqtt.aiomqtt"),
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],  # a PUBACK waits for no Nagle delay
        )
        client.pending_calls_threshold = 2 * _BATCH + _TRANSIENT_MAX  # (aiomqtt warns beyond; we bound them)
        return client

    async def _session(self) -> None:
        """One connection, from CONNACK until it breaks (an ``MqttError``) or ``stop()``."""
        client = self._make_client()
        async with client:
            self._client = client
            tasks: list[asyncio.Task[Any]] = []
            try:
                await client.publish(self.topics.status, b"online", qos=1, retain=True)
                await client.subscribe(self.topics.command_filter, qos=1)
                await client.subscribe(self.topics.birth, qos=1)
                self.stats.connects += 1
                self.stats.connected_since = datetime.now(UTC)
                if self.stats.outages:
                    waiting = len(self._outbox)
                    log.info("MQTT broker %s: connected again (%d events waiting)", self.broker.display, waiting)
                self._connected.set()
                self.republish_all()
                self._notify_state()
                stopper = asyncio.create_task(self._stop_event.wait(), name="ringvault-mqtt-stop")
                tasks = [
                    asyncio.create_task(self._sender(client), name="ringvault-mqtt-sender"),
                    asyncio.create_task(self._receiver(client), name="ringvault-mqtt-receiver"),
                    stopper,
                ]
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:  # a clean stop: say so, then leave (a DISCONNECT: the broker drops the will)
                    with contextlib.suppress(aiomqtt.MqttError):
                        await client.publish(self.topics.status, b"offline", qos=1, retain=True, timeout=5.0)
                    return
                for task in done:
                    error = task.exception()
                    if error is not None:
                        raise error
            finally:
                self._sent_once.clear()
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await task
                self._connected.clear()
                self._client = None
                self.stats.connected_since = None
                self._notify_state()

    async def _sender(self, client: aiomqtt.Client) -> None:
        while True:
            self._wake.clear()
            await self._send_retained(client)
            while self._transient:
                topic, payload = self._transient[0]
                await client.publish(topic, payload, qos=0, retain=False)
                self._transient.popleft()
            while self._outbox:
                message = self._outbox[0]
                await client.publish(message.topic, message.payload, qos=1, retain=False)
                if self._outbox and self._outbox[0] is message:  # (an overflow may have dropped it meanwhile)
                    self._outbox.popleft()
                self.stats.events_sent += 1
            if not self._dirty:
                self._sent_once.set()
                await self._wake.wait()

    async def _send_retained(self, client: aiomqtt.Client) -> None:
        while self._dirty:
            batch = list(self._dirty)[:_BATCH]
            for topic in batch:
                del self._dirty[topic]
            try:
                await asyncio.gather(
                    *(client.publish(topic, self._retained[topic], qos=1, retain=True) for topic in batch)
                )
            except BaseException:
                for topic in batch:  # not known to have arrived: send again on the next connection
                    self._dirty[topic] = None
                raise

    async def _receiver(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload or "").encode()
            if topic == self.topics.birth:
                if payload.strip() == b"online":
                    self.stats.birth_republishes += 1
                    log.info("Home Assistant is online: publishing every entity again")
                    self.republish_all()
                continue
            if message.retain:
                log.warning("ignored a retained command on %s: commands must not be retained", topic[:200])
                continue
            if self.on_command is not None:
                self.on_command(topic, payload)
        raise aiomqtt.MqttError("the broker closed the connection")

    def _notify_state(self) -> None:
        if self.on_state is not None:
            try:
                self.on_state()
            except Exception:  # the diagnostic must never take the link down
                log.exception("the bridge's connection diagnostic failed")


def _refused(exc: BaseException) -> str | None:
    """The broker's words when it refused the credentials, else None."""
    if isinstance(exc, MqttConnectError):
        rc = exc.rc
        value = getattr(rc, "value", rc)
        if isinstance(value, int) and value in _REFUSED:
            return str(rc) if not isinstance(rc, int) else ("bad username or password" if rc == 4 else "not authorised")
    return None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return text or type(exc).__name__
