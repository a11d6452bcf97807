"""Device settings in their two places: the ``settings`` of the ring_devices entry (``PUT doorbots/{id}``,
``PUT chimes/{id}``) and the settings document (``PATCH devices/v1/devices/{id}/settings``); a change to one is
mirrored into the other, as Ring's apps see it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ringvault.sim.world.base import WorldBase
from ringvault.sim.world.model import JSON, Device, UnsupportedOperation, deep_merge


class WorldSettings(WorldBase):
    """Settings updates and the sync between the entry and the settings document."""

    def update_entry_settings(self, device_id: int, patch: Mapping[str, Any], description: str | None = None) -> None:
        """A ``PUT doorbots/{id}`` or ``PUT chimes/{id}``: merge into the ring_devices entry's settings."""
        with self._lock:
            device = self.device(device_id)
            if description:
                device.entry["description"] = description
            if patch:
                settings = device.entry.get("settings")
                if not isinstance(settings, dict):
                    raise UnsupportedOperation("no settings")
                deep_merge(settings, patch)
                self._sync_entry_to_doc(device, patch)

    def update_chime_fields(self, device_id: int, fields: Mapping[str, Any]) -> None:
        """``PUT chimes/{id}/`` with top-level fields (description, latitude, ...)."""
        with self._lock:
            device = self.device(device_id)
            for key in ("description", "latitude", "longitude", "address"):
                if key in fields:
                    device.entry[key] = fields[key]

    def settings_document(self, device_id: int) -> JSON:
        with self._lock:
            device = self.device(device_id)
            if device.settings_doc is None:
                raise UnsupportedOperation("no settings document")
            return copy.deepcopy(device.settings_doc)

    def patch_settings_document(self, device_id: int, patch: Mapping[str, Any]) -> JSON:
        """``PATCH devices/v1/devices/{id}/settings``: deep-merge, mirror into ring_devices, return the document."""
        with self._lock:
            device = self.device(device_id)
            if device.settings_doc is None:
                raise UnsupportedOperation("no settings document")
            deep_merge(device.settings_doc, patch)
            self._sync_doc_to_entry(device, patch)
            return copy.deepcopy(device.settings_doc)

    def _sync_doc_to_entry(self, device: Device, patch: Mapping[str, Any]) -> None:
        settings = device.entry.get("settings")
        if not isinstance(settings, dict):
            return
        motion = patch.get("motion_settings")
        if isinstance(motion, Mapping) and "motion_detection_enabled" in motion:
            settings["motion_detection_enabled"] = bool(motion["motion_detection_enabled"])
        volume = patch.get("volume_settings")
        if isinstance(volume, Mapping):
            if device.is_chime and "volume" in volume:
                settings["volume"] = volume["volume"]
            if "doorbell_volume" in volume and "doorbell_volume" in settings:
                settings["doorbell_volume"] = volume["doorbell_volume"]
            for key in ("mic_volume", "voice_volume"):
                if key in volume and key in settings:
                    settings[key] = volume[key]
        chime = patch.get("chime_settings")
        if isinstance(chime, Mapping) and isinstance(settings.get("chime_settings"), dict):
            for key in ("type", "enable", "duration"):
                if key in chime:
                    settings["chime_settings"][key] = chime[key]
        night = patch.get("night_light_settings")
        if isinstance(night, Mapping) and isinstance(settings.get("night_light_settings"), dict):
            deep_merge(settings["night_light_settings"], night)
        keep_alive = patch.get("keep_alive_settings")
        if isinstance(keep_alive, Mapping) and "keep_alive_auto" in keep_alive and "keep_alive_auto" in settings:
            settings["keep_alive_auto"] = keep_alive["keep_alive_auto"]
        video = patch.get("video_settings")
        if isinstance(video, Mapping) and "hevc_enabled" in video and isinstance(settings.get("video_settings"), dict):
            settings["video_settings"]["hevc_enabled"] = video["hevc_enabled"]

    def _sync_entry_to_doc(self, device: Device, patch: Mapping[str, Any]) -> None:
        doc = device.settings_doc
        if doc is None:
            return
        if "motion_detection_enabled" in patch and isinstance(doc.get("motion_settings"), dict):
            doc["motion_settings"]["motion_detection_enabled"] = bool(patch["motion_detection_enabled"])
        volume_doc = doc.get("volume_settings")
        if isinstance(volume_doc, dict):
            for key in ("doorbell_volume", "mic_volume", "voice_volume"):
                if key in patch:
                    volume_doc[key] = patch[key]
            if device.is_chime and "volume" in patch:
                volume_doc["volume"] = patch["volume"]
        chime = patch.get("chime_settings")
        if isinstance(chime, Mapping) and isinstance(doc.get("chime_settings"), dict):
            deep_merge(doc["chime_settings"], chime)
        night = patch.get("night_light_settings")
        if isinstance(night, Mapping) and isinstance(doc.get("night_light_settings"), dict):
            deep_merge(doc["night_light_settings"], night)
