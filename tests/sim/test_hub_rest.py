"""REST around the hubs against the real simulator: rs/history (every socket change lands there; paging, category,
maxLevel, affectedId), monitoring and userAlarm, mode settings and sharing, periodic footage, Amazon Key lock
associations, and Ring's 404 body for paths nothing serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.helpers import APP_API, LEGACY_APP_API, login
from tests.sim.hub_helpers import HubClient, by_type, hub_location, ticket, v1_of

BASE = "base_station_v1"


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    sync_client = login(sim)
    headers = dict(sync_client.headers)
    sync_client.close()
    async with httpx.AsyncClient(base_url=sim.url, headers=headers, timeout=30) as client:
        yield client


async def _history(ring: httpx.AsyncClient, location: str, **params: Any) -> list[dict[str, Any]]:
    answer = await ring.get(f"{APP_API}/rs/history", params={"accountId": location, **params})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()
    return items


def _zid(item: dict[str, Any]) -> str:
    return str(item["body"][0]["general"]["v2"]["zid"])


async def test_seeded_history_shape_and_order(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    items = await _history(ring, location, limit=100)
    assert len(items) == 100  # a month of seeded history is longer than one page
    assert len(await _history(ring, location)) == 50  # default limit
    times = [i["context"]["eventOccurredTsMs"] for i in items]
    assert times == sorted(times, reverse=True), "newest first"
    for item in items:
        assert item["msg"] == "DataUpdate" and item["datatype"] == "DeviceInfoDocType"
        assert set(item["context"]) >= {"eventOccurredTsMs", "initiatingEntityType", "initiatingEntityId",
                                        "initiatingEntityName", "eventId", "affectedEntityId"}  # fmt: skip
        assert _zid(item) == item["context"]["affectedEntityId"]
    oldest = (await _history(ring, location, limit=1, offset=10_000)) or None
    assert oldest is None
    # spread over history_days before start-up
    everything: list[dict[str, Any]] = []
    offset = 0
    while page := await _history(ring, location, limit=100, offset=offset):
        everything.extend(page)
        offset += len(page)
    span_days = (
        everything[0]["context"]["eventOccurredTsMs"] - everything[-1]["context"]["eventOccurredTsMs"]
    ) / 86.4e6
    assert span_days > sim.config.history_days - 3
    assert len({i["context"]["eventId"] for i in everything}) == len(everything)


async def test_paging_category_level_and_affected_id(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    first = await _history(ring, location, limit=10)
    second = await _history(ring, location, limit=10, offset=10)
    both = await _history(ring, location, limit=20)
    assert first + second == both
    alarm = await _history(ring, location, category="alarm", limit=100)
    beams = await _history(ring, location, category="beams", limit=100)
    assets = {a["kind"]: a["uuid"] for a in (await ticket(ring, location))["assets"]}
    assert alarm and all(i["context"]["assetId"] == assets[BASE] for i in alarm)
    assert beams and all(i["context"]["assetId"] == assets["beams_bridge_v1"] for i in beams)
    panel = sim.state.hub.locations[location].panel_zid
    mine = await _history(ring, location, affectedId=panel, limit=100)
    assert mine and all(_zid(i) == panel for i in mine)
    kinds = {i["body"][0]["impulse"]["v1"][0]["impulseType"] for i in mine}
    assert kinds == {"security-panel.mode-switched.none", "security-panel.mode-switched.some"}
    assert all(i["context"]["level"] <= 20 for i in await _history(ring, location, maxLevel=20, limit=100))
    assert await _history(ring, location, maxLevel=0) == []
    for bad in ({"category": "cameras"}, {"limit": "many"}, {"offset": -1}):
        answer = await ring.get(f"{APP_API}/rs/history", params={"accountId": location, **bad})
        assert answer.status_code == 400
    assert (await ring.get(f"{APP_API}/rs/history", params={"accountId": "nowhere"})).status_code == 404
    other = next(loc.id for loc in sim.state.world.locations if loc.id != location)
    assert await _history(ring, other) == []  # a location without hubs has no hub history
    legacy = await ring.get(f"{LEGACY_APP_API}/rs/history", params={"accountId": location, "limit": 10})
    assert legacy.json() == first


async def test_every_socket_change_lands_in_history(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await HubClient.open(sim, ring, location)
    try:
        devices = await hub.all_devices()
        panel = by_type(devices, "security-panel")[0]["zid"]
        base = by_type(devices, "hub.redsky")[0]["zid"]
        door = by_type(devices, "sensor.contact")[0]["zid"]
        light = by_type(devices, "switch.multilevel.beams")[0]["zid"]
        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "some"})
        live_arm = await hub.update_of(panel)
        await hub.set_fields(hub.asset(BASE), base, {"volume": 0.1})
        await hub.update_of(base)
        await ring.post(f"/_sim/hub/{location}/devices/{door}/fault", json={"faulted": True})
        await hub.update_of(door)
        await hub.command(hub.asset("beams_bridge_v1"), light, "light-mode.set", {"lightMode": "on"})
        await hub.update_of(light)
        await hub.set_fields(hub.asset(BASE), base, {"volume": 7})  # refused: not a change, not in history
        assert v1_of(await hub.update_of(base))["volume"] == 0.1
    finally:
        await hub.close()
    recent = await _history(ring, location, limit=5)
    zids = [_zid(i) for i in recent]
    # newest first: light, panel (entry delay from the door), door, base volume, then the arm
    assert zids[:5] == [light, panel, door, base, panel]
    assert recent[4] == live_arm["msg"]  # the history item is the live message
    assert recent[3]["body"][0]["device"]["v1"] == {"volume": 0.1}
    assert (await _history(ring, location, category="beams", limit=1))[0]["body"][0]["device"]["v1"] == {"on": True}


# ---------------------------------------------------------------------------------------------------- monitoring


async def test_monitoring_and_user_alarm(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    status = (await ring.get(f"{APP_API}/rs/monitoring/accounts/{location}")).json()
    assert status["externalServiceConfigType"] == "rrms" and status["accountState"] == "PROFESSIONAL"
    assert status["alarmSignalSent"] is False and isinstance(status["installationDate"], int)
    assets = {a["kind"]: a["uuid"] for a in (await ticket(ring, location))["assets"]}
    body = {"alarmSessionUuid": "9b2f0c56-6f7e-4f0a-9f7e-1d2c3b4a5f60", "currentTsMs": 1, "eventOccurredTime": 1,
            "signalType": "user-verified-burglar-xa"}  # fmt: skip
    url = f"{APP_API}/rs/monitoring/accounts/{location}/assets"
    answer = await ring.post(f"{url}/{assets[BASE]}/userAlarm", json=body)
    assert answer.status_code == 200 and answer.json()["alarmSignalSent"] is True
    panel = sim.state.hub.locations[location].panel_zid
    latest = (await _history(ring, location, affectedId=panel, limit=1))[0]
    assert latest["body"][0]["device"]["v1"]["alarmInfo"]["state"] == "user-verified-burglar-alarm"
    # the asset must be the base station
    wrong = await ring.post(f"{url}/{assets['beams_bridge_v1']}/userAlarm", json=body)
    assert wrong.status_code == 404 and wrong.json() == {"errors": [7050]}
    bad = await ring.post(f"{url}/{assets[BASE]}/userAlarm", json={**body, "signalType": "prank"})
    assert bad.status_code == 400
    other = next(loc.id for loc in sim.state.world.locations if loc.id != location)
    assert (await ring.get(f"{APP_API}/rs/monitoring/accounts/{other}")).json() == {"errors": [7050]}


# ---------------------------------------------------------------------------------------------------- modes


async def test_mode_settings_and_sharing(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = next(loc.id for loc in sim.state.world.locations if loc.id != hub_location(sim))
    base = f"{APP_API}/mode/location/{location}"
    settings = (await ring.get(f"{base}/settings")).json()
    assert set(settings) == {"disarmed", "home", "away", "lastUpdateTimeMS"}
    camera = settings["away"][0]["deviceId"]
    actions = ["disableMotionDetection", "blockLiveViewLocally"]
    new = {"disarmed": [], "home": [], "away": [{"deviceId": camera, "deviceIdType": "doorbot", "actions": actions}]}
    stored = (await ring.post(f"{base}/settings", json=new)).json()
    assert stored["away"] == new["away"] and stored["lastUpdateTimeMS"] > 0
    assert (await ring.get(f"{base}/settings")).json() == stored
    # the away actions apply when the mode becomes away
    assert (await ring.post(base, json={"mode": "away"})).json()["mode"] == "away"
    device = sim.state.world.device(int(camera))
    assert device.motion_detection_enabled is False and device.live_view_disabled is True
    bad = {"away": [{"deviceId": camera, "actions": ["explode"]}]}
    assert (await ring.post(f"{base}/settings", json=bad)).status_code == 400

    assert (await ring.delete(f"{base}/settings")).status_code == 204
    assert (await ring.get(base)).json()["mode"] == "disabled"
    assert (await ring.post(f"{base}/settings/setup")).status_code == 200
    assert (await ring.get(base)).json()["mode"] == "disarmed"

    sharing = (await ring.get(f"{base}/sharing")).json()
    assert set(sharing) == {"sharedUsersEnabled", "lastUpdateTimeMS"}
    changed = (await ring.post(f"{base}/sharing", json={"sharedUsersEnabled": False})).json()
    assert changed["sharedUsersEnabled"] is False
    assert (await ring.get(f"{LEGACY_APP_API}/mode/location/{location}/sharing")).json() == changed
    assert (await ring.post(f"{base}/sharing", json={"sharedUsersEnabled": "no"})).status_code == 400
    assert (await ring.get(f"{APP_API}/mode/location/nowhere/settings")).status_code == 404


async def test_arming_sets_the_location_mode(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await HubClient.open(sim, ring, location)
    try:
        panel = by_type(await hub.all_devices(), "security-panel")[0]["zid"]
        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "all"})
        await hub.update_of(panel)
    finally:
        await hub.close()
    assert (await ring.get(f"{APP_API}/mode/location/{location}")).json()["mode"] == "away"


# ---------------------------------------------------------------------------------------------------- api.ring.com


async def test_footages_and_lock_associations(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = next(d for d in sim.state.world.devices.values() if d.is_camera)
    params = [("start_at_ms", "1724896800000"), ("end_at_ms", "1724900400000"), ("kinds", "online_periodical"),
              ("kinds", "offline_periodical")]  # fmt: skip
    answer = await ring.get(f"/api.ring.com/recordings/public/footages/{camera.id}", params=params)
    assert answer.status_code == 200
    data = answer.json()
    assert data["meta"] == {"pagination_key": 1724900400000, "butch_size": 50} and data["data"] == []
    assert isinstance(data["responseTimestamp"], int)
    missing = await ring.get("/api.ring.com/recordings/public/footages/1")
    assert missing.status_code == 404
    locks = await ring.get("/api.ring.com/integrations/amazonkey/v2/devices/lock_associations")
    assert locks.status_code == 200 and locks.json() == []
    async with httpx.AsyncClient(base_url=sim.url) as anonymous:
        assert (
            await anonymous.get("/api.ring.com/integrations/amazonkey/v2/devices/lock_associations")
        ).status_code == 401


async def test_unknown_paths_answer_ring_s_404(sim: SimServer, ring: httpx.AsyncClient) -> None:
    for path in ("/api.ring.com/clients_api/no_such_thing", f"{APP_API}/rs/nothing", "/no-such-host.com/x"):
        answer = await ring.get(path)
        assert answer.status_code == 404
        assert answer.json() == {"status": 404, "error": "Not Found"}
