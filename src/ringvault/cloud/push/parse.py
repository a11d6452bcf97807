"""Turn a decrypted FCM message into a ``RingEvent`` (reference §8.3, §8.4, §8.6).

The message is ``{"data": {...every value a JSON string...}, "from", "priority", "fcmMessageId"}``. Two formats:

- **v2** (``pn_dict_version 2.0.0``): ``data.android_config.category`` names the event, ``data.data.device.id`` the
  device, ``data.data.event.ding`` the ding (its ``id`` a 19-digit string; newer motion pushes have none, §8.4);
- **v1** (``gcmData``): alarm notices, intercom unlocks and legacy dings, keyed by ``action``; ``gcmData`` is accepted
  directly in ``data`` and one level deeper (``data.data.gcmData``), as the reference asks (§8.6).

``json.loads`` keeps integers exact (Python ints have no 2^53 limit); a float where an id belongs is refused, because
its digits are already lost. Anything that is not a known event raises ``NotificationError`` (malformed) or
``UnknownNotification`` (well-formed, but nothing we turn into an event): the listener logs and skips both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ringvault.cloud.models.base import parse_datetime
from ringvault.cloud.push.events import ALARM_KINDS, EventKind, RingEvent, detection_of

__all__ = [
    "CATEGORY_KINDS",
    "NotificationError",
    "UnknownNotification",
    "parse_notification",
]

#: v2 ``android_config.category`` -> event kind (reference §8.4; alarm categories as python-ring-doorbell maps them).
CATEGORY_KINDS: dict[str, EventKind] = {
    "com.ring.pn.live-event.ding": "ding",
    "com.ring.pn.live-event.motion": "motion",
    "com.ring.pn.live-event.intercom": "intercom_ding",
    "com.ring.pn.intercom.virtual.unlock": "intercom_unlock",
    **dict.fromkeys(ALARM_KINDS, "alarm"),
}
#: v1 ``action`` -> event kind (compared case-insensitively: Ring spells ``HANDLE_NEW_motion`` in lower case).
ACTION_KINDS: dict[str, EventKind] = {
    "com.ring.push.handle_new_ding": "ding",
    "com.ring.push.handle_new_motion": "motion",
    "com.ring.push.intercom_unlock_from_app": "intercom_unlock",
    **{action.lower(): "alarm" for action in ALARM_KINDS},
}


class NotificationError(ValueError):
    """A notification that cannot be read (not JSON where JSON belongs, a required field missing or of the wrong
    type). The message says what, without the notification's content."""


class UnknownNotification(NotificationError):
    """A readable notification that is not an event we know (an unknown category, a Neighbors alert ...)."""


def parse_notification(message: Mapping[str, Any], *, persistent_id: str | None = None) -> RingEvent:
    """The event in a decrypted FCM message; raises ``NotificationError`` / ``UnknownNotification``."""
    data = message.get("data") if isinstance(message, Mapping) else None
    if not isinstance(data, Mapping):
        raise NotificationError("no data object in the message")
    fields = {str(key): _json_value(value) for key, value in data.items()}
    gcm = _gcm_data(fields)
    if gcm is not None:
        return _v1_event(gcm, persistent_id)
    if "android_config" in fields:
        return _v2_event(fields, persistent_id)
    raise UnknownNotification("neither android_config (v2) nor gcmData (v1)")


# -- v2 --------------------------------------------------------------------------------------------------------
def _v2_event(fields: Mapping[str, Any], persistent_id: str | None) -> RingEvent:
    config = _object(fields.get("android_config"), "android_config")
    category = config.get("category")
    if not isinstance(category, str) or not category:
        raise NotificationError("android_config.category is missing")
    kind = CATEGORY_KINDS.get(category)
    if kind is None:
        raise UnknownNotification(f"unknown category {category[:80]!r}")
    body = _object(fields.get("data"), "data")
    device = _object(body.get("device", {}), "data.device")
    event = _object(body.get("event", {}), "data.event")
    ding = _object(event.get("ding", {}), "data.event.ding")
    eventito = _object(event.get("eventito", {}), "data.event.eventito")
    location = _object(body.get("location", {}), "data.location")
    analytics = _object(fields.get("analytics", {}), "analytics")
    img = _object(fields.get("img", {}), "img")
    device_id = _id_int(device.get("id"), "data.device.id")
    if kind == "alarm":
        alarm_kind: str | None = ALARM_KINDS[category]
    else:
        alarm_kind = None
        if device_id is None:
            raise NotificationError("data.device.id is missing")
    subtype = _text(ding.get("subtype"))
    return RingEvent(
        kind=kind,
        created_at=_first_time(ding.get("created_at"), eventito.get("timestamp"), analytics.get("triggered_at")),
        device_id=device_id,
        ding_id=_id_str(ding.get("id"), "data.event.ding.id"),
        location_id=_text(location.get("id")),
        device_name=_text(device.get("name")),
        device_kind=_text(device.get("kind")),
        subtype=subtype,
        detection=detection_of(ding.get("detection_type"), subtype, eventito.get("type")) if kind == "motion" else None,
        alarm_kind=alarm_kind,
        snapshot_uuid=_text(img.get("snapshot_uuid")),
        category=category,
        body=_text(config.get("body")),
        persistent_id=persistent_id,
        raw=dict(fields),
    )


