"""The 15 data sets of the ``data-portability`` scope: their documented fields (for the JSON Schema files) and
record generators that read the simulated account world.

Records keep the shapes of the seed's samples, key casing quirks included (``Ring.Alarm.DeviceInformation`` uses
``ethMac``/``wifiMac24``/``wifiMac5`` while its field table says ``ethmac``/``wifimac24``/``wifimac5``; the
schema lists the sample casing, as the files carry it). Location ids, device ids and names, coordinates, time
zones and camera events come from the customer's :class:`~ringvault.sim.world.World`; log-like records (alarm
history, device logs, audit logs, device state changes) are synthesized per location and UTC day from a seed, so
the same day always yields the same records and overlapping queries overlap exactly.

Event-like data sets are limited to the consented window; registry data sets (locations, devices, groups, hub
components, preferences) describe the account as it is and are always complete.

Schema files (``Dataset.schema(style)``): seed 003 documents, per data set, a table of "schema properties" (field
name, description, example) and a "sample schema" (an array of example records); it shows no title and does not
say how the schema file itself is laid out (Amazon's Data Portability guide calls it a JSON schema). So the default
style, ``json-schema``, is a JSON Schema of the seed's field table with no title, no ``$id`` and no description of
its own: a client must tell the data set from the file's name or from the fields. ``titled`` adds the title and
``$id`` an earlier simulator served; ``sample`` serves the seed's "sample schema" shape, one example record built
from the table's examples.

Changes between exports (``PortabilityConfig.record_changes``, ``apply_changes``): records matching a change get
fields set, added or removed when they are generated, so two exports of one customer can differ as Ring's do
(a device renamed, a hub sensor's status, a field Ring starts to send).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ringvault.sim.portability.config import DATASETS, RecordChange, SchemaStyle
from ringvault.sim.world import CAMERA_FAMILIES, Device, Location, World, iso_z

JSON = dict[str, Any]
DAY_S = 86400.0
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Source:
    """What a data set is generated from: one customer's world and seed."""

    world: World
    seed: int
    retention_days: float
    log_rate: float  # log-like records per location and UTC day


@dataclass(frozen=True)
class Window:
    """The consented window, epoch seconds (inclusive)."""

    start: float
    end: float

    def __contains__(self, ts: float) -> bool:
        return self.start <= ts <= self.end


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str
    description: str
    example: Any = None
    items: JSON | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    fields: tuple[FieldDoc, ...]
    windowed: bool
    generate: Callable[[Source, Window], list[JSON]]

    def schema(self, style: SchemaStyle = "json-schema") -> JSON | list[JSON]:
        """The schema document of this data set's files in ``style`` (see the module docstring)."""
        if style == "sample":  # every field, with the table's example or a value of its type (booleans: "true/false")
            return [{f.name: f.example if f.example is not None else _BLANK[f.type] for f in self.fields}]
        properties: JSON = {}
        for f in self.fields:
            prop: JSON = {"type": f.type, "description": f.description}
            if f.items is not None:
                prop["items"] = f.items
            if f.example is not None:
                prop["examples"] = [f.example]
            properties[f.name] = prop
        document: JSON = {"$schema": SCHEMA_DIALECT}
        if style == "titled":
            document["$id"] = f"https://portability.data.ring.com/schemas/{self.name}.json"
            document["title"] = self.name
            document["description"] = self.description
        document.update({"type": "array", "items": {"type": "object", "properties": properties}})
        return document


# ---------------------------------------------------------------------------------------------------------------------
# helpers

#: a value of each JSON type, for the sample record of fields whose row in the seed's table has no single example
_BLANK: dict[str, Any] = {"string": "", "number": 0, "integer": 0, "boolean": False, "array": [], "object": {}}


def _iso(ts: float) -> str:
    return iso_z(ts, millis=False)


def _alarm_date(ts: float) -> str:
    """The alarm logs' format: ``2018-07-10T01:14:13.00Z`` (hundredths, always zero in the samples)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".00Z"


def _rng(source: Source, *parts: object) -> random.Random:
    material = ":".join(str(p) for p in (source.seed, *parts))
    return random.Random(hashlib.sha256(material.encode()).digest())


def _parse_iso(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def device_setup_time(world: World, device: Device) -> float:
    """When the device was set up: its entry's ``created_at`` when it has one, else a day after its location."""
    created = _parse_iso(device.entry.get("created_at"))
    if created is not None:
        return created
    location = world.location(device.location_id)
    base = _parse_iso(location.created_at) if location else None
    return (base or world.start - 365 * DAY_S) + DAY_S + (device.id % 86400)


