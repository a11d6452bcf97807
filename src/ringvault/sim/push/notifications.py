"""Ring's push notifications, built from the simulated world and handed to the push service for every FCM token
the account registered with ``PATCH clients_api/device``.

Formats (reference §8.3–§8.6): the decrypted message is ``{"data": {...}, "from", "priority", "fcmMessageId"}``
and every value in ``data`` is a string. Registrations that sent ``pn_dict_version: "2.0.0"`` get the v2 format
(``version``, and ``android_config``, ``analytics``, ``data``, ``img`` as JSON strings) for dings, motions and
intercom rings; the others get the v1 ``gcmData`` format. Alarm notices and intercom unlocks are always v1
``gcmData`` (§8.6). Battery doorbells send two pushes per event, the first without and the second with the image
(§8.4, python-ring-doorbell PR #467).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ringvault.sim.push.service import RING_SENDER_ID
from ringvault.sim.state import SimState
from ringvault.sim.world import Device, Event
from ringvault.sim.world.model import DOORBELL_FAMILIES

JSON = dict[str, Any]

CATEGORY_DING = "com.ring.pn.live-event.ding"
CATEGORY_MOTION = "com.ring.pn.live-event.motion"
CATEGORY_INTERCOM = "com.ring.pn.live-event.intercom"
ACTION_INTERCOM_UNLOCK = "com.ring.push.INTERCOM_UNLOCK_FROM_APP"
#: alarm notice kinds of the control API → their v1 ``action`` (§8.6)
ALARM_ACTIONS = {
    "mode_none": "com.ring.push.HANDLE_NEW_SECURITY_PANEL_MODE_NONE_NOTICE",
    "mode_some": "com.ring.push.HANDLE_NEW_SECURITY_PANEL_MODE_SOME_NOTICE",
    "siren": "com.ring.push.HANDLE_NEW_USER_SOUND_SIREN",
    "silenced": "com.ring.push.HANDLE_NEW_NON_ALARM_SIREN_SILENCED",
}
#: motion detection of the control API → (history ``detection_type``, ``person_detected``, push ``subtype``);
#: ``vehicle`` and ``package_delivery`` subtypes are [unconfirmed] (dgreif/ring #1593)
DETECTIONS: dict[str, tuple[str, bool, str]] = {
    "person": ("human", True, "human"),
    "vehicle": ("vehicle", False, "vehicle"),
    "package": ("package_delivery", False, "package_delivery"),
    "motion": ("motion", False, "motion"),
}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Target:
    """One Ring push registration: the client's hardware id, its FCM token and payload version."""

    hardware_id: str
    token: str
    v2: bool


def targets(state: SimState) -> list[Target]:
    """Registrations that get pushes now: a token, and (by default) a live session for the hardware id (§8.7)."""
    out: list[Target] = []
    for hardware_id, body in list(state.world.push_registrations.items()):
        device = body.get("device") if isinstance(body, dict) else None
        if not isinstance(device, dict):
            continue
        token = device.get("push_notification_token")
        if not isinstance(token, str) or not token:
            continue
        if state.config.push.require_session and not state.auth.has_session(hardware_id):
            continue
        metadata = device.get("metadata")
        version = metadata.get("pn_dict_version") if isinstance(metadata, dict) else None
        out.append(Target(hardware_id, token, str(version) == "2.0.0"))
    return out


def envelope(data: dict[str, str]) -> bytes:
    """The decrypted message document (§8.3)."""
    document = {"data": data, "from": RING_SENDER_ID, "priority": "high", "fcmMessageId": str(uuid.uuid4())}
    return _compact(document).encode()


def _subtype(event: Event) -> str:
    if event.kind == "ding":
        return "ding"
    for detection_type, _, subtype in DETECTIONS.values():
        if event.detection_type == detection_type:
            return subtype
    return "motion"


def v2_camera(state: SimState, device: Device, event: Event, category: str, *, with_image: bool) -> dict[str, str]:
    """The v2 message for a ding, motion or intercom ring (§8.4)."""
    subtype = _subtype(event)
    detection = event.detection_type or ("null" if category == CATEGORY_MOTION else None)
    sent_ms = int(state.clock.now() * 1000)
    if category == CATEGORY_DING:
        body = f"There is someone at your {device.name}"  # [sim] wording
        channel = f"ding_channel_notification{device.id}"
    elif category == CATEGORY_INTERCOM:
        body = f"Someone is ringing your {device.name}"  # [sim] wording
        channel = f"intercom_channel_notification{device.id}"
    else:
        body = f"There is motion at your {device.name}"
        channel = f"motion_channel_notification{device.id}"
    ding: JSON = {"id": event.id_str, "created_at": event.created_iso, "subtype": subtype}
    if detection is not None:
        ding["detection_type"] = detection
    ring_event: JSON = {
        "ding": ding,
        "riid": uuid.uuid4().hex,
        "is_sidewalk": False,
        "live_session": {
            "streaming_data_hash": f"sh-v1|{uuid.uuid4().hex}",  # [sim]
            "active_streaming_profile": "rms",
            "default_audio_route": "loud_speaker",
            "max_duration": 600,
        },
    }
    if category != CATEGORY_INTERCOM:  # intercom rings carry no eventito (§8.4)
        ring_event["eventito"] = {"type": detection or subtype, "timestamp": event.created_ms}
    data = {
        "device": {"e2ee_enabled": False, "id": device.id, "kind": device.kind, "name": device.name},
        "event": ring_event,
        "location": {"id": device.location_id},
    }
    analytics = {
        "server_correlation_id": str(uuid.uuid4()),
        "server_id": "com.ring.pns",
        "subcategory": category.rsplit(".", 1)[-1],
        "triggered_at": event.created_ms,
        "sent_at": sent_ms,
        "referring_item_type": "device_id",
        "referring_item_id": str(device.id),
    }
    message = {
        "version": "2.0.0",
        "android_config": _compact({"category": category, "body": body, "channel": channel}),
        "analytics": _compact(analytics),
        "data": _compact(data),
        "img": _compact({"snapshot_uuid": f"{event.snapshot_uuid}:{device.id}"} if with_image else {}),
        "video": _compact({}),
    }
    return message


