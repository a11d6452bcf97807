"""The world's data: Ring's device families, the records a world holds (locations, devices, events, light groups),
the errors its methods raise, and the small helpers every part of the world shares.

Nothing here knows about generation or the lock: these are plain records that :class:`~ringvault.sim.world.World`
creates, changes and renders.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

FAMILIES: tuple[str, ...] = (
    "doorbots",
    "authorized_doorbots",
    "stickup_cams",
    "chimes",
    "base_stations",
    "beams_bridges",
    "other",
)
CAMERA_FAMILIES = frozenset({"doorbots", "authorized_doorbots", "stickup_cams"})
DOORBELL_FAMILIES = frozenset({"doorbots", "authorized_doorbots"})
INTERCOM_KINDS = frozenset({"intercom_handset_audio", "intercom_handset_video"})

#: Ding ids are ``(epoch_ms << 22) | 22 random bits``: 19 digits, above 2**53, increasing with time.
DING_ID_SHIFT = 22


def iso_z(ts: float, *, millis: bool) -> str:
    """Ring's two ``created_at`` formats: ``2017-03-05T15:03:40.000Z`` and ``2023-12-01T18:05:25Z``."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def deep_merge(dst: dict[str, Any], src: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``src`` into ``dst`` in place: nested dicts merge, everything else replaces."""
    for key, value in src.items():
        current = dst.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            deep_merge(current, value)
        else:
            dst[key] = copy.deepcopy(value)
    return dst


def ding_id_time_ms(ding_id: int) -> int:
    return ding_id >> DING_ID_SHIFT


def rng_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (so seeded worlds get the same ids)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class DeviceSpec:
    """What the generator needs to know about one device to build its Ring entry."""

    family: str
    kind: str
    name: str
    battery: bool = False
    light: bool = False
    siren: bool = False
    protect: bool = True  # Ring Protect plan: features.show_recordings and media
    battery_life: int | str | None = None
    setup_flow: str | None = None


@dataclass
class Location:
    """One Ring location (a home, a shop, ...)."""

    id: str
    name: str
    timezone: str
    utc_offset: str
    address: dict[str, str]
    latitude: float
    longitude: float
    created_at: str
    mode: str = "disarmed"
    mode_updated_ms: int = 0

    def user_location(self, owner_id: int) -> JSON:
        """The ``devices/v1/locations`` document (§10.7)."""
        return {
            "location_id": self.id,
            "name": self.name,
            "owner_id": owner_id,
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "user_verified": True,
            "geo_service_verified": "address_only",
            "geo_coordinates": {"latitude": f"{self.latitude:.6f}", "longitude": f"{self.longitude:.6f}"},
            "address": dict(self.address),
        }


@dataclass
class Event:
    """One "ding": a doorbell press, a motion, a live view, ..."""

    id: int
    device_id: int
    kind: str
    created_at: float  # epoch seconds
    millis_format: bool
    duration: float
    answered: bool
    favorite: bool
    person_detected: bool | None
    detection_type: str | None
    snapshot_uuid: str
    recording_id: int
    has_media: bool

    @property
    def id_str(self) -> str:
        return str(self.id)

    @property
    def created_ms(self) -> int:
        return round(self.created_at * 1000)

    @property
    def created_iso(self) -> str:
        return iso_z(self.created_at, millis=self.millis_format)

    @property
    def state(self) -> str:
        return "completed" if self.answered else "timed_out"


@dataclass
class Device:
    """One device: its static Ring entry plus the state REST calls change."""

    id: int
    spec: DeviceSpec
    location_id: str
    entry: JSON  # the ring_devices entry (mutable parts are overwritten when rendered)
    settings_doc: JSON | None  # devices/v1/devices/{id}/settings (§10.10)
    health: JSON | None  # clients_api/doorbots/{id}/health (§10.9)
    offline: bool = False
    led_on: bool = False
    siren_started_at: float | None = None
    siren_duration: int = 0
    subscribed: bool = False
    subscribed_motions: bool = False
    dnd_until: float = 0.0
    captures: list[int] = field(default_factory=list)  # snapshot capture times, epoch ms, ascending
    pending_capture_ms: int | None = None
    events: list[Event] = field(default_factory=list)  # ascending by id (= by time)
    sounds: list[JSON] = field(default_factory=list)
    unlocks: list[JSON] = field(default_factory=list)
    asset_uuid: str = ""  # hub assets (base stations, bridges) in clap/tickets

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_camera(self) -> bool:
        """Cameras of the three camera families (they take snapshots)."""
        return self.family in CAMERA_FAMILIES

    @property
    def is_intercom(self) -> bool:
        return self.kind in INTERCOM_KINDS

    @property
    def has_events(self) -> bool:
        return self.is_camera or self.is_intercom

    @property
    def is_chime(self) -> bool:
        return self.family == "chimes"

    @property
    def show_recordings(self) -> bool:
        features = self.entry.get("features")
        return bool(isinstance(features, dict) and features.get("show_recordings"))

    @property
    def motion_detection_enabled(self) -> bool:
        settings = self.entry.get("settings")
        return bool(isinstance(settings, dict) and settings.get("motion_detection_enabled", True))

    @property
    def live_view_disabled(self) -> bool:
        settings = self.entry.get("settings")
        return bool(isinstance(settings, dict) and settings.get("live_view_disabled", False))


@dataclass
class LightGroup:
    """A Smart Lighting group (groups/v1)."""

    id: str
    location_id: str
    name: str
    devices: list[JSON]
    created_at: str
    lights_on_until: float = 0.0
    motion_detection_on: bool = True


class UnknownDevice(KeyError):
    """No device with this id in the account."""


class UnknownEvent(KeyError):
    """No (visible) event with this id in the account."""


class UnsupportedOperation(ValueError):
    """The device exists but cannot do this (no light, no siren, not a chime, ...)."""
