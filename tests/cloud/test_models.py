"""The tolerant models survive every quirk of Ring's JSON (ring-account-api §10.11) and keep the raw JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ringvault.cloud.models import (
    BaseStationEntry,
    BeamsBridgeEntry,
    CameraEntry,
    CameraEvent,
    CameraEventsPage,
    ChimeEntry,
    DeviceClass,
    DeviceHealth,
    HistoryItem,
    IntercomEntry,
    LocationMode,
    OtherDeviceEntry,
    Profile,
    RingDevices,
    UserLocation,
    VideoSearchResult,
    capabilities,
    device_class,
    model_name,
    parse_datetime,
    to_bool,
    to_id_str,
    to_int,
)

BIG = 7386533937534579876  # > 2**53: a float would round it
assert BIG > 2**53


def loads(text: str) -> Any:
    """Parse JSON text the way the HTTP layer does (stdlib json keeps big integers exact)."""
    return json.loads(text)


# -- lenient scalars ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(52, 52), ("52", 52), (" 52 ", 52), (52.0, 52), ("52.0", 52), (None, None), ("", None), ("n/a", None), ([], None)],
)
def test_to_int(value: Any, expected: int | None) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("TRUE", True),
        (1, True),
        ("1", True),
        (False, False),
        ("false", False),
        ("0", False),
        (0, False),
        ("unknown", None),
        (None, None),
    ],
)
def test_to_bool(value: Any, expected: bool | None) -> None:
    assert to_bool(value) is expected


def test_to_id_str_is_exact_and_refuses_rounded_floats() -> None:
    assert to_id_str(BIG) == str(BIG)
    assert to_id_str(str(BIG)) == str(BIG)
    assert to_id_str(123.0) == "123"
    assert to_id_str(float(BIG)) is None  # already rounded: never invent a wrong id
    assert to_id_str(None) is None


@pytest.mark.parametrize(
    "value",
    [
        "2017-03-05T15:03:40.000Z",
        "2017-03-05T15:03:40Z",
        "2017-03-05T15:03:40+00:00",
        1488726220000,
        1488726220,
        "1488726220000",
    ],
)
def test_all_timestamp_formats_give_the_same_aware_utc_datetime(value: Any) -> None:
    parsed = parse_datetime(value)
    assert parsed == datetime(2017, 3, 5, 15, 3, 40, tzinfo=UTC)
    assert parsed is not None and parsed.tzinfo is not None and parsed.utcoffset() is not None


def test_timestamp_with_offset_and_garbage() -> None:
    assert parse_datetime("2024-01-01T01:00:00+01:00") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_datetime("2024-01-01T00:00:00") == datetime(2024, 1, 1, tzinfo=UTC)  # naive taken as UTC
    assert parse_datetime("yesterday") is None
    assert parse_datetime({}) is None


# -- history, events, video search --------------------------------------------------------------------------------

HISTORY_NEW = (
    '{"id":7330963245622279024,"created_at":"2024-02-02T11:21:24.000Z","answered":false,"events":[],"kind":"ding",'
    '"favorite":false,"snapshot_url":"","recording":{"status":"ready"},"duration":40.0,'
    '"cv_properties":{"person_detected":null,"stream_broken":false,"detection_type":null,"cv_triggers":null},'
    '"properties":{"is_alexa":false},"doorbot":{"id":185036587,"description":"Ingresso","type":"intercom_handset_audio"},'
    '"device_placement":null,"geolocation":null,"siren":null,"is_e2ee":false,"had_subscription":false,'
    '"owner_id":"762490876","brand_new_field":{"x":1}}'
)
HISTORY_OLD = (
    '{"id":987654321,"kind":"motion","created_at":"2017-03-05T15:03:40.000Z","answered":false,"favorite":false,'
    '"events":[],"recording":{"status":"ready"},"snapshot_url":""}'
)


def test_history_item_big_id_exact_and_string_form() -> None:
    item = HistoryItem.model_validate(loads(HISTORY_NEW))
    assert item.id == 7330963245622279024
    assert item.id_str == "7330963245622279024"
    assert item.ding_id_str == item.id_str
    assert item.created_at == datetime(2024, 2, 2, 11, 21, 24, tzinfo=UTC)
    assert item.recording_ready
    assert item.owner_id == "762490876"
    assert item.doorbot is not None and item.doorbot.id == 185036587
    assert item.cv_properties is not None and item.cv_properties.stream_broken is False
    # unknown fields are kept, both on the model and in raw
    assert item.raw["brand_new_field"] == {"x": 1}
    assert item.model_extra is not None and item.model_extra["brand_new_field"] == {"x": 1}
    assert item.raw["id"] == 7330963245622279024


def test_history_item_old_shape_and_string_twin_wins() -> None:
    old = HistoryItem.model_validate(loads(HISTORY_OLD))
    assert old.id_str == "987654321" and old.kind == "motion"
    # a producer that rounded the number but sent the string twin: the string wins
    rounded = HistoryItem.model_validate({"id": float(BIG), "id_str": str(BIG)})
    assert rounded.id_str == str(BIG) and rounded.id == BIG
    # only a rounded float: no exact id can be recovered, so none is claimed
    lossy = HistoryItem.model_validate({"id": float(BIG)})
    assert lossy.id_str is None and lossy.id is None


def test_camera_events_page_and_ids() -> None:
    doc = loads(
        '{"events":[{"created_at":"2024-08-29T15:33:41.000Z","cv_properties":{"detection_type":"human",'
        '"person_detected":true,"stream_broken":false},"ding_id":7407512345678901234,"ding_id_str":"7407512345678901234",'
        '"doorbot_id":123456789,"favorite":false,"kind":"motion","recorded":false,"recording_status":"ready",'
        '"state":"timed_out"},{"ding_id":7407512345678900000,"created_at":1724945621000}, "junk"],'
        '"meta":{"pagination_key":"7407512345678901234"}}'
    )
    page = CameraEventsPage.model_validate(doc)
    assert page.pagination_key == "7407512345678901234"
    assert len(page.events) == 2
    first, second = page.events
    assert isinstance(first, CameraEvent)
    assert first.ding_id == 7407512345678901234 and first.ding_id_str == "7407512345678901234"
    assert first.cv_properties is not None and first.cv_properties.person_detected is True
    assert second.ding_id_str == "7407512345678900000"
    assert second.created_at == datetime.fromtimestamp(1724945621, tz=UTC)
    last = CameraEventsPage.model_validate({"events": [], "meta": {"pagination_key": None}})
    assert last.events == [] and last.pagination_key is None
    assert CameraEventsPage.model_validate({}).events == []


def test_video_search_string_id_and_epoch_ms() -> None:
    doc = loads(
        '{"ding_id":"7407512345678901234","created_at":1724945621000,"hq_url":null,"lq_url":"https://x/y.mp4",'
        '"kind":"motion","state":"timed_out","had_subscription":true,"duration":30,'
        '"cv_properties":{"person_detected":null}}'
    )
    item = VideoSearchResult.model_validate(doc)
    assert item.ding_id == "7407512345678901234" == item.ding_id_str
    assert item.created_at == datetime.fromtimestamp(1724945621, tz=UTC)
    assert item.duration == 30.0 and item.hq_url is None
    assert "lq_url" not in repr(item)  # signed URLs stay out of logs


# -- ring_devices ---------------------------------------------------------------------------------------------------

CAMERA = {
    "id": 123456789,
    "description": "Garden Floodcam",
    "device_id": "aa:bb:cc:dd:ee:01",
    "kind": "floodlight_v2",
    "location_id": "zyxw12-4wxyz-0",
    "latitude": "40.5",
    "created_at": "2020-01-01T00:00:00Z",
    "battery_life": None,
    "alerts": {"connection": "online"},
    "night_mode_status": "false",
    "led_status": "off",
    "siren_status": {"seconds_remaining": "0"},
    "ring_cam_light_installed": "false",
    "features": {"show_recordings": True},
    "settings": {"motion_detection_enabled": True, "power_mode": "wired", "chime_settings": {"type": 0}},
    "health": {"rssi": "-55", "connected": "true"},
}


def ring_devices_doc() -> dict[str, Any]:
    return {
        "doorbots": [
            {
                "id": 1001,
                "description": "Front Door",
                "kind": "cocoa_doorbell_v9",  # a kind nobody knows yet
                "location_id": "loc-1",
                "battery_life": "52",
                "battery_life_2": 80,
                "alerts": {"connection": "offline", "battery": "low"},
                "created_at": "2023-12-01T18:05:25.000Z",
                "settings": None,
                "features": None,
                "health": None,
            }
        ],
        "authorized_doorbots": [],
        "stickup_cams": [CAMERA, {"id": 1003, "kind": "stickup_cam_medusa", "location_id": None}],
        "chimes": [
            {
                "id": 2001,
                "description": "Hall Chime",
                "kind": "chime_pro_v2",
                "location_id": "loc-1",
                "settings": {
                    "volume": "6",
                    "ding_audio_id": None,
                    "night_light_settings": {"light_sensor_enabled": False},
                },
                "do_not_disturb": {"seconds_left": 0},
                "alerts": {"connection": "online", "rssi": "good"},
            }
        ],
        "base_stations": [
            {
                "id": 3001,
                "kind": "base_station_v1",
                "location_id": "loc-1",
                "description": "Alarm Base Station",
                "alerts": [],
                "features": None,
                "settings": None,
            }
        ],
        "beams_bridges": [
            {
                "id": 4001,
                "kind": "beams_bridge_v1",
                "location_id": "loc-1",
                "hardware_id": "beam-hw-1",
                "owner_id": 1,
                "role": "owner",
                "metadata": {"ethernet": True},
            }
        ],
        "other": [
            {
                "id": 185036587,
                "kind": "intercom_handset_audio",
                "description": "Ingress",
                "location_id": "loc-1",
                "battery_life": "52",
                "created_at": "2023-12-01T18:05:25Z",
                "settings": {
                    "doorbell_volume": "8",
                    "intercom_settings": {
                        "predecessor": '{"make":"Comelit","model":"2738W","wires":2}',
                        "config": '{"analog":{"unlock_duration":3}}',
                    },
                },
            },
            {"id": 5002, "kind": "onvif_camera", "description": "ONVIF", "location_id": "loc-1"},
            {"id": 6001, "kind": "third_party_gdo", "description": "Garage", "location_id": "loc-1", "owner_id": 1},
            {"id": 6002, "kind": "hexa_camera_99", "description": "Mystery", "location_id": "loc-1", "x": [1, 2]},
            "not-an-object",
        ],
        "beams": [{"id": 7001, "kind": "beams_motion_sensor", "location_id": "loc-1"}],
        "future_family": [{"id": 8001, "kind": "sprinkler_v1", "location_id": "loc-1"}],
        "some_flag": True,
    }


def test_ring_devices_all_families_and_unknown_keys_kept() -> None:
    doc = ring_devices_doc()
    devices = RingDevices.model_validate(json.loads(json.dumps(doc)))
    assert [e.id for e in devices.doorbots] == [1001]
    assert [e.id for e in devices.stickup_cams] == [123456789, 1003]
    assert [type(e) for e in devices.other] == [IntercomEntry, CameraEntry, OtherDeviceEntry, OtherDeviceEntry]
    assert isinstance(devices.base_stations[0], BaseStationEntry)
    assert isinstance(devices.beams_bridges[0], BeamsBridgeEntry)
    assert isinstance(devices.chimes[0], ChimeEntry)
    # unknown families are kept with their entries, and the raw document is untouched
    assert set(devices.extra_families) == {"beams", "future_family"}
    assert devices.extra_families["future_family"][0].id == 8001
    assert devices.raw["some_flag"] is True and "future_family" in devices.raw
    families = dict(devices.families())
    assert set(families) >= {"doorbots", "other", "beams", "future_family"}
    assert len(list(devices.all_entries())) == 12
    assert [c.id for c in devices.cameras] == [1001, 123456789, 1003, 5002]
    assert devices.find(6002) is not None and devices.find(6002)[0] == "other"  # type: ignore[index]
    # the unknown kind keeps all of its data
    mystery = devices.other[3]
    assert mystery.raw["x"] == [1, 2] and mystery.kind == "hexa_camera_99"


def test_missing_and_null_families_become_empty_lists() -> None:
    devices = RingDevices.model_validate({"doorbots": None, "chimes": "oops"})
    assert devices.doorbots == [] and devices.chimes == [] and devices.other == []
    assert list(devices.all_entries()) == []


def test_camera_entry_quirks() -> None:
    doc = ring_devices_doc()
    devices = RingDevices.model_validate(doc)
    door = devices.doorbots[0]
    assert door.battery_life == 52 and door.battery_life_2 == 80
    assert door.is_offline and door.alerts is not None and door.alerts.battery == "low"
    assert door.settings is None and door.features is None and door.health is None
    assert door.created_at == datetime(2023, 12, 1, 18, 5, 25, tzinfo=UTC)

    cam = devices.stickup_cams[0]
    assert cam.latitude == 40.5
    assert cam.night_mode_status is False and cam.ring_cam_light_installed is False
    assert cam.siren_status is not None and cam.siren_status.seconds_remaining == 0 and not cam.siren_on
    assert cam.health is not None and cam.health.rssi == -55 and cam.health.connected is True
    assert cam.motion_detection_enabled is True
    assert cam.settings is not None and cam.settings.chime_settings == {"type": 0}
    assert cam.raw["settings"]["power_mode"] == "wired"

    odd = devices.stickup_cams[1]
    assert odd.location_id is None and odd.kind == "stickup_cam_medusa"


def test_base_station_alerts_array_and_null_sub_objects() -> None:
    devices = RingDevices.model_validate(ring_devices_doc())
    base = devices.base_stations[0]
    assert base.alerts is not None and base.alerts.items == [] and base.alerts.connection is None
    assert base.features is None and base.settings is None and base.settings_dict == {}
    assert not base.is_offline
    bridge = devices.beams_bridges[0]
    assert bridge.owner_id == "1" and bridge.hardware_id == "beam-hw-1" and bridge.metadata == {"ethernet": True}


def test_chime_and_intercom_entries() -> None:
    devices = RingDevices.model_validate(ring_devices_doc())
    chime = devices.chimes[0]
    assert chime.settings is not None and chime.settings.volume == 6 and chime.settings.ding_audio_id is None
    assert chime.do_not_disturb is not None and chime.do_not_disturb.seconds_left == 0
    intercom = devices.intercoms[0]
    assert intercom.battery_life == 52
    assert intercom.settings is not None
    assert intercom.settings.doorbell_volume == 8
    assert intercom.settings.unlock_duration_s == 3
    assert intercom.settings.predecessor["make"] == "Comelit"


def test_wrong_shapes_never_fail() -> None:
    entry = CameraEntry.model_validate(
        {"id": "77", "settings": [], "alerts": "online", "siren_status": None, "health": 5, "owner": "bob"}
    )
    assert entry.id == 77 and entry.settings is None and entry.alerts is None and entry.owner is None
    assert CameraEntry.model_validate(None).id is None


# -- kinds ----------------------------------------------------------------------------------------------------------


def test_kind_table_and_family_fallbacks() -> None:
    assert model_name("doorbell_scallop") == "Doorbell 3 Plus"
    assert model_name("floodlight_v2") == "Floodlight Cam"
    assert model_name("chime_pro_v2") == "Chime Pro v2"
    assert model_name("cocoa_doorbell_v9", "doorbots") == "Unknown Doorbell"
    assert model_name("hexa_camera_6_v1", "stickup_cams") == "Unknown Camera"
    assert device_class("doorbots", "anything_new") is DeviceClass.DOORBELL
    assert device_class("authorized_doorbots", None) is DeviceClass.DOORBELL
    assert device_class("stickup_cams", "hexa_camera_6_v1") is DeviceClass.CAMERA
    assert device_class("chimes", "chime_v4") is DeviceClass.CHIME
    assert device_class("other", "intercom_handset_video") is DeviceClass.INTERCOM
    assert device_class("other", "intercom_handset_v9") is DeviceClass.INTERCOM
    assert device_class("other", "onvif_camera") is DeviceClass.CAMERA
    assert device_class("other", "third_party_gdo") is DeviceClass.OTHER
    assert device_class("other", "totally_new") is DeviceClass.OTHER


def test_capabilities_from_field_presence() -> None:
    caps = capabilities("hexa_camera_6_v1", {"led_status": "off", "siren_status": {}, "battery_life": "71"})
    assert caps.light and caps.siren and caps.battery
    wired = capabilities("floodlight_v2", {"led_status": "on", "battery_life": None})
    assert wired.light and not wired.siren and not wired.battery
    # no battery key at all: the kind table decides
    assert capabilities("stickup_cam_v3", {}).battery
    assert not capabilities("unknown_cam", {}).battery
    # a wired model reporting a nonsense level is not a battery camera; an unknown kind with the same value is
    assert not capabilities("lpd_v1", {"battery_life": 4081}).battery
    assert capabilities("lpd_v1", {"battery_life": "71"}).battery
    assert capabilities("new_kind", {"battery_life": 4081}).battery


# -- health, locations, profile, modes ------------------------------------------------------------------------------


def test_device_health_unwrapped_and_raw_is_inner_document() -> None:
    doc = loads(
        '{"device_health":{"id":987652,"average_signal_category":"good","average_signal_strength":-39,'
        '"latest_signal_strength":"-58","wifi_name":"home_wifi","battery_percentage":"100","battery_voltage":null,'
        '"firmware":"1.9.2","firmware_out_of_date":"false","updated_at":"2017-09-30T07:05:03Z","packet_loss_strength":0,'
        '"transformer_voltage":23}}'
    )
    health = DeviceHealth.model_validate(doc)
    assert health.id == 987652 and health.latest_signal_strength == -58 and health.battery_percentage == 100
    assert health.firmware_out_of_date is False and health.updated_at == datetime(2017, 9, 30, 7, 5, 3, tzinfo=UTC)
    assert health.raw["wifi_name"] == "home_wifi" and "device_health" not in health.raw
    assert DeviceHealth.model_validate({"wifi_name": "x"}).wifi_name == "x"


def test_user_location_string_coordinates_and_profile() -> None:
    loc = UserLocation.model_validate(
        {
            "location_id": "zyxw12-4wxyz-0",
            "name": "Home",
            "owner_id": 1,
            "geo_coordinates": {"latitude": "40.000000", "longitude": "-74.000000"},
            "address": {"city": "Town", "timezone": "America/New_York", "zip_code": 7700},
            "created_at": "2020-05-22T14:09:55Z",
        }
    )
    assert loc.owner_id == "1" and loc.geo_coordinates is not None and loc.geo_coordinates.longitude == -74.0
    assert loc.timezone == "America/New_York" and loc.address is not None and loc.address.zip_code == "7700"
    profile = Profile.model_validate({"profile": {"id": "42", "email": "a@b.c", "authentication_token": "secret"}})
    assert profile.id == 42 and profile.email == "a@b.c"
    assert "secret" not in repr(profile)


def test_location_mode_aliases() -> None:
    mode = LocationMode.model_validate(
        {"mode": "away", "lastUpdateTimeMS": 1632484698012, "readOnly": False, "securityStatus": {}}
    )
    assert mode.mode == "away" and mode.is_switchable and mode.last_update_ms == 1632484698012
    assert mode.last_update is not None and mode.last_update.year == 2021
    assert not LocationMode.model_validate({"mode": "disabled"}).is_switchable


# -- helpers of the device objects ----------------------------------------------------------------------------------


async def test_signal_sync_async_failing_and_unsubscribe() -> None:
    import asyncio

    from ringvault.cloud.device import Signal

    signal: Signal[int] = Signal()
    got: list[tuple[str, int]] = []
    done = asyncio.Event()

    def failing(value: int) -> None:
        raise RuntimeError("boom")

    async def later(value: int) -> None:
        got.append(("async", value))
        done.set()

    signal.subscribe(failing)  # a broken subscriber never stops the others
    stop = signal.subscribe(lambda v: got.append(("sync", v)))
    signal.subscribe(later)
    signal.emit(1)
    await asyncio.wait_for(done.wait(), timeout=30)
    stop()
    signal.emit(2)
    await asyncio.sleep(0)
    assert got[:2] == [("sync", 1), ("async", 1)] and ("sync", 2) not in got
    assert signal.value == 2 and signal.subscriber_count == 2


def test_deep_merge_keeps_siblings_and_copies() -> None:
    from ringvault.cloud.device import deep_merge

    base = {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}
    merged = deep_merge(base, {"a": {"c": {"x": 3}}, "e": [2]})
    assert merged == {"a": {"b": 1, "c": {"d": 2, "x": 3}}, "e": [2]}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}