# -- v1 --------------------------------------------------------------------------------------------------------
def _gcm_data(fields: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if "gcmData" in fields:
        return _object(fields["gcmData"], "gcmData")
    inner = fields.get("data")
    if isinstance(inner, Mapping) and "gcmData" in inner:
        return _object(_json_value(inner["gcmData"]), "data.gcmData")
    return None


def _v1_event(gcm: Mapping[str, Any], persistent_id: str | None) -> RingEvent:
    if "community_alert" in gcm:
        raise UnknownNotification("a Neighbors (community) alert")
    action = gcm.get("action")
    action_text = action if isinstance(action, str) else ""
    kind = ACTION_KINDS.get(action_text.lower())
    if kind is None and "ding" in gcm:
        kind = "motion" if str(gcm.get("subtype") or "").lower() in ("motion", "human") else "ding"
    if kind is None:
        raise UnknownNotification(f"unknown gcmData action {action_text[:80]!r}")
    aps = gcm.get("aps")
    alert = _text(aps.get("alert")) if isinstance(aps, Mapping) else None
    if kind in ("ding", "motion"):
        ding = _object(gcm.get("ding"), "gcmData.ding")
        device_id = _id_int(ding.get("doorbot_id"), "gcmData.ding.doorbot_id")
        if device_id is None:
            raise NotificationError("gcmData.ding.doorbot_id is missing")
        subtype = _text(gcm.get("subtype"))
        return RingEvent(
            kind=kind,
            created_at=_first_time(ding.get("created_at")),
            device_id=device_id,
            ding_id=_id_str(ding.get("id"), "gcmData.ding.id"),
            location_id=_text(ding.get("location_id")),
            device_name=_text(ding.get("device_name")),
            device_kind=_text(ding.get("device_kind")),
            subtype=subtype,
            detection=detection_of(ding.get("detection_type"), subtype) if kind == "motion" else None,
            snapshot_uuid=_text(ding.get("image_uuid")),
            category=action_text or None,
            body=alert,
            persistent_id=persistent_id,
            raw=dict(gcm),
        )
    meta = _object(gcm.get("alarm_meta", {}), "gcmData.alarm_meta")
    raw_zid = meta.get("device_zid")
    device_zid: str | None = None
    if kind == "alarm" and isinstance(raw_zid, str) and not raw_zid.strip().isdigit():
        # an alarm notice may name a hub device, whose zid is not a number (a camera's or intercom's id is)
        device_id = None
        device_zid = _zid(raw_zid, "gcmData.alarm_meta.device_zid")
    else:
        device_id = _id_int(raw_zid, "gcmData.alarm_meta.device_zid")
    if kind == "intercom_unlock" and device_id is None:
        raise NotificationError("gcmData.alarm_meta.device_zid is missing")
    return RingEvent(
        kind=kind,
        created_at=datetime.now(UTC),
        device_id=device_id,
        location_id=_text(meta.get("location_id")),
        subtype=_text(gcm.get("subtype")),
        alarm_kind=ALARM_KINDS.get(action_text) if kind == "alarm" else None,
        device_zid=device_zid,
        category=action_text,
        body=alert,
        persistent_id=persistent_id,
        raw=dict(gcm),
    )


# -- values ----------------------------------------------------------------------------------------------------
def _json_value(value: Any) -> Any:
    """Each value of ``message.data`` is a JSON string; values that are not JSON stay as they are."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or text[0] not in "{[":
        return value
    try:
        return json.loads(text)
    except ValueError as exc:
        raise NotificationError(f"a data field is not valid JSON ({type(exc).__name__})") from None
    except RecursionError:
        raise NotificationError("a data field is nested too deeply") from None


def _object(value: Any, where: str) -> Mapping[str, Any]:
    value = _json_value(value)
    if not isinstance(value, Mapping):
        raise NotificationError(f"{where} is not an object")
    return value


def _id_int(value: Any, where: str) -> int | None:
    """A device id: an int, or a string of digits; a float is refused (digits above 2^53 are already lost)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise NotificationError(f"{where} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise NotificationError(f"{where} is not an integer")


#: a hub zid is a UUID; anything much longer, or with control characters, is not one
MAX_ZID_CHARS = 100


def _zid(value: str, where: str) -> str:
    text = value.strip()
    if not text or len(text) > MAX_ZID_CHARS or not text.isprintable():
        raise NotificationError(f"{where} is not a device id")
    return text


def _id_str(value: Any, where: str) -> str | None:
    """A ding id as its exact digits (Ring sends a string in v2 and an integer in v1)."""
    number = _id_int(value, where)
    return None if number is None else str(number)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _first_time(*values: Any) -> datetime:
    """The first of ``values`` that reads as a time (ISO text or epoch ms/s), else now."""
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)
