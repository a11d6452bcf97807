"""What the web UI's devices page shows of each device, read in one statement: the device, its location's name, its
newest event and its newest snapshot.

The newest event and snapshot are correlated subqueries (``ORDER BY ... LIMIT 1`` per device) that each walk an
index (``ix_events_device_id_created_at``, ``ix_media_device_id``) from its end, so the statement costs a few index
probes per device however many events the archive holds — never a scan of ``events``. The newest snapshot is the
snapshot archived last (highest ``media.id``), which is the newest capture: snapshot rounds archive in time order.

The state shown (online, battery, Wi-Fi) comes from the device's stored Ring document (``devices.raw``) as the last
sync saw it; :func:`device_status` reads it with the field names of Ring's ``ring_devices`` entries (reference §10.2,
§10.3: ``alerts.connection``, ``health.connected``, ``battery_life``/``battery_life_2``, ``health.battery_percentage``,
``health.rssi``/``rssi_category``, a chime's ``alerts.rssi``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ringvault.archive.store.models import Device, Event, Location, Media
from ringvault.cloud.models.base import to_float

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = ["DeviceOverview", "DeviceStatus", "device_overview", "device_status"]


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """The state of a device as its Ring document says: ``online`` (None: not said), ``battery`` percent (None:
    wired or not said), ``wired``, ``rssi`` in dBm and ``signal`` (Ring's category: good, poor, ...)."""

    online: bool | None
    battery: int | None
    wired: bool
    rssi: int | None
    signal: str | None


@dataclass(frozen=True, slots=True)
class DeviceOverview:
    id: int
    name: str | None
    family: str
    kind: str | None
    model: str | None
    location_id: str | None
    location_name: str | None
    time_zone: str | None
    last_seen_at: datetime
    status: DeviceStatus
    last_event_id: str | None
    last_event_kind: str | None
    last_event_at: datetime | None
    snapshot_id: int | None
    snapshot_at: datetime | None


def _number(value: Any) -> float | None:
    """A number of a device document (the cloud models' loose reading: numeric strings too; infinities and numbers
    beyond the float range are None), except that a boolean is no number here."""
    return None if isinstance(value, bool) else to_float(value)


def _online(raw: dict[str, Any]) -> bool | None:
    alerts = raw.get("alerts")
    if isinstance(alerts, dict) and isinstance(alerts.get("connection"), str):
        return bool(alerts["connection"] == "online")
    if isinstance(alerts, list) and any(  # base stations: an array of alerts (reference §10.4)
        isinstance(a, dict) and a.get("type") == "connection" and a.get("state") == "offline" for a in alerts
    ):
        return False
    health = raw.get("health")
    if isinstance(health, dict) and isinstance(health.get("connected"), bool):
        return bool(health["connected"])
    return None


def _battery(raw: dict[str, Any]) -> int | None:
    """The battery percent: ``health.battery_percentage`` when present, else the lower of ``battery_life`` and
    ``battery_life_2`` (as ring-client-api reports it), capped at 100 (old doorbells report values like 4081)."""
    health = raw.get("health")
    candidates: list[float] = []
    if isinstance(health, dict):
        value = _number(health.get("battery_percentage"))
        if value is not None:
            candidates = [value]
    if not candidates:
        both = (_number(raw.get("battery_life")), _number(raw.get("battery_life_2")))
        candidates = [v for v in both if v is not None]
    if not candidates:
        return None
    return max(0, min(100, round(min(candidates))))


def device_status(raw: dict[str, Any] | None) -> DeviceStatus:
    """What a stored Ring device document says of the device's state (see the module docstring)."""
    if not isinstance(raw, dict):
        return DeviceStatus(online=None, battery=None, wired=False, rssi=None, signal=None)
    health = raw.get("health") if isinstance(raw.get("health"), dict) else {}
    assert isinstance(health, dict)
    rssi = _number(health.get("rssi"))
    signal = health.get("rssi_category")
    alerts = raw.get("alerts")
    if not isinstance(signal, str) and isinstance(alerts, dict) and isinstance(alerts.get("rssi"), str):
        signal = alerts["rssi"]  # chimes say only the category
    battery = _battery(raw)
    wired = battery is None and ("battery_life" in raw or health.get("ac_power") == 1)
    return DeviceStatus(
        online=_online(raw),
        battery=battery,
        wired=wired,
        rssi=round(rssi) if rssi is not None and -200 < rssi < 50 else None,
        signal=signal if isinstance(signal, str) and len(signal) <= 40 else None,
    )


def device_overview(store: ArchiveStore) -> list[DeviceOverview]:
    """Every device with its location's name, newest event and newest snapshot, by location, name and id."""
    newest_event = (
        select(Event.id)
        .where(Event.device_id == Device.id)
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(1)
        .correlate(Device)
        .scalar_subquery()
    )
    newest_snapshot = (
        select(Media.id)
        .where(Media.device_id == Device.id, Media.kind == "snapshot")
        .order_by(Media.id.desc())
        .limit(1)
        .correlate(Device)
        .scalar_subquery()
    )
    event = aliased(Event)
    snapshot = aliased(Media)
    query = (
        select(
            Device.id, Device.name, Device.family, Device.kind, Device.model, Device.location_id, Device.raw,
            Device.last_seen_at, Location.name, Location.time_zone, event.id, event.kind, event.created_at,
            snapshot.id, snapshot.captured_at, snapshot.downloaded_at,
        )
        .outerjoin(Location, Location.id == Device.location_id)
        .outerjoin(event, event.id == newest_event)
        .outerjoin(snapshot, snapshot.id == newest_snapshot)
        .order_by(Location.name, Device.name, Device.id)
    )  # fmt: skip
    with store._reading() as conn:
        rows = conn.execute(query).all()
    return [_overview(row) for row in rows]


def _overview(row: Any) -> DeviceOverview:
    raw = row[6] if isinstance(row[6], dict) else None
    zone = raw.get("time_zone") if raw else None
    return DeviceOverview(
        id=row[0], name=row[1], family=row[2], kind=row[3], model=row[4], location_id=row[5],
        location_name=row[8], time_zone=zone if isinstance(zone, str) else row[9], last_seen_at=row[7],
        status=device_status(raw), last_event_id=row[10], last_event_kind=row[11], last_event_at=row[12],
        snapshot_id=row[13], snapshot_at=row[14] or row[15],
    )  # fmt: skip
