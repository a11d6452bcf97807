"""The hub client against a small scripted hub (``hub_fake``, written from the reference): frames, seq, device
lists, merges, alarm refusals, timeouts, refused tickets, hostile frames. ``test_hub_e2e.py`` runs the same
paths against the real simulator."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from ringvault.cloud import (
    AlarmArmError,
    CapabilityError,
    HubDevice,
    HubDeviceKind,
    HubTimeoutError,
    HubUnavailableError,
    Location,
    RingApi,
)
from ringvault.cloud.hub.device import flatten
from tests.cloud.hub_fake import BASE, BEAM, FLOOD, HOST, LOC, LOC_PLAIN, FakeRing, fake_ring
from tests.transport.ws_helpers import eventually


async def location(api: RingApi, location_id: str = LOC) -> Location:
    for loc in await api.get_locations():
        if loc.id == location_id:
            return loc
    raise AssertionError(location_id)


def sent(ring: FakeRing, msg_type: str) -> list[dict[str, Any]]:
    return [f["msg"] for f in ring.frames if f["msg"]["msg"] == msg_type]


async def test_devices_are_listed_typed_and_the_socket_url_follows_the_endpoint_rule() -> None:
    async with fake_ring() as (ring, api):
        home = await location(api)
        devices = await home.get_devices()
        by_zid = {d.zid: d for d in devices}
        assert set(by_zid) == {
            "zid-panel",
            "zid-base",
            "zid-keypad",
            "zid-front",
            "zid-hall",
            "zid-future",
            "zid-porch",
            "zid-beam-motion",
        }
        assert by_zid["zid-panel"].kind is HubDeviceKind.SECURITY_PANEL and by_zid["zid-panel"].mode == "none"
        assert by_zid["zid-front"].type_label == "alarm sensor" and by_zid["zid-front"].faulted is False
        assert by_zid["zid-front"].room_id == 1 and by_zid["zid-front"].asset_uuid == BASE
        assert by_zid["zid-keypad"].battery_level == 88 and by_zid["zid-keypad"].volume == 0.7
        assert not by_zid["zid-keypad"].is_offline
        assert by_zid["zid-porch"].kind is HubDeviceKind.BEAMS_LIGHT and by_zid["zid-porch"].asset_uuid == BEAM
        future = by_zid["zid-future"]  # an unknown deviceType is kept, raw and all
        assert future.kind is HubDeviceKind.UNKNOWN and future.type_label == "unknown"
        assert future.device_type == "gadget.from-2030" and future.data["sparkle"] is True
        assert future.raw["general"]["v2"]["categoryId"] == 99 and future.location_id == LOC
        # the socket: ws:// (the cloud URL is http://), under the ticket host's path, ticket and ack=false
        assert ring.socket_paths == [f"/{HOST}/ws?authcode={ring.tickets_issued[0]}&ack=false"]
        # DeviceInfoDocGetList to every asset of the ticket, supported or not; seq from 1
        lists = sent(ring, "DeviceInfoDocGetList")
        assert [m["dst"] for m in lists] == [BASE, BEAM, FLOOD]
        assert [m["seq"] for m in lists] == [1, 2, 3]
        tickets = [r for r in ring.rest if r[1].endswith("/clap/tickets")]
        assert tickets[0][2] == {
            "locationID": LOC,
            "enableExtendedEmergencyCellUsage": "true",
            "requestedTransport": "ws",
        }


async def test_a_location_without_hubs_opens_no_socket() -> None:
    async with fake_ring() as (ring, api):
        cabin = await location(api, LOC_PLAIN)
        assert await cabin.get_devices() == []
        assert await cabin.get_rooms() == []
        with pytest.raises(CapabilityError):
            await cabin.arm_away()
        assert cabin.hub is None
        assert not any(r[1].endswith("/clap/tickets") for r in ring.rest) and ring.socket_paths == []


async def test_updates_merge_by_zid_new_zids_become_devices_and_on_data_fires() -> None:
    async with fake_ring() as (ring, api):
        home = await location(api)
        devices = {d.zid: d for d in await home.get_devices()}
        front = devices["zid-front"]
        seen: list[dict[str, Any]] = []
        front.on_data.subscribe(seen.append)
        await ring.update("zid-front", {"faulted": True})
        await eventually(lambda: front.faulted is True, what="the merged update")
        assert seen[-1]["faulted"] is True and seen[-1]["name"] == "Front Door Contact"  # shallow merge keeps the rest
        assert front.raw["general"]["v2"]["roomId"] == 1 and front.raw["device"]["v1"]["faulted"] is True
        # a zid nobody listed: a new device built from the partial document
        await ring.push(
            {
                "channel": "DataUpdate",
                "msg": {
                    "msg": "DataUpdate",
                    "datatype": "DeviceInfoDocType",
                    "src": BASE,
                    "body": [{"general": {"v2": {"zid": "zid-new", "name": "New Siren", "deviceType": "siren"}}}],
                },
            }
        )
        await eventually(lambda: "zid-new" in {d.zid for d in home.hub.devices.values()} if home.hub else False)
        new = next(d for d in await home.get_devices() if d.zid == "zid-new")
        assert new.kind is HubDeviceKind.SIREN and new.asset_uuid == BASE


async def test_arm_with_bypass_and_disarm_are_confirmed_and_a_faulted_sensor_is_named() -> None:
    async with fake_ring() as (ring, api):
        home = await location(api)
        await home.get_devices()
        await ring.update("zid-front", {"faulted": True})
        panel = await home.get_security_panel()
        await eventually(lambda: any(d.faulted for d in home.hub.devices.values()) if home.hub else False)
        with pytest.raises(AlarmArmError) as refused:
            await home.arm_away()
        message = str(refused.value)
        assert message == 'cannot arm away: "Front Door Contact" is open — bypass it or close it'
        assert "\n" not in message and [d.zid for d in refused.value.faulted] == ["zid-front"]
        assert refused.value.mode == "all" and refused.value.actual == "none"
        await home.arm_home(bypass=["zid-front"])
        assert await home.get_alarm_mode() == "some" and panel.mode == "some"
        switch = [m for m in sent(ring, "DeviceInfoSet") if m["body"][0]["zid"] == "zid-panel"]
        assert switch[-1]["datatype"] == "DeviceInfoSetType" and switch[-1]["dst"] == BASE
        assert switch[-1]["body"][0]["command"]["v1"] == [
            {"commandType": "security-panel.switch-mode", "data": {"mode": "some", "bypass": ["zid-front"]}}
        ]
        assert "bypass" not in switch[0]["body"][0]["command"]["v1"][0]["data"]  # left out when not given
        await home.disarm()
        assert await home.get_alarm_mode() == "none"
        seqs = [f["msg"]["seq"] for f in ring.frames]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_an_arm_without_an_answer_times_out_instead_of_hanging() -> None:
    async with fake_ring() as (ring, api):
        home = await location(api)
        await home.get_devices()

        async def ignore(asset: str, item: dict[str, Any]) -> None:
            return None

        ring._apply = ignore  # type: ignore[method-assign]
        with pytest.raises(HubTimeoutError, match=r"did not confirm arm away within 0\.5 s"):
            await home.set_alarm_mode("all", timeout=0.5)


async def test_a_silent_hub_gives_a_timeout_naming_it() -> None:
    ring = FakeRing(silent={BEAM})
    async with fake_ring(ring) as (_, api):
        home = await location(api)
        with pytest.raises(HubTimeoutError):  # (on a busy machine the socket itself may take over 1 s to open)
            await home.get_devices(timeout=1.0)
        hub = home.hub
        assert hub is not None
        await eventually(lambda: hub.connected, within=60, what="the socket open")
        with pytest.raises(HubTimeoutError) as caught:
            await home.get_devices(timeout=1.0)
        assert str(caught.value) == (
            f"beams_bridge_v1 {BEAM} of location Home did not answer its device list within 1 s"
        )


@pytest.mark.parametrize(("status", "per_ticket"), [(403, 1), (404, 1), (503, 2)])
async def test_a_refused_ticket_gives_one_clear_line_after_bounded_retries(status: int, per_ticket: int) -> None:
    ring = FakeRing(ticket_status=status)
    async with fake_ring(ring) as (_, api):
        home = await location(api)
        with pytest.raises(HubUnavailableError) as caught:
            await home.get_devices(timeout=30)
        message = str(caught.value)
        assert "after 3 attempts" in message and f"HTTP {status}" in message and "\n" not in message
        # three tickets asked, each with RingHttp's own retries (a 5xx once more with max_retries=1; a 4xx not)
        asked = [r for r in ring.rest if r[1].endswith("/clap/tickets")]
        assert len(asked) >= 3 * per_ticket
        assert ring.socket_paths == []


async def test_a_ticket_without_hub_assets_fails_at_once() -> None:
    ring = FakeRing(ticket_assets=[{"doorbotId": 5001, "kind": "floodlight_v2", "uuid": FLOOD}])
    async with fake_ring(ring) as (_, api):
        home = await location(api)
        with pytest.raises(HubUnavailableError, match="no alarm base station or lighting bridge"):
            await home.get_devices(timeout=30)
        assert len(ring.tickets_issued) == 1 and ring.socket_paths == []


async def test_disconnection_event_and_dropped_socket_reconnect_with_new_tickets_and_lose_nothing() -> None:
    async with fake_ring() as (ring, api):
        home = await location(api)
        devices = {d.zid: d for d in await home.get_devices()}
        hall = devices["zid-hall"]
        states: list[bool] = []
        home.on_hub_connected.subscribe(states.append)
        changes: list[dict[str, Any]] = []
        hall.on_data.subscribe(changes.append)
        # 1. the hub tells us to reconnect; meanwhile (before the new list) the sensor changed without an update
        await ring.update("zid-hall", {"faulted": True}, send=False)
        await ring.push(
            {"channel": "message", "msg": {"msg": "x", "datatype": "HubDisconnectionEventType", "body": []}}
        )
        await eventually(lambda: hall.faulted is True, what="the change seen through the new device list")
        assert len(ring.tickets_issued) == 2 and len(set(ring.tickets_issued)) == 2
        assert changes and changes[-1]["faulted"] is True
        # 2. the socket drops abruptly; a change while it is down shows up after the reconnect
        ring.drop()
        await ring.update("zid-hall", {"faulted": False}, send=False)
        await eventually(lambda: hall.faulted is False, what="the change made while disconnected")
        assert len(ring.tickets_issued) == 3
        assert False in states and states[-1] is True
        # seq kept counting across both reconnects
        seqs = [f["msg"]["seq"] for f in ring.frames]
        assert seqs == list(range(1, len(seqs) + 1)) and len(sent(ring, "DeviceInfoDocGetList")) == 9
        socket = home.hub.socket if home.hub else None
        assert socket is not None and socket.stats.reconnects == 2


async def test_session_info_back_online_re_requests_that_hubs_list() -> None:
    async with fake_ring() as (ring, api):
        home = await location(api)
        await home.get_devices()
        before = len(sent(ring, "DeviceInfoDocGetList"))

        def session(status: str) -> dict[str, Any]:
            return {
                "channel": "DataUpdate",
                "msg": {
                    "msg": "SessionInfo",
                    "datatype": "SessionInfoType",
                    "body": [
                        {"assetUuid": BEAM, "connectionStatus": status, "doorbotId": 4001, "kind": "beams_bridge_v1"}
                    ],
                },
            }

        await ring.push(session("cell-backup"))
        await ring.push(session("online"))
        await eventually(lambda: len(sent(ring, "DeviceInfoDocGetList")) == before + 1, what="the re-request")
        assert sent(ring, "DeviceInfoDocGetList")[-1]["dst"] == BEAM


async def test_hostile_frames_never_crash_the_client(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ringvault")
    async with fake_ring() as (ring, api):
        home = await location(api)
        await home.get_devices()
        hub = home.hub
        assert hub is not None and hub.socket is not None
        for frame in [
            "not json",
            "[]",
            json.dumps({"channel": "DataUpdate"}),
            json.dumps({"channel": "DataUpdate", "msg": "text"}),
            json.dumps({"channel": "DataUpdate", "msg": {"datatype": "DeviceInfoDocType", "body": "nope"}}),
            json.dumps({"channel": "DataUpdate", "msg": {"datatype": "DeviceInfoDocType", "body": [1, None, {}]}}),
            json.dumps({"channel": "DataUpdate", "msg": {"datatype": "DeviceInfoDocType", "body": [{"general": 5}]}}),
            json.dumps({"channel": "DataUpdate", "msg": {"msg": "SessionInfo", "body": [{"assetUuid": 3}]}}),
            json.dumps({"channel": "message", "msg": {"msg": "DeviceInfoDocGetList", "src": BASE, "body": {"a": 1}}}),
            json.dumps({"channel": "DataUpdate", "msg": {"datatype": "PassthruType", "body": [{"zid": "zid-panel"}]}}),
            "[" * 3000 + "]" * 3000,
        ]:
            await ring.push(frame)
        await ring.update("zid-front", {"faulted": True})
        front = next(d for d in await home.get_devices() if d.zid == "zid-front")
        await eventually(lambda: front.faulted is True, what="a good update after the bad ones")
        assert hub.socket.stats.connects == 1 and hub.socket.stats.dropped == 3
        assert hub.ignored >= 5
        assert len(await home.get_devices()) == 8


async def test_oversized_frame_costs_a_reconnect_and_nothing_else() -> None:
    async with fake_ring(max_frame_bytes=64 * 1024) as (ring, api):
        home = await location(api)
        await home.get_devices()
        await ring.push(json.dumps({"channel": "DataUpdate", "msg": {"blob": "x" * 100_000}}))
        hub = home.hub
        assert hub is not None
        await eventually(lambda: hub.socket is not None and hub.socket.stats.oversized == 1)
        await eventually(lambda: hub.connected and len(ring.tickets_issued) == 2, what="the reconnect")
        assert len(await home.get_devices()) == 8


async def test_volume_lights_rooms_siren_and_device_commands() -> None:
    async with fake_ring() as (ring, api):
        home = await location(api)
        devices: dict[str, HubDevice] = {d.zid: d for d in await home.get_devices()}
        keypad, porch, front = devices["zid-keypad"], devices["zid-porch"], devices["zid-front"]
        await keypad.set_volume(0.25)
        await eventually(lambda: keypad.volume == 0.25, what="the volume update")
        with pytest.raises(CapabilityError, match="has no volume"):
            await front.set_volume(0.5)
        with pytest.raises(ValueError, match="between 0 and 1"):
            await keypad.set_volume(1.5)
        await porch.set_light(True, duration_s=120)
        await porch.set_light(False)
        await porch.set_brightness(0.8)
        with pytest.raises(ValueError, match="32767"):
            await porch.set_light(True, duration_s=40_000)
        with pytest.raises(CapabilityError):
            await front.set_light(True)
        await eventually(lambda: porch.data.get("level") == 0.8, what="the level update")
        to_porch = [m["body"][0] for m in sent(ring, "DeviceInfoSet") if m["body"][0]["zid"] == "zid-porch"]
        assert to_porch[0]["command"]["v1"] == [
            {"commandType": "light-mode.set", "data": {"lightMode": "on", "duration": 120}}
        ]
        assert to_porch[1]["command"]["v1"][0]["data"] == {"lightMode": "default"}
        assert to_porch[2] == {"zid": "zid-porch", "device": {"v1": {"level": 0.8}}}
        assert all(m["dst"] == BEAM for m in sent(ring, "DeviceInfoSet") if m["body"][0]["zid"] == "zid-porch")
        assert await home.get_rooms() == [{"id": 1, "name": "Hall"}, {"id": 1, "name": "Hall"}]
        panel = await home.get_security_panel()
        await home.sound_siren()
        await eventually(lambda: panel.data.get("siren") == {"state": "on"}, what="siren on")
        await home.silence_siren()
        await eventually(lambda: panel.data.get("siren") == {"state": "off"}, what="siren off")


async def test_history_pages_monitoring_and_light_groups_over_rest() -> None:
    ring = FakeRing()
    ring.history = [
        {"msg": "DataUpdate", "datatype": "DeviceInfoDocType", "body": [], "context": {"eventOccurredTsMs": 1000 - i}}
        for i in range(7)
    ]
    async with fake_ring(ring) as (_, api):
        home = await location(api)
        page = await home.get_alarm_history(limit=5, category="alarm", affected_id="zid-panel")
        assert len(page) == 5
        asked = [r for r in ring.rest if "/rs/history" in r[1]][-1][2]
        assert asked == {
            "accountId": LOC,
            "limit": "5",
            "offset": "0",
            "maxLevel": "50",
            "category": "alarm",
            "affectedId": "zid-panel",
        }
        items = [item async for item in home.iter_alarm_history(page_size=3)]
        assert [i["context"]["eventOccurredTsMs"] for i in items] == [1000 - i for i in range(7)]
        offsets = [r[2]["offset"] for r in ring.rest if "/rs/history" in r[1]][1:]
        assert offsets == ["0", "3", "6"]
        assert (await home.get_monitoring_status())["accountState"] == "PROFESSIONAL"
        groups = await home.get_light_groups()
        assert [(g.id, g.name, g.device_ids) for g in groups] == [("grp-1", "Backyard", ["7001"])]
        assert (await groups[0].get_state())["lights_on"] is False
        await groups[0].set_lights(True, duration_s=60)
        assert ring.rest[-1] == (
            "POST",
            f"/api.ring.com/groups/v1/locations/{LOC}/groups/grp-1/devices",
            {"lights_on": {"enabled": True, "duration_seconds": 60}},
        )
        assert home.hub is None  # REST only: no socket


async def test_disconnect_closes_the_socket_and_leaves_no_task() -> None:
    before = asyncio.all_tasks()
    async with fake_ring() as (_, api):
        home = await location(api)
        await home.get_devices()
        hub = home.hub
        assert hub is not None and hub.connected
        await api.disconnect()
        assert home.hub is None and not hub.connected
        assert hub.socket is None
    await asyncio.sleep(0.05)
    assert {t for t in asyncio.all_tasks() - before if not t.done()} == set()


def test_flatten_lets_device_v1_win_and_tolerates_odd_parts() -> None:
    assert flatten({"general": {"v2": {"zid": "z", "mode": "a"}}, "device": {"v1": {"mode": "b"}}}) == {
        "zid": "z",
        "mode": "b",
    }
    assert flatten({"general": [], "device": {"v1": None}}) == {}


@pytest.mark.parametrize(
    ("device_type", "category", "kind", "label"),
    [
        ("security-panel", 22, HubDeviceKind.SECURITY_PANEL, "alarm panel"),
        ("hub.redsky", 22, HubDeviceKind.BASE_STATION, "base station"),
        ("hub.kili", 22, HubDeviceKind.BASE_STATION, "base station"),
        ("security-keypad", 33, HubDeviceKind.KEYPAD, "keypad"),
        ("sensor.contact", 5, HubDeviceKind.CONTACT_SENSOR, "alarm sensor"),
        ("sensor.zone", 5, HubDeviceKind.CONTACT_SENSOR, "alarm sensor"),
        ("sensor.motion", 30, HubDeviceKind.MOTION_SENSOR, "alarm sensor"),
        ("sensor.flood-freeze", 5, HubDeviceKind.FLOOD_FREEZE_SENSOR, "alarm sensor"),
        ("sensor.temperature", 5, HubDeviceKind.TEMPERATURE_SENSOR, "alarm sensor"),
        ("sensor.tilt", 5, HubDeviceKind.TILT_SENSOR, "alarm sensor"),
        ("sensor.glassbreak", 5, HubDeviceKind.GLASSBREAK_SENSOR, "alarm sensor"),
        ("sensor.something-new", 5, HubDeviceKind.SENSOR, "alarm sensor"),
        ("alarm.smoke", 15, HubDeviceKind.SMOKE_ALARM, "smoke/co alarm"),
        ("alarm.co", 15, HubDeviceKind.CO_ALARM, "smoke/co alarm"),
        ("listener.smoke-co", 15, HubDeviceKind.SMOKE_CO_LISTENER, "smoke/co alarm"),
        ("comp.bluejay.sensor_bluejay_wsc", 15, HubDeviceKind.SMOKE_ALARM, "smoke/co alarm"),
        ("security-panic", 35, HubDeviceKind.PANIC_BUTTON, "panic button"),
        ("siren.outdoor-strobe", 34, HubDeviceKind.SIREN, "siren"),
        ("range-extender.zwave", 32, HubDeviceKind.RANGE_EXTENDER, "range extender"),
        ("adapter.zigbee", 31, HubDeviceKind.ADAPTER, "adapter"),
        ("access-code.vault", 22, HubDeviceKind.ACCESS_CODE, "access code"),
        ("switch.multilevel.bulb", 2, HubDeviceKind.LIGHT, "light"),
        ("switch.multilevel", 2, HubDeviceKind.DIMMER, "light"),
        ("switch.multilevel", 17, HubDeviceKind.DIMMER, "switch"),  # a fan
        ("switch", 1, HubDeviceKind.SWITCH, "switch"),
        ("lock", 10, HubDeviceKind.LOCK, "lock"),
        ("lock.zwave-deadbolt", 10, HubDeviceKind.LOCK, "lock"),
        ("temperature-control.thermostat", 11, HubDeviceKind.THERMOSTAT, "thermostat"),
        ("valve.water", 37, HubDeviceKind.VALVE, "valve"),
        ("switch.beams", 2, HubDeviceKind.BEAMS_LIGHT, "light"),
        ("switch.multilevel.beams", 2, HubDeviceKind.BEAMS_LIGHT, "light"),
        ("switch.transformer.beams", 2, HubDeviceKind.BEAMS_TRANSFORMER, "light"),
        ("motion-sensor.beams", 30, HubDeviceKind.BEAMS_MOTION_SENSOR, "light motion sensor"),
        ("group.light-group.beams", 2, HubDeviceKind.BEAMS_GROUP, "light group"),
        ("unknown.zwave", 29, HubDeviceKind.UNKNOWN, "unknown"),
        ("", None, HubDeviceKind.UNKNOWN, "unknown"),
    ],
)
def test_device_types_map_to_kinds_and_labels(
    device_type: str, category: int | None, kind: HubDeviceKind, label: str
) -> None:
    from ringvault.cloud.hub import kind_of, type_label

    assert kind_of(device_type) is kind
    assert type_label(kind, category) == label


async def test_refusal_messages_name_what_is_in_the_way_in_one_line() -> None:
    from ringvault.cloud.hub.alarm import arm_refusal
    from ringvault.cloud.hub.connection import HubConnection
    from tests.cloud.hub_fake import doc

    conn = HubConnection("loc", "Home", http=None)  # type: ignore[arg-type]
    window = HubDevice(conn, BASE, doc("z1", "Kitchen Window", "sensor.contact", faulted=True))
    hall = HubDevice(conn, BASE, doc("z2", "Hall Motion", "sensor.motion", faulted=True))
    flood = HubDevice(conn, BASE, doc("z3", "Basement Flood", "sensor.flood-freeze", faulted=True))
    assert str(arm_refusal("all", [window, hall], "none")) == (
        'cannot arm away: "Kitchen Window" is open, "Hall Motion" detects motion — bypass them or close them'
    )
    assert str(arm_refusal("some", [hall], "none")) == (
        'cannot arm home: "Hall Motion" detects motion — bypass it or clear it'
    )
    assert str(arm_refusal("all", [flood], "none")) == (
        'cannot arm away: "Basement Flood" is faulted — bypass it or clear it'
    )
    bare = arm_refusal("some", [], "none")
    assert str(bare).startswith("cannot arm home: the alarm stayed disarmed") and "\n" not in str(bare)
    assert str(arm_refusal("none", [], "all")).startswith("cannot disarm: the alarm stayed away")


async def test_a_refused_home_arm_names_the_open_contact_not_the_motion_sensor() -> None:
    async with fake_ring() as (ring, api):
        home = await location(api)
        devices = {d.zid: d for d in await home.get_devices()}
        await ring.update("zid-front", {"faulted": True})
        await ring.update("zid-hall", {"faulted": True})
        await eventually(lambda: devices["zid-front"].faulted is True and devices["zid-hall"].faulted is True)
        with pytest.raises(AlarmArmError) as refused:
            await home.arm_home()
        assert str(refused.value) == 'cannot arm home: "Front Door Contact" is open — bypass it or close it'
        with pytest.raises(AlarmArmError) as away:
            await home.arm_away()
        assert [d.name for d in away.value.faulted] == ["Front Door Contact", "Hall Motion"]
