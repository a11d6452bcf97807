"""The 15 data set models: parsing the documented shapes tolerantly, natural keys, schema matching, streaming."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ringvault.portability.scopes import (
    DATASETS,
    AlarmDeviceInformation,
    AlarmHistoryLog,
    DataFileError,
    Device,
    DeviceEvent,
    Event,
    Group,
    HubData,
    ModeSettingPreference,
    SmartLightingHistoryLog,
    dataset,
    dataset_for_schema,
    iter_json_array,
    iter_records,
)
from tests.portability.datasets import LOC, SAMPLES, schema_for

DOCUMENTED_NAMES = [
    "Ring.EventManager.Events",
    "Ring.EventManager.DeviceEvents",
    "Ring.RGDS.DeviceLocationMapReference",
    "Ring.RingDeviceRegistry.Location",
    "Ring.RingDeviceRegistry.Authorization",
    "Ring.RingDeviceRegistry.Device",
    "Ring.RingDeviceRegistry.Group",
    "Ring.Alarm.HistoryLog",
    "Ring.Alarm.SmartLightingHistoryLog",
    "Ring.Alarm.DeviceInformation",
    "Ring.Alarm.DeviceLog",
    "Ring.Alarm.ModeSettingPreference",
    "Ring.Alarm.ModeSharingPreference",
    "Ring.Alarm.AuditLog",
    "Ring.Alarm.HubData",
]


def test_the_registry_holds_the_15_documented_data_sets() -> None:
    assert list(DATASETS) == DOCUMENTED_NAMES
    assert set(SAMPLES) == set(DOCUMENTED_NAMES)
    assert dataset("ring.alarm.hubdata") is HubData
    with pytest.raises(KeyError, match="known"):
        dataset("Ring.Alarm.Nothing")


@pytest.mark.parametrize("name", DOCUMENTED_NAMES)
def test_every_documented_field_of_every_sample_is_read(name: str) -> None:
    model = DATASETS[name]
    for raw in SAMPLES[name]:
        record = model.model_validate(raw)
        assert record.raw == raw
        assert record.unparsed == {} and record.extra == {}
        dumped = record.model_dump(by_alias=True, exclude_none=True)
        assert set(dumped) == set(raw)  # every key was recognised as a documented field
        assert len(record.record_key()) == 64


def test_event_values_are_typed() -> None:
    first, second = (Event.model_validate(raw) for raw in SAMPLES["Ring.EventManager.Events"])
    assert first.duration == 14 and first.event_type == "motion" and first.human_detected is True
    assert first.event_date == datetime(2024, 3, 2, 7, 15, 9, tzinfo=UTC)
    assert first.detections is not None and [d.detection_type for d in first.detections] == ["motion", "human"]
    assert first.security_alerts is not None and first.security_alerts[0].alert_id == "9001"
    assert first.latitude == pytest.approx(52.3702)
    assert second.expires_at == datetime(2024, 5, 3, 19, 0, tzinfo=UTC)  # epoch seconds, as the field table shows


def test_device_events_take_metadata_as_list_or_object() -> None:
    listed, single = (DeviceEvent.model_validate(raw) for raw in SAMPLES["Ring.EventManager.DeviceEvents"])
    assert listed.event_metadata is not None and listed.event_metadata[0].device_state == "offline"
    assert single.event_metadata is not None and single.event_metadata[0].device_state_change_reason == "24x7"


def test_mode_setting_actions_split() -> None:
    record = ModeSettingPreference.model_validate(SAMPLES["Ring.Alarm.ModeSettingPreference"][0])
    assert record.action_list == ["enableMotionDetection", "disableLiveView"]


@pytest.mark.parametrize(
    "keys",
    [
        ("ethmac", "wifimac24", "wifimac5"),  # as the field table spells them
        ("ethMac", "wifiMac24", "wifiMac5"),  # as the sample data spells them
        ("ETH_MAC", "wifi_mac_24", "Wifi-Mac-5"),
    ],
)
def test_key_casing_variants_are_the_same_field(keys: tuple[str, str, str]) -> None:
    raw = {"locationId": LOC, "deviceType": "Base Station", keys[0]: "AA:01", keys[1]: "AA:02", keys[2]: "AA:03"}
    record = AlarmDeviceInformation.model_validate(raw)
    assert (record.eth_mac, record.wifi_mac24, record.wifi_mac5) == ("AA:01", "AA:02", "AA:03")
    assert record.extra == {}
    reference = AlarmDeviceInformation.model_validate(SAMPLES["Ring.Alarm.DeviceInformation"][0] | {"ethMac": "AA:01"})
    assert record.record_key() == reference.record_key()


def test_the_documented_spelling_wins_over_a_variant() -> None:
    record = AlarmDeviceInformation.model_validate({"ethmac": "old", "ethMac": "new"})
    assert record.eth_mac == "new"


def test_missing_and_unknown_fields_are_tolerated_and_kept() -> None:
    record = HubData.model_validate({"deviceName": "Siren", "firmwareVersion": "1.2.3", "batteryLevel": 88})
    assert record.device_name == "Siren" and record.location_id is None and record.room is None
    assert record.extra == {"firmwareVersion": "1.2.3", "batteryLevel": 88}
    assert record.raw["firmwareVersion"] == "1.2.3"


def test_strings_numbers_booleans_and_dates_in_other_forms() -> None:
    record = Device.model_validate(
        {
            "deviceId": 778899,  # a number where a string is documented
            "maxDaysVideoIsStored": "60",
            "latitude": "52.3731",
            "videoStorageEnabled": "TRUE",
            "showVideoEnabled": "false",
            "eventDate": "2022-09-01T09:00:00.00Z",
        }
    )
    assert record.device_id == "778899" and record.max_days_video_is_stored == 60
    assert record.latitude == pytest.approx(52.3731)
    assert record.video_storage_enabled is True and record.show_video_enabled is False
    assert record.event_date == datetime(2022, 9, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-07-10T01:14:13.00Z", datetime(2018, 7, 10, 1, 14, 13, tzinfo=UTC)),
        ("2018-07-10T01:14:13Z", datetime(2018, 7, 10, 1, 14, 13, tzinfo=UTC)),
        ("2018-07-10T03:14:13+02:00", datetime(2018, 7, 10, 1, 14, 13, tzinfo=UTC)),
        ("2018-07-10T01:14:13", datetime(2018, 7, 10, 1, 14, 13, tzinfo=UTC)),
        (1531185253, datetime(2018, 7, 10, 1, 14, 13, tzinfo=UTC)),
        ("1531185253000", datetime(2018, 7, 10, 1, 14, 13, tzinfo=UTC)),
        ("not a date", None),
        (True, None),
    ],
)
def test_date_forms(value: Any, expected: datetime | None) -> None:
    assert AlarmHistoryLog.model_validate({"eventDate": value}).event_date == expected


def test_unreadable_values_become_none_and_are_kept_as_unparsed() -> None:
    record = Event.model_validate({"duration": "about a minute", "eventDate": "yesterday", "humanDetected": "maybe"})
    assert record.duration is None and record.event_date is None and record.human_detected is None
    assert record.unparsed == {"duration": "about a minute", "eventDate": "yesterday", "humanDetected": "maybe"}


def test_a_record_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        HubData.model_validate(["not", "a", "record"])


# -- record keys ---------------------------------------------------------------------------------------------------


def test_the_same_record_in_another_form_has_the_same_key() -> None:
    raw = SAMPLES["Ring.Alarm.HistoryLog"][1]
    variant = {
        "LOCATIONID": raw["locationId"],
        "event_date": "2024-01-10T22:01:06Z",  # no fractional seconds this time
        "deviceType": raw["deviceType"],
        "initiatingentitytype": "user",
        "affectedEntityType": "device",
        "impulseTypes": list(raw["impulseTypes"]),
    }
    assert AlarmHistoryLog.model_validate(raw).record_key() == AlarmHistoryLog.model_validate(variant).record_key()


def test_different_records_have_different_keys() -> None:
    keys = {DATASETS[name].model_validate(raw).record_key() for name in SAMPLES for raw in SAMPLES[name]}
    assert len(keys) == sum(len(records) for records in SAMPLES.values())


def test_identical_content_in_two_data_sets_has_two_keys() -> None:
    raw = {"locationId": LOC, "eventDate": "2024-01-01T00:00:00Z", "deviceType": "x"}
    assert AlarmHistoryLog.model_validate(raw).record_key() != SmartLightingHistoryLog.model_validate(raw).record_key()


def test_a_device_keeps_its_key_when_its_settings_change() -> None:
    raw = SAMPLES["Ring.RingDeviceRegistry.Device"][0]
    changed = raw | {"deviceName": "Renamed Cam", "maxDaysVideoIsStored": 180}
    assert Device.model_validate(raw).record_key() == Device.model_validate(changed).record_key()
    other = raw | {"deviceId": "112233"}
    assert Device.model_validate(raw).record_key() != Device.model_validate(other).record_key()


def test_a_device_without_an_id_falls_back_to_its_content() -> None:
    a = Device.model_validate({"deviceName": "A"})
    b = Device.model_validate({"deviceName": "B"})
    assert a.record_key() != b.record_key()


def test_an_event_keeps_its_key_when_it_changes_and_its_fingerprint_tells_the_change() -> None:
    raw = SAMPLES["Ring.EventManager.Events"][0]
    event = Event.model_validate(raw)
    for change in ({"isFavorited": True}, {"duration": 15}, {"status": "timed_out"}):
        changed = Event.model_validate(raw | change)
        assert changed.record_key() == event.record_key() and changed.fingerprint() != event.fingerprint()
    assert Event.model_validate(raw | {"eventType": "ding"}).record_key() != event.record_key()
    assert Event.model_validate(raw | {"latitude": 48.85}).record_key() != event.record_key()  # another device


def test_a_hub_device_is_keyed_by_location_name_and_category() -> None:
    raw = SAMPLES["Ring.Alarm.HubData"][0]
    moved = raw | {"status": "error", "room": "Kitchen"}
    assert HubData.model_validate(raw).record_key() == HubData.model_validate(moved).record_key()


def test_unknown_fields_take_part_in_the_content_hash_only() -> None:
    raw = SAMPLES["Ring.RingDeviceRegistry.Group"][0]
    plain, g1, g2 = (Group.model_validate(raw | extra) for extra in ({}, {"groupId": "g1"}, {"groupId": "g2"}))
    assert plain.record_key() == g1.record_key() == g2.record_key()
    assert plain.fingerprint() == g1.fingerprint() == g2.fingerprint()  # a field Ring adds changes nothing
    assert len({plain.content_hash(), g1.content_hash(), g2.content_hash()}) == 3
    assert g1.extra_fields() == {"groupid": "g1"} and "groupid" not in g1.known_fields()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_data_set_has_a_natural_key_that_survives_a_change_of_its_other_fields(name: str) -> None:
    """Seed 003 lists what each data set holds; the key fields chosen from it identify a record while the others
    change. Changing a field outside the key keeps the key and changes the fingerprint; a field Ring adds changes
    neither; a record without its key fields falls back to its content."""
    model = DATASETS[name]
    assert model.KEY_FIELDS, f"{name} has no natural key"
    raw = SAMPLES[name][0]
    record = model.model_validate(raw)
    key_aliases = {model.model_fields[f].alias or f for f in model.KEY_FIELDS}
    others = [alias for alias in raw if alias not in key_aliases]
    for alias in others:
        value = raw[alias]
        replacement: Any = not value if isinstance(value, bool) else ("changed" if isinstance(value, str) else 7)
        changed = model.model_validate(raw | {alias: replacement})
        assert changed.record_key() == record.record_key(), alias
        assert changed.fingerprint() != record.fingerprint(), alias
    added = model.model_validate(raw | {"fieldRingAddedLater": 1})
    assert (added.record_key(), added.fingerprint()) == (record.record_key(), record.fingerprint())
    assert added.content_hash() != record.content_hash()
    keyless = model.model_validate({k: v for k, v in raw.items() if k not in key_aliases} | {"x": 1})
    assert (
        keyless.record_key()
        != model.model_validate({k: v for k, v in raw.items() if k not in key_aliases}).record_key()
    )


# -- schemas -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DOCUMENTED_NAMES)
def test_a_schema_is_matched_by_its_title(name: str) -> None:
    assert dataset_for_schema(schema_for(name)) is DATASETS[name]
    assert dataset_for_schema(json.dumps(schema_for(name)).encode()) is DATASETS[name]


def test_a_title_that_embeds_the_name() -> None:
    schema = schema_for("Ring.Alarm.HubData") | {"title": "Schema of Ring.Alarm.HubData records"}
    assert dataset_for_schema(schema) is HubData


@pytest.mark.parametrize(
    "name",
    [n for n in DOCUMENTED_NAMES if n not in ("Ring.Alarm.HistoryLog", "Ring.Alarm.SmartLightingHistoryLog")],
)
def test_without_a_title_the_properties_decide(name: str) -> None:
    assert dataset_for_schema(schema_for(name, title=False)) is DATASETS[name]


def test_properties_shared_by_two_data_sets_decide_nothing() -> None:
    assert dataset_for_schema(schema_for("Ring.Alarm.HistoryLog", title=False)) is None


def test_an_unrelated_schema_is_not_matched() -> None:
    schema = {"type": "array", "items": {"type": "object", "properties": {"colour": {}, "flavour": {}}}}
    assert dataset_for_schema(schema) is None
    assert dataset_for_schema({"title": "Something.Else"}) is None
    assert dataset_for_schema("[]") is None


# -- the streaming reader ------------------------------------------------------------------------------------------


def _write(path: Path, records: list[Any], *, prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + json.dumps(records).encode())
    return path


def test_records_stream_from_a_data_file(tmp_path: Path) -> None:
    records = [dict(SAMPLES["Ring.Alarm.HubData"][0], deviceName=f"Sensor {n}") for n in range(5000)]
    path = _write(tmp_path / "hub.json", records)
    parsed = list(iter_records(path, HubData))
    assert [r.device_name for r in parsed] == [f"Sensor {n}" for n in range(5000)]
    assert all(isinstance(r, HubData) for r in parsed)


def test_a_byte_order_mark_and_whitespace_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.json", [{"a": 1.5}, {"b": "x"}], prefix=b"\xef\xbb\xbf \n")
    assert list(iter_json_array(path)) == [{"a": 1.5}, {"b": "x"}]


def test_integers_beyond_64_bits_are_read_and_every_record_comes_once(tmp_path: Path) -> None:
    records: list[Any] = [{"n": n} for n in range(10)]
    records[6] = {"n": 6, "big": 2**70 + 1}
    path = _write(tmp_path / "big.json", records)
    assert list(iter_json_array(path)) == records


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b'{"records": []}', "not a JSON array"),
        (b'[{"a": 1}, {"b": ', "after 1 record"),
        (b"[1, 2,, 3]", "not valid JSON"),
    ],
)
def test_broken_data_files_are_clear_errors(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=fragment):
        list(iter_json_array(path))


def test_an_item_that_is_not_an_object_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "mixed.json", [{"deviceName": "a"}, 42])
    with pytest.raises(DataFileError, match="item 1"):
        list(iter_records(path, HubData))


def test_reading_a_large_file_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "large.json"
    record = json.dumps(SAMPLES["Ring.EventManager.Events"][0])
    count = 14_000
    with path.open("w") as handle:
        handle.write("[")
        handle.write(",".join([record] * count))
        handle.write("]")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        seen = sum(1 for _ in iter_json_array(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert size > 10 * 1024 * 1024
    assert peak < size / 10


def test_a_record_nested_too_deeply_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """A 20,000-level record (hostile or broken) used to be built in memory (~1 GB) before failing; now reading
    stops at MAX_DEPTH with one line, the records before it delivered."""
    from ringvault.portability.scopes.reader import MAX_DEPTH

    path = tmp_path / "deep.json"
    depth = 20_000
    path.write_bytes(b'[{"ok": {"a": [1]}}, ' + b'{"x": ' * depth + b"1" + b"}" * depth + b"]")
    seen: list[Any] = []
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match=f"deeper than {MAX_DEPTH} levels") as caught:
            seen.extend(iter_json_array(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == [{"ok": {"a": [1]}}]
    assert "\n" not in str(caught.value)
    assert peak < 10 * 1024 * 1024


def test_nesting_up_to_the_bound_is_read(tmp_path: Path) -> None:
    from ringvault.portability.scopes.reader import MAX_DEPTH

    inner = MAX_DEPTH - 1  # the top-level array is one level
    path = tmp_path / "nested.json"
    path.write_bytes(b"[" + b'{"x": ' * inner + b"1" + b"}" * inner + b"]")
    [item] = list(iter_json_array(path))
    for _ in range(inner - 1):
        item = item["x"]
    assert item == {"x": 1}
