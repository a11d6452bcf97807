"""The seeded world: determinism, every family and kind, Ring's quirks, ding ids, retention, mutable state."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig
from ringvault.sim.world import FAMILIES, World

START = 1_767_000_000.0  # a fixed "now" for determinism tests


class FixedClock(SimClock):
    """A clock frozen at START (plus advance())."""

    def now(self) -> float:
        return START + self.offset


def _world(seed: int = 7, **overrides: Any) -> World:
    config = SimConfig(seed=seed, **{"locations": 3, "events_per_device": 25, **overrides})
    return World.generate(config, FixedClock())


def _entries(world: World) -> list[dict[str, Any]]:
    return [item for family in world.ring_devices().values() for item in family]


def _by_kind(world: World) -> dict[str, dict[str, Any]]:
    return {item["kind"]: item for item in _entries(world)}


def test_same_seed_same_world() -> None:
    a, b = _world(), _world()
    assert a.ring_devices() == b.ring_devices()
    assert a.user_locations() == b.user_locations()
    assert a.summary("full") == b.summary("full")
    assert a.s3_secret == b.s3_secret


def test_start_ups_within_the_hour_see_the_same_world() -> None:
    config = SimConfig(seed=7, locations=2, events_per_device=5)
    hour_start = START // 3600 * 3600
    early, late = FixedClock(hour_start + 10 - START), FixedClock(hour_start + 3500 - START)
    a, b = World.generate(config, early), World.generate(config, late)
    assert [e.id for e in a.visible_events()] == [e.id for e in b.visible_events()]


def test_other_seed_other_world() -> None:
    a, b = _world(seed=7), _world(seed=8)
    assert {d["id"] for d in _entries(a)} != {d["id"] for d in _entries(b)}
    assert [loc["location_id"] for loc in a.user_locations()] != [loc["location_id"] for loc in b.user_locations()]


def test_every_family_and_the_required_kinds() -> None:
    world = _world()
    data = world.ring_devices()
    assert list(data) == list(FAMILIES)
    for family in FAMILIES:
        assert isinstance(data[family], list) and data[family], family
    kinds = set(_by_kind(world))
    required = {
        "doorbell_oyster",
        "lpd_v4",
        "floodlight_v2",
        "stickup_cam_lunar",
        "cocoa_spotlight",
        "stickup_cam_mini_v2",
        "chime_pro_v2",
        "chime",
        "base_station_v1",
        "beams_bridge_v1",
        "intercom_handset_audio",
        "third_party_gdo",
        "onvif_camera",
    }
    assert required <= kinds
    assert kinds & {"cocoa_camera_v3", "hexa_camera_2_v1"}, "a kind that clients do not know yet"
    assert all(not item["owned"] for item in data["authorized_doorbots"])
    # every location has at least one doorbell and one stick-up camera
    for location in world.user_locations():
        loc = location["location_id"]
        assert any(d["location_id"] == loc for d in data["doorbots"])
        assert any(d["location_id"] == loc for d in data["stickup_cams"])


def test_locations_use_both_id_styles_and_several_time_zones() -> None:
    locations = _world().user_locations()
    ids = [loc["location_id"] for loc in locations]
    assert any(re.fullmatch(r"[0-9a-z]{6}-[0-9a-z]{5}-0", i) for i in ids)
    assert any(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids)
    zones = {loc["address"]["timezone"] for loc in locations}
    assert {"America/New_York", "Europe/Rome", "America/Los_Angeles"} <= zones
    for loc in locations:
        assert isinstance(loc["geo_coordinates"]["latitude"], str)


def test_entry_quirks() -> None:
    world = _world()
    data = world.ring_devices()
    kinds = _by_kind(world)
    cameras = data["doorbots"] + data["authorized_doorbots"] + data["stickup_cams"]
    # battery_life: numeric strings, numbers, null for wired, above 100 on an old doorbell
    assert isinstance(kinds["doorbell_oyster"]["battery_life"], str)
    assert kinds["intercom_handset_audio"]["battery_life"] == "52"
    assert kinds["lpd_v4"]["battery_life"] is None and kinds["floodlight_v2"]["battery_life"] is None
    assert isinstance(kinds["stickup_cam_lunar"]["battery_life"], int)
    assert kinds["lpd_v1"]["battery_life"] > 100
    # string booleans
    assert {c["night_mode_status"] for c in cameras} <= {"true", "false", "unknown"}
    assert all(isinstance(c["ring_cam_light_installed"], str) for c in cameras)
    # base stations: alerts array, null features/settings
    for base in data["base_stations"]:
        assert base["alerts"] == [] and base["features"] is None and base["settings"] is None
    # bridges: another schema
    for bridge in data["beams_bridges"]:
        assert "owner_id" in bridge and "role" in bridge and "hardware_id" in bridge and "owner" not in bridge
    # capabilities by field presence
    assert "led_status" in kinds["floodlight_v2"] and "siren_status" in kinds["floodlight_v2"]
    assert "led_status" not in kinds["stickup_cam_lunar"] and "siren_status" in kinds["stickup_cam_lunar"]
    assert "led_status" not in kinds["lpd_v4"] and "siren_status" not in kinds["lpd_v4"]
    # embedded health on most cameras, missing on the older shared entry
    assert all("health" in c for c in data["doorbots"] + data["stickup_cams"])
    assert all("health" not in c for c in data["authorized_doorbots"])
    # Protect plan flag, subscriptions, both created_at formats, firmware casing, presets oddity
    assert all(isinstance(c["features"]["show_recordings"], bool) for c in cameras)
    assert not kinds["stickup_cam_mini_v2"]["features"]["show_recordings"]
    assert all(isinstance(c["subscribed"], bool) and isinstance(c["subscribed_motions"], bool) for c in cameras)
    created = [c["created_at"] for c in cameras]
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", c) for c in created)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c) for c in created)
    assert {"Up to Date", "Up To Date"} <= {e.get("firmware_version") for e in _entries(world)}
    presets = {c["settings"]["motion_snooze_presets"][0] for c in cameras}
    assert presets == {"none", "null"}
    # JSON inside strings on intercoms
    intercom = kinds["intercom_handset_audio"]["settings"]["intercom_settings"]
    assert isinstance(intercom["config"], str) and '"unlock_duration"' in intercom["config"]


def test_ding_ids_are_big_unique_and_increase_with_time() -> None:
    world = _world()
    events = world.visible_events()
    assert events
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids)
    assert all(BIG_ID_MIN <= i < 2**63 and len(str(i)) == 19 for i in ids)
    by_time = sorted(events, key=lambda e: (e.created_at, e.id))
    assert [e.id for e in by_time] == sorted(ids)
    assert {e.millis_format for e in events} == {True, False}


BIG_ID_MIN = 2**53 + 1


def test_events_spread_over_history_and_per_device_count() -> None:
    world = _world(history_days=10.0, events_per_device=30)
    summary = world.summary("count")
    event_devices = [d for d in world.devices.values() if d.has_events]
    assert event_devices
    for device in event_devices:
        assert summary["events"][str(device.id)] == 30
        for event in device.events:
            assert world.start - 10 * 86400 <= event.created_at < world.start <= START
    kinds = {e.kind for e in world.visible_events()}
    assert {"ding", "motion", "on_demand"} <= kinds
    doorbell_ids = {d.id for d in world.devices.values() if d.family in ("doorbots", "authorized_doorbots")}
    assert all(e.device_id in doorbell_ids or world.devices[e.device_id].is_intercom for e in world.visible_events()
               if e.kind == "ding")  # fmt: skip


def test_device_families_knob_keeps_only_those_families() -> None:
    """The sync benchmark's account: 4 doorbells with a Protect plan, 200 events each, nothing else."""
    world = _world(locations=2, events_per_device=200, device_families=["doorbots"])
    entries = world.ring_devices()
    assert {family for family, items in entries.items() if items} == {"doorbots"}
    doorbells = list(world.devices.values())
    assert len(doorbells) == 4 and all(d.show_recordings for d in doorbells)
    assert {d.location_id for d in doorbells} == {loc.id for loc in world.locations}
    assert not world.groups  # no lighting bridge, so no light group
    summary = world.summary("count")["events"]
    assert summary == {str(d.id): 200 for d in doorbells}
    assert all(e.has_media and world.recording_ready(e) for e in world.visible_events())


