"""Reading the world as Ring renders it: ``ring_devices`` entries with their live state, health, history items,
event pages, video search and active dings. Every answer is a fresh dict the caller may keep or change."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from ringvault.sim.world.base import WorldBase
from ringvault.sim.world.model import FAMILIES, JSON, Device, Event, UnsupportedOperation, iso_z

#: How long an event stays in ``dings/active``.
ACTIVE_DING_S = 180.0


class WorldReading(WorldBase):
    """The read side of the REST APIs (§5, §10)."""

    def _render_entry(self, device: Device, now: float) -> JSON:
        entry = copy.deepcopy(device.entry)
        if device.is_camera or device.kind == "onvif_camera":
            entry["subscribed"] = device.subscribed
            entry["subscribed_motions"] = device.subscribed_motions
            entry["alerts"] = {"connection": "offline" if device.offline else "online"}
            if device.spec.light:
                entry["led_status"] = "on" if device.led_on else "off"
            if device.spec.siren:
                entry["siren_status"] = self._siren_status(device, now)
            health = entry.get("health")
            if isinstance(health, dict):
                health["connected"] = not device.offline
                health["rss_connected"] = not device.offline
                health["floodlight_on"] = device.led_on
                health["white_led_on"] = device.led_on
                health["siren_on"] = self._siren_remaining(device, now) > 0
        elif device.is_intercom:
            entry["subscribed"] = device.subscribed
            entry["alerts"]["connection"] = "offline" if device.offline else "online"
        elif device.is_chime:
            entry["alerts"]["connection"] = "offline" if device.offline else "online"
            entry["do_not_disturb"] = {"seconds_left": max(0, round(device.dnd_until - now))}
        elif device.family == "base_stations" and device.offline:
            entry["alerts"] = [{"type": "connection", "state": "offline"}]
        return entry

    def _siren_remaining(self, device: Device, now: float) -> int:
        if device.siren_started_at is None:
            return 0
        return max(0, round(device.siren_started_at + device.siren_duration - now))

    def _siren_status(self, device: Device, now: float) -> JSON:
        remaining = self._siren_remaining(device, now)
        if device.siren_started_at is None or remaining <= 0:
            return {"seconds_remaining": 0}
        return {
            "started_at": iso_z(device.siren_started_at, millis=True),
            "duration": device.siren_duration,
            "ends_at": iso_z(device.siren_started_at + device.siren_duration, millis=True),
            "seconds_remaining": remaining,
        }

    def ring_devices(self) -> JSON:
        """``GET clients_api/ring_devices``: all seven families, always arrays."""
        with self._lock:
            now = self.clock.now()
            out: JSON = {family: [] for family in FAMILIES}
            for device in self.devices.values():
                out[device.family].append(self._render_entry(device, now))
            return out

    def ring_devices_payload(self) -> JSON:
        """Alias of :meth:`ring_devices` (the name other test suites use)."""
        return self.ring_devices()

    def device_entry(self, device_id: int) -> JSON:
        with self._lock:
            return self._render_entry(self.device(device_id), self.clock.now())

    def user_locations(self) -> list[JSON]:
        with self._lock:
            return [loc.user_location(self.user_id) for loc in self.locations]

    def health(self, device_id: int) -> JSON:
        """``{"device_health": {...}}`` (§10.9)."""
        with self._lock:
            device = self.device(device_id)
            if device.health is None:
                raise UnsupportedOperation("no health document")
            doc = copy.deepcopy(device.health)
            if device.offline:
                doc["latest_signal_category"] = "unknown"
                doc["latest_signal_strength"] = None
            return {"device_health": doc}

    def history_item(self, event: Event) -> JSON:
        """An item of ``doorbots/{id}/history`` (§5.1)."""
        device = self.devices[event.device_id]
        ready = self.recording_ready(event)
        return {
            "id": event.id,
            "created_at": event.created_iso,
            "answered": event.answered,
            "events": [],
            "kind": event.kind,
            "favorite": event.favorite,
            "snapshot_url": "",
            "recording": {"status": "ready" if ready else None},
            "duration": event.duration,
            "cv_properties": {
                "person_detected": event.person_detected,
                "stream_broken": False,
                "detection_type": event.detection_type,
                "cv_triggers": None,
                "detection_types": [event.detection_type] if event.detection_type else None,
                "security_alerts": None,
            },
            "properties": {"is_alexa": False, "is_sidewalk": False, "is_autoreply": False},
            "doorbot": {"id": device.id, "description": device.name, "type": device.kind},
            "device_placement": None,
            "geolocation": None,
            "last_location": None,
            "siren": None,
            "is_e2ee": False,
            "had_subscription": event.has_media,
            "owner_id": str(self.user_id),
        }

    def camera_event(self, event: Event) -> JSON:
        """An item of ``locations/{loc}[/devices/{id}]/events`` (§5.2)."""
        ready = self.recording_ready(event)
        return {
            "created_at": event.created_iso,
            "cv_properties": {
                "detection_type": event.detection_type,
                "person_detected": event.person_detected,
                "stream_broken": False,
            },
            "ding_id": event.id,
            "ding_id_str": event.id_str,
            "doorbot_id": event.device_id,
            "favorite": event.favorite,
            "kind": event.kind,
            "recorded": False,
            "recording_status": "ready" if ready else None,
            "state": event.state,
            "duration": event.duration,
        }

    # ----------------------------------------------------------------------------------------------- queries

    def history(
        self, device_ids: Iterable[int], *, limit: int, older_than: int | None, favorites: bool = False
    ) -> list[JSON]:
        with self._lock:
            events = self.visible_events(device_ids)
            if older_than is not None:
                events = [e for e in events if e.id < older_than]
            if favorites:
                events = [e for e in events if e.favorite]
            return [self.history_item(e) for e in events[:limit]]

    def event_page(
        self,
        device_ids: Iterable[int],
        *,
        limit: int,
        pagination_key: int | None,
        kind: str | None = None,
        state: str | None = None,
        favorites: bool = False,
    ) -> JSON:
        """One page of the events API: ``{"events": [...], "meta": {"pagination_key": str | None}}``."""
        with self._lock:
            events = self.visible_events(device_ids)
            if kind:
                events = [e for e in events if e.kind == kind]
            if state == "missed":
                events = [e for e in events if e.kind == "ding" and not e.answered]
            elif state == "accepted":
                events = [e for e in events if e.answered]
            elif state == "person_detected":
                events = [e for e in events if e.person_detected]
            if favorites:
                events = [e for e in events if e.favorite]
            if pagination_key is not None:
                events = [e for e in events if e.id < pagination_key]
            page = events[:limit]
            more = len(events) > len(page)
            return {
                "events": [self.camera_event(e) for e in page],
                "meta": {"pagination_key": page[-1].id_str if page and more else None},
            }

    def video_search(self, device_id: int, date_from_ms: int, date_to_ms: int) -> list[Event]:
        with self._lock:
            return [e for e in self.visible_events([device_id]) if date_from_ms <= e.created_ms <= date_to_ms]

    def active_dings(self) -> list[JSON]:
        """``dings/active``: dings and live views of the last few minutes."""
        with self._lock:
            now = self.clock.now()
            out: list[JSON] = []
            for event in self.visible_events():
                if now - event.created_at > ACTIVE_DING_S:
                    break
                if event.kind not in ("ding", "on_demand"):
                    continue
                device = self.devices[event.device_id]
                out.append(
                    {
                        "id": event.id,
                        "id_str": event.id_str,
                        "state": "ringing",
                        "protocol": "sip",
                        "doorbot_id": device.id,
                        "doorbot_description": device.name,
                        "device_kind": device.kind,
                        "motion": False,
                        "snapshot_url": "",
                        "kind": event.kind,
                        "sip_server_ip": "127.0.0.1",
                        "sip_server_port": 15063,
                        "sip_server_tls": True,
                        "sip_session_id": f"sim-{event.id_str}",
                        "sip_from": "sip:ringvault-sim@ring.com",
                        "sip_to": f"sip:{event.id_str}@127.0.0.1:15063;transport=tls",
                        "sip_endpoints": None,
                        "audio_jitter_buffer_ms": 300,
                        "video_jitter_buffer_ms": 300,
                        "expires_in": max(0, int(ACTIVE_DING_S - (now - event.created_at))),
                        "optimization_level": 1,
                        "now": round(now, 3),
                        "sip_token": "",
                        "sip_ding_id": event.id_str,
                        "ding_encrypted": False,
                        "requested_at": event.created_ms,
                    }
                )
            return out
