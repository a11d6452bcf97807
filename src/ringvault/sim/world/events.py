"""Events ("dings"): their kinds per device family, ding ids, and creating them (seeded history or at runtime)."""

from __future__ import annotations

import random

from ringvault.sim.world.model import DING_ID_SHIFT, DOORBELL_FAMILIES, Device, Event, UnsupportedOperation, rng_uuid
from ringvault.sim.world.snapshots import WorldSnapshots


class WorldEvents(WorldSnapshots):
    """Makes events: the seeded history from ``self.rng``, runtime events from ``self._runtime_rng``."""

    def _kind_table(self, device: Device) -> list[tuple[str, float]]:
        if device.is_intercom:
            return [("ding", 0.9), ("key_access", 0.1)]
        if device.family in DOORBELL_FAMILIES:
            table = [("ding", 0.33), ("motion", 0.5), ("on_demand", 0.1), ("on_demand_link", 0.04), ("alarm", 0.03)]
            if device.kind == "doorbell_portal":
                table.append(("door_activity", 0.05))
            return table
        return [("motion", 0.8), ("on_demand", 0.12), ("on_demand_link", 0.05), ("alarm", 0.03)]

    def _pick_kind(self, device: Device, rng: random.Random) -> str:
        table = self._kind_table(device)
        total = sum(weight for _, weight in table)
        x = rng.uniform(0, total)
        for kind, weight in table:
            x -= weight
            if x <= 0:
                return kind
        return table[0][0]

    def _new_ding_id(self, at_ms: int, rng: random.Random) -> int:
        candidate = (at_ms << DING_ID_SHIFT) | rng.getrandbits(DING_ID_SHIFT)
        while candidate in self.events_by_id:
            candidate += 1
        return candidate

    def _make_event(self, device: Device, kind: str, at: float, rng: random.Random, *, monotonic: bool) -> Event:
        at_ms = round(at * 1000)
        ding_id = self._new_ding_id(at_ms, rng)
        if monotonic and ding_id <= self._max_ding_id:
            ding_id = self._max_ding_id + 1
        is_motion = kind in ("motion", "on_demand_link")
        person: bool | None = None
        detection: str | None = None
        if is_motion:
            roll = rng.random()
            if roll < 0.45:
                person, detection = True, "human"
            elif roll < 0.6:
                person, detection = False, "vehicle"
            elif roll < 0.8:
                person, detection = False, "motion"
        answered = kind == "on_demand" or (kind == "ding" and rng.random() < 0.3) or kind == "key_access"
        durations = {"ding": (20, 60), "motion": (10, 40), "on_demand": (15, 120)}
        low, high = durations.get(kind, (8, 30))
        recording_id = rng.randint(100_000_000, 999_999_999)
        while recording_id in self.events_by_recording:
            recording_id += 1
        event = Event(
            id=ding_id,
            device_id=device.id,
            kind=kind,
            created_at=at_ms / 1000,
            millis_format=ding_id % 2 == 0,
            duration=float(rng.randint(low, high)),
            answered=answered,
            favorite=rng.random() < 0.05,
            person_detected=person,
            detection_type=detection,
            snapshot_uuid=rng_uuid(rng),
            recording_id=recording_id,
            has_media=device.show_recordings,
        )
        self.events_by_id[event.id] = event
        self.events_by_recording[event.recording_id] = event
        self.events_by_snapshot[event.snapshot_uuid] = event
        self._max_ding_id = max(self._max_ding_id, event.id)
        return event

    def _generate_events(self, device: Device) -> None:
        rng = self.rng
        span = self.config.history_days * 86400.0
        count = self.config.events_per_device
        ages = sorted((rng.uniform(60.0, max(span, 61.0)) for _ in range(count)), reverse=True)
        for age in ages:
            at = float(int(self.start - age))
            device.events.append(self._make_event(device, self._pick_kind(device, rng), at, rng, monotonic=False))
        device.events.sort(key=lambda e: e.id)

    def create_event(self, device_id: int, kind: str = "motion", at: float | None = None) -> Event:
        """Record a new event now (or at ``at``) for a camera, doorbell or intercom."""
        with self._lock:
            device = self.device(device_id)
            if not device.has_events:
                raise UnsupportedOperation(f"{device.kind} has no events")
            when = self.clock.now() if at is None else at
            event = self._make_event(device, kind, when, self._runtime_rng, monotonic=True)
            device.events.append(event)
            device.events.sort(key=lambda e: e.id)
            if device.is_camera:  # the event's image becomes the camera's latest snapshot
                self._add_capture(device, event.created_ms)
            return event
