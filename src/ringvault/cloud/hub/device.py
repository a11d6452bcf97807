"""``HubDevice``: one device of an alarm base station or lighting bridge, kept current by the hub socket.

A device document is ``{"general": {"v2": {...}}, "device": {"v1": {...}}}`` (§7.6). ``data`` is its flattened
form ``{**general.v2, **device.v1}`` (``device.v1`` wins, as in every public client); live updates are partial
documents that are shallow-merged into ``data`` by ``zid`` (§7.5), and deep-merged into ``raw``. Nothing is
required but ``zid``: an unknown ``deviceType`` is kept as kind ``unknown``, odd field types read as ``None``.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ringvault.cloud.device import Signal, deep_merge
from ringvault.cloud.errors import CapabilityError
from ringvault.cloud.hub.kinds import HubDeviceKind, kind_of, type_label

if TYPE_CHECKING:
    from ringvault.cloud.hub.connection import HubConnection

__all__ = ["CHIRPS", "MAX_LIGHT_DURATION_S", "HubDevice", "Impulse", "context_of", "flatten", "impulses_of", "zid_of"]

#: The longest ``duration`` a Beams ``light-mode.set`` takes (homebridge and ring-mqtt cap it there).
MAX_LIGHT_DURATION_S = 32767
#: ``commStatus`` values that mean the device talks to its hub.
_ONLINE = frozenset({"ok", "online"})
#: Kinds whose ``set_light`` is ``light-mode.set`` (Smart Lighting) rather than ``{"on": ...}`` (Z-Wave).
_BEAMS_LIGHTS = frozenset({HubDeviceKind.BEAMS_LIGHT, HubDeviceKind.BEAMS_TRANSFORMER})
_SWITCHED = frozenset({HubDeviceKind.LIGHT, HubDeviceKind.SWITCH, HubDeviceKind.DIMMER})
_DIMMABLE = frozenset({HubDeviceKind.LIGHT, HubDeviceKind.DIMMER})
#: At most this many impulses of one update are announced, each type at most ``_IMPULSE_CHARS`` long.
_MAX_IMPULSES = 16
_IMPULSE_CHARS = 100
#: The longest ``initiatingEntityName`` kept from an update's context.
_NAME_CHARS = 200


@dataclass(frozen=True)
class Impulse:
    """One ``impulse.v1`` item of a live update, with who caused it and when (the frame's ``context``, §7.5:
    ``initiatingEntityName`` — else ``initiatingEntityType`` — and ``eventOccurredTsMs``), as ring-mqtt reads them
    for its panel's "last armed by" attributes. ``by`` and ``at_ms`` are None when the frame carried no context."""

    kind: str
    by: str | None = None
    at_ms: int | None = None


def context_of(context: Any) -> tuple[str | None, int | None]:
    """``(by, at_ms)`` from a frame's ``context`` (odd or missing fields read as None)."""
    if not isinstance(context, Mapping):
        return None, None
    name = context.get("initiatingEntityName") or context.get("initiatingEntityType")
    by = name[:_NAME_CHARS] if isinstance(name, str) and name else None
    at = context.get("eventOccurredTsMs")
    at_ms = at if isinstance(at, int) and not isinstance(at, bool) and 0 <= at < 2**53 else None
    return by, at_ms


#: A keypad's ``chirps`` setting (ring-mqtt keypad.js: ``enabled``/``disabled``).
CHIRPS = ("enabled", "disabled")