def v1_camera(device: Device, event: Event, *, with_image: bool) -> dict[str, str]:
    """The legacy ``gcmData`` message for a ding or motion (§8.6; registrations without pn_dict_version 2.0.0)."""
    subtype = _subtype(event)
    ding: JSON = {
        "id": event.id,
        "created_at": event.created_iso,
        "doorbot_id": device.id,
        "device_name": device.name,
        "device_kind": device.kind,
        "location_id": device.location_id,
        "streaming_protocol": "ring_media_server",
        "riid": uuid.uuid4().hex,
        "e2ee_enabled": False,
        "properties": {"active_streaming_profile": "rms", "is_sidewalk": False},
    }
    if event.kind == "ding":
        action, aps = (
            "com.ring.push.HANDLE_NEW_DING",
            {"alert": f"🔔 Someone is at your {device.name}", "sound": "DoorBot.wav"},
        )
    else:
        action = "com.ring.push.HANDLE_NEW_motion"
        aps = {"alert": f"There is motion at your {device.name}", "sound": "Motion.wav"}
        ding["detection_type"] = event.detection_type or "null"
        if with_image:
            ding["image_uuid"] = f"{event.snapshot_uuid}:{device.id}"
    return {"gcmData": _compact({"ding": ding, "aps": aps, "subtype": subtype, "action": action})}


def v1_intercom_unlock(device: Device) -> dict[str, str]:
    gcm = {
        "aps": {"alert": f"Your {device.name} was used to unlock the door"},  # [sim] wording
        "action": ACTION_INTERCOM_UNLOCK,
        "alarm_meta": {"device_zid": device.id, "location_id": device.location_id},
    }
    return {"gcmData": _compact(gcm)}


def v1_alarm(location_id: str, kind: str, device_zid: str | None) -> dict[str, str]:
    meta: JSON = {"location_id": location_id}
    if device_zid is not None:  # a real mode notice came without device_zid (dgreif/ring #1083)
        meta["device_zid"] = device_zid
    gcm = {
        "aps": {"alert": f"Alarm notice: {kind.replace('_', ' ')}"},
        "action": ALARM_ACTIONS[kind],
        "alarm_meta": meta,
    }
    return {"gcmData": _compact(gcm)}


def _deliver(state: SimState, messages: list[tuple[Target, dict[str, str]]]) -> list[JSON]:
    out: list[JSON] = []
    for target, data in messages:
        persistent_id = state.push.send(target.token, envelope(data))
        out.append(
            {
                "hardware_id": target.hardware_id,
                "format": "v1" if "gcmData" in data else "v2",
                "persistent_id": persistent_id,
            }
        )
    return out


def _subscribed(device: Device, event: Event) -> bool:
    return device.subscribed_motions if event.kind == "motion" else device.subscribed


def push_event(state: SimState, device: Device, event: Event) -> list[JSON]:
    """Push a new ding, motion or intercom ring to every registration; answers one record per push sent."""
    if state.config.push.require_subscription and not _subscribed(device, event):
        return []
    category = CATEGORY_DING if event.kind == "ding" else CATEGORY_MOTION
    if device.is_intercom:
        category = CATEGORY_INTERCOM
    two_pushes = device.spec.battery and device.family in DOORBELL_FAMILIES
    messages: list[tuple[Target, dict[str, str]]] = []
    for target in targets(state):
        for with_image in (False, True) if two_pushes else (True,):
            if target.v2:
                messages.append((target, v2_camera(state, device, event, category, with_image=with_image)))
            else:
                messages.append((target, v1_camera(device, event, with_image=with_image)))
    return _deliver(state, messages)


def push_intercom_unlock(state: SimState, device: Device) -> list[JSON]:
    return _deliver(state, [(target, v1_intercom_unlock(device)) for target in targets(state)])


def push_alarm(state: SimState, location_id: str, kind: str, device_zid: str | None) -> list[JSON]:
    return _deliver(state, [(target, v1_alarm(location_id, kind, device_zid)) for target in targets(state)])
