"""The event streams of cameras and intercoms (seed 000's names, in Python style).

Cameras: ``on_new_notification`` (every event of the camera), ``on_doorbell_pressed`` (each ding),
``on_active_dings`` (the events of the last 65 s, as a list, emitted whenever it changes; ``on_active_notifications``
is the same stream), ``on_motion_detected`` (``True`` while a motion event is active, ``False`` when none is) and
``on_notification_updated`` (a second push for an event that brings its snapshot).
An event stays active for ``active_window_s`` (65 s, reference §8.5) from its first delivery; a repeat does not
extend it (the hub drops repeats anyway).
Intercoms: ``on_ding`` and ``on_unlocked``.
"""

from __future__ import annotations

import asyncio
import contextlib

from ringvault.cloud.device import Signal
from ringvault.cloud.push.events import RingEvent

__all__ = ["ACTIVE_WINDOW_S", "CameraNotifications", "IntercomNotifications"]

ACTIVE_WINDOW_S = 65.0


class CameraNotifications:
    """Mixed into ``RingCamera``: the camera's event streams and its active events."""

    active_window_s: float = ACTIVE_WINDOW_S

    def _init_notifications(self) -> None:
        self.on_new_notification: Signal[RingEvent] = Signal()
        self.on_doorbell_pressed: Signal[RingEvent] = Signal()
        self.on_active_dings: Signal[list[RingEvent]] = Signal()
        self.on_motion_detected: Signal[bool] = Signal()
        self.on_notification_updated: Signal[RingEvent] = Signal()
        self._active: dict[str, RingEvent] = {}
        self._active_timers: dict[str, asyncio.TimerHandle] = {}
        self.on_motion_detected.value = False
        self.on_active_dings.value = []

    @property
    def on_active_notifications(self) -> Signal[list[RingEvent]]:
        return self.on_active_dings

    @property
    def active_dings(self) -> list[RingEvent]:
        """The events of the last ``active_window_s`` seconds, oldest first."""
        return list(self._active.values())

    @property
    def motion_detected(self) -> bool:
        return any(event.is_motion for event in self._active.values())

    def _push_event(self, event: RingEvent) -> None:
        """An event for this camera (from the hub): emit it and keep it active for ``active_window_s``."""
        key = event.key
        motion_before = self.motion_detected
        if key not in self._active:
            self._active[key] = event
            with contextlib.suppress(RuntimeError):  # no running loop: the event stays until the next one
                loop = asyncio.get_running_loop()
                self._active_timers[key] = loop.call_later(self.active_window_s, self._expire, key)
            self.on_active_dings.emit(self.active_dings)
        self.on_new_notification.emit(event)
        if event.kind == "ding":
            self.on_doorbell_pressed.emit(event)
        if self.motion_detected != motion_before:
            self.on_motion_detected.emit(self.motion_detected)

    def _expire(self, key: str) -> None:
        self._active_timers.pop(key, None)
        motion_before = self.motion_detected
        if self._active.pop(key, None) is not None:
            self.on_active_dings.emit(self.active_dings)
        if self.motion_detected != motion_before:
            self.on_motion_detected.emit(self.motion_detected)

    def _clear_notifications(self) -> None:
        for timer in self._active_timers.values():
            timer.cancel()
        self._active_timers.clear()
        self._active.clear()


class IntercomNotifications:
    """Mixed into ``RingIntercom``: ``on_ding`` (someone rang) and ``on_unlocked`` (the door was opened)."""

    def _init_notifications(self) -> None:
        self.on_new_notification: Signal[RingEvent] = Signal()
        self.on_ding: Signal[RingEvent] = Signal()
        self.on_unlocked: Signal[RingEvent] = Signal()

    def _push_event(self, event: RingEvent) -> None:
        self.on_new_notification.emit(event)
        if event.kind == "intercom_ding":
            self.on_ding.emit(event)
        elif event.kind == "intercom_unlock":
            self.on_unlocked.emit(event)

    def _clear_notifications(self) -> None:
        return None