def _part(doc: Mapping[str, Any], outer: str, inner: str) -> dict[str, Any]:
    section = doc.get(outer)
    value = section.get(inner) if isinstance(section, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else {}


def flatten(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``{**general.v2, **device.v1}`` of a device document (missing or odd parts count as empty)."""
    return {**_part(doc, "general", "v2"), **_part(doc, "device", "v1")}


def impulses_of(doc: Mapping[str, Any]) -> list[str]:
    """The ``impulseType`` of each ``impulse.v1`` item of a document (bounded; odd items skipped)."""
    impulse = doc.get("impulse")
    items = impulse.get("v1") if isinstance(impulse, Mapping) else None
    if not isinstance(items, list):
        return []
    found = []
    for item in items[:_MAX_IMPULSES]:
        kind = item.get("impulseType") if isinstance(item, Mapping) else None
        if isinstance(kind, str) and 0 < len(kind) <= _IMPULSE_CHARS:
            found.append(kind)
    return found


def zid_of(doc: Mapping[str, Any]) -> str | None:
    """The ``zid`` a (partial) document is about, when it names a usable one."""
    zid = flatten(doc).get("zid")
    if isinstance(zid, str) and 0 < len(zid) <= 256:
        return zid
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _check_unit(what: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{what} must be between 0 and 1, got {value!r}")
    return float(value)


class HubDevice:
    """A hub device (sensor, keypad, light, the security panel ...) of one location.

    ``on_data`` emits ``data`` after every merge (a live update, or a fresh device list that changed it).
    Commands go to the asset (hub) that listed the device, over the location's socket.
    """

    def __init__(self, connection: HubConnection, asset_uuid: str, doc: Mapping[str, Any]) -> None:
        self._connection = connection
        self.asset_uuid = asset_uuid
        self.raw: dict[str, Any] = copy.deepcopy(dict(doc))
        self.data: dict[str, Any] = flatten(doc)
        self.zid: str = zid_of(doc) or ""
        self.on_data: Signal[dict[str, Any]] = Signal()
        self.on_impulse: Signal[Impulse] = Signal()
        """Each ``impulse.v1[].impulseType`` of a live update: something that happened without a state to keep
        (``keypad.motion``: someone came near a keypad, ring-mqtt keypad.js; mode switches carry impulses too)."""
        self._waiters: list[tuple[Callable[[Mapping[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []

    # -- identity ------------------------------------------------------------------------------------------
    @property
    def location_id(self) -> str:
        return self._connection.location_id

    @property
    def name(self) -> str:
        name = _str(self.data.get("name"))
        return name if name else self.zid

    @property
    def device_type(self) -> str:
        """The raw ``deviceType`` ("" when Ring sent none)."""
        return _str(self.data.get("deviceType")) or ""

    @property
    def category_id(self) -> int | None:
        return _int(self.data.get("categoryId"))

    @property
    def kind(self) -> HubDeviceKind:
        return kind_of(self.device_type)

    @property
    def type_label(self) -> str:
        return type_label(self.kind, self.category_id)

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def faulted(self) -> bool | None:
        value = self.data.get("faulted")
        return value if isinstance(value, bool) else None

    @property
    def battery_level(self) -> int | None:
        return _int(self.data.get("batteryLevel"))

    @property
    def battery_status(self) -> str | None:
        return _str(self.data.get("batteryStatus"))

    @property
    def tamper_status(self) -> str | None:
        return _str(self.data.get("tamperStatus"))

    @property
    def volume(self) -> float | None:
        return _float(self.data.get("volume"))

    @property
    def room_id(self) -> int | None:
        return _int(self.data.get("roomId"))

    @property
    def mode(self) -> str | None:
        return _str(self.data.get("mode"))

    @property
    def parent_zid(self) -> str | None:
        """The zid of the device this one belongs to (``parentZid``: a thermostat's temperature sensor ...)."""
        return _str(self.data.get("parentZid")) or None

    @property
    def parent(self) -> HubDevice | None:
        """The device named by ``parentZid``, when the location's hub lists it."""
        zid = self.parent_zid
        return self._connection.devices.get(zid) if zid is not None else None

    @property
    def children(self) -> list[HubDevice]:
        """The location's devices whose ``parentZid`` is this one (ring-mqtt lib/ring.js ``childDevices``)."""
        return [d for d in self._connection.devices.values() if d is not self and d.parent_zid == self.zid]

    @property
    def is_offline(self) -> bool:
        """Whether ``commStatus`` says the device does not talk to its hub (absent: assumed online)."""
        status = _str(self.data.get("commStatus"))
        return status is not None and status.lower() not in _ONLINE

    # -- merging (called by the connection) ----------------------------------------------------------------
    def _apply_full(self, asset_uuid: str, doc: Mapping[str, Any]) -> bool:
        """A full document from a device list replaces ``data``/``raw``; True (and ``on_data``) when it changed."""
        self.asset_uuid = asset_uuid or self.asset_uuid
        flat = flatten(doc)
        changed = flat != self.data
        self.raw = copy.deepcopy(dict(doc))
        self.data = flat
        if changed:
            self._emit(doc)
        return changed

    def _apply_partial(self, doc: Mapping[str, Any], context: Any = None) -> None:
        """A live update: shallow-merge into ``data``, deep-merge into ``raw``; ``on_data`` always (like rca);
        then ``on_impulse`` for each of its impulses (``context``: the frame's, who caused it and when)."""
        self.data = {**self.data, **flatten(doc)}
        self.raw = deep_merge(self.raw, {key: value for key, value in doc.items() if key != "impulse"})
        self._emit(doc)
        kinds = impulses_of(doc)
        if kinds:
            by, at_ms = context_of(context)
            for kind in kinds:
                self.on_impulse.emit(Impulse(kind, by, at_ms))

    def _emit(self, doc: Mapping[str, Any]) -> None:
        for entry in list(self._waiters):
            predicate, future = entry
            if future.done():
                self._waiters.remove(entry)
            elif predicate(doc):
                self._waiters.remove(entry)
                future.set_result(dict(self.data))
        self.on_data.emit(self.data)

    def _next_update(self, predicate: Callable[[Mapping[str, Any]], bool]) -> asyncio.Future[dict[str, Any]]:
        """A future for ``data`` after the next merged document that ``predicate`` accepts (register before
        sending the command it answers)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return future

    def _forget(self, future: asyncio.Future[dict[str, Any]]) -> None:
        """Stop waiting (the caller gave up or got its answer)."""
        future.cancel()
        self._waiters = [entry for entry in self._waiters if entry[1] is not future]

    # -- writes --------------------------------------------------------------------------------------------
    async def set_info(self, body: Mapping[str, Any]) -> None:
        """Send ``DeviceInfoSet`` ``[{zid, **body}]`` to this device's hub (§7.8)."""
        await self._connection.send_message(
            "DeviceInfoSet", self.asset_uuid, datatype="DeviceInfoSetType", body=[{"zid": self.zid, **body}]
        )

    async def send_command(self, command_type: str, data: Mapping[str, Any] | None = None) -> None:
        """Send one ``command.v1`` item (``{"commandType", "data"}``) to this device."""
        await self.set_info({"command": {"v1": [{"commandType": command_type, "data": dict(data or {})}]}})

    async def set_volume(self, volume: float) -> None:
        """Set the volume (0..1) of a device that reports one (base stations, keypads)."""
        level = _check_unit("volume", volume)
        if "volume" not in self.data:
            raise CapabilityError(
                f"{self.name} ({self.type_label}) has no volume",
                hint="Only base stations and keypads that report a volume can be set.",
            )
        await self.set_info({"device": {"v1": {"volume": level}}})

    async def set_chirps(self, enabled: bool) -> None:
        """Switch a keypad's chirps (``{"chirps": "enabled"|"disabled"}``, ring-mqtt keypad.js)."""
        if not isinstance(enabled, bool):
            raise ValueError(f"chirps are on (True) or off (False), not {enabled!r}")
        if self.kind is not HubDeviceKind.KEYPAD or "chirps" not in self.data:
            raise CapabilityError(f"{self.name} ({self.type_label}) has no chirps setting")
        await self.set_info({"device": {"v1": {"chirps": CHIRPS[0] if enabled else CHIRPS[1]}}})

    async def set_light(self, on: bool, *, duration_s: int | None = None) -> None:
        """Switch a light: Smart Lighting lights get ``light-mode.set`` (``on`` for ``duration_s`` seconds, at most
        32767, or back to ``default``); a light group its REST group; Z-Wave lights and switches ``{"on": ...}``."""
        if duration_s is not None and (isinstance(duration_s, bool) or not 0 <= duration_s <= MAX_LIGHT_DURATION_S):
            raise ValueError(f"duration must be between 0 and {MAX_LIGHT_DURATION_S} seconds, got {duration_s!r}")
        kind = self.kind
        if kind in _BEAMS_LIGHTS:
            data: dict[str, Any] = {"lightMode": "on"} if on else {"lightMode": "default"}
            if on and duration_s is not None:
                data["duration"] = int(duration_s)
            await self.send_command("light-mode.set", data)
        elif kind is HubDeviceKind.BEAMS_GROUP and self.data.get("groupId") is not None:
            await self._connection.set_light_group(str(self.data["groupId"]), on, duration_s)
        elif kind in _SWITCHED or isinstance(self.data.get("on"), bool):
            await self.set_info({"device": {"v1": {"on": bool(on)}}})
        else:
            raise CapabilityError(f"{self.name} ({self.type_label}) is not a light or switch")

    async def set_brightness(self, level: float) -> None:
        """Set the brightness (0..1, Ring's ``level``) of a dimmable light."""
        value = _check_unit("brightness", level)
        if not (self.kind in _DIMMABLE or "level" in self.data):
            raise CapabilityError(f"{self.name} ({self.type_label}) cannot be dimmed")
        await self.set_info({"device": {"v1": {"level": value}}})

    # -- locks and water valves (reference §7.8) ----------------------------------------------------------
    @property
    def locked(self) -> str | None:
        """A lock's ``locked``: ``locked``, ``unlocked``, ``jammed`` or ``unknown`` (§7.7; whatever text Ring sends)."""
        return _str(self.data.get("locked"))

    @property
    def valve_state(self) -> str | None:
        """A water valve's ``valveState``: ``open`` or ``closed`` (§7.7; whatever text Ring sends)."""
        return _str(self.data.get("valveState"))

    async def set_locked(self, locked: bool) -> None:
        """Lock or unlock a lock (``lock.lock`` / ``lock.unlock``). Returns once sent: the new ``locked`` arrives as
        the device's next update (``on_data``); a jammed lock answers with its unchanged state."""
        if not isinstance(locked, bool):
            raise ValueError(f"locked must be True or False, got {locked!r}")
        if self.kind is not HubDeviceKind.LOCK:
            raise CapabilityError(f"{self.name} ({self.type_label}) is not a lock")
        await self.send_command("lock.lock" if locked else "lock.unlock")

    async def set_valve_open(self, open_valve: bool) -> None:
        """Open or close a water valve (``valve.open`` / ``valve.close``). Returns once sent: the new ``valveState``
        arrives as the device's next update (``on_data``)."""
        if not isinstance(open_valve, bool):
            raise ValueError(f"open must be True or False, got {open_valve!r}")
        if self.kind is not HubDeviceKind.VALVE:
            raise CapabilityError(f"{self.name} ({self.type_label}) is not a water valve")
        await self.send_command("valve.open" if open_valve else "valve.close")

    async def set_thermostat(
        self,
        *,
        mode: str | None = None,
        set_point: float | None = None,
        dead_band: float | None = None,
        fan_mode: str | None = None,
    ) -> None:
        """Set a thermostat's mode, set point (°C), auto dead band and/or fan mode in one write, each checked
        against what it offers (``ringvault.cloud.hub.thermostat.Thermostat``)."""
        from ringvault.cloud.hub.thermostat import Thermostat  # (it imports this module)

        await Thermostat(self).set(mode=mode, set_point=set_point, dead_band=dead_band, fan_mode=fan_mode)

    def __repr__(self) -> str:
        return f"<HubDevice zid={self.zid!r} name={self.name!r} type={self.device_type!r} kind={self.kind.value}>"