def test_device_families_default_is_the_full_catalogue() -> None:
    full, explicit = _world(), _world(device_families=list(FAMILIES))
    assert full.ring_devices() == explicit.ring_devices()
    with pytest.raises(ValueError, match="device_families"):
        SimConfig(device_families=["toasters"])


def test_retention_drops_old_events() -> None:
    world = _world(history_days=30.0, retention_days=60.0)
    total = len(world.visible_events())
    world.clock.advance(45 * 86400)  # the oldest events are now 45..75 days old
    remaining = world.visible_events()
    assert 0 < len(remaining) < total
    cutoff = world.clock.now() - 60 * 86400
    assert all(e.created_at >= cutoff for e in remaining)


def test_create_event_is_newest_and_unique_across_threads() -> None:
    world = _world()
    camera = next(d for d in world.devices.values() if d.kind == "floodlight_v2")
    before = max(e.id for e in world.visible_events())
    made: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(25):
            event = world.create_event(camera.id, "motion")
            with lock:
                made.append(event.id)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 100 and min(made) > before
    assert world.visible_events([camera.id])[0].id == max(made)


def test_settings_merge_and_mirror() -> None:
    world = _world()
    camera = next(d for d in world.devices.values() if d.kind == "floodlight_v2")
    doc = world.patch_settings_document(camera.id, {"motion_settings": {"motion_detection_enabled": False}})
    assert doc["motion_settings"]["motion_detection_enabled"] is False
    assert doc["motion_settings"]["enable_ir_led"] is True  # untouched keys survive the merge
    assert world.device_entry(camera.id)["settings"]["motion_detection_enabled"] is False
    world.update_entry_settings(camera.id, {"motion_detection_enabled": True})
    assert world.settings_document(camera.id)["motion_settings"]["motion_detection_enabled"] is True


