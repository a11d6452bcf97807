"""The records behind the files: all 15 data sets in their documented shapes, consistent with the simulated
account, limited to the consented window, deterministic, and per customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from ringvault.sim.portability.config import DATASETS
from ringvault.sim.server import SimServer
from tests.sim.portability.helpers import advance, all_files, completed_query, login, patch_dp

SAMPLE_KEYS = {  # the keys of the seed's sample records (optional keys of the alarm logs left out)
    "Ring.EventManager.Events": {
        "duration",
        "eventType",
        "eventDate",
        "expiresAt",
        "status",
        "endToEndEncryption",
        "detections",
        "humanDetected",
        "detectionType",
        "isFavorited",
        "eventCreatedWithAlexa",
        "eventFromSidewalk",
        "eventRespondedByAlexa",
        "securityAlerts",
        "streamingMode",
        "reviewedByVirtualSecurityGuard",
        "virtualSecurityGuard",
        "latitude",
        "longitude",
        "isInitiatedByEventOwner",
    },
    "Ring.EventManager.DeviceEvents": {"eventDate", "messageType", "category", "eventMetadata"},
    "Ring.RGDS.DeviceLocationMapReference": {
        "eventDate",
        "deviceLatitude",
        "deviceLongitude",
        "mapRotation",
        "zoom",
        "mapStyle",
        "expiresAt",
        "horizontalAccuracy",
    },
    "Ring.RingDeviceRegistry.Location": {
        "locationName",
        "address",
        "city",
        "state",
        "zipCode",
        "country",
        "timezone",
        "latitude",
        "longitude",
        "locationType",
        "locationSubtype",
    },
    "Ring.RingDeviceRegistry.Authorization": {"hasSharedUser", "deviceGroup"},
    "Ring.RingDeviceRegistry.Device": {
        "deviceName",
        "deviceId",
        "eventDate",
        "timezone",
        "latitude",
        "longitude",
        "videoStorageEnabled",
        "showVideoEnabled",
        "maxDaysVideoIsStored",
        "richNotificationsEligible",
        "peopleDetectionEligible",
        "continuousVideoRecordingSubscribed",
        "offlineMotionRecordingSubscribed",
    },
    "Ring.RingDeviceRegistry.Group": {"groupName", "devices"},
    "Ring.Alarm.HistoryLog": {"locationId", "eventDate", "deviceType", "affectedEntityType"},
    "Ring.Alarm.SmartLightingHistoryLog": {"locationId", "eventDate", "deviceType", "affectedEntityType"},
    "Ring.Alarm.DeviceInformation": {"locationId", "deviceType", "ethMac", "wifiMac24", "wifiMac5"},
    "Ring.Alarm.DeviceLog": {"locationId", "eventDate", "eventType", "deviceType"},
    "Ring.Alarm.ModeSettingPreference": {"locationId", "eventDate", "mode", "deviceId", "deviceIdType", "actions"},
    "Ring.Alarm.ModeSharingPreference": {"locationId", "eventDate", "sharedUsersEnabled"},
    "Ring.Alarm.AuditLog": {"locationId", "eventDate", "eligibleForDispatch", "eventDescription", "eventAction"},
    "Ring.Alarm.HubData": {"locationId", "deviceName", "status", "category", "room"},
}
OPTIONAL = {"initiatingEntityType", "impulseTypes", "currentAccountState"}


def download(client: httpx.Client, tokens: dict[str, Any], query_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every record of a query, by data set (the folder of its object key: ``{query}/{data set}/part-N.json``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in all_files(client, tokens, query_id):
        name = entry["file"].split("?")[0].split("/")[-2]
        out.setdefault(name, []).extend(client.get(entry["file"]).json())
    return out


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_all_15_data_sets_in_their_documented_shapes(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    data = download(client, tokens, completed_query(client, tokens))
    assert list(data) == list(DATASETS)
    for name, items in data.items():
        assert items, f"{name} is empty"
        for record in items:
            assert SAMPLE_KEYS[name] <= set(record) <= SAMPLE_KEYS[name] | OPTIONAL, (name, record)
    info = data["Ring.Alarm.DeviceInformation"][0]
    assert "ethMac" in info and "ethmac" not in info  # the samples' casing, not the field table's


def test_records_match_the_simulated_account(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    data = download(client, tokens, completed_query(client, tokens))
    world = client.get("/_sim/world", params={"events": "full"}).json()
    devices = {str(d["id"]): d for d in world["devices"]}
    registry = data["Ring.RingDeviceRegistry.Device"]
    assert {r["deviceId"]: r["deviceName"] for r in registry} == {k: d["name"] for k, d in devices.items()}
    locations = {loc["id"] for loc in world["locations"]}
    assert {r["locationName"] for r in data["Ring.RingDeviceRegistry.Location"]} == {
        loc["name"] for loc in world["locations"]
    }
    for name in ("Ring.Alarm.HistoryLog", "Ring.Alarm.HubData", "Ring.Alarm.ModeSharingPreference"):
        assert {r["locationId"] for r in data[name]} <= locations
    modes = data["Ring.Alarm.ModeSettingPreference"]
    assert {r["deviceId"] for r in modes} <= set(devices) and {r["mode"] for r in modes} == {"home", "away", "disarmed"}
    events = [e for items in world["events"].values() for e in items]
    assert sorted(_ts(r["eventDate"]) for r in data["Ring.EventManager.Events"]) == sorted(
        e["created_at_ms"] // 1000 for e in events
    )


@pytest.mark.parametrize("sim_config", [{"history_days": 60.0, "retention_days": 90.0}], indirect=True)
def test_event_like_data_sets_are_limited_to_the_consented_window(sim: SimServer, client: httpx.Client) -> None:
    year = login(client, sim, history="1y")
    year_query = completed_query(client, year)
    whole = download(client, year, year_query)
    year_query_state = sim.state.portability.query_by_id(year_query)
    assert year_query_state is not None
    year_end = year_query_state.window.end  # the first query's window ends when it was created
    advance(client, 1)
    week = login(client, sim, history="5d")
    recent = download(client, week, completed_query(client, week))
    now = sim.state.clock.now()
    for name in (
        "Ring.EventManager.Events",
        "Ring.Alarm.HistoryLog",
        "Ring.Alarm.AuditLog",
        "Ring.EventManager.DeviceEvents",
    ):
        assert 0 < len(recent[name]) < len(whole[name]), name
        assert all(_ts(r["eventDate"].replace(".00Z", "Z")) >= now - 5 * 86400 - 200 for r in recent[name])
        # overlapping windows give the very same records for the overlap (the simulated clock runs on in real
        # time between the two queries, so the later one may also hold records of the seconds in between)
        overlap = [r for r in recent[name] if _ts(r["eventDate"].replace(".00Z", "Z")) <= year_end]
        assert overlap and all(r in whole[name] for r in overlap), name
    assert recent["Ring.RingDeviceRegistry.Device"] == whole["Ring.RingDeviceRegistry.Device"]  # registry: complete


def test_the_log_volume_knob(sim: SimServer, client: httpx.Client) -> None:
    patch_dp(client, log_records_per_day=0)
    tokens = login(client, sim)
    data = download(client, tokens, completed_query(client, tokens))
    assert data["Ring.Alarm.HistoryLog"] == [] and data["Ring.Alarm.AuditLog"] == []
    assert data["Ring.EventManager.Events"]  # events come from the world, not from the knob


def test_every_customer_has_a_world_of_its_own(sim: SimServer, client: httpx.Client) -> None:
    created = client.post("/_sim/portability/customers", json={"count": 100})
    assert created.status_code == 201 and len(created.json()["customers"]) == 100
    customers = client.get("/_sim/portability/customers").json()["customers"]
    assert len(customers) == 101 and len({c["id"] for c in customers}) == 101
    names: list[set[str]] = []
    for customer in (customers[0], customers[37], customers[100]):
        tokens = login(client, sim, email=customer["email"], password=customer["password"])
        data = download(client, tokens, completed_query(client, tokens))
        names.append({r["deviceId"] for r in data["Ring.RingDeviceRegistry.Device"]})
        advance(client, 1)
    assert names[0].isdisjoint(names[1]) and names[1].isdisjoint(names[2])
