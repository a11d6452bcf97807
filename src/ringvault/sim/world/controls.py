"""Device controls: lights, sirens, subscriptions, chimes (sounds, do-not-disturb, linked doorbells), intercom
unlocks, and the control API's test knobs (offline, Protect plan, renumbering)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ringvault.sim.world.model import DOORBELL_FAMILIES, JSON, Device, UnsupportedOperation, deep_merge
from ringvault.sim.world.reading import WorldReading
from ringvault.sim.world.settings import WorldSettings


class WorldControls(WorldSettings, WorldReading):
    """State changes of single devices."""

    def set_light(self, device_id: int, on: bool) -> None:
        with self._lock:
            device = self.device(device_id)
            if not device.spec.light:
                raise UnsupportedOperation("no light")
            device.led_on = on

    def set_siren(self, device_id: int, on: bool, duration: int | None = None) -> None:
        with self._lock:
            device = self.device(device_id)
            if not device.spec.siren:
                raise UnsupportedOperation("no siren")
            if on:
                device.siren_started_at = self.clock.now()
                device.siren_duration = int(duration) if duration else 30
            else:
                device.siren_started_at = None
                device.siren_duration = 0

    def set_subscription(self, device_id: int, *, motions: bool, on: bool) -> None:
        with self._lock:
            device = self.device(device_id)
            if motions:
                device.subscribed_motions = on
            else:
                device.subscribed = on

    def play_sound(self, device_id: int, kind: str) -> None:
        with self._lock:
            device = self.device(device_id)
            if not device.is_chime:
                raise UnsupportedOperation("not a chime")
            device.sounds.append({"kind": kind, "at": self.clock.now()})

    def set_do_not_disturb(self, device_id: int, minutes: float | None) -> None:
        with self._lock:
            device = self.device(device_id)
            if not device.is_chime:
                raise UnsupportedOperation("not a chime")
            if minutes is None or minutes <= 0:
                device.dnd_until = 0.0
            else:
                device.dnd_until = self.clock.now() + min(float(minutes), 1440.0) * 60.0

    def linked_doorbots(self, device_id: int) -> list[JSON]:
        with self._lock:
            chime = self.device(device_id)
            if not chime.is_chime:
                raise UnsupportedOperation("not a chime")
            return [
                {"id": d.id, "description": d.name, "kind": d.kind, "location_id": d.location_id}
                for d in self.devices.values()
                if d.location_id == chime.location_id and d.family in DOORBELL_FAMILIES
            ]

    def unlock(self, device_id: int, request: Mapping[str, Any]) -> JSON:
        with self._lock:
            device = self.device(device_id)
            if not device.is_intercom:
                raise UnsupportedOperation("not an intercom")
            record = {"at": self.clock.now(), "request": dict(request)}
            device.unlocks.append(record)
            return record

    def set_offline(self, device_id: int, offline: bool) -> None:
        with self._lock:
            self.device(device_id).offline = offline

    def control_patch(self, device_id: int, patch: Mapping[str, Any]) -> JSON:
        """``PATCH /_sim/devices/{id}``: test knobs (offline, Protect plan, motion detection, live view, battery)."""
        with self._lock:
            device = self.device(device_id)
            if "offline" in patch:
                device.offline = bool(patch["offline"])
            features = device.entry.get("features")
            if "show_recordings" in patch and isinstance(features, dict):
                features["show_recordings"] = bool(patch["show_recordings"])
                for event in device.events:
                    event.has_media = bool(patch["show_recordings"])
            settings = device.entry.get("settings")
            if isinstance(settings, dict):
                if "motion_detection_enabled" in patch:
                    self.update_entry_settings(
                        device_id, {"motion_detection_enabled": bool(patch["motion_detection_enabled"])}
                    )
                if "live_view_disabled" in patch:
                    settings["live_view_disabled"] = bool(patch["live_view_disabled"])
            if "battery_life" in patch and "battery_life" in device.entry:
                device.entry["battery_life"] = patch["battery_life"]
            if "description" in patch:
                device.entry["description"] = str(patch["description"])
            if "id" in patch:
                self._renumber(device, int(patch["id"]))
            if isinstance(patch.get("entry"), Mapping):
                device.entry = deep_merge(device.entry, patch["entry"])
            return self._render_entry(device, self.clock.now())

    def _renumber(self, device: Device, new_id: int) -> None:
        """Give a device another id everywhere (its entry, health document, events and every route): hostile-input
        tests use ids beyond 64 bits, which Ring's JSON can carry."""
        if new_id == device.id:
            return
        if new_id in self.devices:
            raise UnsupportedOperation(f"another device has id {new_id}")
        del self.devices[device.id]
        device.id = new_id
        device.entry["id"] = new_id
        if device.health is not None:
            device.health["id"] = new_id
        for event in device.events:
            event.device_id = new_id
        self.devices[new_id] = device
