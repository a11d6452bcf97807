"""The seeded hub world: per location with a base station or a lighting bridge, its assets, hub devices and rooms.

A hub device is a document split in two, as Ring sends it (reference §7.6): ``general.v2`` holds identity and
health (``zid``, ``name``, ``deviceType``, ``categoryId``, battery, tamper, ``commStatus``, ``roomId``, ...) and
``device.v1`` the live state (``faulted``, ``mode``, ``volume``, ``on``, ...). Clients flatten it as
``{**general.v2, **device.v1}`` and do not depend on the split.

Everything is derived from the world seed and the location id (zids, names, battery levels, serial numbers), so
the same seed gives the same hub world. Values Ring's sources do not show are [sim] (docs/simulator.md).
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

#: ``clap/tickets`` asset kinds that speak the hub protocol (rca ``isWebSocketSupportedAsset``).
BASE_STATION_KIND = "base_station_v1"
BRIDGE_KIND = "beams_bridge_v1"

#: ``categoryId`` values (rca ``RingDeviceCategory``, reference §7.11). Which category a given device type reports
#: is not in any public source: the mapping below is [sim].
CATEGORY_LIGHTS = 2
CATEGORY_SENSORS = 5
CATEGORY_ALARMS = 15
CATEGORY_SECURITY = 22
CATEGORY_SENSORS_MOTION = 30
CATEGORY_RANGE_EXTENDERS = 32
CATEGORY_KEYPADS = 33

#: Device types whose volume can be set (rca ``deviceTypesWithVolume``).
VOLUME_TYPES = frozenset({"hub.redsky", "security-keypad"})
#: Device types whose brightness can be set (homebridge, reference §7.8).
BRIGHTNESS_TYPES = frozenset({"hub.redsky", "hub.kili", "security-keypad"})
#: Beams devices that are lights (``on``/``level``/``light-mode.set``).
LIGHT_TYPES = frozenset(
    {"switch.multilevel.beams", "switch.beams", "switch.transformer.beams", "group.light-group.beams"}
)
#: Z-Wave switches, dimmers (also fans) and bulbs: ``on`` and, when multilevel, ``level`` (reference §7.8 "switch /
#: outlet / fan / bulb", "dimmer / fan"; ring-mqtt switch.js, multi-level-switch.js). The seeded world has none;
#: the control API adds them.
SWITCH_TYPES = frozenset({"switch", "switch.multilevel", "switch.multilevel.bulb"})
LEVEL_SWITCH_TYPES = frozenset({"switch.multilevel", "switch.multilevel.bulb"})
#: Alarm sirens: ``sirenStatus`` (``active``/``inactive``) follows an ``on`` write, or for the outdoor strobe siren the
#: ``siren-test.start``/``siren-test.stop`` commands. [inferred] from ring-mqtt devices/siren.js, the one public client
#: that drives them: it sends those writes and shows the siren as on while ``sirenStatus`` is ``active``; the
#: reference does not document sirens.
SIREN_TYPES = frozenset({"siren", "siren.outdoor-strobe"})


@dataclass
class HubDevice:
    """One device of a hub: the two halves of its document and the asset that lists it."""

    zid: str
    asset_uuid: str
    general: JSON  # general.v2
    device: JSON  # device.v1

    @property
    def device_type(self) -> str:
        return str(self.general.get("deviceType", ""))

    @property
    def name(self) -> str:
        return str(self.general.get("name", ""))

    def document(self) -> JSON:
        """The full document as ``DeviceInfoDocGetList`` sends it (a fresh copy)."""
        return {"general": {"v2": copy.deepcopy(self.general)}, "device": {"v1": copy.deepcopy(self.device)}}


@dataclass
class HubAsset:
    """A base station or lighting bridge as the ticket lists it (``uuid`` = the device's ``asset_uuid``)."""

    uuid: str
    kind: str
    doorbot_id: int
    name: str
    session_id: int
    connection_status: str = "online"  # SessionInfo: online | cell-backup | unknown
    silent: bool = False  # never answers DeviceInfoDocGetList / RoomGetList (control API)

    @property
    def category(self) -> str:
        """The rs/history category of its devices' events."""
        return "beams" if self.kind.startswith("beams_bridge") else "alarm"

    @property
    def answers(self) -> bool:
        """[sim] A silenced asset, or one whose session is ``unknown`` (offline), answers no list requests; one on
        cellular backup still works."""
        return not self.silent and self.connection_status != "unknown"


@dataclass
class AlarmState:
    """The security panel's timers (simulated-clock ms), evaluated by the service's ticker."""

    bypassed: list[str] = field(default_factory=list)
    exit_ends_ms: int | None = None
    exit_total_s: int = 0
    entry_ends_ms: int | None = None
    entry_total_s: int = 0
    entry_faulted: list[str] = field(default_factory=list)
    last_countdown: tuple[str, int] | None = None


@dataclass
class HubLocation:
    """Everything hub-side of one location."""

    location_id: str
    assets: dict[str, HubAsset]
    devices: dict[str, HubDevice]  # by zid, in list order
    rooms: dict[str, list[JSON]]  # by asset uuid
    panel_zid: str | None
    alarm: AlarmState = field(default_factory=AlarmState)
    lights_off_at_ms: dict[str, int] = field(default_factory=dict)  # Beams lights switched on for a duration
    frame_delay_s: float = 0.0  # control API: delay every frame sent to this location's sockets
    refusing: set[str] = field(default_factory=set)  # control API: zids whose lock/valve commands are refused

    def devices_of(self, asset_uuid: str) -> list[HubDevice]:
        return [d for d in self.devices.values() if d.asset_uuid == asset_uuid]

    def asset_of(self, device: HubDevice) -> HubAsset | None:
        return self.assets.get(device.asset_uuid)

    def by_type(self, device_type: str) -> list[HubDevice]:
        return [d for d in self.devices.values() if d.device_type == device_type]

    @property
    def base_station(self) -> HubAsset | None:
        return next((a for a in self.assets.values() if a.kind == BASE_STATION_KIND), None)


# ---------------------------------------------------------------------------------------------------------------------
# seeding


@dataclass(frozen=True)
class _Spec:
    device_type: str
    name: str
    category: int
    room: int
    battery: bool = True


_ALARM_SPECS: tuple[_Spec, ...] = (
    _Spec("security-panel", "Security Panel", CATEGORY_SECURITY, 1, battery=False),
    _Spec("hub.redsky", "Base Station", CATEGORY_SECURITY, 1, battery=False),
    _Spec("security-keypad", "Keypad", CATEGORY_KEYPADS, 2),
    _Spec("sensor.contact", "Front Door Contact", CATEGORY_SENSORS, 2),
    _Spec("sensor.contact", "Kitchen Window", CATEGORY_SENSORS, 3),
    _Spec("sensor.motion", "Living Room Motion", CATEGORY_SENSORS_MOTION, 1),
    _Spec("sensor.flood-freeze", "Basement Flood Sensor", CATEGORY_SENSORS, 4),
    _Spec("listener.smoke-co", "Smoke/CO Listener", CATEGORY_ALARMS, 2),
    _Spec("range-extender.zwave", "Range Extender", CATEGORY_RANGE_EXTENDERS, 4, battery=False),
)
_BEAMS_SPECS: tuple[_Spec, ...] = (
    _Spec("switch.multilevel.beams", "Path Light 1", CATEGORY_LIGHTS, 5),
    _Spec("switch.multilevel.beams", "Path Light 2", CATEGORY_LIGHTS, 5),
    _Spec("motion-sensor.beams", "Backyard Motion", CATEGORY_SENSORS_MOTION, 5),
    _Spec("group.light-group.beams", "Backyard Lights", CATEGORY_LIGHTS, 5, battery=False),
)
_ROOMS: tuple[tuple[int, str], ...] = ((1, "Living Room"), (2, "Hallway"), (3, "Kitchen"), (4, "Basement"))
_BEAMS_ROOMS: tuple[tuple[int, str], ...] = ((5, "Backyard"),)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _general(spec: _Spec, zid: str, rng: random.Random, *, adapter_zid: str | None) -> JSON:
    general: JSON = {
        "zid": zid,
        "name": spec.name,
        "deviceType": spec.device_type,
        "categoryId": spec.category,
        "roomId": spec.room,
        "tags": [],
        "manufacturerName": "Ring",
        "serialNumber": f"{rng.getrandbits(40):010X}",
        "tamperStatus": "ok",
        "commStatus": "ok",
    }
    if spec.battery:
        level = rng.randint(35, 100)
        general["batteryLevel"] = level
        general["batteryStatus"] = "ok" if level > 20 else "low"
    else:
        general["batteryStatus"] = "none"
    if adapter_zid is not None and spec.device_type not in ("security-panel", "hub.redsky"):
        general["adapterZid"] = adapter_zid
    return general


def _live_state(spec: _Spec, rng: random.Random, group_id: str | None) -> JSON:
    kind = spec.device_type
    if kind == "security-panel":
        return {"mode": "none", "transitionDelayEndTimestamp": None, "alarmInfo": None, "siren": {"state": "off"}}
    if kind == "hub.redsky":
        return {
            "volume": round(rng.choice((0.3, 0.5, 0.7)), 2),
            "brightness": round(rng.choice((0.5, 0.8, 1.0)), 2),
            "acStatus": "ok",
            "batteryBackup": "charged",
        }
    if kind == "security-keypad":
        # chirps: ring-mqtt keypad.js reads and writes "enabled"/"disabled"
        return {"volume": round(rng.choice((0.4, 0.6, 0.8)), 2), "brightness": 0.8, "acStatus": "ok", "faulted": False,
                "chirps": "enabled"}  # fmt: skip
    if kind in ("sensor.contact", "sensor.motion"):
        return {"faulted": False}
    if kind == "sensor.flood-freeze":
        return {"faulted": False, "flood": {"faulted": False}, "freeze": {"faulted": False}}
    if kind == "listener.smoke-co":
        return {"smoke": {"alarmStatus": "inactive"}, "co": {"alarmStatus": "inactive"}}
    if kind == "range-extender.zwave":
        return {"acStatus": "ok", "batteryBackup": "charged"}
    if kind == "switch.multilevel.beams":
        return {"on": False, "level": round(rng.choice((0.5, 0.75, 1.0)), 2), "motionStatus": "clear",
                "motionSensorEnabled": True, "onDuration": 60}  # fmt: skip
    if kind == "motion-sensor.beams":
        return {"motionStatus": "clear"}
    if kind == "group.light-group.beams":
        state: JSON = {"on": False, "motionStatus": "clear"}
        if group_id is not None:
            state["groupId"] = group_id
        return state
    return {}


def seed_location(
    seed: int,
    location_id: str,
    base_station: tuple[str, int, str] | None,
    bridge: tuple[str, int, str] | None,
    group_id: str | None,
) -> HubLocation:
    """The hub world of one location; ``base_station``/``bridge`` are ``(asset uuid, doorbot id, name)``."""
    rng = random.Random(f"ringvault-sim-hub:{seed}:{location_id}")
    assets: dict[str, HubAsset] = {}
    devices: dict[str, HubDevice] = {}
    rooms: dict[str, list[JSON]] = {}
    panel_zid: str | None = None
    for asset_info, kind, specs, room_names in (
        (base_station, BASE_STATION_KIND, _ALARM_SPECS, _ROOMS),
        (bridge, BRIDGE_KIND, _BEAMS_SPECS, _BEAMS_ROOMS),
    ):
        if asset_info is None:
            continue
        asset_uuid, doorbot_id, name = asset_info
        assets[asset_uuid] = HubAsset(asset_uuid, kind, doorbot_id, name, session_id=rng.randint(10**8, 10**9))
        rooms[asset_uuid] = [{"id": room_id, "name": room_name} for room_id, room_name in room_names]
        adapter = _uuid(rng)
        for spec in specs:
            zid = _uuid(rng)
            general = _general(spec, zid, rng, adapter_zid=adapter)
            devices[zid] = HubDevice(zid, asset_uuid, general, _live_state(spec, rng, group_id))
            if spec.device_type == "security-panel":
                panel_zid = zid
    return HubLocation(location_id, assets, devices, rooms, panel_zid)


def make_device(asset_uuid: str, document: JSON, rng: random.Random) -> HubDevice:
    """A device from a control-API document (any ``deviceType``, known or not): the document's own halves, a zid
    when it has none, and the fields every document carries when left out."""
    general_in = document.get("general", {}).get("v2") if isinstance(document.get("general"), dict) else None
    device_in = document.get("device", {}).get("v1") if isinstance(document.get("device"), dict) else None
    general: JSON = dict(general_in) if isinstance(general_in, dict) else {}
    device: JSON = dict(device_in) if isinstance(device_in, dict) else {}
    for key, value in document.items():  # a flat document: identity in general, the rest in device
        if key in ("general", "device"):
            continue
        if key in ("zid", "name", "deviceType", "categoryId", "roomId", "tags", "batteryLevel", "batteryStatus"):
            general.setdefault(key, value)
        else:
            device.setdefault(key, value)
    zid = str(general.get("zid") or _uuid(rng))
    general["zid"] = zid
    general.setdefault("name", "New Device")
    general.setdefault("deviceType", "unknown")
    general.setdefault("tags", [])
    general.setdefault("commStatus", "ok")
    return HubDevice(zid, asset_uuid, general, device)
