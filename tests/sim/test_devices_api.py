"""``devices/v1``, ``commands/v1``, ``groups/v1`` and the app API (both hosts) over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.helpers import APP_API, DEVICES, LEGACY_APP_API, entry, first, login, put_json, world


@pytest.fixture
def ring(sim: SimServer) -> Iterator[httpx.Client]:
    client = login(sim)
    yield client
    client.close()


def test_token_required_but_no_session(sim: SimServer) -> None:
    assert httpx.get(f"{sim.url}{DEVICES}/locations").status_code == 401
    client = login(sim, "devices-no-session", session=False)  # Ring checks sessions on clients_api only
    assert client.get(f"{DEVICES}/locations").status_code == 200
    client.close()


def test_locations(ring: httpx.Client) -> None:
    locations = ring.get(f"{DEVICES}/locations").json()["user_locations"]
    assert len(locations) == 2
    assert [loc["location_id"] for loc in locations] == [loc["location_id"] for loc in world(ring)["locations"]]
    for loc in locations:
        assert {"name", "owner_id", "geo_coordinates", "address", "created_at"} <= set(loc)
        assert loc["address"]["timezone"]


def test_settings_get_and_deep_merge_patch(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    doc = ring.get(f"{DEVICES}/devices/{camera}/settings").json()
    assert {"motion_settings", "video_settings", "volume_settings", "general_settings", "snapshot_settings"} <= set(doc)
    patched = ring.patch(f"{DEVICES}/devices/{camera}/settings", json={"video_settings": {"clip_length_max": 30}})
    assert patched.status_code == 200
    merged = patched.json()
    assert merged["video_settings"]["clip_length_max"] == 30
    assert merged["video_settings"]["clip_length_min"] == doc["video_settings"]["clip_length_min"]
    assert merged["motion_settings"] == doc["motion_settings"]
    assert ring.get(f"{DEVICES}/devices/{camera}/settings").json() == merged

    chime = first(ring, kind="chime_pro_v2")["id"]
    night = {"night_light_settings": {"light_sensor_enabled": True}}
    assert ring.patch(f"{DEVICES}/devices/{chime}/settings", json=night).status_code == 200
    assert entry(ring, chime)["settings"]["night_light_settings"]["light_sensor_enabled"] is True
    bridge = first(ring, family="beams_bridges")["id"]
    assert ring.get(f"{DEVICES}/devices/{bridge}/settings").status_code == 404
    assert ring.get(f"{DEVICES}/devices/999999999/settings").status_code == 404


def test_intercom_settings_and_unlock(ring: httpx.Client, sim: SimServer) -> None:
    intercom = first(ring, kind="intercom_handset_audio")["id"]
    doc = ring.get(f"{DEVICES}/devices/{intercom}/settings").json()
    assert isinstance(doc["intercom_settings"]["config"], str)
    body = {
        "command_name": "device_rpc",
        "request": {
            "jsonrpc": "2.0",
            "method": "unlock_door",
            "params": {"door_id": 0, "user_id": -1},
            "id": "4f7c1f3e-9a0b-4c8e-8d55-0a1b2c3d4e5f",
        },
    }
    url = f"/api.ring.com/commands/v1/devices/{intercom}/device_rpc"
    assert ring.put(url, json=body, headers={"Content-Type": "text/plain"}).status_code == 422
    answer = put_json(ring, url, body)
    assert answer.json() == {"result": {"code": 0}, "id": "4f7c1f3e-9a0b-4c8e-8d55-0a1b2c3d4e5f", "jsonrpc": "2.0"}
    assert len(sim.state.world.device(intercom).unlocks) == 1
    camera = first(ring, kind="floodlight_v2")["id"]
    assert put_json(ring, f"/api.ring.com/commands/v1/devices/{camera}/device_rpc", body).status_code == 404


def test_light_groups(ring: httpx.Client) -> None:
    home = world(ring)["locations"][0]["location_id"]
    groups = ring.get(f"/api.ring.com/groups/v1/locations/{home}/groups").json()["device_groups"]
    assert len(groups) == 1 and groups[0]["devices"][0]["type"] == "beams_ct200_transformer"
    group_url = f"/api.ring.com/groups/v1/locations/{home}/groups/{groups[0]['device_group_id']}/devices"
    assert ring.get(group_url).json()["lights_on"] is False
    assert ring.post(group_url, json={"lights_on": {"enabled": True, "duration_seconds": 60}}).status_code == 200
    state = ring.get(group_url).json()
    assert state["lights_on"] is True and all(d["lights_on"] for d in state["devices"])
    assert ring.post("/_sim/clock", json={"advance_s": 61}).status_code == 200
    assert ring.get(group_url).json()["lights_on"] is False
    other = world(ring)["locations"][1]["location_id"]
    assert ring.get(f"/api.ring.com/groups/v1/locations/{other}/groups").json() == {"device_groups": []}


@pytest.mark.parametrize("base", [APP_API, LEGACY_APP_API])
def test_modes_on_both_hosts(ring: httpx.Client, base: str) -> None:
    location = world(ring)["locations"][1]["location_id"]
    mode = ring.get(f"{base}/mode/location/{location}").json()
    assert mode["mode"] == "home" and mode["readOnly"] is False and isinstance(mode["lastUpdateTimeMS"], int)
    changed = ring.post(f"{base}/mode/location/{location}", json={"mode": "away"}).json()
    assert changed["mode"] == "away"
    assert ring.get(f"{APP_API}/mode/location/{location}").json()["mode"] == "away"
    assert ring.post(f"{base}/mode/location/{location}", json={"mode": "party"}).status_code == 400
    assert ring.get(f"{base}/mode/location/not-a-location").status_code == 404


def test_clap_tickets(ring: httpx.Client, sim: SimServer) -> None:
    home = world(ring)["locations"][0]["location_id"]
    answer = ring.get(
        f"{APP_API}/clap/tickets",
        params={"locationID": home, "enableExtendedEmergencyCellUsage": "true", "requestedTransport": "ws"},
    ).json()
    assert {a["kind"] for a in answer["assets"]} == {"base_station_v1", "beams_bridge_v1"}
    assert all(a["uuid"] and a["status"] == "online" for a in answer["assets"])
    assert answer["host"] and answer["subscriptionTopics"] == []
    ticket = answer["ticket"]
    assert sim.state.world.consume_ticket(ticket) is not None
    assert sim.state.world.consume_ticket(ticket) is None, "tickets are single-use"
    second = ring.get(f"{APP_API}/clap/tickets", params={"locationID": home}).json()["ticket"]
    assert second != ticket


def test_signalsocket_ticket_and_live_view_blocked(ring: httpx.Client) -> None:
    for base in (APP_API, LEGACY_APP_API):
        answer = ring.post(f"{base}/clap/ticket/request/signalsocket")
        assert answer.status_code == 200 and answer.json()["ticket"]
    camera = first(ring, kind="floodlight_v2")["id"]
    assert ring.patch(f"/_sim/devices/{camera}", json={"live_view_disabled": True}).status_code == 200
    assert entry(ring, camera)["settings"]["live_view_disabled"] is True
    assert ring.post(f"{APP_API}/clap/ticket/request/signalsocket").status_code == 403
