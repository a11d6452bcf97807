"""The world part of the control API's ``GET /_sim/world``: what tests and benchmarks read to find their way."""

from __future__ import annotations

from ringvault.sim.world.base import WorldBase
from ringvault.sim.world.model import JSON, Event


class WorldSummary(WorldBase):
    """Summaries of locations, devices and events."""

    def event_summary(self, event: Event, *, full: bool = False) -> JSON:
        device = self.devices[event.device_id]
        out: JSON = {
            "id": event.id,
            "id_str": event.id_str,
            "kind": event.kind,
            "created_at": event.created_iso,
            "recording_ready": self.recording_ready(event),
        }
        if full:
            out.update(
                device_id=device.id,
                created_at_ms=event.created_ms,
                duration=event.duration,
                answered=event.answered,
                favorite=event.favorite,
                person_detected=event.person_detected,
                detection_type=event.detection_type,
                snapshot_uuid=event.snapshot_uuid,
                recording_id=event.recording_id,
                has_media=event.has_media,
            )
        return out

    def summary(self, events: str = "list") -> JSON:
        """The world part of ``GET /_sim/world``: locations, devices, and events (``list``, ``full`` or ``count``)."""
        with self._lock:
            devices = [
                {
                    "id": d.id,
                    "name": d.name,
                    "kind": d.kind,
                    "family": d.family,
                    "location_id": d.location_id,
                    "offline": d.offline,
                    "show_recordings": d.show_recordings if d.has_events else False,
                }
                for d in self.devices.values()
            ]
            by_device: JSON = {}
            for device in self.devices.values():
                if not device.has_events:
                    continue
                visible = self.visible_events([device.id])
                if events == "count":
                    by_device[str(device.id)] = len(visible)
                else:
                    by_device[str(device.id)] = [self.event_summary(e, full=events == "full") for e in visible]
            return {
                "profile": {"id": self.user_id, "email": self.config.email},
                "locations": [
                    {"id": loc.id, **loc.user_location(self.user_id), "timezone": loc.timezone, "mode": loc.mode}
                    for loc in self.locations
                ],
                "devices": devices,
                "events": by_device,
            }
