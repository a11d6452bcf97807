"""Real-time events from Ring: push notifications over FCM (firebase-messaging), with a polling fallback.

``RingApi.start_notifications()`` starts it; events arrive as ``RingEvent`` on ``RingApi.on_new_notification``, the
cameras' and intercoms' streams and the locations' ``on_alarm_notice``. Only the light modules are imported here;
``listener`` and ``connect`` (firebase-messaging, aiohttp, protobuf) are imported when push starts.
"""

from __future__ import annotations

from ringvault.cloud.push.events import EVENT_KINDS, EventKind, RingEvent, detection_of
from ringvault.cloud.push.parse import NotificationError, UnknownNotification, parse_notification
from ringvault.cloud.push.store import PushStore

__all__ = [
    "EVENT_KINDS",
    "EventKind",
    "NotificationError",
    "PushStore",
    "RingEvent",
    "UnknownNotification",
    "detection_of",
    "parse_notification",
]
