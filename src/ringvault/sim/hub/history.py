"""``rs/history``: every hub state change of a location, newest first, plus seeded past history.

An item is the live ``DataUpdate`` message the sockets got (reference §4.9, §5.6; the brief's facts from ring-mqtt):
``{"msg":"DataUpdate","datatype":"DeviceInfoDocType","src","body":[partial doc with impulse],"context":{...}}``.
``context.eventOccurredTsMs`` and ``initiatingEntity{Type,Id,Name}`` are read by ring-mqtt; ``eventId``,
``affectedEntityId``, ``affectedEntityName``, ``accountId``, ``assetId`` and ``level`` are [sim]. ``maxLevel`` keeps
items whose ``level`` is at most it; the levels below are [sim].
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from ringvault.sim.hub.model import HubLocation

JSON = dict[str, Any]

LEVEL_ALARM = 10
LEVEL_MODE = 20
LEVEL_SENSOR = 30
LEVEL_SETTING = 40
LEVEL_TIMER = 50

#: [sim] rs/history answers at most this many items per page.
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
DEFAULT_MAX_LEVEL = 50


@dataclass(frozen=True)
class Actor:
    """Who caused a change (``context.initiatingEntity*``)."""

    type: str
    id: str
    name: str


@dataclass
class _Entry:
    at_ms: int
    category: str
    level: int
    affected: str
    item: JSON


def make_context(
    *,
    at_ms: int,
    actor: Actor,
    location_id: str,
    asset_uuid: str,
    zid: str,
    name: str,
    level: int,
    event_id: str,
) -> JSON:
    return {
        "eventOccurredTsMs": at_ms,
        "initiatingEntityType": actor.type,
        "initiatingEntityId": actor.id,
        "initiatingEntityName": actor.name,
        "eventId": event_id,
        "affectedEntityId": zid,
        "affectedEntityName": name,
        "accountId": location_id,
        "assetId": asset_uuid,
        "level": level,
    }


class HistoryStore:
    """Thread-safe; items are kept oldest first and answered newest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, list[_Entry]] = {}

    def add(self, location_id: str, *, category: str, level: int, affected: str, item: JSON) -> None:
        at_ms = int(item.get("context", {}).get("eventOccurredTsMs", 0))
        entry = _Entry(at_ms, category, level, affected, copy.deepcopy(item))
        with self._lock:
            items = self._items.setdefault(location_id, [])
            items.append(entry)
            if len(items) > 1 and items[-2].at_ms > at_ms:  # keep time order (seeded items come first anyway)
                items.sort(key=lambda e: e.at_ms)

    def query(
        self,
        location_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        category: str | None = None,
        max_level: int = DEFAULT_MAX_LEVEL,
        affected_id: str | None = None,
    ) -> list[JSON]:
        with self._lock:
            items = list(self._items.get(location_id, ()))
        picked = [
            e
            for e in reversed(items)
            if (category is None or e.category == category)
            and e.level <= max_level
            and (affected_id is None or e.affected == affected_id)
        ]
        return [copy.deepcopy(e.item) for e in picked[offset : offset + limit]]

    def count(self, location_id: str) -> int:
        with self._lock:
            return len(self._items.get(location_id, ()))


def seed_history(store: HistoryStore, hub: HubLocation, *, seed: int, start_s: float, days: float, user: Actor) -> None:
    """Past history over ``days`` before ``start_s``: a disarm each morning with the front door opened and closed,
    an arm-home each night, the backyard lights' motion in the evening; ends disarmed (the panel's seeded mode)."""
    rng = random.Random(f"ringvault-sim-hub-history:{seed}:{hub.location_id}")
    panel = hub.devices.get(hub.panel_zid or "")
    contacts = hub.by_type("sensor.contact")
    beams_motion = hub.by_type("motion-sensor.beams")
    lights = hub.by_type("switch.multilevel.beams")
    whole_days = max(0, int(days) - 1)
    first_day = start_s - whole_days * 86400.0

    def add(at_s: float, device: Any, v1: JSON, impulses: tuple[str, ...], level: int, actor: Actor) -> None:
        asset = hub.assets[device.asset_uuid]
        at_ms = int(at_s * 1000)
        doc: JSON = {"general": {"v2": {"zid": device.zid}}, "device": {"v1": v1}}
        if impulses:
            doc["impulse"] = {"v1": [{"impulseType": t, "data": {}} for t in impulses]}
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        ctx = make_context(at_ms=at_ms, actor=actor, location_id=hub.location_id, asset_uuid=asset.uuid,
                           zid=device.zid, name=device.name, level=level, event_id=event_id)  # fmt: skip
        item = {"msg": "DataUpdate", "datatype": "DeviceInfoDocType", "src": asset.uuid, "body": [doc], "context": ctx}
        store.add(hub.location_id, category=asset.category, level=level, affected=device.zid, item=item)

    for day in range(whole_days):
        midnight = first_day + day * 86400.0 - (first_day % 86400.0)
        morning = midnight + 7 * 3600 + rng.randint(0, 3600)
        if morning >= start_s:
            break
        if panel is not None:
            add(morning, panel, {"mode": "none"}, ("security-panel.mode-switched.none",), LEVEL_MODE, user)
        if contacts:
            device = contacts[0]
            sensor = Actor("device", device.zid, device.name)
            add(morning + 60, device, {"faulted": True}, (), LEVEL_SENSOR, sensor)
            add(morning + 75, device, {"faulted": False}, (), LEVEL_SENSOR, sensor)
        evening = midnight + 20 * 3600 + rng.randint(0, 3600)
        if beams_motion and evening < start_s:
            device = beams_motion[0]
            sensor = Actor("device", device.zid, device.name)
            add(evening, device, {"motionStatus": "faulted"}, (), LEVEL_SENSOR, sensor)
            for light in lights:
                add(evening + 1, light, {"on": True}, (), LEVEL_SETTING, sensor)
                add(evening + 61, light, {"on": False}, (), LEVEL_SETTING, sensor)
            add(evening + 30, device, {"motionStatus": "clear"}, (), LEVEL_SENSOR, sensor)
        night = midnight + 22 * 3600 + rng.randint(0, 3600)
        if panel is not None and night < start_s - 3600:
            add(night, panel, {"mode": "some"}, ("security-panel.mode-switched.some",), LEVEL_MODE, user)
    if panel is not None:
        add(start_s - 1800, panel, {"mode": "none"}, ("security-panel.mode-switched.none",), LEVEL_MODE, user)