def _devices(world: World) -> list[Device]:
    return sorted(world.devices.values(), key=lambda d: (world.locations.index(_loc(world, d)), d.id))


def _loc(world: World, device: Device) -> Location:
    location = world.location(device.location_id)
    assert location is not None
    return location


def _has(world: World, location: Location, family: str) -> bool:
    return any(d.family == family and d.location_id == location.id for d in world.devices.values())


def _daily(
    source: Source, window: Window, name: str, location: Location, per_day: float
) -> Iterator[tuple[float, random.Random]]:
    """Times of synthesized records, ascending, for each UTC day of the window: a seeded count per day, each with
    its own seeded generator, so a day's records never depend on the window around it."""
    if per_day <= 0:
        return
    first = int(window.start // DAY_S)
    last = int(window.end // DAY_S)
    for day in range(first, last + 1):
        rng = _rng(source, name, location.id, day)
        whole = int(per_day)
        count = whole + (1 if rng.random() < per_day - whole else 0)
        times = sorted(day * DAY_S + rng.uniform(0, DAY_S - 1) for _ in range(count))
        for index, ts in enumerate(times):
            ts = float(int(ts))
            if ts in window:
                yield ts, _rng(source, name, location.id, day, index)


# ---------------------------------------------------------------------------------------------------------------------
# generators


def _rate(source: Source) -> float:
    return source.log_rate


def _events(source: Source, window: Window) -> list[JSON]:
    world = source.world
    out: list[tuple[float, int, JSON]] = []
    for device in world.devices.values():
        if not device.has_events:
            continue
        location = _loc(world, device)
        for event in device.events:
            if event.created_at not in window:
                continue
            rng = _rng(source, "event", event.id)
            date = _iso(event.created_at)
            detections: list[JSON] = []
            if event.detection_type:
                detections.append({"detectionType": "motion", "eventDate": date})
                if event.detection_type != "motion":
                    later = _iso(event.created_at + rng.randint(1, 5))
                    detections.append({"detectionType": event.detection_type, "eventDate": later})
            human = event.person_detected is True
            alerts: list[JSON] = []
            if human:
                alerts.append(
                    {
                        "alertId": str(rng.randint(100, 99999)),
                        "alertName": "human",
                        "alertStateType": "human_state",
                        "eventDate": date,
                    }
                )
            record: JSON = {
                "duration": int(event.duration),
                "eventType": event.kind,
                "eventDate": date,
                "expiresAt": _iso(event.created_at + source.retention_days * DAY_S),
                "status": event.state,
                "endToEndEncryption": False,
                "detections": detections,
                "humanDetected": human,
                "detectionType": event.detection_type or ("motion" if event.kind == "motion" else event.kind),
                "isFavorited": event.favorite,
                "eventCreatedWithAlexa": rng.random() < 0.05,
                "eventFromSidewalk": rng.random() < 0.02,
                "eventRespondedByAlexa": rng.random() < 0.03,
                "securityAlerts": alerts,
                "streamingMode": "24x7" if device.kind.startswith(("floodlight", "cocoa_spotlight")) else "non-24x7",
                "reviewedByVirtualSecurityGuard": False,
                "virtualSecurityGuard": "virtual_security_guard" if rng.random() < 0.1 else "",
                "latitude": location.latitude,
                "longitude": location.longitude,
                "isInitiatedByEventOwner": event.kind in ("on_demand", "on_demand_link"),
            }
            out.append((event.created_at, event.id, record))
    out.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in out]


def _device_events(source: Source, window: Window) -> list[JSON]:
    world = source.world
    out: list[JSON] = []
    choices = (
        ("device_online", [{"deviceState": "online"}]),
        ("device_offline", [{"deviceState": "offline"}]),
        ("device_enabled", [{"deviceState": "enabled", "deviceStateChangeReason": "24x7"}]),
        ("device_disabled", [{"deviceState": "disabled", "deviceStateChangeReason": "non-24x7"}]),
    )
    for location in world.locations:
        if not any(d.has_events and d.location_id == location.id for d in world.devices.values()):
            continue
        for ts, rng in _daily(source, window, "DeviceEvents", location, _rate(source) / 2):
            category, metadata = choices[rng.randrange(len(choices))]
            out.append(
                {
                    "eventDate": _iso(ts),
                    "messageType": "device_state_changed",
                    "category": category,
                    "eventMetadata": [dict(m) for m in metadata],
                }
            )
    out.sort(key=lambda r: str(r["eventDate"]))
    return out


def _map_references(source: Source, window: Window) -> list[JSON]:
    world = source.world
    out: list[JSON] = []
    for device in _devices(world):
        if not (device.is_camera or device.is_intercom):
            continue
        location = _loc(world, device)
        rng = _rng(source, "map", device.id)
        setup = device_setup_time(world, device)
        out.append(
            {
                "eventDate": _iso(setup),
                "deviceLatitude": round(location.latitude + rng.uniform(-0.0002, 0.0002), 5),
                "deviceLongitude": round(location.longitude + rng.uniform(-0.0002, 0.0002), 5),
                "mapRotation": rng.choice((0, 45, 90, 180, 270)),
                "zoom": round(rng.uniform(17.0, 20.0), 5),
                "mapStyle": rng.choice(("satellite", "vector")),
                "expiresAt": _iso(setup + 19 * 365 * DAY_S),
                "horizontalAccuracy": rng.choice((5, 10, 20, 50)),
            }
        )
    return out


_COMMERCIAL = ("Office", "Shop", "Studio")


def _locations(source: Source, window: Window) -> list[JSON]:
    out: list[JSON] = []
    for location in source.world.locations:
        commercial = location.name.startswith(_COMMERCIAL)
        address = location.address
        out.append(
            {
                "locationName": location.name,
                "address": address.get("address1", ""),
                "city": address.get("city", ""),
                "state": address.get("state", ""),
                "zipCode": address.get("zip_code", ""),
                "country": address.get("country", ""),
                "timezone": location.timezone,
                "latitude": location.latitude,
                "longitude": location.longitude,
                "locationType": "Commercial" if commercial else "Residential",
                "locationSubtype": "Office Building" if commercial else "Single Family Home",
            }
        )
    return out


def _authorizations(source: Source, window: Window) -> list[JSON]:
    return [
        {"hasSharedUser": device.family == "authorized_doorbots", "deviceGroup": device.name}
        for device in _devices(source.world)
    ]


def _registry_devices(source: Source, window: Window) -> list[JSON]:
    world = source.world
    out: list[JSON] = []
    for device in _devices(world):
        location = _loc(world, device)
        camera = device.is_camera
        recording = camera and device.show_recordings
        out.append(
            {
                "deviceName": device.name,
                "deviceId": str(device.id),
                "eventDate": _iso(device_setup_time(world, device)),
                "timezone": location.timezone,
                "latitude": location.latitude,
                "longitude": location.longitude,
                "videoStorageEnabled": recording,
                "showVideoEnabled": recording,
                "maxDaysVideoIsStored": max(1, min(180, int(source.retention_days))) if recording else 0,
                "richNotificationsEligible": recording,
                "peopleDetectionEligible": recording,
                "continuousVideoRecordingSubscribed": recording and device.kind.startswith("floodlight"),
                "offlineMotionRecordingSubscribed": recording and bool(device.spec.battery),
            }
        )
    return out


def _groups(source: Source, window: Window) -> list[JSON]:
    world = source.world
    out: list[JSON] = []
    for location in world.locations:
        cameras = [d.name for d in _devices(world) if d.location_id == location.id and d.family in CAMERA_FAMILIES]
        if cameras:
            out.append({"groupName": f"{location.name} Cameras", "devices": cameras})
        for group in world.groups:
            if group.location_id == location.id:
                out.append({"groupName": group.name, "devices": [str(m.get("name")) for m in group.devices]})
    return out


_HISTORY_DEVICE_TYPES = (
    "sensor.motion",
    "sensor.contact",
    "lock",
    "adapter.zwave",
    "adapter.ringnet",
    "security-panel",
    "security-keypad",
)
_HISTORY_IMPULSES = (
    "command.complete",
    "network-stats.update-delta",
    "device-info.update",
    "security-panel.mode-switched",
    "sensor.open",
)


def _history_log(source: Source, window: Window) -> list[JSON]:
    out: list[JSON] = []
    for location in source.world.locations:
        if not _has(source.world, location, "base_stations"):
            continue
        for ts, rng in _daily(source, window, "HistoryLog", location, _rate(source) * 2):
            record: JSON = {
                "locationId": location.id,
                "eventDate": _alarm_date(ts),
                "deviceType": rng.choice(_HISTORY_DEVICE_TYPES),
            }
            if rng.random() < 0.4:
                record["initiatingEntityType"] = "user"
            record["affectedEntityType"] = "device"
            if rng.random() < 0.5:
                record["impulseTypes"] = [rng.choice(_HISTORY_IMPULSES) for _ in range(rng.randint(1, 4))]
            out.append(record)
    out.sort(key=lambda r: str(r["eventDate"]))
    return out


def _smart_lighting_log(source: Source, window: Window) -> list[JSON]:
    out: list[JSON] = []
    kinds = ("switch.transformer.beams", "switch.multilevel.beams", "group.light-group.beams", "motion-sensor.beams")
    impulses = ("light-mode.default", "command.complete", "light-mode.on", "motion-detected")
    for location in source.world.locations:
        if not _has(source.world, location, "beams_bridges"):
            continue
        for ts, rng in _daily(source, window, "SmartLightingHistoryLog", location, _rate(source)):
            record: JSON = {"locationId": location.id, "eventDate": _alarm_date(ts), "deviceType": rng.choice(kinds)}
            if rng.random() < 0.3:
                record["initiatingEntityType"] = "user"
            record["affectedEntityType"] = "device"
            if rng.random() < 0.6:
                record["impulseTypes"] = [rng.choice(impulses) for _ in range(rng.randint(1, 2))]
            out.append(record)
    out.sort(key=lambda r: str(r["eventDate"]))
    return out


def _mac(source: Source, device: Device, offset: int) -> str:
    digest = hashlib.sha256(f"{source.seed}:mac:{device.id}".encode()).digest()
    tail = (int.from_bytes(digest[:3], "big") & 0xFFFFF0) + offset
    return "B0:09:DA:" + ":".join(f"{(tail >> shift) & 0xFF:02X}" for shift in (16, 8, 0))


def _device_information(source: Source, window: Window) -> list[JSON]:
    out: list[JSON] = []
    for device in _devices(source.world):
        if device.family not in ("base_stations", "beams_bridges"):
            continue
        out.append(
            {
                "locationId": device.location_id,
                "deviceType": "Base Station" if device.family == "base_stations" else "Smart Lighting Bridge",
                "ethMac": _mac(source, device, 0),
                "wifiMac24": _mac(source, device, 1),
                "wifiMac5": _mac(source, device, 1),
            }
        )
    return out


def _device_log(source: Source, window: Window) -> list[JSON]:
    world = source.world
    out: list[JSON] = []
    for device in _devices(world):
        if device.family != "base_stations":
            continue
        location = _loc(world, device)
        setup = device_setup_time(world, device)
        if setup in window:
            out.append(
                {
                    "locationId": location.id,
                    "eventDate": _alarm_date(setup),
                    "eventType": "asset-registered",
                    "deviceType": device.kind,
                    "initiatingEntityType": "user",
                }
            )
        for ts, rng in _daily(source, window, "DeviceLog", location, _rate(source) / 2):
            kind = rng.choice(("AssetDisconnected", "AssetConnected", "asset-cell-backup"))
            out.append(
                {"locationId": location.id, "eventDate": _alarm_date(ts), "eventType": kind, "deviceType": device.kind}
            )
            if kind == "AssetDisconnected" and ts + 180 in window:
                out.append(
                    {
                        "locationId": location.id,
                        "eventDate": _alarm_date(ts + 180),
                        "eventType": "AssetConnected",
                        "deviceType": device.kind,
                    }
                )
    out.sort(key=lambda r: str(r["eventDate"]))
    return out


_MODE_ACTIONS = {
    "disarmed": "enableMotionDetection, allowLiveViewLocally, conciergeModeOff",
    "home": "disableMotionDetection, allowLiveViewLocally, conciergeModeOff",
    "away": "enableMotionDetection, blockLiveViewLocally, conciergeModeOn",
}


def _mode_settings(source: Source, window: Window) -> list[JSON]:
    world = source.world
    out: list[JSON] = []
    for device in _devices(world):
        if not device.is_camera:
            continue
        location = _loc(world, device)
        applied = _alarm_date(max(device_setup_time(world, device), location.mode_updated_ms / 1000.0))
        for mode, actions in _MODE_ACTIONS.items():
            out.append(
                {
                    "locationId": location.id,
                    "eventDate": applied,
                    "mode": mode,
                    "deviceId": str(device.id),
                    "deviceIdType": "doorbot",
                    "actions": actions,
                }
            )
    return out


def _mode_sharing(source: Source, window: Window) -> list[JSON]:
    return [
        {
            "locationId": location.id,
            "eventDate": _alarm_date(location.mode_updated_ms / 1000.0),
            "sharedUsersEnabled": any(
                d.family == "authorized_doorbots" for d in source.world.devices.values() if d.location_id == location.id
            ),
        }
        for location in source.world.locations
    ]


_AUDIT = (
    ("External User - Account Out of Service", "receivedNotification"),
    ("Access on Dispatch Window", "signalCreated"),
    ("Full Clear - Contact Notified", "processed"),
    ("Alarm Signal Received", "signalCreated"),
    ("Verified Alarm - Dispatch Requested", "dispatched"),
)


def _audit_log(source: Source, window: Window) -> list[JSON]:
    out: list[JSON] = []
    for location in source.world.locations:
        if not _has(source.world, location, "base_stations"):
            continue
        for ts, rng in _daily(source, window, "AuditLog", location, _rate(source) / 4):
            description, action = rng.choice(_AUDIT)
            record: JSON = {"locationId": location.id, "eventDate": _alarm_date(ts)}
            if rng.random() < 0.7:
                record["currentAccountState"] = "PROFESSIONAL"
            record["eligibleForDispatch"] = rng.random() < 0.8
            record["eventDescription"] = description
            record["eventAction"] = action
            out.append(record)
    out.sort(key=lambda r: str(r["eventDate"]))
    return out


def _hub_data(source: Source, window: Window) -> list[JSON]:
    out: list[JSON] = []
    for location in source.world.locations:
        if not _has(source.world, location, "base_stations"):
            continue
        rng = _rng(source, "hub", location.id)
        components = [
            ("Alarm", "ok", "security-panel", "No Room Assigned"),
            ("Keypad", "ok", "security-keypad", "Hallway"),
            (f"Motion Detector {rng.randint(10000, 99999)}", "ok", "sensor.motion", "Living Room"),
            (f"Contact Sensor {rng.randint(10000, 99999)}", "ok", "sensor.contact", "Front Door"),
            (f"Ring Contact Sensor {rng.randint(10000, 99999)}", "waiting-for-join", "sensor.contact", "Kitchen"),
            ("Range Extender", "ok", "range-extender.zwave", "No Room Assigned"),
            ("bluejay", "error", "comp.bluejay.sensor_bluejay_ws", "No Room Assigned"),
        ]
        for name, status, category, room in components:
            out.append(
                {"locationId": location.id, "deviceName": name, "status": status, "category": category, "room": room}
            )
    return out


# ---------------------------------------------------------------------------------------------------------------------
# the catalogue (field descriptions follow the seed's tables)

_S, _N, _I, _B, _A, _O = "string", "number", "integer", "boolean", "array", "object"
_LOCATION_ID = FieldDoc("locationId", _S, "The Ring location ID.", "2bb9492a-5ed6-475b-a02d-8d2bb036beab")
_DETECTION_ITEMS: JSON = {
    "type": "object",
    "properties": {
        "detectionType": {"type": "string", "description": "The type of detection assigned at a point in time."},
        "eventDate": {"type": "string", "description": "The timestamp at which the detection type was assigned."},
    },
}
_ALERT_ITEMS: JSON = {
    "type": "object",
    "properties": {
        "alertId": {"type": "string", "description": "Identifier of the security alert."},
        "alertName": {"type": "string", "description": "Name of the security alert."},
        "alertStateType": {"type": "string", "description": "State type of the security alert."},
        "eventDate": {"type": "string", "description": "Timestamp of the security alert."},
    },
}
_METADATA_ITEMS: JSON = {
    "type": "object",
    "properties": {
        "deviceState": {"type": "string", "description": "Represents how the device state has changed."},
        "deviceStateChangeReason": {"type": "string", "description": "The reason for changing the device state."},
    },
}

_CATALOGUE: tuple[Dataset, ...] = (
    Dataset(
        "Ring.EventManager.Events",
        "Events recorded by the customer's cameras and doorbells.",
        (
            FieldDoc("duration", _I, "Duration of the event.", 0),
            FieldDoc("eventType", _S, "The type of event.", "on_demand"),
            FieldDoc("eventDate", _S, "The date and time when the event was created.", "2021-07-12T01:06:45Z"),
            FieldDoc("expiresAt", _S, "The expiration time.", "2021-09-10T02:06:45Z"),
            FieldDoc("status", _S, "Status of the event. Finisher or timed out, or still in process.", "timed_out"),
            FieldDoc("endToEndEncryption", _B, "True or false for End-to-end encryption.", False),
            FieldDoc(
                "detections",
                _A,
                "The type of detections assigned at particular points in time during the event.",
                items=_DETECTION_ITEMS,
            ),
            FieldDoc("humanDetected", _B, "Flag to indicate whether a human was detected.", False),
            FieldDoc("detectionType", _S, "The type of detection that was assigned to the event.", "motion"),
            FieldDoc("isFavorited", _B, "Flag to indicate whether the event was favorited by the device owner."),
            FieldDoc("eventCreatedWithAlexa", _B, "Flag to indicate event is created with Alexa"),
            FieldDoc("eventFromSidewalk", _B, "Flag to indicate event is created with sidewalk network"),
            FieldDoc("eventRespondedByAlexa", _B, "Flag to indicate event was responded by alexa"),
            FieldDoc(
                "securityAlerts",
                _A,
                "Json of list of detected security alerts i.e human along with timestamps",
                items=_ALERT_ITEMS,
            ),
            FieldDoc("streamingMode", _S, "Mode of streaming i.e 24x7, non-24-7", "24x7"),
            FieldDoc(
                "reviewedByVirtualSecurityGuard",
                _B,
                "Flag to indicate if event is reviewed by VSG(Virtual Security Guard) agent.",
            ),
            FieldDoc("virtualSecurityGuard", _S, "Video monitoring program name.", "virtual_security_guard"),
            FieldDoc(
                "latitude",
                _N,
                "Latitude of the device location (where the device is mounted or current position of device).",
                77.77,
            ),
            FieldDoc(
                "longitude",
                _N,
                "Longitude of the device location (where the device is mounted or current position of device).",
                77.77,
            ),
            FieldDoc(
                "isInitiatedByEventOwner", _B, "Flag to indicate whether the event was initiated by the device owner."
            ),
        ),
        True,
        _events,
    ),
    Dataset(
        "Ring.EventManager.DeviceEvents",
        "Internal device events (state changes).",
        (
            FieldDoc("eventDate", _S, "The date and time when the event was created.", "2021-07-12T01:06:45Z"),
            FieldDoc(
                "messageType",
                _S,
                "Represents the broad classification of the internal event that occurred.",
                "device_state_changed",
            ),
            FieldDoc(
                "category",
                _S,
                "Identifies the precise message category within the broader message type classification.",
                "device_online",
            ),
            FieldDoc(
                "eventMetadata",
                _A,
                "Contains additional contextual information about the internal event.",
                items=_METADATA_ITEMS,
            ),
        ),
        True,
        _device_events,
    ),
    Dataset(
        "Ring.RGDS.DeviceLocationMapReference",
        "Where each device is placed on the location's map.",
        (
            FieldDoc("eventDate", _S, "This is the point in time the location was created.", "2020-08-31T21:00:42Z"),
            FieldDoc(
                "deviceLatitude",
                _N,
                "Latitude of the device location (where the device is mounted or current position of device).",
                37.18436,
            ),
            FieldDoc(
                "deviceLongitude",
                _N,
                "Longitude of the device location (where the device is mounted or current position of device).",
                -123.79607,
            ),
            FieldDoc(
                "mapRotation",
                _N,
                "If used in a map, bearing rotates the map around its center. A number "
                "between 0 and 360, interpreted as decimal degrees.",
                90,
            ),
            FieldDoc("zoom", _N, "Zoom level; a number between 0 and 20.", 19.08088),
            FieldDoc(
                "mapStyle", _S, "This allows the user to choose between vector/satellite view of the map.", "satellite"
            ),
            FieldDoc(
                "expiresAt",
                _S,
                "Item time to live. It refers to a point in time where the location is going "
                "to be automatically removed.",
                "2039-10-17T00:00:00Z",
            ),
            FieldDoc("horizontalAccuracy", _N, "Accuracy/precision of the geo coordinates fields.", 20),
        ),
        False,
        _map_references,
    ),
    Dataset(
        "Ring.RingDeviceRegistry.Location",
        "The customer's locations.",
        (
            FieldDoc("locationName", _S, "Field provided by the user to label the location", "Home"),
            FieldDoc("address", _S, "First, second lines of address", "144 26th Street"),
            FieldDoc("city", _S, "Field to indicate the city of the location", "Los Angeles"),
            FieldDoc("state", _S, "Field to indicate the state of the location", "CA"),
            FieldDoc("zipCode", _S, "Field to indicate the zipcode of the location", "11111"),
            FieldDoc("country", _S, "Field to indicate the country in which the device is in", "US"),
            FieldDoc("timezone", _S, "Timezone of the location", "America/Los_Angeles"),
            FieldDoc("latitude", _N, "Latitude coordinates", 37.7749),
            FieldDoc("longitude", _N, "Longitude coordinates", -122.4194),
            FieldDoc("locationType", _S, "Determines the type of location", "RESIDENTIAL"),
            FieldDoc("locationSubtype", _S, "Determines the subtype of a location", "multi-unit building"),
        ),
        False,
        _locations,
    ),
    Dataset(
        "Ring.RingDeviceRegistry.Authorization",
        "Whether the customer owns or shares each device.",
        (
            FieldDoc("hasSharedUser", _B, "Field to indicate if the user is the owner or shared user of this device"),
            FieldDoc("deviceGroup", _S, "Name of the device or group chosen by the user", "Living room"),
        ),
        False,
        _authorizations,
    ),
    Dataset(
        "Ring.RingDeviceRegistry.Device",
        "The customer's devices.",
        (
            FieldDoc("deviceName", _S, "Customer created name of device", "My custom device name"),
            FieldDoc("deviceId", _S, "ID that is unique to a device.", "abcde12345"),
            FieldDoc("eventDate", _S, "Timestamp to indicate when the device was setup", "2024-01-01T12:00:00Z"),
            FieldDoc("timezone", _S, "Timezone of the location", "America/Los_Angeles"),
            FieldDoc("latitude", _N, "Latitude coordinates", 40.7128),
            FieldDoc("longitude", _N, "Longitude coordinates", -74.006),
            FieldDoc("videoStorageEnabled", _B, "Indicates if video recording is enabled"),
            FieldDoc("showVideoEnabled", _B, "Indicates if recorded video playback is enabled"),
            FieldDoc("maxDaysVideoIsStored", _I, "Video retention period (in days)", 30),
            FieldDoc(
                "richNotificationsEligible",
                _B,
                "Indicates if customer is eligible for Rich Notifications/Video Preview Alerts",
            ),
            FieldDoc("peopleDetectionEligible", _B, "Indicates if customer is eligible for Person Detection"),
            FieldDoc("continuousVideoRecordingSubscribed", _B, "Indicates if is subscribed to 24x7 video recording"),
            FieldDoc("offlineMotionRecordingSubscribed", _B, "Indicates if is subscribed to offline motion recording"),
        ),
        False,
        _registry_devices,
    ),
    Dataset(
        "Ring.RingDeviceRegistry.Group",
        "Device groups.",
        (
            FieldDoc("groupName", _S, "Customer provided group name", "Living room"),
            FieldDoc(
                "devices", _A, "Name of devices in the device group", ["Living room", "patio"], items={"type": "string"}
            ),
        ),
        False,
        _groups,
    ),
    Dataset(
        "Ring.Alarm.HistoryLog",
        "Ring Alarm history.",
        (
            _LOCATION_ID,
            FieldDoc("eventDate", _S, "The date when the event was generated.", "2018-07-10T01:14:13.00Z"),
            FieldDoc("deviceType", _S, "The type of device.", "sensor.motion"),
            FieldDoc("initiatingEntityType", _S, "The type of initiating entity.", "user"),
            FieldDoc("affectedEntityType", _S, "The type of affected entity.", "device"),
            FieldDoc(
                "impulseTypes",
                _A,
                "The types of Ring Alarm events.",
                ["network-stats.update-delta"],
                items={"type": "string"},
            ),
        ),
        True,
        _history_log,
    ),
    Dataset(
        "Ring.Alarm.SmartLightingHistoryLog",
        "Ring Smart Lighting history.",
        (
            _LOCATION_ID,
            FieldDoc("eventDate", _S, "The date when the event was generated.", "2018-07-10T01:14:13.00Z"),
            FieldDoc("deviceType", _S, "The type of device.", "switch.multilevel.beams"),
            FieldDoc("initiatingEntityType", _S, "The type of initiating entity.", "user"),
            FieldDoc("affectedEntityType", _S, "The type of affected entity.", "device"),
            FieldDoc(
                "impulseTypes",
                _A,
                "The types of Ring Smart Lighting events.",
                ["light-mode.default"],
                items={"type": "string"},
            ),
        ),
        True,
        _smart_lighting_log,
    ),
    Dataset(
        "Ring.Alarm.DeviceInformation",
        "Network addresses of Ring Alarm hubs (keys as in the samples: ethMac, wifiMac24, wifiMac5).",
        (
            FieldDoc("locationId", _S, "The Ring location ID", "2bb9492a-5ed6-475b-a02d-8d2bb036beab"),
            FieldDoc("deviceType", _S, "The type of device.", "Base Station"),
            FieldDoc("ethMac", _S, "The ethernet MAC address.", "B0:09:DA:1E:F1:94"),
            FieldDoc("wifiMac24", _S, "The Wifi (2.4 GHz) MAC address.", "B0:09:DA:1E:F1:95"),
            FieldDoc("wifiMac5", _S, "The Wifi (5 GHz) MAC address.", "B0:09:DA:1E:F1:95"),
        ),
        False,
        _device_information,
    ),
    Dataset(
        "Ring.Alarm.DeviceLog",
        "Ring Alarm base station log.",
        (
            _LOCATION_ID,
            FieldDoc("eventDate", _S, "The date when the event was generated.", "2025-02-18T05:51:53.00Z"),
            FieldDoc("eventType", _S, "The type of the event.", "AssetConnected"),
            FieldDoc("deviceType", _S, "The type of the device.", "base_station_v1"),
            FieldDoc("initiatingEntityType", _S, "The type of initiating entity.", "user"),
        ),
        True,
        _device_log,
    ),
    Dataset(
        "Ring.Alarm.ModeSettingPreference",
        "What each camera does in each Ring Alarm mode.",
        (
            _LOCATION_ID,
            FieldDoc("eventDate", _S, "The date when the setting was applied.", "2025-02-18T05:51:53.00Z"),
            FieldDoc(
                "mode",
                _S,
                "The Ring Alarm Mode (Home, Away, or Disarmed) for which this setting preference is applied.",
                "disarmed",
            ),
            FieldDoc("deviceId", _S, "The device ID.", "6064626"),
            FieldDoc("deviceIdType", _S, "The type of the device ID.", "doorbot"),
            FieldDoc(
                "actions",
                _S,
                "The actions currently set for the mode.",
                "enableMotionDetection, allowLiveViewLocally, conciergeModeOff",
            ),
        ),
        False,
        _mode_settings,
    ),
    Dataset(
        "Ring.Alarm.ModeSharingPreference",
        "Whether shared users may change modes.",
        (
            _LOCATION_ID,
            FieldDoc("eventDate", _S, "The date when the preference was applied.", "2025-02-18T05:51:53.00Z"),
            FieldDoc("sharedUsersEnabled", _B, "Are shared users enabled?", False),
        ),
        False,
        _mode_sharing,
    ),
    Dataset(
        "Ring.Alarm.AuditLog",
        "Ring Alarm professional monitoring audit log.",
        (
            _LOCATION_ID,
            FieldDoc("eventDate", _S, "The date when the event was generated.", "2025-02-18T05:51:53.00Z"),
            FieldDoc("currentAccountState", _S, "The current account state.", "PROFESSIONAL"),
            FieldDoc("eligibleForDispatch", _B, "Is the event eligible for dispatch?", True),
            FieldDoc("eventDescription", _S, "The event description.", "External User - Account Out of Service"),
            FieldDoc("eventAction", _S, "The event action.", "receivedNotification"),
        ),
        True,
        _audit_log,
    ),
    Dataset(
        "Ring.Alarm.HubData",
        "Ring Alarm components and their state.",
        (
            _LOCATION_ID,
            FieldDoc("deviceName", _S, "The name of the device.", "Contact Sensor 55588"),
            FieldDoc("status", _S, "The status of the deivce.", "waiting-for-join"),
            FieldDoc("category", _S, "The category of the device.", "sensor.contact"),
            FieldDoc("room", _S, 'The room of the device (e.g. "Living Room", "Kitchen").', "No Room Assigned"),
        ),
        False,
        _hub_data,
    ),
)

CATALOGUE: dict[str, Dataset] = {d.name: d for d in _CATALOGUE}
assert tuple(CATALOGUE) == DATASETS, "the catalogue follows the seed's order"


def generate(name: str, source: Source, window: Window) -> list[JSON]:
    """The records of data set ``name`` for ``source`` within ``window`` (windowed data sets only)."""
    dataset = CATALOGUE[name]
    with source.world.lock:  # a consistent view while the account changes
        return dataset.generate(source, window)


def apply_changes(name: str, records: list[JSON], changes: list[RecordChange]) -> list[JSON]:
    """``records`` of data set ``name`` with ``changes`` applied in order (new dicts; the input is not modified):
    a record whose fields equal every ``where`` value gets the ``set`` fields (added when it lacks them) and loses
    the ``remove`` ones."""
    relevant = [change for change in changes if change.dataset == name]
    if not relevant:
        return records
    out: list[JSON] = []
    for record in records:
        changed = dict(record)
        for change in relevant:
            if all(changed.get(field) == value for field, value in change.where.items()):
                changed.update(change.set)
                for field in change.remove:
                    changed.pop(field, None)
        out.append(changed)
    return out
