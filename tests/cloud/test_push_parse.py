"""Notification parsing (reference §8.3, §8.4, §8.6): every event kind, exact big ids, and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ringvault.cloud.push import NotificationError, UnknownNotification, parse_notification
from tests.cloud import push_fixtures as fx


def test_v2_ding_keeps_the_big_id_exact_and_reads_every_field() -> None:
    event = parse_notification(fx.ding_v2(), persistent_id="0:17960229@abc")
    assert event.kind == "ding"
    assert event.ding_id == fx.BIG_DING  # a float would have ended in ...248
    assert event.device_id == fx.CAMERA_ID
    assert event.location_id == fx.LOCATION
    assert event.device_name == "Back Porch" and event.device_kind == "cocoa_doorbell"
    assert event.created_at == datetime(2026, 11, 30, 7, 15, 2, tzinfo=UTC)
    assert event.snapshot_uuid and event.snapshot_uuid.endswith(":90817263")
    assert event.category == "com.ring.pn.live-event.ding"
    assert event.persistent_id == "0:17960229@abc"
    assert event.detection is None and event.source == "push"
    assert event.key == f"ding:{fx.BIG_DING}"


@pytest.mark.parametrize(
    ("word", "expected"),
    [("human", "person"), ("vehicle", "vehicle"), ("package_delivery", "package"), ("motion", None), ("null", None)],
)
def test_v2_motion_detection(word: str, expected: str | None) -> None:
    event = parse_notification(fx.motion_v2(detection=word))
    assert event.kind == "motion"
    assert event.detection == expected


def test_v2_motion_without_ding_id_is_keyed_by_device_and_time() -> None:
    """Newer firmware sends motion without ding.id (§8.4): accepted, keyed by eventito/created_at time."""
    event = parse_notification(fx.motion_v2(ding_id=None))
    assert event.ding_id is None
    assert event.key.startswith(f"motion:{fx.CAMERA_ID}:")
    assert parse_notification(fx.motion_v2(ding_id=None)).key == event.key


def test_v2_intercom_ding_and_v1_unlock_at_both_depths() -> None:
    ding = parse_notification(fx.intercom_ding_v2())
    assert ding.kind == "intercom_ding" and ding.device_id == fx.INTERCOM_ID
    for nested in (False, True):
        unlock = parse_notification(fx.intercom_unlock_v1(nested=nested))
        assert unlock.kind == "intercom_unlock"
        assert unlock.device_id == fx.INTERCOM_ID
        assert unlock.location_id == fx.LOCATION
        assert unlock.body and "unlock" in unlock.body


@pytest.mark.parametrize(
    ("action", "alarm_kind"),
    [
        ("com.ring.push.HANDLE_NEW_SECURITY_PANEL_MODE_NONE_NOTICE", "alarm_mode_none"),
        ("com.ring.push.HANDLE_NEW_SECURITY_PANEL_MODE_SOME_NOTICE", "alarm_mode_some"),
        ("com.ring.push.HANDLE_NEW_USER_SOUND_SIREN", "alarm_siren"),
        ("com.ring.push.HANDLE_NEW_NON_ALARM_SIREN_SILENCED", "alarm_silenced"),
    ],
)
def test_v1_alarm_notices_without_device_zid(action: str, alarm_kind: str) -> None:
    event = parse_notification(fx.alarm_v1(action))
    assert event.kind == "alarm"
    assert event.alarm_kind == alarm_kind
    assert event.device_id is None and event.location_id == fx.LOCATION


def test_v1_legacy_ding_and_motion() -> None:
    ding = parse_notification(fx.ding_v1())
    assert (ding.kind, ding.ding_id, ding.device_id) == ("ding", fx.BIG_DING, fx.CAMERA_ID)
    assert ding.created_at == datetime(2026, 11, 30, 7, 15, 2, 125000, tzinfo=UTC)
    motion = parse_notification(fx.ding_v1(motion=True))
    assert motion.kind == "motion" and motion.snapshot_uuid == "aa-bb:90817263"
    assert motion.detection is None  # "null" says nothing


def _with_data(message: dict[str, Any], **changes: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(message))
    copy["data"].update(changes)
    return copy


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"data": "nope"},
        {"message": b"\x00\x01binary"},  # what firebase-messaging hands over when decryption yields no JSON
        _with_data(fx.ding_v2(), android_config="{not json"),
        _with_data(fx.ding_v2(), android_config=json.dumps({"body": "no category"})),
        _with_data(fx.ding_v2(), data=json.dumps({"event": {"ding": {"id": fx.BIG_DING}}})),  # no device id
        _with_data(fx.ding_v2(), data=json.dumps({"device": {"id": 1.5e18}})),  # a float id has lost digits
        _with_data(fx.ding_v2(), data=json.dumps({"device": {"id": 5}, "event": {"ding": {"id": "12ab"}}})),
        _with_data(fx.ding_v2(), data="[" * 100000 + "]" * 100000),
        fx.envelope({"gcmData": {"action": "com.ring.push.INTERCOM_UNLOCK_FROM_APP", "alarm_meta": {}}}),
        fx.envelope({"gcmData": {"action": "com.ring.push.HANDLE_NEW_DING", "ding": {"id": 5}}}),
        fx.envelope({"gcmData": "[1, 2]"}),
    ],
)
def test_malformed_notifications_raise_notification_error(message: dict[str, Any]) -> None:
    with pytest.raises(NotificationError) as caught:
        parse_notification(message)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    "message",
    [
        fx.v2("com.ring.pn.something-new"),
        fx.envelope({"gcmData": {"community_alert": {"id": 3}, "action": "com.ring.push.HANDLE_NEW_DING"}}),
        fx.envelope({"gcmData": {"action": "com.ring.push.LOW_BATTERY_ALERT"}}),
        fx.envelope({"hello": "world"}),
    ],
)
def test_unknown_notifications_are_told_apart(message: dict[str, Any]) -> None:
    with pytest.raises(UnknownNotification):
        parse_notification(message)


def test_an_alarm_notice_naming_a_hub_device_keeps_its_zid() -> None:
    zid = "5ab21c3e-7a90-4c1e-9d55-0c7e2f1a9b10"
    gcm = {
        "aps": {"alert": "Siren sounded"},
        "action": "com.ring.push.HANDLE_NEW_USER_SOUND_SIREN",
        "alarm_meta": {"device_zid": zid, "location_id": fx.LOCATION},
    }
    event = parse_notification(fx.envelope({"gcmData": gcm}))
    assert event.kind == "alarm" and event.alarm_kind == "alarm_siren"
    assert event.device_zid == zid and event.device_id is None and event.location_id == fx.LOCATION
    for bad in ("x" * 500, "zid\x00with-nul", "   "):
        gcm["alarm_meta"] = {"device_zid": bad, "location_id": fx.LOCATION}
        with pytest.raises(NotificationError):
            parse_notification(fx.envelope({"gcmData": gcm}))
    # an intercom unlock still needs a numeric id
    unlock = {"action": "com.ring.push.INTERCOM_UNLOCK_FROM_APP", "alarm_meta": {"device_zid": zid}}
    with pytest.raises(NotificationError):
        parse_notification(fx.envelope({"gcmData": unlock}))
