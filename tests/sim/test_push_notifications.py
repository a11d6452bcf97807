"""Ring's notifications as the simulator pushes them (reference §8.3–§8.6): v2 for pn_dict_version 2.0.0
registrations, v1 ``gcmData`` for the others and for alarm notices and intercom unlocks; who gets them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from firebase_messaging.proto.mcs_pb2 import DataMessageStanza, LoginResponse

from ringvault.sim.server import SimServer
from tests.sim.helpers import CLIENTS, login
from tests.sim.push_helpers import control, device_id, ding, register_with_ring, ring_client
from tests.sim.push_raw import Device, Mcs, decrypt, login_request, register


class Listener:
    """A registered web-push device, known to Ring, logged in over MCS; reads and decrypts messages."""

    def __init__(self, device: Device, mcs: Mcs) -> None:
        self.device, self.mcs = device, mcs

    async def next(self) -> dict[str, Any]:
        stanza = await self.mcs.read_until(DataMessageStanza)
        await self.mcs.ack(stanza.persistent_id)
        message = decrypt(self.device, stanza)
        message["persistent_id"] = stanza.persistent_id
        return message


async def _listener(sim: SimServer, ring: httpx.AsyncClient, pn_dict_version: str | None = "2.0.0") -> Listener:
    with httpx.Client(base_url=sim.url, timeout=30) as google:
        device = register(google)
    assert (await register_with_ring(ring, device.fcm_token, pn_dict_version=pn_dict_version)).status_code == 204
    mcs = await Mcs.connect(sim)
    await mcs.send(login_request(device))
    assert isinstance(await mcs.read(), LoginResponse)
    return Listener(device, mcs)


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with ring_client(login(sim, "push-notes-0001")) as client:
        yield client


@pytest.fixture
async def listener(sim: SimServer, ring: httpx.AsyncClient) -> AsyncIterator[Listener]:
    item = await _listener(sim, ring)
    yield item
    item.mcs.close()


def _parts(message: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    data = message["data"]
    assert all(isinstance(value, str) for value in data.values())  # every value a string (§8.3)
    return json.loads(data["android_config"]), json.loads(data["data"]), json.loads(data["img"])


@pytest.mark.parametrize(
    ("detection", "subtype", "person"),
    [("person", "human", True), ("vehicle", "vehicle", False), ("package", "package_delivery", False)],
)
async def test_motion_with_detection(
    sim: SimServer, listener: Listener, detection: str, subtype: str, person: bool
) -> None:
    camera = await device_id(sim, "floodlight_v2")
    created = await ding(sim, camera, "motion", {"detection": detection})
    assert created["event"]["kind"] == "motion" and created["event"]["person_detected"] is person
    message = await listener.next()
    config, data, img = _parts(message)
    assert config["category"] == "com.ring.pn.live-event.motion"
    assert data["event"]["ding"]["subtype"] == subtype
    assert data["event"]["ding"]["id"] == created["event"]["id_str"]
    assert data["event"]["eventito"]["timestamp"] == created["event"]["created_at_ms"]
    assert data["device"] == {
        "e2ee_enabled": False,
        "id": camera,
        "kind": "floodlight_v2",
        "name": data["device"]["name"],
    }
    assert img["snapshot_uuid"].startswith(created["event"]["snapshot_uuid"])


async def test_control_routes_refuse_what_a_device_cannot_do(sim: SimServer) -> None:
    chime = await device_id(sim, "chime_pro_v2")
    camera = await device_id(sim, "floodlight_v2")
    async with httpx.AsyncClient(base_url=sim.url) as http:
        assert (await http.post(f"/_sim/devices/{chime}/motion")).status_code == 422
        assert (await http.post(f"/_sim/devices/{camera}/ding")).status_code == 422  # no button
        assert (await http.post(f"/_sim/devices/{camera}/unlock")).status_code == 422
        assert (await http.post(f"/_sim/devices/{camera}/motion", json={"detection": "cat"})).status_code == 422
        assert (await http.post("/_sim/devices/1/ding")).status_code == 404
        assert (await http.post("/_sim/locations/nowhere/alarm", json={"kind": "siren"})).status_code == 404


async def test_intercom_ring_and_unlock(sim: SimServer, listener: Listener, ring: httpx.AsyncClient) -> None:
    intercom = await device_id(sim, "intercom_handset_audio")
    await ding(sim, intercom)
    config, data, _ = _parts(await listener.next())
    assert config["category"] == "com.ring.pn.live-event.intercom"
    assert "eventito" not in data["event"] and data["device"]["id"] == intercom
    await ding(sim, intercom, "unlock")
    gcm = json.loads((await listener.next())["data"]["gcmData"])
    assert gcm["action"] == "com.ring.push.INTERCOM_UNLOCK_FROM_APP" and gcm["alarm_meta"]["device_zid"] == intercom
    # an unlock through Ring's API sends the same notice
    rpc = {"command_name": "device_rpc", "request": {"id": 1, "jsonrpc": "2.0", "method": "unlock_door", "params": {}}}
    answer = await ring.put(f"/api.ring.com/commands/v1/devices/{intercom}/device_rpc", json=rpc)
    assert answer.status_code == 200, answer.text
    gcm = json.loads((await listener.next())["data"]["gcmData"])
    assert gcm["action"] == "com.ring.push.INTERCOM_UNLOCK_FROM_APP"


async def test_alarm_notice_for_a_hub_location(sim: SimServer, listener: Listener) -> None:
    world = await control(sim, "GET", "/_sim/world")
    location = next(d["location_id"] for d in world["devices"] if d["kind"] == "base_station_v1")
    await control(sim, "POST", f"/_sim/locations/{location}/alarm", {"kind": "mode_none"})
    gcm = json.loads((await listener.next())["data"]["gcmData"])
    assert gcm["action"] == "com.ring.push.HANDLE_NEW_SECURITY_PANEL_MODE_NONE_NOTICE"
    assert gcm["alarm_meta"] == {"location_id": location}  # no device_zid, as in dgreif/ring #1083
    await control(sim, "POST", f"/_sim/locations/{location}/alarm", {"kind": "siren", "device_zid": "abc-1"})
    gcm = json.loads((await listener.next())["data"]["gcmData"])
    assert gcm["action"] == "com.ring.push.HANDLE_NEW_USER_SOUND_SIREN" and gcm["alarm_meta"]["device_zid"] == "abc-1"


async def test_registration_without_pn_dict_version_gets_v1(sim: SimServer, ring: httpx.AsyncClient) -> None:
    legacy = await _listener(sim, ring, pn_dict_version=None)
    try:
        doorbell = await device_id(sim, "lpd_v4")
        created = await ding(sim, doorbell)
        assert created["pushes"][0]["format"] == "v1"
        gcm = json.loads((await legacy.next())["data"]["gcmData"])
        assert gcm["action"] == "com.ring.push.HANDLE_NEW_DING" and gcm["subtype"] == "ding"
        assert gcm["ding"]["id"] == int(created["event"]["id_str"]) and gcm["ding"]["doorbot_id"] == doorbell
    finally:
        legacy.mcs.close()


async def test_battery_doorbell_pushes_twice_the_second_with_the_image(
    sim: SimServer, listener: Listener, ring: httpx.AsyncClient
) -> None:
    doorbell = await device_id(sim, "doorbell_oyster")
    created = await ding(sim, doorbell)
    assert len(created["pushes"]) == 2
    first, second = await listener.next(), await listener.next()
    assert _parts(first)[2] == {}
    snapshot = _parts(second)[2]["snapshot_uuid"]
    assert _parts(first)[1]["event"]["ding"]["id"] == _parts(second)[1]["event"]["ding"]["id"]
    image = await ring.get(f"{CLIENTS}/snapshots/uuid", params={"uuid": snapshot})
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"


async def test_every_registration_gets_each_event_while_its_session_lives(sim: SimServer, listener: Listener) -> None:
    async with ring_client(login(sim, "push-notes-0002")) as other_ring:
        other = await _listener(sim, other_ring)
    try:
        doorbell = await device_id(sim, "lpd_v4")
        created = await ding(sim, doorbell)
        assert {p["hardware_id"] for p in created["pushes"]} == {"push-notes-0001", "push-notes-0002"}
        assert (await listener.next())["data"]["version"] == (await other.next())["data"]["version"] == "2.0.0"
        # the session lapses (not revoked): pushes stop for that client (§8.7)
        async with httpx.AsyncClient(base_url=sim.url) as http:
            assert (await http.delete("/_sim/sessions/push-notes-0002", params={"revoke": "false"})).status_code == 204
        created = await ding(sim, doorbell)
        assert [p["hardware_id"] for p in created["pushes"]] == ["push-notes-0001"]
        await control(sim, "PATCH", "/_sim/push/faults", {"require_session": False})
        assert len((await ding(sim, doorbell))["pushes"]) == 2
    finally:
        other.mcs.close()


async def test_subscription_gate_is_a_knob(sim: SimServer, listener: Listener, ring: httpx.AsyncClient) -> None:
    doorbell = await device_id(sim, "lpd_v4")
    await control(sim, "PATCH", "/_sim/push/faults", {"require_subscription": True})
    assert (await ring.post(f"{CLIENTS}/doorbots/{doorbell}/unsubscribe")).is_success
    assert (await ding(sim, doorbell))["pushes"] == []
    assert (await ring.post(f"{CLIENTS}/doorbots/{doorbell}/subscribe")).is_success
    created = await ding(sim, doorbell)
    assert len(created["pushes"]) == 1
    assert (await listener.next())["persistent_id"] == created["pushes"][0]["persistent_id"]


async def test_a_token_google_does_not_know_is_undeliverable(sim: SimServer, ring: httpx.AsyncClient) -> None:
    assert (await register_with_ring(ring, "made-up:APA91bX")).status_code == 204
    created = await ding(sim, await device_id(sim, "lpd_v4"))
    assert created["pushes"] == [{"hardware_id": "push-notes-0001", "format": "v2", "persistent_id": None}]
    assert (await control(sim, "GET", "/_sim/push"))["stats"]["undeliverable"] == 1
