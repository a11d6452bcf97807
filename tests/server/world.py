"""What the simulator holds, for computing the answers the server must give (never hard-coded)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import sim_json


def world(sim: SimServer) -> dict[str, Any]:
    data: dict[str, Any] = sim_json(sim, "GET", "/_sim/world?events=full")
    return data


def zones(data: dict[str, Any]) -> dict[int, ZoneInfo]:
    """Each device's time zone (its location's)."""
    by_location = {loc["id"]: ZoneInfo(loc["timezone"]) for loc in data["locations"]}
    return {device["id"]: by_location[device["location_id"]] for device in data["devices"]}


def doorbell_in(data: dict[str, Any], zone: str) -> dict[str, Any]:
    """An owned doorbell with recordings in time zone ``zone``."""
    tz = {loc["id"]: loc["timezone"] for loc in data["locations"]}
    for device in data["devices"]:
        if device["family"] == "doorbots" and device["show_recordings"] and tz[device["location_id"]] == zone:
            return dict(device)
    raise AssertionError(f"no doorbell with recordings in {zone}")


def created(event: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(event["created_at_ms"] / 1000, UTC)


def events_on(data: dict[str, Any], kind: str, day_of: dict[int, date]) -> dict[str, dict[str, Any]]:
    """Every event of ``kind`` whose device-local day is ``day_of[device id]``, by id (text)."""
    tz = zones(data)
    found: dict[str, dict[str, Any]] = {}
    for device_id, events in data["events"].items():
        device = int(device_id)
        if device not in day_of:
            continue
        for event in events:
            if event["kind"] == kind and created(event).astimezone(tz[device]).date() == day_of[device]:
                found[event["id_str"]] = {**event, "device_id": device}
    return found


def new_event(sim: SimServer, device_id: int, kind: str, at: datetime) -> dict[str, Any]:
    event: dict[str, Any] = sim_json(
        sim, "POST", "/_sim/events", {"device_id": device_id, "kind": kind, "at": at.timestamp()}
    )
    return event
