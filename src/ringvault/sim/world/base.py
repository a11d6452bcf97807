"""The state every part of the world shares: configuration, clock, lock, the generated records, and the lookups
(devices, locations, events within retention) that the other parts build on.

:class:`WorldBase` holds no behaviour of its own beyond finding things; the concerns live in the mixins beside it
and :class:`~ringvault.sim.world.World` combines them.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig
from ringvault.sim.world.model import JSON, Device, Event, LightGroup, Location, UnknownDevice, UnknownEvent


class WorldBase:
    """The account's records and the lock that guards them; thread-safe lookups."""

    def __init__(self, config: SimConfig, clock: SimClock, start: float) -> None:
        self.config = config
        self.clock = clock
        self.start = start
        self.rng = random.Random(config.seed)
        self._runtime_rng = random.Random(config.seed * 7919 + 17)
        self._lock = threading.RLock()
        self.user_id = 0
        self.profile_created_at = ""
        self.locations: list[Location] = []
        self.devices: dict[int, Device] = {}
        self.groups: list[LightGroup] = []
        self.events_by_id: dict[int, Event] = {}
        self.events_by_recording: dict[int, Event] = {}
        self.events_by_snapshot: dict[str, Event] = {}
        self.push_registrations: dict[str, JSON] = {}
        self.s3_secret = b""
        self._max_ding_id = 0
        self._ticket_counter = 0
        self.tickets: dict[str, JSON] = {}

    @property
    def lock(self) -> threading.RLock:
        """The world's lock, for readers that need a consistent view across several calls."""
        return self._lock

    def owner(self) -> JSON:
        return {
            "id": self.user_id,
            "email": self.config.email,
            "first_name": self.config.first_name,
            "last_name": self.config.last_name,
        }

    def device(self, device_id: int) -> Device:
        with self._lock:
            try:
                return self.devices[device_id]
            except KeyError:
                raise UnknownDevice(device_id) from None

    def location(self, location_id: str) -> Location | None:
        with self._lock:
            return next((loc for loc in self.locations if loc.id == location_id), None)

    def devices_at(self, location_id: str) -> list[Device]:
        with self._lock:
            return [d for d in self.devices.values() if d.location_id == location_id]

    def _retention_cutoff_ms(self) -> int:
        return int((self.clock.now() - self.config.retention_days * 86400.0) * 1000)

    def _visible(self, event: Event, cutoff_ms: int, now_ms: int) -> bool:
        return cutoff_ms <= event.created_ms <= now_ms + 1000

    def visible_events(self, device_ids: Iterable[int] | None = None) -> list[Event]:
        """Events within retention, newest first."""
        with self._lock:
            cutoff, now_ms = self._retention_cutoff_ms(), self.clock.now_ms()
            ids = list(self.devices) if device_ids is None else list(device_ids)
            out = [
                e
                for did in ids
                if did in self.devices
                for e in self.devices[did].events
                if self._visible(e, cutoff, now_ms)
            ]
            out.sort(key=lambda e: e.id, reverse=True)
            return out

    def event(self, ding_id: int | str) -> Event:
        """A visible event by id (int or string); raises UnknownEvent."""
        with self._lock:
            try:
                key = int(ding_id)
            except (TypeError, ValueError):
                raise UnknownEvent(ding_id) from None
            event = self.events_by_id.get(key)
            if event is None or not self._visible(event, self._retention_cutoff_ms(), self.clock.now_ms()):
                raise UnknownEvent(ding_id)
            return event

    def event_by_recording(self, recording_id: int) -> Event:
        with self._lock:
            event = self.events_by_recording.get(recording_id)
            if event is None:
                raise UnknownEvent(recording_id)
            return self.event(event.id)

    def event_by_snapshot(self, snapshot_uuid: str) -> Event:
        with self._lock:
            event = self.events_by_snapshot.get(snapshot_uuid.split(":", 1)[0])
            if event is None:
                raise UnknownEvent(snapshot_uuid)
            return self.event(event.id)

    def recording_ready(self, event: Event) -> bool:
        """True once the clip exists: the device has Protect and ``recording_delay_s`` has passed."""
        if not event.has_media:
            return False
        return self.clock.now() >= event.created_at + self.config.faults.recording_delay_s
