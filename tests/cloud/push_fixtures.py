"""Decrypted FCM messages shaped as reference §8.3/§8.4/§8.6 describes them (our own values, not copied files).

Every ``data`` value is a JSON string, as Ring sends it; ids are 19 digits (above 2^53).
"""

from __future__ import annotations

import json
from typing import Any

BIG_DING = "7407512345678901234"  # > 2**53: a float would turn it into 7407512345678901248
CAMERA_ID = 90817263
INTERCOM_ID = 185036587
LOCATION = "loc-test-0001"


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    """The decrypted message around ``data`` (each value serialised as a JSON string)."""
    return {
        "data": {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()},
        "from": "876313859327",
        "priority": "high",
        "fcmMessageId": "a1b2c3d4-0000-4000-8000-000000000001",
    }


def v2(
    category: str,
    *,
    ding_id: str | None = BIG_DING,
    subtype: str = "ding",
    detection: str | None = None,
    device_id: int = CAMERA_ID,
    eventito: bool = True,
    snapshot: str | None = "0f0e0d0c-1111-2222-3333-444455556666:90817263",
) -> dict[str, Any]:
    ding: dict[str, Any] = {"created_at": "2026-11-30T07:15:02Z", "subtype": subtype}
    if ding_id is not None:
        ding["id"] = ding_id
    if detection is not None:
        ding["detection_type"] = detection
    event: dict[str, Any] = {"ding": ding, "riid": "r-77", "is_sidewalk": False}
    if eventito:
        event["eventito"] = {"type": detection or subtype, "timestamp": 1796022902345}
    return envelope(
        {
            "version": "2.0.0",
            "android_config": {"category": category, "body": "Something at Back Porch", "channel": "chan-1"},
            "analytics": {"subcategory": subtype, "triggered_at": 1796022902345, "referring_item_id": str(device_id)},
            "data": {
                "device": {"e2ee_enabled": False, "id": device_id, "kind": "cocoa_doorbell", "name": "Back Porch"},
                "event": event,
                "location": {"id": LOCATION},
            },
            "img": {"snapshot_uuid": snapshot} if snapshot else {},
        }
    )


def ding_v2(**kwargs: Any) -> dict[str, Any]:
    return v2("com.ring.pn.live-event.ding", **kwargs)


def motion_v2(detection: str = "human", **kwargs: Any) -> dict[str, Any]:
    subtype = "motion" if detection == "null" else detection
    return v2("com.ring.pn.live-event.motion", subtype=subtype, detection=detection, **kwargs)


def intercom_ding_v2() -> dict[str, Any]:
    return v2("com.ring.pn.live-event.intercom", device_id=INTERCOM_ID, eventito=False, snapshot=None)


def intercom_unlock_v1(*, nested: bool = False) -> dict[str, Any]:
    gcm = {
        "aps": {"alert": "Your Hallway Intercom was used to unlock the door"},
        "action": "com.ring.push.INTERCOM_UNLOCK_FROM_APP",
        "alarm_meta": {"device_zid": INTERCOM_ID, "location_id": LOCATION},
    }
    if nested:
        return envelope({"data": {"gcmData": gcm}})
    return envelope({"gcmData": gcm})


def alarm_v1(action: str = "com.ring.push.HANDLE_NEW_SECURITY_PANEL_MODE_NONE_NOTICE") -> dict[str, Any]:
    gcm = {"aps": {"alert": "Alarm disarmed"}, "action": action, "alarm_meta": {"location_id": LOCATION}}
    return envelope({"gcmData": gcm})


def ding_v1(*, motion: bool = False) -> dict[str, Any]:
    ding: dict[str, Any] = {
        "id": int(BIG_DING),
        "created_at": "2026-11-30T07:15:02.125Z",
        "doorbot_id": CAMERA_ID,
        "device_name": "Back Porch",
        "device_kind": "lpd_v4",
        "location_id": LOCATION,
    }
    if motion:
        ding["detection_type"] = "null"
        ding["image_uuid"] = "aa-bb:90817263"
    return envelope(
        {
            "gcmData": {
                "ding": ding,
                "aps": {"alert": "Motion at Back Porch" if motion else "Someone is at Back Porch"},
                "subtype": "motion" if motion else "ding",
                "action": "com.ring.push.HANDLE_NEW_motion" if motion else "com.ring.push.HANDLE_NEW_DING",
            }
        }
    )
