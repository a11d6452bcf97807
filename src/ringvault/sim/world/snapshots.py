"""Snapshot captures: when each camera last took an image, forced refreshes, and the battery-camera rate limit."""

from __future__ import annotations

from ringvault.sim.world.base import WorldBase
from ringvault.sim.world.model import Device

#: Battery cameras refresh their image at most this often (forced or not).
BATTERY_SNAPSHOT_INTERVAL_S = 600.0
#: How many capture times are kept per camera.
SNAPSHOT_HISTORY = 50


class WorldSnapshots(WorldBase):
    """Capture times per camera; a requested capture completes ``snapshot_capture_delay_s`` later."""

    def _add_capture(self, device: Device, at_ms: int) -> None:
        device.captures.append(at_ms)
        device.captures.sort()
        del device.captures[:-SNAPSHOT_HISTORY]

    def _settle(self, device: Device, now_ms: int) -> None:
        if device.pending_capture_ms is not None and device.pending_capture_ms <= now_ms:
            self._add_capture(device, device.pending_capture_ms)
            device.pending_capture_ms = None

    def snapshot_blocked(self, device: Device) -> str | None:
        """Why the camera produces no snapshots now (offline / motion detection off), else None."""
        if device.offline:
            return "offline"
        if not device.motion_detection_enabled:
            return "motion_detection_disabled"
        return None

    def request_capture(self, device_id: int) -> int | None:
        """Ask a camera for a fresh image; returns when it will be captured (ms), or None if it will not.

        Captures complete ``snapshot_capture_delay_s`` later. Battery cameras refresh at most every 10 minutes.
        """
        with self._lock:
            device = self.device(device_id)
            if not device.is_camera or self.snapshot_blocked(device):
                return None
            now_ms = self.clock.now_ms()
            self._settle(device, now_ms)
            if device.pending_capture_ms is not None:
                return device.pending_capture_ms
            latest = device.captures[-1] if device.captures else 0
            if device.spec.battery and now_ms - latest < BATTERY_SNAPSHOT_INTERVAL_S * 1000:
                return None
            device.pending_capture_ms = now_ms + int(self.config.snapshot_capture_delay_s * 1000)
            self._settle(device, now_ms)
            return device.pending_capture_ms

    def latest_capture(self, device_id: int) -> int | None:
        """Capture time (ms) of the camera's newest image, or None when it holds none."""
        with self._lock:
            device = self.device(device_id)
            self._settle(device, self.clock.now_ms())
            return device.captures[-1] if device.captures else None

    def forget_snapshots(self, device_id: int) -> None:
        with self._lock:
            self.device(device_id).captures.clear()
