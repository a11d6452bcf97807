"""``Bridge``: Ring's devices and events on an MQTT broker for Home Assistant — the orchestrator.

It is the families' ``Sink``: it builds the bridge's own device, starts every family with a ``BridgeContext``,
publishes discovery, availability and retained states through the ``MqttLink``, routes every Ring event
(``EventWatch.on_event``) to each family and to the device's **event topic**, and carries out commands.

Event topic (``<base>/<location>/<device>/events``, JSON, QoS 1, not retained, never dropped silently)::

    {"type": "new" | "update" | "end", "event_id": "...", "kind": "ding", "detection": "person" | null,
     "time": "2026-12-06T22:00:00+00:00", "device_id": "123", "recording": {"path": ..., "url": ...} | null}

``new`` when Ring reports the event; ``update`` when the archive has its recording (``watch.on_archived``, with the
file's path and ``serve``'s playback URL); ``end`` when its hold time (``motion_hold_s`` for motion, ``ding_hold_s``
for the others) is over. An ``update`` may come after the ``end`` (a recording can take minutes to be ready).

Commands (``.../set``): at most 4 KiB of UTF-8, at most ``command_rate`` per ``command_period_s`` per device (more
are dropped with one log line), one at a time per device. Whatever happens — the payload is refused
(``CommandRejected``), Ring refuses (``RingError``), anything else fails — it is one log line (device, entity,
reason), and the entity's true state is read and published again afterwards. Nothing a payload does ends the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiolimiter import AsyncLimiter

from ringvault import __version__
from ringvault.mqtt.link import MqttLink
from ringvault.mqtt.model import (
    BridgeContext,
    CommandRejected,
    Entity,
    MqttDevice,
    Topics,
    segment,
)
from ringvault.mqtt.settings import BridgeSettings

if TYPE_CHECKING:
    from ringvault.archive.follow import EventWatch
    from ringvault.archive.watch import RecordingChange
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.model import ArchiveLinks, Family, RecordingLink
    from ringvault.mqtt.options import BridgeOptions, BrokerUrl

__all__ = ["MAX_COMMAND_BYTES", "ORIGIN", "Bridge"]

log = logging.getLogger("ringvault.mqtt.bridge")

#: The largest ``set`` payload handled (a brightness, a mode, a JSON object of a few fields fit many times over).
MAX_COMMAND_BYTES = 4096
#: How long a command may take (Ring's answer, the device's update) before it counts as failed.
COMMAND_TIMEOUT_S = 60.0
#: Events remembered for their ``update`` (recording archived) and ``end`` messages.
_REMEMBERED_EVENTS = 2000
#: Home Assistant's ``origin`` block: which software published the discovery (HA MQTT docs, "Discovery payload").
ORIGIN: Mapping[str, Any] = {
    "name": "ringvault",
    "sw_version": __version__,
    "support_url": "https://github.com/ringvault/ringvault",
}


@dataclass
class _Announced:
    """An event the bridge published as ``new``: where, and the fields its ``update``/``end`` repeat."""

    device: MqttDevice
    fields: dict[str, Any]
    end: asyncio.TimerHandle | None = None


class Bridge:
    """Runs the bridge: ``await bridge.run()`` until cancelled (or ``async with bridge:`` and ``bridge.link``
    running in the background). ``watch``: serve's ``EventWatch`` to share (one push registration per login); None
    makes (and owns) one without an archive."""

    def __init__(
        self,
        api: RingApi,
        options: BridgeOptions,
        broker: BrokerUrl,
        *,
        families: list[Family] | None = None,
        watch: EventWatch | None = None,
        archive: ArchiveLinks | None = None,
        settings: BridgeSettings | None = None,
    ) -> None:
        self.api = api
        self.options = options
        self.broker = broker
        self.topics = Topics(options.base_topic, options.discovery_prefix)
        self.link = MqttLink(broker, self.topics, options, on_command=self._on_command, on_state=self._link_changed)
        self._families = families
        self.families: list[Family] = []
        self.watch = watch
        self._owns_watch = watch is None
        self.archive = archive
        if settings is None:  # beside the token file (as push's credentials), or in memory without one
            token_store = getattr(api.auth, "token_store", None)
            path = getattr(token_store, "path", None)
            settings = BridgeSettings.beside(path) if isinstance(path, Path) else BridgeSettings()
        self.settings = settings
        self.device = self._bridge_device()
        self.devices: dict[tuple[str, str], MqttDevice] = {}
        self.commands_rejected = 0
        self.commands_dropped = 0
        self._dirty: dict[MqttDevice, None] = {}
        self._forced: set[MqttDevice] = set()
        self._wake = asyncio.Event()
        self._limiters: dict[MqttDevice, AsyncLimiter] = {}
        self._locks: dict[MqttDevice, asyncio.Lock] = {}
        self._announced: OrderedDict[str, _Announced] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._publisher: asyncio.Task[None] | None = None
        self._link_task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Any] = []
        self._read_failures: set[tuple[int, str]] = set()
        self._started = False
        self._stopping: asyncio.Task[None] | None = None
        self._start_done = False
        self._stop_after_start = False
        self.on_link_failed: Callable[[Exception], None] | None = None
        """Told when the link ends with an error (the broker refused the login), for a caller that does not
        ``wait()`` on it (``serve``)."""

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Build every device, publish them, connect, and start following Ring's events."""
        from ringvault.archive.follow import EventWatch
        from ringvault.mqtt.families import default_families

        if self._started:
            return
        self._started = True
        self.add_device(self.device)
        if self.watch is None:
            self.watch = EventWatch(self.api)
        ctx = BridgeContext(
            api=self.api, options=self.options, sink=self, bridge=self.device, watch=self.watch, archive=self.archive,
            settings=self.settings,
        )  # fmt: skip
        families = self._families if self._families is not None else default_families(self.options)
        self._publisher = asyncio.create_task(self._publish_loop(), name="ringvault-mqtt-publisher")
        self._link_task = asyncio.create_task(self.link.run(), name="ringvault-mqtt-link")
        self._link_task.add_done_callback(self._link_ended)
        for family in families:
            try:
                devices = await family.start(ctx)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one family that cannot start must not hide every other device
                log.warning("the MQTT %s devices could not be set up (%s); the others are published", family.name,
                            _reason(exc))  # fmt: skip
                continue
            self.families.append(family)
            for device in devices:
                self.add_device(device)
        self.changed(self.device)  # families may have added entities to the bridge's own device
        self._republish_discovery(self.device)
        self._start_done = True
        if self._stop_after_start:  # the link failed while the families were starting (serve: nobody waits on it)
            await self.aclose()
            return
        self._unsubscribe.append(self.watch.on_event.subscribe(self._on_event))
        self._unsubscribe.append(self.watch.on_archived.subscribe(self._on_archived))
        if self._owns_watch:
            await self.watch.start()

    async def run(self) -> None:
        """Start, then run until cancelled; raises ``BrokerLoginError`` if the broker refuses the login."""
        await self.start()
        try:
            assert self._link_task is not None
            await asyncio.shield(self._link_task)
        finally:
            await self.aclose()

    async def wait(self) -> None:
        """Until the link ends (it raises ``BrokerLoginError`` then), for a caller that started the bridge."""
        assert self._link_task is not None
        await asyncio.shield(self._link_task)

    async def aclose(self) -> None:
        """A clean stop: ``offline`` published, the broker left, the families and (an own) watch stopped."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._owns_watch and self.watch is not None:
            with contextlib.suppress(Exception):
                await self.watch.aclose()
        families, self.families = self.families, []  # (a second aclose stops nothing twice)
        for family in families:
            try:
                await family.aclose()
            except Exception as exc:
                log.warning("the MQTT %s devices did not stop cleanly (%s)", family.name, _reason(exc))
        for announced in self._announced.values():
            if announced.end is not None:
                announced.end.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.link.stop()  # "offline" published, the broker left (a link still connecting gives up)
        for task in [t for t in (self._link_task, self._publisher) if t is not None]:
            task.cancel()  # (the link's has ended by now, unless the broker did not answer in time)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the bridge's own device ----------------------------------------------------------------------------
    def _bridge_device(self) -> MqttDevice:
        device = MqttDevice(
            location="bridge", ident="bridge", name="ringvault", model="MQTT bridge", manufacturer="ringvault",
            sw_version=__version__,
        )  # fmt: skip
        stats = self.link.stats

        def connected_since() -> str | None:
            return stats.connected_since.isoformat() if stats.connected_since is not None else None

        device.add(
            Entity(
                "sensor",
                "broker_connection",
                "Broker connected since",
                read=connected_since,
                attributes=lambda: {
                    "broker": self.broker.display,
                    "reconnects": stats.reconnects,
                    "outages": stats.outages,
                    "events_queued": self.link.queued_events,
                    "events_sent": stats.events_sent,
                    "events_dropped": stats.events_dropped,
                    "commands_rejected": self.commands_rejected,
                    "commands_dropped": self.commands_dropped,
                },
                options={"device_class": "timestamp"},
                category="diagnostic",
                icon="mdi:lan-connect",
            )
        )
        return device

    def _link_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.on_link_failed is None:
            return
        error = task.exception()
        if isinstance(error, Exception):
            self.on_link_failed(error)
            # nobody waits on the link (serve): stop the families and timers, which would otherwise go on reading
            # Ring's devices and queueing for a link that has ended (a start under way stops when it is done)
            if not self._start_done:
                self._stop_after_start = True
                return
            self._stopping = asyncio.get_running_loop().create_task(self.aclose(), name="ringvault-mqtt-stop")

    def _link_changed(self) -> None:
        self.changed(self.device)

    # -- Sink -----------------------------------------------------------------------------------------------
    def add_device(self, device: MqttDevice) -> None:
        key = (segment(device.location), segment(device.ident))
        known = self.devices.get(key)
        if known is not None and known is not device:
            log.warning("two MQTT devices have the topic %s; keeping the first", self.topics.root(device))
            return
        self.devices[key] = device
        self._republish_discovery(device)
        self.changed(device)

    def changed(self, device: MqttDevice) -> None:
        self._dirty[device] = None
        self._wake.set()

    def fire(self, entity: Entity, event_type: str, attributes: Mapping[str, Any] | None = None) -> None:
        if entity.device is None:
            return
        payload = {"event_type": event_type, **(attributes or {})}
        self.link.transient(self.topics.state(entity), _json(payload))

    def event(self, device: MqttDevice, payload: Mapping[str, Any]) -> None:
        self.link.event(self.topics.events(device), _json(payload))

    # -- publishing -----------------------------------------------------------------------------------------
    def _republish_discovery(self, device: MqttDevice) -> None:
        for entity in device.entities:
            try:
                payload = self.topics.discovery_payload(entity, ORIGIN)
            except ValueError as exc:  # a family's mistake: that entity is left out, the others are published
                self._read_failed(device, f"{entity.key} discovery", exc)
                continue
            self.link.retain(self.topics.config(entity), _json(payload))

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                device = next(iter(self._dirty))
                del self._dirty[device]
                try:
                    self._publish_device(device, force=device in self._forced)
                except Exception as exc:  # the one publisher must outlive any device's surprise
                    self._read_failed(device, "its states", exc)
                self._forced.discard(device)
            await asyncio.sleep(0)

    def _publish_device(self, device: MqttDevice, *, force: bool = False) -> None:
        """Read every entity of ``device`` and hand the link what differs from what the broker holds."""
        available = True
        if device.available is not None:
            try:
                available = bool(device.available())
            except Exception as exc:
                self._read_failed(device, "availability", exc)
        self.link.retain(self.topics.availability(device), "online" if available else "offline")
        for entity in device.entities:
            if entity.read is not None and entity.retain:
                try:
                    payload = entity.read()
                except Exception as exc:
                    self._read_failed(device, entity.key, exc)
                    payload = None
                if payload is not None:
                    topic = self.topics.state(entity)
                    if not self.link.retain(topic, payload) and force:
                        self.link.republish(topic)
            if entity.attributes is not None:
                try:
                    attributes = entity.attributes()
                except Exception as exc:
                    self._read_failed(device, f"{entity.key} attributes", exc)
                    attributes = None
                if attributes is not None:
                    self.link.retain(self.topics.attributes(entity), _json(dict(attributes)))

    def _read_failed(self, device: MqttDevice, what: str, exc: Exception) -> None:
        """One line per device and entity whose state cannot be read (not one per change): the rest is published."""
        key = (id(device), what)
        if key not in self._read_failures:
            self._read_failures.add(key)
            log.warning("MQTT: cannot read %s of %s (%s); it keeps its last state", what, device.name, _reason(exc))

    # -- events ---------------------------------------------------------------------------------------------
    def _device_of(self, event: RingEvent) -> MqttDevice:
        """The MqttDevice an event belongs to: its camera/intercom (by id), its hub device (by zid), its location,
        else the bridge itself (so no event goes unpublished)."""
        candidates: list[str] = []
        if event.device_id is not None:
            candidates.append(str(event.device_id))
        if event.device_zid:
            candidates.append(event.device_zid)
        for ident in candidates:
            wanted = segment(ident)
            if event.location_id is not None:
                found = self.devices.get((segment(event.location_id), wanted))
                if found is not None:
                    return found
            for (_, dev_ident), device in self.devices.items():
                if dev_ident == wanted and device is not self.device:
                    return device
        if event.location_id is not None:
            place = segment(event.location_id)
            found = self.devices.get((place, "location"))
            if found is not None:
                return found
            if event.kind == "alarm":  # a mode notice names no device: the location's security panel
                for (where, _), device in self.devices.items():
                    if where == place and any(e.component == "alarm_control_panel" for e in device.entities):
                        return device
        return self.device

    def _on_event(self, event: RingEvent) -> None:
        for family in self.families:
            try:
                family.on_event(event)
            except Exception as exc:
                log.warning("the MQTT %s devices could not take a %s event (%s)", family.name, event.kind, _reason(exc))
        device = self._device_of(event)
        event_id = event.ding_id or event.key
        fields: dict[str, Any] = {
            "event_id": event_id,
            "kind": event.kind,
            "detection": event.detection,
            "time": _iso(event.created_at),
            "device_id": str(event.device_id) if event.device_id is not None else event.device_zid,
        }
        if event_id in self._announced:  # delivered twice (push and history agree on the key): published once
            return
        announced = _Announced(device, fields)
        self._announced[event_id] = announced
        while len(self._announced) > _REMEMBERED_EVENTS:
            _, old = self._announced.popitem(last=False)
            if old.end is not None:
                old.end.cancel()
        self.event(device, {"type": "new", **fields, "recording": self._recording(event_id)})
        hold = self.options.motion_hold_s if event.kind == "motion" else self.options.ding_hold_s
        announced.end = asyncio.get_running_loop().call_later(hold, self._end, event_id)

    def _end(self, event_id: str) -> None:
        announced = self._announced.get(event_id)
        if announced is None:
            return
        announced.end = None
        self.event(announced.device, {"type": "end", **announced.fields, "recording": self._recording(event_id)})

    def _on_archived(self, change: RecordingChange) -> None:
        if change.status != "done":
            return
        announced = self._announced.get(change.event_id)
        if announced is None:  # archived by a catch-up, never announced here: nothing to update
            return
        link = self._recording(change.event_id)
        self.event(
            announced.device,
            {"type": "update", **announced.fields, "recording": link or {"path": None, "url": None}},
        )

    def _recording(self, event_id: str) -> dict[str, str | None] | None:
        if self.archive is None:
            return None
        link: RecordingLink | None = self.archive.recording(event_id)
        return None if link is None else {"path": link.path, "url": link.url}

    # -- commands -------------------------------------------------------------------------------------------
    def _on_command(self, topic: str, payload: bytes) -> None:
        """A message on a ``set`` topic (from the link's receiver): checked here, carried out in a task."""
        shown = topic[:200]
        parsed = self.topics.parse_command(topic)
        device = self.devices.get((parsed[0], parsed[1])) if parsed is not None else None
        entity = None
        if device is not None and parsed is not None:
            entity = next((e for e in device.entities if e.key == parsed[2] and e.command is not None), None)
        if device is None or entity is None:
            self._rejected(f"MQTT command on {shown}: no such entity takes commands; ignored")
            return
        what = f"{device.name} / {entity.name or entity.key}"
        if len(payload) > MAX_COMMAND_BYTES:
            self._rejected(f"MQTT command for {what}: {len(payload)} bytes is over {MAX_COMMAND_BYTES}; ignored")
            self._republish(device)
            return
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            self._rejected(f"MQTT command for {what}: the payload is not UTF-8 text; ignored")
            self._republish(device)
            return
        limiter = self._limiters.get(device)
        if limiter is None:
            limiter = self._limiters[device] = AsyncLimiter(self.options.command_rate, self.options.command_period_s)
        if not limiter.has_capacity():
            self.commands_dropped += 1
            log.warning(
                "MQTT command for %s dropped: more than %d commands in %.0f s for this device",
                what,
                self.options.command_rate,
                self.options.command_period_s,
            )
            self._republish(device)
            return
        task = asyncio.get_running_loop().create_task(self._command(device, entity, text, limiter, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, device: MqttDevice, entity: Entity, text: str, limiter: AsyncLimiter, what: str) -> None:
        from ringvault.cloud.errors import RingError

        assert entity.command is not None
        await limiter.acquire()
        lock = self._locks.setdefault(device, asyncio.Lock())
        try:
            async with lock, asyncio.timeout(COMMAND_TIMEOUT_S):
                await entity.command(text)
        except CommandRejected as exc:
            self._rejected(f"MQTT command for {what} refused: {exc}")
        except RingError as exc:
            self._rejected(f"MQTT command for {what}: Ring refused it: {exc.one_line}")
        except TimeoutError:
            self._rejected(f"MQTT command for {what}: no answer from Ring within {COMMAND_TIMEOUT_S:.0f} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._rejected(f"MQTT command for {what} failed: {_reason(exc)}")
            log.debug("the command's failure", exc_info=True)
        finally:
            self._republish(device)

    def _rejected(self, line: str) -> None:
        self.commands_rejected += 1
        log.warning("%s", line)
        self.changed(self.device)

    def _republish(self, device: MqttDevice) -> None:
        """Read ``device`` again and publish its states even where they did not change (Home Assistant shows the
        true state again after a command it may have shown optimistically)."""
        self._forced.add(device)
        self.changed(device)


def _json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)


def _iso(when: datetime) -> str:
    return when.isoformat()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
