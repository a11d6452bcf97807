"""``RingApi`` and ``Location`` against the real simulator: locations, every family, find_device, polling, events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ringvault.cloud.api import AmbiguousDeviceError, RingApi
from ringvault.cloud.camera import RingCamera
from ringvault.cloud.chime import RingChime
from ringvault.cloud.device import RingDevice
from ringvault.cloud.endpoints import clients_api
from ringvault.cloud.errors import CapabilityError, DeviceNotFoundError
from ringvault.cloud.intercom import RingIntercom
from ringvault.cloud.models.devices import CameraEntry
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, sim_patch, world, world_device, world_kind


async def test_locations_join_user_locations_and_every_family(sim: SimServer, rv_home: Path) -> None:
    truth = world(sim)
    async with open_api(sim, rv_home) as api:
        locations = await api.get_locations()
        assert [(loc.id, loc.name) for loc in locations] == [(loc["id"], loc["name"]) for loc in truth["locations"]]
        home = locations[0]
        assert home.data.address is not None and home.data.timezone == truth["locations"][0]["timezone"]
        assert home.has_hubs and home.has_alarm_base_station
        assert not locations[1].has_alarm_base_station

        # every simulated device is represented exactly once, in its own location
        by_id = {d.id: d for d in await api.get_all_devices()}
        assert set(by_id) == {d["id"] for d in truth["devices"]}
        for expected in truth["devices"]:
            device = by_id[expected["id"]]
            assert device.name == expected["name"] and device.kind == expected["kind"]
            assert device.family == expected["family"] and device.location_id == expected["location_id"]

        snapshot = await api.get_devices()
        assert len(snapshot) == len(truth["devices"])
        families = {d.family for d in snapshot.cameras}
        assert families == {"doorbots", "authorized_doorbots", "stickup_cams", "other"}  # ONVIF lives in `other`
        assert {c.kind for c in snapshot.chimes} >= {"chime_pro_v2", "chime"}
        assert [i.kind for i in snapshot.intercoms] == ["intercom_handset_audio"]
        assert [b.kind for b in snapshot.base_stations] == ["base_station_v1"]
        assert [b.kind for b in snapshot.beams_bridges] == ["beams_bridge_v1"]
        assert [o.kind for o in snapshot.other] == ["third_party_gdo"]
        assert all(isinstance(d, RingDevice) for d in snapshot.other)
        gdo = snapshot.other[0]
        assert gdo.raw["metadata"]["integration_type"] and gdo.model == "Key by Amazon Garage Door Opener"

        cameras = await api.get_cameras()
        assert [c.id for c in cameras] == [c.id for loc in locations for c in loc.cameras]
        assert {c.id for c in await api.get_chimes()} == {c.id for c in snapshot.chimes}
        assert isinstance((await api.get_intercoms())[0], RingIntercom)

        # unknown kinds fall back to family and field presence
        patio = next(c for c in cameras if c.kind == "hexa_camera_2_v1")
        assert patio.model == "Unknown Camera" and patio.has_siren and not patio.has_light and not patio.is_doorbot
        neighbor = next(c for c in cameras if c.family == "authorized_doorbots")
        assert neighbor.is_doorbot and neighbor.battery_level == 71
        flood = next(c for c in cameras if c.kind == "floodlight_v2")
        assert flood.has_light and flood.has_siren and not flood.has_battery and flood.battery_level is None
        old_pro = next(c for c in cameras if c.kind == "lpd_v1")  # wired, yet battery_life 4081
        assert not old_pro.has_battery and old_pro.battery_level is None

        # the raw document is kept next to the parsed one
        raw = await api.fetch_ring_devices()
        assert set(raw.raw) >= {"doorbots", "authorized_doorbots", "stickup_cams", "chimes", "other"}
        assert len(list(raw.all_entries())) == len(truth["devices"])


async def test_locations_are_cached_and_objects_stable(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        first = await api.get_cameras()
        again = await api.get_cameras()
        assert all(a is b for a, b in zip(first, again, strict=True))
        refreshed = await api.get_locations(refresh=True)
        assert {c.id: c for loc in refreshed for c in loc.cameras}[first[0].id] is first[0]


async def test_location_ids_filter(sim: SimServer, rv_home: Path) -> None:
    truth = world(sim)
    lake = truth["locations"][1]
    async with open_api(sim, rv_home, location_ids=[lake["id"]]) as api:
        locations = await api.get_locations()
        assert [loc.id for loc in locations] == [lake["id"]]
        expected = {d["id"] for d in truth["devices"] if d["location_id"] == lake["id"]}
        assert {d.id for d in await api.get_all_devices()} == expected
        assert all(c.location_id == lake["id"] for c in await api.get_cameras())
        with pytest.raises(DeviceNotFoundError):
            await api.find_device("Driveway Floodlight")  # lives in the other location


async def test_find_device_by_id_name_partial_unknown_and_ambiguous(sim: SimServer, rv_home: Path) -> None:
    flood = world_device(sim, "Driveway Floodlight")
    async with open_api(sim, rv_home) as api:
        by_id = await api.find_device(str(flood["id"]))
        assert isinstance(by_id, RingCamera) and by_id.id == flood["id"]
        assert await api.find_device(flood["id"]) is by_id
        assert await api.find_device("driveway FLOODLIGHT") is by_id
        assert await api.find_device("floodlight") is by_id  # unique partial name
        chime = await api.find_device("hall chime")
        assert isinstance(chime, RingChime)
        assert await api.find_camera("driveway floodlight") is by_id
        with pytest.raises(CapabilityError, match="not a camera"):
            await api.find_camera("hall chime")

        # an exact name wins over partial matches ("Front Door" is also part of other names)
        front = world_device(sim, "Front Door")
        assert (await api.find_device("front door")).id == front["id"]
        with pytest.raises(AmbiguousDeviceError):
            await api.find_device("door")  # partial: several doors

        # two devices with the same name: ambiguous, and the error lists both ids
        garden, garage = world_device(sim, "Garden"), world_device(sim, "Garage Cam")
        for device in (garden, garage):
            sim_patch(sim, f"/_sim/devices/{device['id']}", {"description": "Twin"})
        await api.refresh_devices()
        with pytest.raises(AmbiguousDeviceError) as ambiguous:
            await api.find_device("twin")
        assert str(garden["id"]) in str(ambiguous.value) and str(garage["id"]) in str(ambiguous.value)
        assert "numeric" in ambiguous.value.hint

        with pytest.raises(DeviceNotFoundError) as missing:
            await api.find_device("Drivewya Floodlite")
        assert "Driveway Floodlight" in missing.value.hint
        with pytest.raises(DeviceNotFoundError):
            await api.find_device("123")


async def test_profile_and_refresh_token_event(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        profile = await api.get_profile()
        assert profile.email == sim.state.config.email and profile.id == world(sim)["profile"]["id"]
        assert api.on_refresh_token_updated is api.auth.on_refresh_token_updated


async def test_polling_feeds_on_data_after_a_change_and_tracks_devices(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home, camera_status_polling_seconds=0.2) as api:
        flood = await api.find_device("Driveway Floodlight")
        assert isinstance(flood, RingCamera) and not flood.light_on
        seen: list[CameraEntry] = []
        light_on = asyncio.Event()

        def on_data(entry: CameraEntry) -> None:
            seen.append(entry)
            if entry.led_status == "on":
                light_on.set()

        flood.on_data.subscribe(on_data)
        # change the light behind the object's back: only polling can tell it
        await api.http.request("PUT", clients_api(f"doorbots/{flood.id}/floodlight_light_on"))
        await asyncio.wait_for(light_on.wait(), timeout=30)
        assert flood.light_on and flood.data.led_status == "on"
        assert api.polling

        # a device renamed in the cloud shows its new name after the next poll
        patio = world_kind(sim, "hexa_camera_2_v1")
        patio_cam = await api.find_device(patio["id"])
        renamed = asyncio.Event()
        patio_cam.on_data.subscribe(lambda entry: renamed.set() if entry.description == "Patio Camera" else None)
        sim_patch(sim, f"/_sim/devices/{patio['id']}", {"description": "Patio Camera"})
        await asyncio.wait_for(renamed.wait(), timeout=30)
        assert (await api.find_device("patio camera")) is patio_cam

        # a device that disappears from ring_devices is dropped; one that appears is added
        removed: list[Any] = []
        added: list[Any] = []
        was_removed, was_added = asyncio.Event(), asyncio.Event()
        api.on_device_removed.subscribe(lambda d: (removed.append(d), was_removed.set()))
        api.on_device_added.subscribe(lambda d: (added.append(d), was_added.set()))
        world_obj = sim.state.world
        with world_obj._lock:
            gone = world_obj.devices.pop(patio["id"])
        await asyncio.wait_for(was_removed.wait(), timeout=30)
        assert [d.id for d in removed] == [patio["id"]] and removed[0].removed
        assert patio["id"] not in {d.id for d in await api.get_all_devices()}
        with world_obj._lock:
            world_obj.devices[gone.id] = gone
        await asyncio.wait_for(was_added.wait(), timeout=30)
        assert [d.id for d in added] == [patio["id"]]
        assert patio["id"] in {c.id for c in await api.get_cameras()}
    assert not api.polling


async def test_location_events_every_page_matches_world(sim: SimServer, rv_home: Path) -> None:
    truth = world(sim)
    async with open_api(sim, rv_home) as api:
        for location in await api.get_locations():
            ids = {d["id"] for d in truth["devices"] if d["location_id"] == location.id}
            expected = sum(count for device_id, count in truth["events"].items() if int(device_id) in ids)
            pages = [page async for page in location.iter_camera_events(limit=7)]
            events = [e for page in pages for e in page.events]
            assert len(events) == expected and expected > 0
            assert len({e.ding_id_str for e in events}) == expected  # no duplicates across pages
            assert len(pages) == -(-expected // 7)
            assert all(e.ding_id is not None and str(e.ding_id) == e.ding_id_str for e in events)
            assert all(e.created_at is not None and e.created_at.tzinfo is not None for e in events)
            first = await location.get_camera_events(limit=3)
            assert len(first.events) == 3 and first.pagination_key is not None


async def test_location_mode_get_and_set(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        lake = (await api.get_locations())[1]
        modes: list[str | None] = []
        lake.on_location_mode.subscribe(lambda m: modes.append(m.mode))
        before = await lake.get_location_mode()
        assert before.mode in ("home", "away", "disarmed", "disabled", "unset")
        after = await lake.set_location_mode("away")
        assert after.mode == "away"
        assert (await lake.get_location_mode()).mode == "away"
        assert modes[-1] == "away"
        with pytest.raises(ValueError):
            await lake.set_location_mode("party")


async def test_disconnect_closes_and_context_manager(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home, camera_status_polling_seconds=30) as api:
        await api.get_locations()
        assert api.polling
        await api.disconnect()
        assert not api.polling
    assert isinstance(api, RingApi)


async def test_unknown_families_kinds_and_locations_are_kept(
    sim: SimServer, rv_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quirks the seeded world does not produce on its own: an old ``beams`` family key, a brand-new kind in
    ``other``, a device in a location the account does not list, and an entry without an id."""
    sim_world = sim.state.world
    home_id = world(sim)["locations"][0]["id"]
    original = sim_world.ring_devices

    def with_quirks() -> dict[str, Any]:
        doc = original()
        doc["beams"] = [{"id": 7001, "kind": "beams_motion_sensor_v9", "location_id": home_id, "description": "Beam"}]
        doc["other"].append(
            {"id": 7002, "kind": "sprinkler_v1", "location_id": home_id, "description": "Sprinkler", "zones": [1, 2]}
        )
        doc["other"].append({"kind": "no_id_at_all", "location_id": home_id})
        doc["stickup_cams"].append(
            {
                "id": 7003,
                "kind": "cocoa_camera_v9",
                "location_id": "somewhere-else",
                "description": "Stray Cam",
                "led_status": "off",
                "battery_life": "33",
                "alerts": {"connection": "online"},
            }
        )
        return doc

    monkeypatch.setattr(sim_world, "ring_devices", with_quirks)
    async with open_api(sim, rv_home) as api:
        snapshot = await api.get_devices()
        assert [d.id for d in snapshot.unknown_families["beams"]] == [7001]
        sprinkler = next(d for d in snapshot.other if d.id == 7002)
        assert sprinkler.raw["zones"] == [1, 2] and sprinkler.model == "Unknown Device"
        stray = await api.find_camera("stray cam")
        assert stray.has_light and stray.has_battery and stray.battery_level == 33
        assert stray.model == "Unknown Camera"
        locations = await api.get_locations()
        extra = next(loc for loc in locations if loc.id == "somewhere-else")
        assert not extra.known and extra.cameras == [stray]
        with pytest.raises(CapabilityError):
            await extra.get_camera_events()
        assert all(d.id for d in snapshot.all)  # the entry without an id was skipped, nothing crashed
        assert (await api.find_device("beam")).family == "beams"


async def test_location_mode_polling_skips_alarm_locations(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home, location_mode_polling_seconds=0.1) as api:
        home, lake = await api.get_locations()
        assert home.has_alarm_base_station and not lake.has_alarm_base_station
        polled = asyncio.Event()
        home_modes: list[object] = []
        home.on_location_mode.subscribe(home_modes.append)

        async def on_mode(mode: object) -> None:  # async subscribers are scheduled on the loop
            polled.set()

        lake.on_location_mode.subscribe(on_mode)
        await asyncio.wait_for(polled.wait(), timeout=30)
        assert lake.on_location_mode.value is not None and lake.on_location_mode.value.mode
        assert home_modes == []  # the alarm location takes its mode from the security panel