@pytest.mark.parametrize("offset", [0.0, 5.0])
def test_siren_countdown_follows_the_clock(offset: float) -> None:
    world = _world()
    camera = next(d for d in world.devices.values() if d.kind == "stickup_cam_lunar")
    world.set_siren(camera.id, True, 30)
    world.clock.advance(offset)
    status = world.device_entry(camera.id)["siren_status"]
    assert status["seconds_remaining"] == 30 - int(offset)
    assert status["duration"] == 30 and status["started_at"] and status["ends_at"]
    world.clock.advance(31)
    assert world.device_entry(camera.id)["siren_status"] == {"seconds_remaining": 0}


def test_unredeemed_tickets_are_bounded_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that asks for tickets and never connects cannot grow the simulator's memory: past the cap the oldest
    unredeemed tickets go; the newest still redeem once."""
    from ringvault.sim.world import locations

    monkeypatch.setattr(locations, "MAX_OPEN_TICKETS", 5)
    world = _world(locations=1, events_per_device=0)
    location_id = world.locations[0].id
    issued = [world.issue_ticket("hub", location_id) for _ in range(8)]
    assert len(world.tickets) == 5
    assert world.consume_ticket(issued[0]) is None  # one of the three oldest, dropped
    assert world.consume_ticket(issued[-1]) == {"purpose": "hub", "location_id": location_id, "issued_at": START}
    assert world.consume_ticket(issued[-1]) is None  # single use
