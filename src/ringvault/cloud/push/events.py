"""The typed events that push notifications (and the polling fallback) turn into.

One ``RingEvent`` per thing that happened: a doorbell press (``ding``), motion (``motion``, with ``detection`` when Ring
says what moved), an intercom ring (``intercom_ding``) or unlock (``intercom_unlock``), or an alarm notice (``alarm``,
with ``alarm_kind``). Ding ids are kept as exact strings: they exceed 2^53 (reference §8.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "ALARM_KINDS",
    "EVENT_KINDS",
    "EventKind",
    "EventSource",
    "RingEvent",
    "detection_of",
]

EventKind = Literal["ding", "motion", "intercom_ding", "intercom_unlock", "alarm"]
EventSource = Literal["push", "poll"]
EVENT_KINDS: tuple[EventKind, ...] = ("ding", "motion", "intercom_ding", "intercom_unlock", "alarm")

#: Alarm notices (reference §8.6; the names are python-ring-doorbell's kinds for the same actions).
ALARM_KINDS: dict[str, str] = {
    "com.ring.push.HANDLE_NEW_SECURITY_PANEL_MODE_NONE_NOTICE": "alarm_mode_none",
    "com.ring.push.HANDLE_NEW_SECURITY_PANEL_MODE_SOME_NOTICE": "alarm_mode_some",
    "com.ring.push.HANDLE_NEW_USER_SOUND_SIREN": "alarm_siren",
    "com.ring.push.HANDLE_NEW_NON_ALARM_SIREN_SILENCED": "alarm_silenced",
}

#: What Ring's detection words (``ding.subtype``, ``detection_type``, ``eventito.type``, ``cv_properties``) mean.
_DETECTIONS: dict[str, str] = {
    "human": "person",
    "person": "person",
    "person_detected": "person",
    "loitering": "person",
    "vehicle": "vehicle",
    "vehicle_detected": "vehicle",
    "package": "package",
    "package_delivery": "package",
    "package_pickup": "package",
    "package_detected": "package",
}


def detection_of(*words: object) -> str | None:
    """``person``, ``vehicle`` or ``package`` for the first of ``words`` that names one, else None (plain motion,
    ``other_motion``, the string ``"null"``, ``stream_broken`` ... say nothing about what moved)."""
    for word in words:
        if isinstance(word, str):
            found = _DETECTIONS.get(word.strip().lower())
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class RingEvent:
    """One event from Ring, from a push notification (``source="push"``) or the history poller (``"poll"``).

    - ``device_id``: the camera's or intercom's id (None for alarm notices that name only a location);
    - ``ding_id``: the exact id string (None when Ring sent none, e.g. newer motion pushes, §8.4);
    - ``detection``: ``person`` / ``vehicle`` / ``package`` when Ring says so;
    - ``device_zid``: the hub device an alarm notice names when that is not a camera/intercom id (a Ring Alarm
      zid, e.g. the security panel's for a siren notice);
    - ``alarm_kind``: ``alarm_mode_none`` / ``alarm_mode_some`` / ``alarm_siren`` / ``alarm_silenced`` / the action;
    - ``category``: ``android_config.category`` (v2) or ``action`` (v1), as Ring sent it;
    - ``raw``: the parsed notification (or history item) for anything else.
    """

    kind: EventKind
    created_at: datetime
    device_id: int | None = None
    ding_id: str | None = None
    location_id: str | None = None
    device_name: str | None = None
    device_kind: str | None = None
    subtype: str | None = None
    detection: str | None = None
    alarm_kind: str | None = None
    device_zid: str | None = None
    snapshot_uuid: str | None = None
    category: str | None = None
    body: str | None = None
    source: EventSource = "push"
    persistent_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        """What makes two deliveries the same event: the ding id when there is one (a second push for the same ding,
        or the history item of a pushed ding, is a duplicate), else kind, device (or location) and time in ms."""
        if self.ding_id:
            return f"ding:{self.ding_id}"
        where = self.device_id if self.device_id is not None else self.location_id
        return f"{self.kind}:{where}:{int(self.created_at.timestamp() * 1000)}"

    @property
    def is_motion(self) -> bool:
        return self.kind == "motion"
