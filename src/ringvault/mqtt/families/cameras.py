"""Cameras and doorbells in Home Assistant: motion and ding sensors and events, a snapshot image, light, siren,
motion detection, battery, Wi-Fi signal and the last archived recording.

The entity set mirrors ring-mqtt's camera (tsightler/ring-mqtt ``devices/camera.js``): ``motion`` (binary_sensor,
device_class motion, attributes ``lastMotion``/``lastMotionTime``/``personDetected``), ``ding`` (binary_sensor,
device_class occupancy, icon ``mdi:doorbell-video``, attributes ``lastDing``/``lastDingTime``), ``light`` (a
``light``), ``siren``, ``motion_detection`` (switch, config), ``battery`` and ``wireless`` (diagnostic sensors),
``snapshot``; both sensors hold for 180 s by default. ringvault adds Home Assistant ``event`` entities
(``ding_event``, ``motion_event`` with person / vehicle / package when Ring says what moved), uses the ``image``
component for the snapshot (ring-mqtt's ``camera`` component predates it) and ``siren`` for the siren, and links the
last recording of the local archive (``last_recording``).

Third-party (ONVIF) cameras have no events, snapshots or controls at Ring: ``other.py`` shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ringvault.mqtt.families._rest import (
    STATE_MAX,
    HealthPoller,
    Hold,
    OneLineLog,
    battery_entity,
    confirm,
    display_name,
    iso,
    parse_int,
    parse_json_object,
    parse_on_off,
    poll_devices,
    shown,
    signal_entity,
)
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice

if TYPE_CHECKING:
    from ringvault.archive.watch import RecordingChange
    from ringvault.cloud.camera import RingCamera
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.model import BridgeContext, RecordingLink, StatePayload
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["MOTION_EVENT_TYPES", "CameraFamily", "make_family", "takes"]

log = logging.getLogger(__name__)

MOTION_EVENT_TYPES = ("motion", "person", "vehicle", "package")
"""The ``motion_event`` entity's event types: plain motion, or what Ring's detection says moved."""
SIREN_MAX_S = 120
"""Ring sounds a camera siren for 1-120 s (``siren_on?duration=``; ring-client-api and the simulator agree)."""
START_WAIT_MS = 1000
"""At start, the image Ring holds is asked for without a capture; Ring answers at once (this bounds the wait)."""
SnapshotReason = Literal["start", "motion", "ding", "interval"]
EVENT_REASONS: frozenset[SnapshotReason | None] = frozenset({"motion", "ding"})


def takes(camera: RingCamera) -> bool:
    """Ring's own cameras and doorbells; a third-party camera (no events, snapshots or controls) is ``other``'s."""
    return camera.has_event_history


@dataclass
class Snapshot:
    """The last image the camera gave (kept when a later request fails)."""

    image: bytes
    captured_at: datetime
    reason: SnapshotReason
    time_millis: int | None


@dataclass(eq=False)
class CameraDevice:
    """One camera's ``MqttDevice`` and what its entities read besides ``camera.data``: the event holds, the last
    snapshot, the last archived recording."""

    camera: RingCamera
    ctx: BridgeContext
    health: HealthPoller
    device: MqttDevice = field(init=False)
    motion: Hold = field(init=False)
    ding: Hold = field(init=False)
    snapshot: Snapshot | None = None
    recording: RecordingLink | None = None
    snapshot_task: asyncio.Task[None] | None = None
    snapshot_reason: SnapshotReason | None = None  # what the running snapshot_task is for
    pending: tuple[SnapshotReason, RingEvent | None] | None = None  # an event's snapshot to take after it
    last_capture: float | None = None  # time.monotonic() of the last capture asked of a battery camera
    _log: OneLineLog = field(default_factory=OneLineLog)
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        camera, options = self.camera, self.ctx.options
        self.device = MqttDevice(
            location=camera.location_id or "unknown",
            ident=str(camera.id),
            name=display_name(camera.name, f"Camera {camera.id}"),
            model=camera.model,
            sw_version=camera.data.firmware_version,
            via=self.ctx.bridge,
            available=lambda: not (camera.is_offline or camera.removed),
        )
        self.motion = Hold(options.motion_hold_s, self.changed)
        self.ding = Hold(options.ding_hold_s, self.changed)
        self._build()
        self._unsubscribe.append(camera.on_data.subscribe(lambda _entry: self.changed()))

    def changed(self) -> None:
        self.ctx.sink.changed(self.device)

    # -- entities -----------------------------------------------------------------------------------------------
    def _build(self) -> None:
        camera, add = self.camera, self.device.add
        add(
            Entity(
                "binary_sensor",
                "motion",
                "Motion",
                read=lambda: "ON" if self.motion.active else "OFF",
                attributes=self._motion_attributes,
                options={"device_class": "motion", "payload_on": "ON", "payload_off": "OFF"},
            )
        )
        add(
            Entity(
                "event",
                "motion_event",
                "Motion event",
                read=lambda: None,  # a trigger: published only through ``sink.fire``
                options={"event_types": list(MOTION_EVENT_TYPES), "device_class": "motion"},
                retain=False,
            )
        )
        if camera.is_doorbot:
            add(
                Entity(
                    "binary_sensor",
                    "ding",
                    "Ding",
                    read=lambda: "ON" if self.ding.active else "OFF",
                    attributes=self._ding_attributes,
                    options={"device_class": "occupancy", "payload_on": "ON", "payload_off": "OFF"},
                    icon="mdi:doorbell-video",
                )
            )
            add(
                Entity(
                    "event",
                    "ding_event",
                    "Ding event",
                    read=lambda: None,
                    options={"event_types": ["ding"], "device_class": "doorbell"},
                    retain=False,
                )
            )
        add(
            Entity(
                "image",
                "snapshot",
                "Snapshot",
                read=lambda: self.snapshot.image if self.snapshot is not None else None,
                attributes=self._snapshot_attributes,
                options={"content_type": "image/jpeg"},
                state_key="image_topic",
            )
        )
        if camera.has_light:
            add(
                Entity(
                    "light",
                    "light",
                    "Light",
                    read=lambda: "ON" if camera.light_on else "OFF",
                    command=self._set_light,
                    options={"payload_on": "ON", "payload_off": "OFF"},
                )
            )
        if camera.has_siren:
            add(
                Entity(
                    "siren",
                    "siren",
                    "Siren",
                    read=lambda: "ON" if camera.siren_on else "OFF",
                    command=self._set_siren,
                    options={
                        "payload_on": "ON",
                        "payload_off": "OFF",
                        "support_duration": True,
                        "support_volume_set": False,
                    },
                    icon="mdi:alarm-light",
                )
            )
        add(
            Entity(
                "switch",
                "motion_detection",
                "Motion detection",
                read=self._motion_detection_state,
                command=self._set_motion_detection,
                options={"payload_on": "ON", "payload_off": "OFF"},
                category="config",
                icon="mdi:motion-sensor",
            )
        )
        if camera.has_battery:
            add(battery_entity(lambda: camera.battery_level, self._battery_attributes))
        add(signal_entity(self._signal))
        if self.ctx.archive is not None:
            add(
                Entity(
                    "sensor",
                    "last_recording",
                    "Last recording",
                    read=self._recording_state,
                    attributes=self._recording_attributes,
                    icon="mdi:filmstrip",
                )
            )

    # -- reads ----------------------------------------------------------------------------------------------------
    def _motion_attributes(self) -> Mapping[str, Any]:
        event = self.motion.last
        detection = event.detection if event is not None else None
        return {
            "lastMotion": int(event.created_at.timestamp()) if event is not None else None,
            "lastMotionTime": iso(event.created_at) if event is not None else None,
            "personDetected": detection == "person",
            "detection": detection,
            "dingId": event.ding_id if event is not None else None,
            "motionDetectionEnabled": self.camera.motion_detection_enabled,
        }

    def _ding_attributes(self) -> Mapping[str, Any]:
        event = self.ding.last
        return {
            "lastDing": int(event.created_at.timestamp()) if event is not None else None,
            "lastDingTime": iso(event.created_at) if event is not None else None,
            "dingId": event.ding_id if event is not None else None,
        }

    def _snapshot_attributes(self) -> Mapping[str, Any] | None:
        shot = self.snapshot
        if shot is None:
            return None
        return {"timestamp": int(shot.captured_at.timestamp()), "time": iso(shot.captured_at), "type": shot.reason}

    def _motion_detection_state(self) -> StatePayload:
        enabled = self.camera.motion_detection_enabled
        return None if enabled is None else ("ON" if enabled else "OFF")

    def _battery_attributes(self) -> Mapping[str, Any]:
        data = self.camera.data
        found: dict[str, Any] = {"batteryLife": data.battery_life}
        if data.battery_life_2 is not None:
            found["batteryLife2"] = data.battery_life_2
        return found

    def _signal(self) -> int | None:
        health = self.camera.data.health
        if health is not None and health.rssi is not None:
            return health.rssi
        return self.health.signal(self.camera.id)

    def _recording_state(self) -> StatePayload:
        link = self.recording
        if link is None:
            return None
        for value in (link.url, link.path):
            if value and len(value) <= STATE_MAX:
                return value
        return link.event_id[:STATE_MAX]

    def _recording_attributes(self) -> Mapping[str, Any] | None:
        link = self.recording
        if link is None:
            return None
        return {"event_id": link.event_id, "path": link.path, "url": link.url}

    # -- commands -------------------------------------------------------------------------------------------------
    async def _set_light(self, payload: str) -> None:
        on = parse_on_off(payload, f"{self.device.name} light")
        await confirm(self.camera.set_light(on), self.ctx.api.refresh_devices, f"{self.device.name} light")

    async def _set_siren(self, payload: str) -> None:
        """``ON`` / ``OFF``, or Home Assistant's JSON form ``{"state": "ON", "duration": 30}`` (what its MQTT siren
        sends when turn-on parameters are given)."""
        what = f"{self.device.name} siren"
        duration: int | None = None
        doc = parse_json_object(payload)
        if doc is not None:
            state = doc.get("state")
            if not isinstance(state, str):
                raise CommandRejected(f'{what}: {shown(payload)} has no "state"; send ON, OFF or {{"state": "ON"}}')
            on = parse_on_off(state, what)
            if doc.get("duration") is not None:
                duration = parse_int(str(doc["duration"]), f"{what} duration", 1, SIREN_MAX_S)
        else:
            on = parse_on_off(payload, what)
        await confirm(self.camera.set_siren(on, duration), self.ctx.api.refresh_devices, what)

    async def _set_motion_detection(self, payload: str) -> None:
        what = f"{self.device.name} motion detection"
        on = parse_on_off(payload, what)
        await confirm(self.camera.set_motion_detection(on), self.ctx.api.refresh_devices, what)

    # -- events ---------------------------------------------------------------------------------------------------
    def on_event(self, event: RingEvent) -> None:
        sink, modes = self.ctx.sink, self.ctx.options.snapshot_modes
        fields = {"ding_id": event.ding_id, "time": iso(event.created_at), "source": event.source}
        if event.kind == "motion":
            self.motion.trigger(event)
            kind = event.detection if event.detection in MOTION_EVENT_TYPES else "motion"
            sink.fire(self.device.entity("motion_event"), kind, {**fields, "detection": event.detection})
            if "motion" in modes:
                self.request_snapshot("motion", event)
        elif event.kind == "ding" and self.camera.is_doorbot:
            self.ding.trigger(event)
            sink.fire(self.device.entity("ding_event"), "ding", fields)
            if "ding" in modes:
                self.request_snapshot("ding", event)

    def recording_changed(self) -> None:
        archive = self.ctx.archive
        if archive is None:
            return
        try:
            self.recording = archive.latest(self.camera.id)
        except Exception as exc:  # the archive being busy must not stop the bridge
            self._log.failed("recording", f"the last recording of {self.device.name} is unknown: {exc}")
            return
        self.changed()

    def on_update(self, event: RingEvent) -> None:
        """A second push for an event, bringing its image (battery doorbells push first without one, reference
        §8.4): that image, when the event's kind is a snapshot mode."""
        if event.snapshot_uuid and event.kind in ("motion", "ding") and event.kind in self.ctx.options.snapshot_modes:
            self.request_snapshot("motion" if event.kind == "motion" else "ding", event)

    # -- snapshots ------------------------------------------------------------------------------------------------
    def request_snapshot(self, reason: SnapshotReason, event: RingEvent | None = None) -> None:
        """Refresh the image, unless one is being taken (one at a time per camera) or — a battery camera — a capture
        was asked of it less than ``battery_snapshot_min_s`` ago. The image of a notification (``snapshot_uuid``:
        Ring already holds it, the camera is not woken) is fetched whatever the battery limit, as ring-mqtt does;
        so is, at start, the image Ring holds already (``start``: no capture is asked for). An event that arrives
        while a start or interval image is being fetched gets its own image right after (that one would not show
        it); one that arrives during another event's is covered by it."""
        uuid = event.snapshot_uuid if event is not None else None
        if self.snapshot_task is not None and not self.snapshot_task.done():
            if reason in EVENT_REASONS and (uuid is not None or self.snapshot_reason not in EVENT_REASONS):
                self.pending = (reason, event)
            return
        if uuid is None and reason != "start" and self.camera.has_battery:
            now = time.monotonic()
            limit = self.ctx.options.battery_snapshot_min_s
            if self.last_capture is not None and now - self.last_capture < limit:
                log.debug(
                    "%s: no %s snapshot (battery camera, last capture %.0f s ago)",
                    self.device.name,
                    reason,
                    now - self.last_capture,
                )
                return
            self.last_capture = now
        self.snapshot_reason = reason
        self.snapshot_task = asyncio.get_running_loop().create_task(
            self._take_snapshot(reason, uuid), name=f"ringvault-mqtt-snapshot-{self.camera.id}"
        )

    async def _take_snapshot(self, reason: SnapshotReason, uuid: str | None) -> None:
        try:
            await self._fetch_snapshot(reason, uuid)
        finally:
            pending, self.pending = self.pending, None
            if pending is not None:  # once this task is done
                asyncio.get_running_loop().call_soon(self.request_snapshot, *pending)

    async def _fetch_snapshot(self, reason: SnapshotReason, uuid: str | None) -> None:
        from ringvault.cloud.errors import RingError

        key = "snapshot"
        try:
            if uuid is not None:
                shot = await self.camera.get_snapshot(uuid=uuid)
            else:
                shot = await self.camera.get_snapshot(
                    force=reason != "start", max_wait_ms=START_WAIT_MS if reason == "start" else None
                )
        except RingError as exc:
            self._log.failed(key, f"{self.device.name}: no {reason} snapshot, the last image stays ({exc.one_line})")
            return
        except Exception as exc:  # whatever else goes wrong, the bridge and the last image stay
            reason_text = type(exc).__name__
            self._log.failed(key, f"{self.device.name}: no {reason} snapshot, the last image stays ({reason_text})")
            return
        if not shot.image.startswith(b"\xff\xd8"):
            self._log.failed(key, f"{self.device.name}: the {reason} snapshot was not a JPEG; the last image stays")
            return
        self._log.ok(key)
        current = self.snapshot
        if current is not None and current.time_millis and current.time_millis == shot.time_millis:
            return  # the same capture: nothing new to publish
        self.snapshot = Snapshot(shot.image, shot.captured_at, reason, shot.time_millis)
        self.changed()

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.motion.cancel()
        self.ding.cancel()
        task, self.snapshot_task = self.snapshot_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class CameraFamily:
    """Every Ring camera and doorbell of the account (and those that appear later)."""

    name = "cameras"

    def __init__(self, options: BridgeOptions) -> None:
        self.options = options
        self.units: dict[int, CameraDevice] = {}
        self._ctx: BridgeContext | None = None
        self._health: HealthPoller | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._release_poll: Callable[[], Awaitable[None]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.start_round: asyncio.Task[None] | None = None
        """Fetching the image each camera holds at Ring (when ``interval`` is not a snapshot mode)."""

    async def start(self, ctx: BridgeContext) -> list[MqttDevice]:
        self._ctx = ctx
        self._health = HealthPoller(self._without_signal, self._health_read)
        devices = [self._add(camera).device for camera in await ctx.api.get_cameras() if takes(camera)]
        self._unsubscribe.append(ctx.api.on_device_added.subscribe(self._device_added))
        self._release_poll = poll_devices(ctx.api)
        self._unsubscribe.append(ctx.api.on_notification_updated.subscribe(self._updated))
        if ctx.watch is not None:
            self._unsubscribe.append(ctx.watch.on_archived.subscribe(self._archived))
        for unit in self.units.values():
            unit.recording_changed()
        self._health.start()
        if "interval" in self.options.snapshot_modes:
            self._tasks.append(asyncio.create_task(self._interval_snapshots(), name="ringvault-mqtt-snapshots"))
        else:
            self.start_round = asyncio.create_task(self._start_snapshots(), name="ringvault-mqtt-snapshots")
            self._tasks.append(self.start_round)
        return devices

    def _add(self, camera: RingCamera) -> CameraDevice:
        assert self._ctx is not None and self._health is not None
        unit = CameraDevice(camera, self._ctx, self._health)
        self.units[camera.id] = unit
        return unit

    def _device_added(self, device: object) -> None:
        from ringvault.cloud.camera import RingCamera

        if self._ctx is None or not isinstance(device, RingCamera) or not takes(device):
            return
        old = self.units.get(device.id)
        if old is not None:
            self._tasks.append(asyncio.get_running_loop().create_task(old.aclose()))
        unit = self._add(device)
        unit.recording_changed()
        self._ctx.sink.add_device(unit.device)

    def _without_signal(self) -> list[RingCamera]:
        """Cameras whose ``ring_devices`` entry has no Wi-Fi signal (shared doorbells, some models)."""
        return [
            u.camera
            for u in self.units.values()
            if not u.camera.removed and (u.camera.data.health is None or u.camera.data.health.rssi is None)
        ]

    def _health_read(self, device_id: int) -> None:
        unit = self.units.get(device_id)
        if unit is not None:
            unit.changed()

    def _archived(self, change: RecordingChange) -> None:
        unit = self.units.get(change.device_id) if change.device_id is not None else None
        if unit is not None and change.status == "done":
            unit.recording_changed()

    async def _start_snapshots(self) -> None:
        """The image each camera already has at Ring, so that Home Assistant shows one before the first event."""
        await self._round("start")

    async def _round(self, reason: SnapshotReason) -> None:
        for unit in list(self.units.values()):
            if unit.camera.is_offline or unit.camera.removed:
                continue
            unit.request_snapshot(reason)
            task = unit.snapshot_task
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(task)

    async def _interval_snapshots(self) -> None:
        """Every ``snapshot_interval_s`` (and once at start), a snapshot of each camera, one camera after another."""
        while True:
            await self._round("interval")
            await asyncio.sleep(self.options.snapshot_interval_s)

    def on_event(self, event: RingEvent) -> None:
        unit = self.units.get(event.device_id) if event.device_id is not None else None
        if unit is not None:
            unit.on_event(event)

    def _updated(self, event: RingEvent) -> None:
        unit = self.units.get(event.device_id) if event.device_id is not None else None
        if unit is not None:
            unit.on_update(event)

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        release, self._release_poll = self._release_poll, None
        if release is not None:
            await release()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._health is not None:
            await self._health.aclose()
        for unit in list(self.units.values()):
            await unit.aclose()


def make_family(options: BridgeOptions) -> CameraFamily:
    return CameraFamily(options)
