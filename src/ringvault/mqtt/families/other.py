"""Every top-level Ring device no other family takes — a third-party garage door opener, a third-party (ONVIF)
camera, base stations and Smart Lighting bridges as ``ring_devices`` lists them, kinds nobody knows yet, devices of
unknown ``ring_devices`` families — as one diagnostic ``sensor``: its raw kind as the state, its connection and a
bounded summary of its JSON entry as attributes.

ring-mqtt logs such devices as unsupported and shows nothing; the issue asks that an unknown device still appears,
never as a crash. Names, ids and values are Ring's (or anyone's who can rename a device): every one is bounded and
cleaned before it reaches a topic (``segment``), a discovery payload (``display_name``) or an attribute.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ringvault.mqtt.families._rest import STATE_MAX, display_name, poll_devices
from ringvault.mqtt.model import Entity, MqttDevice

if TYPE_CHECKING:
    from ringvault.cloud.location import AnyDevice
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.model import BridgeContext, StatePayload
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["ATTRIBUTE_KEYS_MAX", "ATTRIBUTE_TEXT_MAX", "OtherFamily", "make_family", "summary", "takes"]

log = logging.getLogger(__name__)

ORDER = 900
"""After every other family: it takes what they leave."""
ATTRIBUTE_KEYS_MAX = 40
"""At most this many fields of the raw entry are shown (the first ones, in Ring's order)."""
ATTRIBUTE_TEXT_MAX = 200
"""A string (or key) longer than this is cut; nested objects and arrays show as their size only."""
KIND_MAX = 64


def takes(device: AnyDevice) -> bool:
    """What the camera, chime, intercom and alarm families leave: everything but Ring's own cameras, chimes,
    intercoms and alarm base stations."""
    from ringvault.cloud.camera import RingCamera
    from ringvault.cloud.chime import RingChime
    from ringvault.cloud.intercom import RingIntercom
    from ringvault.cloud.models.kinds import DeviceClass
    from ringvault.mqtt.families import cameras

    if isinstance(device, RingChime | RingIntercom):
        return False
    if device.device_class is DeviceClass.BASE_STATION:  # the alarm family publishes it, with the hub's own data
        return False
    return not (isinstance(device, RingCamera) and cameras.takes(device))


def _clean(text: str, limit: int) -> str:
    cleaned = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _value(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)  # exact in JSON readers that use doubles
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        return _clean(value, ATTRIBUTE_TEXT_MAX)
    if isinstance(value, Mapping):
        return f"{{{len(value)} fields}}"
    if isinstance(value, list | tuple):
        return f"[{len(value)} items]"
    return _clean(type(value).__name__, ATTRIBUTE_TEXT_MAX)


def summary(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The first ``ATTRIBUTE_KEYS_MAX`` fields of an entry, each bounded (see ``_value``); ``more_fields`` counts
    the rest."""
    shown: dict[str, Any] = {}
    for count, (key, value) in enumerate(raw.items()):
        if count >= ATTRIBUTE_KEYS_MAX:
            shown["more_fields"] = len(raw) - ATTRIBUTE_KEYS_MAX
            break
        shown[_clean(str(key), 64)] = _value(value)
    return shown


@dataclass(eq=False)
class OtherDevice:
    ring: AnyDevice
    ctx: BridgeContext
    device: MqttDevice = field(init=False)
    _unsubscribe: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        ring = self.ring
        model = ring.model
        self.device = MqttDevice(
            location=ring.location_id or "unknown",
            ident=str(ring.id),
            name=display_name(ring.name, f"Ring device {ring.id}"),
            model=_clean(model, 64),
            sw_version=_clean(ring.data.firmware_version, 64) if ring.data.firmware_version else None,
            via=self.ctx.bridge,
            available=lambda: not (ring.is_offline or ring.removed),
        )
        self.device.add(
            Entity(
                "sensor",
                "info",
                "Device info",
                read=self._state,
                attributes=self._attributes,
                category="diagnostic",
                icon="mdi:information-outline",
            )
        )
        self._unsubscribe = ring.on_data.subscribe(lambda _entry: self.ctx.sink.changed(self.device))

    def _state(self) -> StatePayload:
        kind = self.ring.kind
        return _clean(kind, min(KIND_MAX, STATE_MAX)) if kind else "unknown"

    def _attributes(self) -> Mapping[str, Any]:
        ring = self.ring
        return {
            "family": _clean(ring.family, 64),
            "kind": _clean(ring.kind, KIND_MAX) if ring.kind else None,
            "model": _clean(ring.model, 64),
            "connection": _clean(ring.data.connection, 64) if ring.data.connection else None,
            "entry": summary(ring.raw),
        }

    def aclose(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class OtherFamily:
    name = "other"

    def __init__(self, options: BridgeOptions) -> None:
        self.options = options
        self.units: dict[int, OtherDevice] = {}
        self._ctx: BridgeContext | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._release_poll: Callable[[], Awaitable[None]] | None = None

    async def start(self, ctx: BridgeContext) -> list[MqttDevice]:
        self._ctx = ctx
        devices: list[MqttDevice] = []
        for ring in await ctx.api.get_all_devices():
            unit = self._add(ring)
            if unit is not None:
                devices.append(unit.device)
        self._unsubscribe.append(ctx.api.on_device_added.subscribe(self._device_added))
        self._release_poll = poll_devices(ctx.api)
        return devices

    def _add(self, ring: AnyDevice) -> OtherDevice | None:
        assert self._ctx is not None
        if not takes(ring):
            return None
        try:
            unit = OtherDevice(ring, self._ctx)
        except Exception:  # whatever an entry holds, the bridge goes on without that one device
            log.exception("a %s device could not be shown", _clean(str(ring.family), 64))
            return None
        old = self.units.get(ring.id)
        if old is not None:
            old.aclose()
        self.units[ring.id] = unit
        return unit

    def _device_added(self, device: AnyDevice) -> None:
        if self._ctx is None:
            return
        unit = self._add(device)
        if unit is not None:
            self._ctx.sink.add_device(unit.device)

    def on_event(self, event: RingEvent) -> None:
        return None

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        release, self._release_poll = self._release_poll, None
        if release is not None:
            await release()
        for unit in self.units.values():
            unit.aclose()


def make_family(options: BridgeOptions) -> OtherFamily:
    return OtherFamily(options)
