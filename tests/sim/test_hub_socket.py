"""The hub WebSocket over a real socket to the real simulator: tickets, device lists, rooms, arming, siren,
volume, lights, sensors from the control API, and the ways the socket breaks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.sim.helpers import login
from tests.sim.hub_helpers import HubClient, by_type, hub_location, socket_url, ticket, v1_of

BASE = "base_station_v1"
BRIDGE = "beams_bridge_v1"


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    # no exit delay at home, 60 s away (the defaults); a short entry delay keeps the alarm test quick
    return sim_config.model_copy(update={"hub_entry_delay_s": 2})


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    """An async client with a bearer token and a session (the tests are async: no blocking calls in them)."""
    sync_client = login(sim)
    headers = dict(sync_client.headers)
    sync_client.close()
    async with httpx.AsyncClient(base_url=sim.url, headers=headers, timeout=30) as client:
        yield client


async def _open(sim: SimServer, ring: httpx.AsyncClient) -> HubClient:
    return await HubClient.open(sim, ring, hub_location(sim))


# ---------------------------------------------------------------------------------------------------- ticket, lists


async def test_ticket_names_a_host_and_the_hub_assets(sim: SimServer, ring: httpx.AsyncClient) -> None:
    details = await ticket(ring, hub_location(sim))
    assert details["host"] == "alarm-hub.prd.rings.solutions"
    assert sorted(a["kind"] for a in details["assets"]) == [BASE, BRIDGE]
    world_assets = {d.asset_uuid for d in sim.state.world.devices_at(hub_location(sim)) if d.asset_uuid}
    assert {a["uuid"] for a in details["assets"]} == world_assets
    assert details["subscriptionTopics"] == [] and details["ticket"]


async def test_device_lists_equal_the_control_api(sim: SimServer, ring: httpx.AsyncClient) -> None:
    hub = await _open(sim, ring)
    try:
        listing = (await ring.get(f"/_sim/hub/{hub_location(sim)}")).json()
        for asset in listing["assets"]:
            assert await hub.device_list(asset["uuid"]) == asset["devices"]
        devices = await hub.all_devices()
    finally:
        await hub.close()
    types = sorted(d["deviceType"] for d in devices.values())
    assert types == sorted(
        [
            "security-panel", "hub.redsky", "security-keypad", "sensor.contact", "sensor.contact", "sensor.motion",
            "sensor.flood-freeze", "listener.smoke-co", "range-extender.zwave", "switch.multilevel.beams",
            "switch.multilevel.beams", "motion-sensor.beams", "group.light-group.beams",
        ]
    )  # fmt: skip
    for device in devices.values():
        assert device["zid"] and device["name"] and isinstance(device["categoryId"], int)
        assert device["commStatus"] == "ok" and device["tamperStatus"] == "ok"
        assert device["batteryStatus"] in ("ok", "low", "none")
    panel = by_type(devices, "security-panel")[0]
    assert panel["mode"] == "none" and panel["_asset"] == hub.asset(BASE)
    assert by_type(devices, "motion-sensor.beams")[0]["_asset"] == hub.asset(BRIDGE)


async def test_seeded_world_is_deterministic(sim_config: SimConfig) -> None:
    from ringvault.sim.state import SimState

    first = SimState.build(sim_config).hub
    second = SimState.build(sim_config).hub
    (loc,) = first.locations
    docs = [d.document() for d in first.locations[loc].devices.values()]
    assert docs == [d.document() for d in second.locations[loc].devices.values()]
    other = SimState.build(sim_config.model_copy(update={"seed": 8})).hub
    assert [d.zid for d in next(iter(other.locations.values())).devices.values()] != [
        d["general"]["v2"]["zid"] for d in docs
    ]


async def test_rooms(sim: SimServer, ring: httpx.AsyncClient) -> None:
    hub = await _open(sim, ring)
    try:
        await hub.send({"msg": "RoomGetList", "dst": hub.asset(BASE)})
        frame = await hub.wait_for(lambda f: f["msg"].get("msg") == "RoomGetList")
    finally:
        await hub.close()
    assert frame["msg"]["src"] == hub.asset(BASE) and frame["msg"]["datatype"] == "RoomListV2Type"
    assert {"id": 1, "name": "Living Room"} in frame["msg"]["body"]


# ---------------------------------------------------------------------------------------------------- alarm modes


async def test_arm_home_with_a_bypassed_open_contact_then_away_then_disarm(
    sim: SimServer, ring: httpx.AsyncClient
) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    try:
        devices = await hub.all_devices()
        panel = by_type(devices, "security-panel")[0]["zid"]
        door = by_type(devices, "sensor.contact")[0]
        assert (
            await ring.post(f"/_sim/hub/{location}/devices/{door['zid']}/fault", json={"faulted": True})
        ).status_code == 200
        assert v1_of(await hub.update_of(door["zid"]))["faulted"] is True

        await hub.command(
            hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "some", "bypass": [door["zid"]]}
        )
        update = await hub.update_of(panel)
        assert v1_of(update)["mode"] == "some"
        doc = update["msg"]["body"][0]
        assert doc["impulse"]["v1"][0]["impulseType"] == "security-panel.mode-switched.some"
        assert update["msg"]["context"]["initiatingEntityType"] == "user"

        assert (
            await ring.post(f"/_sim/hub/{location}/devices/{door['zid']}/fault", json={"faulted": False})
        ).status_code == 200
        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "all"})  # bypass absent
        update = await hub.update_of(panel)
        assert v1_of(update)["mode"] == "all"
        assert v1_of(update)["transitionDelayEndTimestamp"] > update["msg"]["context"]["eventOccurredTsMs"]
        countdown = await hub.wait_for(lambda f: f["msg"].get("datatype") == "PassthruType")
        assert countdown["msg"]["body"][0]["zid"] == panel
        assert countdown["msg"]["body"][0]["data"] == {"transition": "exit", "timeLeft": 60, "total": 60}

        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "none", "bypass": []})
        assert v1_of(await hub.update_of(panel))["mode"] == "none"
    finally:
        await hub.close()
    # the location's mode follows the panel
    assert sim.state.world.location(location).mode == "disarmed"  # type: ignore[union-attr]


async def test_arming_with_an_unbypassed_faulted_sensor_keeps_the_old_mode(
    sim: SimServer, ring: httpx.AsyncClient
) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    try:
        devices = await hub.all_devices()
        panel = by_type(devices, "security-panel")[0]["zid"]
        window = by_type(devices, "sensor.contact")[1]
        motion = by_type(devices, "sensor.motion")[0]
        await ring.post(f"/_sim/hub/{location}/devices/{window['zid']}/fault", json={"faulted": True})
        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "some"})
        assert v1_of(await hub.update_of(panel))["mode"] == "none"  # refused: the first update carries the old mode

        # motion arms only away: a tripped motion sensor does not stop arming home
        await ring.post(f"/_sim/hub/{location}/devices/{window['zid']}/fault", json={"faulted": False})
        await ring.post(f"/_sim/hub/{location}/devices/{motion['zid']}/fault", json={"faulted": True})
        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "some"})
        assert v1_of(await hub.update_of(panel))["mode"] == "some"
        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "all"})
        assert v1_of(await hub.update_of(panel))["mode"] == "some"  # refused, old mode
        await hub.command(
            hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "all", "bypass": [motion["zid"]]}
        )
        assert v1_of(await hub.update_of(panel))["mode"] == "all"
    finally:
        await hub.close()


async def test_entry_delay_then_burglar_alarm_then_disarm_clears_it(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    try:
        devices = await hub.all_devices()
        panel = by_type(devices, "security-panel")[0]["zid"]
        door = by_type(devices, "sensor.contact")[0]["zid"]
        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "some"})
        assert v1_of(await hub.update_of(panel))["mode"] == "some"  # home: no exit delay by default
        await ring.post(f"/_sim/hub/{location}/devices/{door}/fault", json={"faulted": True})
        entry = v1_of(await hub.update_of(panel))
        assert entry["alarmInfo"]["state"] == "entry-delay" and entry["alarmInfo"]["faultedDevices"] == [door]
        alarm = v1_of(await hub.update_of(panel))  # after hub_entry_delay_s (2 s)
        assert alarm["alarmInfo"]["state"] == "burglar-alarm" and alarm["siren"] == {"state": "on"}
        await hub.command(hub.asset(BASE), panel, "security-panel.switch-mode", {"mode": "none"})
        cleared = await hub.update_of(panel)
        assert v1_of(cleared)["alarmInfo"] is None and v1_of(cleared)["siren"] == {"state": "off"}
        kinds = [i["impulseType"] for i in cleared["msg"]["body"][0]["impulse"]["v1"]]
        assert kinds == ["security-panel.mode-switched.none", "security-panel.alarm-cleared"]
    finally:
        await hub.close()


async def test_siren_volume_brightness_and_lights(sim: SimServer, ring: httpx.AsyncClient) -> None:
    hub = await _open(sim, ring)
    try:
        devices = await hub.all_devices()
        panel = by_type(devices, "security-panel")[0]["zid"]
        base = by_type(devices, "hub.redsky")[0]["zid"]
        keypad = by_type(devices, "security-keypad")[0]["zid"]
        light = by_type(devices, "switch.multilevel.beams")[0]["zid"]

        await hub.command(hub.asset(BASE), panel, "security-panel.sound-siren")
        assert v1_of(await hub.update_of(panel))["siren"] == {"state": "on"}
        await hub.command(hub.asset(BASE), panel, "security-panel.silence-siren")
        assert v1_of(await hub.update_of(panel))["siren"] == {"state": "off"}

        await hub.set_fields(hub.asset(BASE), base, {"volume": 0.25})
        assert v1_of(await hub.update_of(base))["volume"] == 0.25
        await hub.set_fields(hub.asset(BASE), keypad, {"volume": 0.9, "brightness": 0.1})
        assert v1_of(await hub.update_of(keypad)) == {"volume": 0.9, "brightness": 0.1}
        # out of range: not applied, the current value comes back
        await hub.set_fields(hub.asset(BASE), base, {"volume": 1.5})
        assert v1_of(await hub.update_of(base))["volume"] == 0.25

        await hub.command(hub.asset(BRIDGE), light, "light-mode.set", {"lightMode": "on", "duration": 1})
        assert v1_of(await hub.update_of(light))["on"] is True
        assert v1_of(await hub.update_of(light))["on"] is False  # after its duration
        await hub.set_fields(hub.asset(BRIDGE), light, {"on": True, "level": 0.4})
        assert v1_of(await hub.update_of(light)) == {"on": True, "level": 0.4}
        await hub.command(hub.asset(BRIDGE), light, "light-mode.set", {"lightMode": "default"})
        assert v1_of(await hub.update_of(light))["on"] is False
        listed = await hub.all_devices()
        assert listed[base]["volume"] == 0.25 and listed[keypad]["brightness"] == 0.1
    finally:
        await hub.close()


async def test_control_api_sensor_changes_arrive_as_updates(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    try:
        devices = await hub.all_devices()
        door = by_type(devices, "sensor.contact")[0]["zid"]
        beams_motion = by_type(devices, "motion-sensor.beams")[0]["zid"]
        await ring.post(f"/_sim/hub/{location}/devices/{door}/fault", json={"faulted": True})
        update = await hub.update_of(door)
        assert v1_of(update) == {"faulted": True} and update["msg"]["context"]["initiatingEntityType"] == "device"
        await ring.post(f"/_sim/hub/{location}/devices/Backyard Motion/fault", json={"faulted": True})
        assert v1_of(await hub.update_of(beams_motion)) == {"motionStatus": "faulted"}
        assert (await ring.post(f"/_sim/hub/{location}/devices/nope/fault", json={"faulted": True})).status_code == 404
        assert (
            await ring.post(f"/_sim/hub/{location}/devices/{door}/fault", json={"faulted": "yes"})
        ).status_code == 422
        answer = await ring.post(f"/_sim/hub/{location}/alarm", json={"kind": "fire"})
        assert answer.status_code == 200
        panel = by_type(devices, "security-panel")[0]["zid"]
        assert v1_of(await hub.update_of(panel))["alarmInfo"]["state"] == "fire-alarm"
        listener = by_type(devices, "listener.smoke-co")[0]["zid"]
        assert v1_of(await hub.update_of(listener)) == {"smoke": {"alarmStatus": "active"}}
    finally:
        await hub.close()


async def test_two_sockets_both_get_updates(sim: SimServer, ring: httpx.AsyncClient) -> None:
    first, second = await _open(sim, ring), await _open(sim, ring)
    try:
        devices = await first.all_devices()
        panel = by_type(devices, "security-panel")[0]["zid"]
        await first.command(first.asset(BASE), panel, "security-panel.sound-siren")
        assert v1_of(await second.update_of(panel))["siren"] == {"state": "on"}
        assert v1_of(await first.update_of(panel))["siren"] == {"state": "on"}
    finally:
        await first.close()
        await second.close()


# ---------------------------------------------------------------------------------------------------- tickets, faults


async def test_used_invalid_and_expired_tickets_are_refused(sim: SimServer, ring: httpx.AsyncClient) -> None:
    details = await ticket(ring, hub_location(sim))
    url = socket_url(sim, details["host"], details["ticket"])
    async with connect(url):
        pass
    with pytest.raises(InvalidStatus) as used:
        async with connect(url):
            pass
    assert used.value.response.status_code == 401
    assert json.loads(used.value.response.body or b"{}")["error"] == "unknown or already used ticket"
    with pytest.raises(InvalidStatus) as bogus:
        async with connect(socket_url(sim, details["host"], "not-a-ticket")):
            pass
    assert bogus.value.response.status_code == 401
    late = await ticket(ring, hub_location(sim))
    await ring.post("/_sim/clock", json={"advance_s": sim.config.hub_ticket_ttl_s + 1})
    with pytest.raises(InvalidStatus) as expired:
        async with connect(socket_url(sim, late["host"], late["ticket"])):
            pass
    assert expired.value.response.status_code == 401
    # a fresh ticket works again
    hub = await _open(sim, ring)
    await hub.close()


async def test_refused_tickets_then_accepted(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    assert (await ring.put("/_sim/hub/tickets/refuse", json={"count": 2, "status": 503})).status_code == 200
    for _ in range(2):
        details = await ticket(ring, location)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(socket_url(sim, details["host"], details["ticket"])):
                pass
        assert refused.value.response.status_code == 503
    hub = await _open(sim, ring)  # the third is accepted
    await hub.close()
    assert (
        await ring.put("/_sim/hub/tickets/refuse", json={"count": None, "status": 401, "stage": "ticket"})
    ).status_code == 200
    answer = await ring.get("/prd-api-us.prd.rings.solutions/api/v1/clap/tickets", params={"locationID": location})
    assert answer.status_code == 401
    assert (await ring.delete("/_sim/hub/tickets/refuse")).status_code == 204
    assert (await ticket(ring, location))["ticket"]
    assert (await ring.put("/_sim/hub/tickets/refuse", json={"count": 0})).status_code == 422


async def test_fault_knobs_refuse_handshakes(sim: SimServer, ring: httpx.AsyncClient) -> None:
    details = await ticket(ring, hub_location(sim))
    await ring.put("/_sim/faults", json={"timeout_rate": 1.0, "path_pattern": "alarm-hub"})
    with pytest.raises(InvalidStatus) as refused:
        async with connect(socket_url(sim, details["host"], details["ticket"])):
            pass
    assert refused.value.response.status_code == 504
    await ring.put("/_sim/faults", json={})
    hub = await _open(sim, ring)
    await hub.close()


async def test_drop_and_disconnection_event(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    await hub.all_devices()
    assert (await ring.post(f"/_sim/hub/{location}/disconnect-event")).json() == {"sent": 1}
    frame = await hub.wait_for(lambda f: f["msg"].get("datatype") == "HubDisconnectionEventType")
    assert frame["channel"] == "DataUpdate" and frame["msg"]["body"] == []
    assert (await ring.post(f"/_sim/hub/{location}/drop")).json() == {"dropped": 1}
    with pytest.raises(ConnectionClosed) as closed:
        await hub.next_frame()
    assert closed.value.rcvd is None  # abrupt: no close frame
    for _ in range(100):  # the server notices the dropped socket
        if sim.state.hub.socket_count(location) == 0:
            break
        await asyncio.sleep(0.05)
    assert sim.state.hub.socket_count(location) == 0
    again = await _open(sim, ring)  # a new ticket connects again
    assert len(await again.all_devices()) == 13
    await again.close()


async def test_session_info_and_silent_asset(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    try:
        bridge = hub.asset(BRIDGE)
        answer = await ring.post(f"/_sim/hub/{location}/assets/bridge/session", json={"status": "unknown"})
        assert answer.json() == {"uuid": bridge, "connectionStatus": "unknown"}
        frame = await hub.wait_for(lambda f: f["msg"].get("msg") == "SessionInfo")
        assert frame["channel"] == "DataUpdate" and frame["msg"]["datatype"] == "SessionInfoType"
        assert (
            frame["msg"]["body"][0]["assetUuid"] == bridge and frame["msg"]["body"][0]["connectionStatus"] == "unknown"
        )
        assert next(a for a in (await ticket(ring, location))["assets"] if a["uuid"] == bridge)["status"] == "offline"
        await hub.send({"msg": "DeviceInfoDocGetList", "dst": bridge})
        with pytest.raises(TimeoutError):
            await hub.wait_for(lambda f: f["msg"].get("msg") == "DeviceInfoDocGetList", wait_s=1.0)
        await ring.post(f"/_sim/hub/{location}/assets/{bridge}/session", json={"status": "online"})
        assert len(await hub.device_list(bridge)) == 4

        assert (
            await ring.post(f"/_sim/hub/{location}/assets/base_station/silent", json={"silent": True})
        ).status_code == 200
        await hub.send({"msg": "DeviceInfoDocGetList", "dst": hub.asset(BASE)})
        with pytest.raises(TimeoutError):
            await hub.wait_for(lambda f: f["msg"].get("msg") == "DeviceInfoDocGetList", wait_s=1.0)
        assert len(await hub.device_list(bridge)) == 4  # the other hub still answers
    finally:
        await hub.close()


async def test_unknown_device_type_and_unknown_messages(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    try:
        document = {"general": {"v2": {"name": "Mystery", "deviceType": "sensor.quantum", "categoryId": 99}},
                    "device": {"v1": {"entangled": True}}}  # fmt: skip
        answer = await ring.post(f"/_sim/hub/{location}/devices", json={"document": document})
        assert answer.status_code == 201
        zid = answer.json()["document"]["general"]["v2"]["zid"]
        pushed = await hub.update_of(zid)
        assert pushed["msg"]["body"][0]["general"]["v2"]["deviceType"] == "sensor.quantum"
        # unknown messages, unknown assets, malformed frames: ignored, the socket keeps working
        await hub.send({"msg": "NoSuchMessage", "dst": hub.asset(BASE)})
        await hub.send({"msg": "DeviceInfoDocGetList", "dst": "no-such-asset"})
        await hub.ws.send("this is not json")
        await hub.ws.send("[1, 2, 3]")
        await hub.ws.send(json.dumps({"channel": "message", "msg": "DeviceInfoDocGetList"}))
        docs = await hub.device_list(hub.asset(BASE))
        assert any(d["general"]["v2"]["deviceType"] == "sensor.quantum" and d["device"]["v1"] == {"entangled": True}
                   for d in docs)  # fmt: skip
    finally:
        await hub.close()


async def test_oversized_client_frame_closes_with_1009(sim: SimServer, ring: httpx.AsyncClient) -> None:
    hub = await _open(sim, ring)
    await hub.ws.send("x" * (sim.config.hub_max_frame_bytes + 1))
    with pytest.raises(ConnectionClosed) as closed:
        await hub.next_frame()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_raw_frames_reach_the_socket(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    try:
        assert (await ring.post(f"/_sim/hub/{location}/raw", json={"text": "{not json"})).json()["sent"] == 1
        assert await asyncio.wait_for(hub.ws.recv(), 20) == "{not json"
        await ring.post(f"/_sim/hub/{location}/raw", json={"repeat": "ab", "size": 100_000})
        assert len(await asyncio.wait_for(hub.ws.recv(), 20)) == 100_000
    finally:
        await hub.close()


async def test_socket_limit_per_location(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await ring.patch("/_sim/config", json={"hub_max_sockets_per_location": 1})
    hub = await _open(sim, ring)
    try:
        details = await ticket(ring, hub_location(sim))
        with pytest.raises(InvalidStatus) as refused:
            async with connect(socket_url(sim, details["host"], details["ticket"])):
                pass
        assert refused.value.response.status_code == 429
    finally:
        await hub.close()


async def test_frame_delay(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await _open(sim, ring)
    try:
        assert (await ring.put(f"/_sim/hub/{location}/frame-delay", json={"delay_ms": 300})).status_code == 200
        loop = asyncio.get_running_loop()
        started = loop.time()
        await hub.device_list(hub.asset(BASE))
        assert loop.time() - started >= 0.3  # a lower bound only: never a timing goal
    finally:
        await hub.close()


async def test_latency_and_drop_knobs_apply_to_the_socket(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await ring.put("/_sim/faults", json={"latency_ms": 300, "path_pattern": "alarm-hub"})
    hub = await _open(sim, ring)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await hub.device_list(hub.asset(BASE))
        assert loop.time() - started >= 0.3  # a lower bound only
        await ring.put("/_sim/faults", json={"socket_drop_rate": 1.0, "path_pattern": "alarm-hub"})
        await hub.send({"msg": "DeviceInfoDocGetList", "dst": hub.asset(BASE)})
        with pytest.raises(ConnectionClosed) as closed:
            await hub.next_frame()
        assert closed.value.rcvd is None
    finally:
        await ring.put("/_sim/faults", json={})
        await hub.close()


async def test_handshakes_are_counted_with_the_ticket_redacted(sim: SimServer, ring: httpx.AsyncClient) -> None:
    hub = await _open(sim, ring)
    await hub.close()
    with pytest.raises(InvalidStatus):
        async with connect(socket_url(sim, hub.details["host"], hub.details["ticket"])):
            pass
    stats = (await ring.get("/_sim/stats", params={"prefix": "GET alarm-hub"})).json()
    assert stats["endpoints"]["GET alarm-hub.prd.rings.solutions/ws"]["by_status"] == {"101": 1, "401": 1}
    logged = [r for r in (await ring.get("/_sim/requests")).json()["requests"] if r["path"].endswith("/ws")]
    assert logged and all(hub.details["ticket"] not in r["query"] and "authcode=%3Credacted%3E" in r["query"]
                          for r in logged)  # fmt: skip


async def test_duplicate_zid_and_bad_control_input(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    panel = sim.state.hub.locations[location].panel_zid
    taken = await ring.post(f"/_sim/hub/{location}/devices", json={"document": {"zid": panel, "deviceType": "x"}})
    assert taken.status_code == 409
    assert sim.state.hub.locations[location].devices[panel].device_type == "security-panel"
    assert (await ring.post(f"/_sim/hub/{location}/devices", json={"document": 5})).status_code == 422
    assert (await ring.post(f"/_sim/hub/{location}/alarm", json={"kind": "meteor"})).status_code == 422
    assert (await ring.post("/_sim/hub/nowhere/drop")).status_code == 404
    assert (await ring.put(f"/_sim/hub/{location}/frame-delay", json={"delay_ms": -1})).status_code == 422
    bad_session = await ring.post(f"/_sim/hub/{location}/assets/base_station/session", json={"status": "asleep"})
    assert bad_session.status_code == 422
    assert (await ring.post(f"/_sim/hub/{location}/raw", json={"size": 0})).status_code == 422


async def test_reset_closes_hub_sockets(sim: SimServer, ring: httpx.AsyncClient) -> None:
    hub = await _open(sim, ring)
    await hub.all_devices()
    assert (await ring.post("/_sim/reset")).status_code == 200
    with pytest.raises(ConnectionClosed) as closed:
        await hub.next_frame()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


async def test_a_socket_that_lets_frames_pile_up_is_dropped() -> None:
    """The per-socket queue is bounded: past MAX_QUEUED waiting frames the socket's next action is a drop."""
    from ringvault.sim.hub.service import DROP, MAX_QUEUED, HubConnection

    conn = HubConnection("loc", asyncio.get_running_loop())
    for n in range(MAX_QUEUED + 1):
        conn.post(f"frame {n}")
    await asyncio.sleep(0.1)  # let call_soon_threadsafe run
    for _ in range(50):
        if conn.queue.qsize() == 1:
            break
        await asyncio.sleep(0.05)
    assert conn.queue.qsize() == 1 and conn.queue.get_nowait() == DROP
