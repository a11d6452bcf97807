"""The simulated Ring account: profile, locations, devices of every family, events, and device state.

Everything is generated deterministically from ``SimConfig.seed`` and anchored to the simulator clock (at the
start of the current hour, so start-ups within one hour see the same world): events are spread over
``history_days`` before start-up, and every time-dependent answer (retention, recording readiness, siren and
do-not-disturb countdowns, snapshot captures) reads ``SimClock.now()`` at request time.

The routers never touch the data structures directly: they call the methods of :class:`World`, which hold
one lock, so the server thread and a test thread can use the same world safely. Every method that returns
JSON-shaped data returns fresh dicts the caller may keep or change.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig

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
#: Battery cameras refresh their image at most this often (forced or not).
BATTERY_SNAPSHOT_INTERVAL_S = 600.0
#: How long an event stays in ``dings/active``.
ACTIVE_DING_S = 180.0
#: Generated times are anchored at a multiple of this (seconds), see World.generate.
ANCHOR_S = 3600
#: How many capture times are kept per camera.
SNAPSHOT_HISTORY = 50

# (time zone, UTC offset, city, state, zip, country, latitude, longitude, street)
_PLACES: tuple[tuple[str, str, str, str, str, str, float, float, str], ...] = (
    ("America/New_York", "-05:00", "Montclair", "NJ", "07042", "US", 40.8259, -74.2090, "Valley Rd"),
    ("Europe/Rome", "+01:00", "Bologna", "BO", "40121", "IT", 44.4949, 11.3426, "Via dell'Indipendenza"),
    ("America/Los_Angeles", "-08:00", "Pasadena", "CA", "91101", "US", 34.1478, -118.1445, "Colorado Blvd"),
    ("Europe/London", "+00:00", "Bristol", "", "BS1 4DJ", "GB", 51.4545, -2.5879, "Park Street"),
    ("America/Chicago", "-06:00", "Evanston", "IL", "60201", "US", 42.0451, -87.6877, "Sheridan Rd"),
    ("Europe/Berlin", "+01:00", "Leipzig", "SN", "04109", "DE", 51.3397, 12.3731, "Karl-Liebknecht-Str."),
    ("America/Denver", "-07:00", "Boulder", "CO", "80302", "US", 40.0150, -105.2705, "Pearl St"),
    ("Australia/Sydney", "+10:00", "Manly", "NSW", "2095", "AU", -33.7969, 151.2858, "The Corso"),
)
_LOCATION_NAMES = ("Home", "Lake House", "Office", "Mom's Place", "Studio", "Cabin", "Shop", "Rental")
_SHORT_ID_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"  # geohash alphabet, as in ids like 9q9htg-4evb0-0


# ---------------------------------------------------------------------------------------------------------------------
# small helpers


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


def _rng_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _short_location_id(rng: random.Random) -> str:
    a = "".join(rng.choice(_SHORT_ID_ALPHABET) for _ in range(6))
    b = "".join(rng.choice(_SHORT_ID_ALPHABET) for _ in range(5))
    return f"{a}-{b}-0"


# ---------------------------------------------------------------------------------------------------------------------
# data


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


# ---------------------------------------------------------------------------------------------------------------------
# the device catalogue

_HOME_SPECS: tuple[DeviceSpec, ...] = (
    DeviceSpec("doorbots", "doorbell_oyster", "Front Door", battery=True, battery_life="58"),
    DeviceSpec("doorbots", "lpd_v4", "Back Door"),
    DeviceSpec("doorbots", "doorbell_portal", "Apartment Door", battery=True, battery_life=87),
    DeviceSpec("authorized_doorbots", "doorbell_v5", "Neighbor's Door", battery=True, battery_life="71"),
    DeviceSpec("stickup_cams", "floodlight_v2", "Driveway Floodlight", light=True, siren=True, setup_flow="floodlight"),
    DeviceSpec("stickup_cams", "stickup_cam_lunar", "Garden", battery=True, siren=True, battery_life=76),
    DeviceSpec("stickup_cams", "cocoa_spotlight", "Side Yard", light=True, siren=True, setup_flow="wired"),
    DeviceSpec("stickup_cams", "stickup_cam_mini_v2", "Living Room", siren=True, protect=False),
    DeviceSpec("stickup_cams", "cocoa_camera_v3", "Garage Cam", battery=True, siren=True, battery_life="100"),
    DeviceSpec("chimes", "chime_pro_v2", "Hall Chime"),
    DeviceSpec("chimes", "chime", "Upstairs Chime"),
    DeviceSpec("base_stations", "base_station_v1", "Alarm Base Station"),
    DeviceSpec("beams_bridges", "beams_bridge_v1", "Lighting Bridge"),
    DeviceSpec("other", "intercom_handset_audio", "Building Entrance", battery=True, battery_life="52", protect=False),
    DeviceSpec("other", "third_party_gdo", "Garage Door", protect=False),
    DeviceSpec("other", "onvif_camera", "Backyard ONVIF", protect=False),
)

_AWAY_DOORBELLS: tuple[DeviceSpec, ...] = (
    DeviceSpec("doorbots", "lpd_v1", "Front Door", battery_life=4081),  # wired, yet a huge battery_life (quirk)
    DeviceSpec("doorbots", "cocoa_doorbell_v2", "Front Door", battery=True, battery_life=93),
    DeviceSpec("doorbots", "doorbell_scallop", "Porch", battery=True, battery_life="64"),
)
_AWAY_CAMERAS: tuple[DeviceSpec, ...] = (
    DeviceSpec("stickup_cams", "hexa_camera_2_v1", "Patio Cam", siren=True),
    DeviceSpec(
        "stickup_cams", "stickup_cam_v4", "Backyard Spotlight", battery=True, light=True, siren=True, battery_life=81
    ),
    DeviceSpec("stickup_cams", "stickup_cam_elite", "Carport", siren=True),
)
_AWAY_CHIME = DeviceSpec("chimes", "chime_v2", "Kitchen Chime")


# ---------------------------------------------------------------------------------------------------------------------
# the world


class World:
    """The simulated account and everything in it; thread-safe."""

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

    # ----------------------------------------------------------------------------------------------- generation

    @classmethod
    def generate(cls, config: SimConfig, clock: SimClock) -> World:
        """Build the world for ``config.seed``, with events spread over ``history_days`` before now.

        Generated times are anchored at the start of the current hour (``ANCHOR_S``): the same seed gives the same
        world, ids and media for every start-up within that hour, so the on-disk media cache is reused across runs.
        """
        now = clock.now()
        world = cls(config, clock, float(int(now // ANCHOR_S * ANCHOR_S)))
        world._build()
        return world

    def _build(self) -> None:
        rng = self.rng
        self.s3_secret = rng.getrandbits(256).to_bytes(32, "big")
        self.user_id = 10_000_000 + self.config.seed  # the profile id the auth service reports
        self.profile_created_at = iso_z(self.start - rng.randint(400, 2000) * 86400, millis=False)
        used_ids: set[int] = set()

        def new_device_id() -> int:
            while True:
                value = rng.randint(10_000_000, 699_999_999)
                if value not in used_ids:
                    used_ids.add(value)
                    return value

        for index in range(self.config.locations):
            location = self._make_location(index)
            self.locations.append(location)
            for spec_index, spec in enumerate(self._specs_for(index)):
                if index > 0:  # names stay unique across the account
                    spec = replace(spec, name=f"{location.name} {spec.name}")
                device = self._make_device(spec, location, new_device_id(), spec_index)
                self.devices[device.id] = device
            if any(d.family == "beams_bridges" and d.location_id == location.id for d in self.devices.values()):
                self.groups.append(self._make_group(location))

        for device in self.devices.values():
            if device.has_events:
                self._generate_events(device)
            if device.is_camera:
                self._initial_capture(device)

    def _specs_for(self, index: int) -> tuple[DeviceSpec, ...]:
        if index == 0:
            specs: list[DeviceSpec] = list(_HOME_SPECS)
        else:
            cycle = (index - 1) % len(_AWAY_DOORBELLS)
            specs = [_AWAY_DOORBELLS[cycle], _AWAY_CAMERAS[cycle]]
            if index % 2 == 1:
                specs.append(_AWAY_CHIME)
        families = self.config.device_families
        if families is not None:  # e.g. an account of doorbells only (the sync benchmark)
            specs = [spec for spec in specs if spec.family in families]
        return tuple(specs)

    def _make_location(self, index: int) -> Location:
        rng = self.rng
        tz, offset, city, state, zip_code, country, lat, lon, street = _PLACES[index % len(_PLACES)]
        loc_id = _short_location_id(rng) if index % 2 == 0 else _rng_uuid(rng)
        name = _LOCATION_NAMES[index % len(_LOCATION_NAMES)]
        if index >= len(_LOCATION_NAMES):
            name = f"{name} {index // len(_LOCATION_NAMES) + 1}"
        number = rng.randint(1, 480)
        created = self.start - rng.randint(300, 1500) * 86400
        return Location(
            id=loc_id,
            name=name,
            timezone=tz,
            utc_offset=offset,
            address={
                "address1": f"{number} {street}",
                "address2": "",
                "cross_street": "",
                "city": city,
                "state": state,
                "zip_code": zip_code,
                "country": country,
                "timezone": tz,
            },
            latitude=round(lat + rng.uniform(-0.01, 0.01), 6),
            longitude=round(lon + rng.uniform(-0.01, 0.01), 6),
            created_at=iso_z(created, millis=False),
            mode="disarmed" if index == 0 else "home",
            mode_updated_ms=int(created * 1000),
        )

    def owner(self) -> JSON:
        return {
            "id": self.user_id,
            "email": self.config.email,
            "first_name": self.config.first_name,
            "last_name": self.config.last_name,
        }

    def _hardware_string(self, n: int) -> str:
        rng = self.rng
        style = n % 3
        if style == 0:
            return ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
        if style == 1:
            return f"{rng.getrandbits(48):012x}"
        return f"{rng.getrandbits(36):09x}"

    def _make_device(self, spec: DeviceSpec, location: Location, device_id: int, n: int) -> Device:
        created = self.start - self.rng.randint(30, 1200) * 86400
        created_at = iso_z(created, millis=n % 2 == 0)  # both formats across entries
        base: JSON = {
            "id": device_id,
            "description": spec.name,
            "kind": spec.kind,
            "location_id": location.id,
        }
        if spec.family in CAMERA_FAMILIES or spec.kind == "onvif_camera":
            entry = self._camera_entry(spec, location, base, created_at, n)
        elif spec.family == "chimes":
            entry = self._chime_entry(spec, location, base, n)
        elif spec.family == "base_stations":
            entry = self._base_station_entry(location, base, n)
        elif spec.family == "beams_bridges":
            entry = self._bridge_entry(base, created_at)
        elif spec.kind in INTERCOM_KINDS:
            entry = self._intercom_entry(spec, location, base, created_at, n)
        else:
            entry = self._gdo_entry(base, created_at)
        device = Device(
            id=device_id,
            spec=spec,
            location_id=location.id,
            entry=entry,
            settings_doc=self._settings_doc(spec, location),
            health=self._health_doc(spec, device_id, created),
        )
        if spec.family in ("base_stations", "beams_bridges"):
            device.asset_uuid = _rng_uuid(self.rng)
        if device.is_camera or device.is_intercom:
            device.subscribed = spec.family != "other"
            device.subscribed_motions = spec.family in CAMERA_FAMILIES
        return device

    def _camera_entry(self, spec: DeviceSpec, location: Location, base: JSON, created_at: str, n: int) -> JSON:
        rng = self.rng
        is_doorbell = spec.family in DOORBELL_FAMILIES
        owned = spec.family != "authorized_doorbots"
        owner = (
            self.owner()
            if owned
            else {"id": rng.randint(10_000_000, 99_999_999), "email": "pat.neighbor@example.com",
                  "first_name": "Pat", "last_name": "Neighbor"}
        )  # fmt: skip
        firmware = ("Up to Date", "Up To Date", f"cam-1.{rng.randint(8, 24)}.{rng.randint(10000, 29999)}")[n % 3]
        entry: JSON = {
            **base,
            "device_id": self._hardware_string(n),
            "time_zone": location.timezone,
            "address": location.address["address1"],
            "latitude": location.latitude,
            "longitude": location.longitude,
            "created_at": created_at,
            "deactivated_at": None,
            "firmware_version": firmware,
            "owned": owned,
            "owner": owner,
            "ring_id": None,
            "ring_net_id": None,
            "stolen": False,
            "is_sidewalk_gateway": False,
            "battery_life": spec.battery_life if (spec.battery or spec.battery_life is not None) else None,
            "battery_life_2": None,
            "external_connection": not spec.battery,
            "alerts": {"connection": "online"},
            "subscribed": False,
            "subscribed_motions": False,
            "motion_snooze": None,
            "night_mode_status": ("false", "true", "unknown")[n % 3],
            "ring_cam_light_installed": "true" if spec.light else "false",
            "features": {
                "motions_enabled": True,
                "show_recordings": spec.protect,
                "advanced_motion_enabled": spec.protect,
                "people_only_enabled": spec.protect,
                "shadow_correction_enabled": False,
                "motion_message_enabled": False,
                "night_vision_enabled": True,
            },
            "settings": self._camera_settings(spec, is_doorbell, n),
        }
        if spec.light:
            entry["led_status"] = "off"
        if spec.siren:
            entry["siren_status"] = {"seconds_remaining": 0}
        if spec.setup_flow:
            entry["ring_cam_setup_flow"] = spec.setup_flow
        if spec.kind == "onvif_camera":
            entry["owner_id"] = self.user_id
            entry["updated_at"] = created_at
            entry["metadata"] = {
                "legacy_fw_migrated": True,
                "imported_from_amazon": False,
                "is_sidewalk_gateway": False,
                "third_party_manufacturer": "Reolink",
                "third_party_model": "RLC-510A",
                "third_party_dsn": f"G{rng.getrandbits(40):010X}",
                "third_party_properties": {"amzn_dsn": f"{rng.getrandbits(60):015X}", "uuid": _rng_uuid(rng)},
            }
        if spec.family != "authorized_doorbots":  # older (shared) entries lack the embedded health
            entry["health"] = self._embedded_health(spec)
        return entry

    def _camera_settings(self, spec: DeviceSpec, is_doorbell: bool, n: int) -> JSON:
        settings: JSON = {
            "enable_vod": True,
            "motion_announcement": False,
            "stream_setting": 0,
            "live_view_preset_profile": "highest",
            "live_view_presets": ["low", "middle", "high", "highest"],
            "motion_snooze_preset_profile": "low",
            "motion_snooze_presets": [("none", "null")[n % 2], "low", "medium", "high"],
            "motion_zones": {
                "enable_audio": False,
                "active_motion_filter": 1,
                "sensitivity": 5,
                "advanced_object_settings": {},
                "zone1": {"name": "Zone 1", "state": 2, "vertex1": {"x": 0.0, "y": 0.0}},
                "zone2": {},
                "zone3": {},
            },
            "light_schedule_settings": {"start_hour": 0, "start_minute": 0, "end_hour": 0, "end_minute": 0},
            "video_settings": {"hevc_enabled": False},
            "motion_detection_enabled": True,
            "live_view_disabled": False,
            "power_mode": "battery" if spec.battery else "wired",
            "enable_audio_recording": True,
            "people_detection_eligible": spec.protect,
            "advanced_motion_detection_enabled": spec.protect,
            "advanced_motion_detection_human_only_mode": False,
            "sheila_settings": {"cv_processing_enabled": False, "local_storage_enabled": False},
            "server_settings": {"ring_media_server_enabled": True},
        }
        if is_doorbell:
            settings["doorbell_volume"] = 5
            settings["chime_settings"] = {
                "type": 0 if spec.kind.startswith("lpd") else 2,
                "enable": True,
                "duration": 3,
            }
        if spec.light:
            settings["floodlight_settings"] = {
                "priority": 0,
                "duration": 30,
                "brightness": 7,
                "always_on": False,
                "always_on_duration": None,
            }
        if spec.battery:
            settings["pir_settings"] = {"sensitivity1": 1, "sensitivity2": 1, "sensitivity3": 1, "zone_mask": 6}
            settings["pir_motion_zones"] = [0, 1, 1]
        return settings

    def _embedded_health(self, spec: DeviceSpec) -> JSON:
        rssi = -40 - self.rng.randint(0, 35)
        health: JSON = {
            "device_type": spec.kind,
            "last_update_time": int(self.start) - self.rng.randint(60, 3600),
            "connected": True,
            "rss_connected": True,
            "vod_enabled": True,
            "sidewalk_connection": False,
            "floodlight_on": False,
            "siren_on": False,
            "white_led_on": False,
            "night_mode_on": False,
            "hatch_open": False,
            "packet_loss": 0,
            "packet_loss_category": "good",
            "rssi": rssi,
            "rssi_category": "good" if rssi > -65 else "poor",
            "wifi_is_ring_network": False,
            "supported_rpc_commands": [],
            "ota_status": "successful",
            "network_connection_value": "wifi",
            "ac_power": 0 if spec.battery else 1,
            "external_connection": not spec.battery,
            "firmware_version": f"cam-1.{self.rng.randint(8, 24)}.{self.rng.randint(10000, 29999)}",
            "firmware_version_status": "Up to Date",
            "tx_rate": self.rng.randint(20, 150),
        }
        if spec.battery:
            percent = int(spec.battery_life) if spec.battery_life is not None else 80
            health.update(
                battery_present=True,
                battery_percentage=min(percent, 100),
                battery_percentage_category="very_good" if percent > 60 else "good",
                battery_voltage=3900 + self.rng.randint(0, 200),
                battery_voltage_category="very_good",
                battery_save=False,
                run_mode="low_power",
                pref_run_mode="low_power",
            )
        else:
            health.update(battery_percentage_category="NA", run_mode="full_power", pref_run_mode="full_power")
        return health

    def _chime_entry(self, spec: DeviceSpec, location: Location, base: JSON, n: int) -> JSON:
        is_pro = "pro" in spec.kind
        settings: JSON = {
            "volume": 6,
            "ding_audio_user_id": None if n % 2 else "0",
            "ding_audio_id": None if n % 2 else "0",
            "motion_audio_user_id": None if n % 2 else "0",
            "motion_audio_id": None if n % 2 else "0",
        }
        entry: JSON = {
            **base,
            "device_id": self._hardware_string(n),
            "time_zone": location.timezone,
            "firmware_version": ("Up To Date", "Up to Date")[n % 2],
            "address": location.address["address1"],
            "latitude": location.latitude,
            "longitude": location.longitude,
            "settings": settings,
            "features": {"ringtones_enabled": True},
            "alerts": {"connection": "online", "rssi": "good"},
            "do_not_disturb": {"seconds_left": 0},
            "owned": True,
            "owner": self.owner(),
            "stolen": False,
            "ring_id": None,
        }
        if is_pro:
            settings["night_light_settings"] = {"light_sensor_enabled": False}
            entry["night_light_state"] = "off"
        return entry

    def _base_station_entry(self, location: Location, base: JSON, n: int) -> JSON:
        return {
            **base,
            "device_id": self._hardware_string(n),
            "address": location.address["address1"],
            "firmware_version": "Up To Date",
            "latitude": location.latitude,
            "longitude": location.longitude,
            "owned": True,
            "stolen": False,
            "time_zone": location.timezone,
            "alerts": [],
            "features": None,
            "settings": None,
            "ring_id": None,
            "owner": self.owner(),
        }

    def _bridge_entry(self, base: JSON, created_at: str) -> JSON:
        return {
            **base,
            "hardware_id": f"{self.rng.getrandbits(64):016x}",
            "created_at": created_at,
            "updated_at": iso_z(self.start - 86400 * self.rng.randint(1, 20), millis=False),
            "owner_id": self.user_id,
            "role": "owner",
            "metadata": {"ethernet": True, "legacy_fw_migrated": True},
        }

    def _gdo_entry(self, base: JSON, created_at: str) -> JSON:
        return {
            **base,
            "owner_id": self.user_id,
            "hardware_id": _rng_uuid(self.rng),
            "created_at": created_at,
            "updated_at": created_at,
            "role": "owner",
            "ring_net_id": None,
            "is_sidewalk_gateway": False,
            "metadata": {
                "is_sidewalk_gateway": False,
                "third_party_manufacturer": "Chamberlain",
                "third_party_model": "myQ-G0401",
                "third_party_properties": {"key_access_point_associated": "true"},
                "integration_type": "Key by Amazon",
            },
        }

    def _intercom_entry(self, spec: DeviceSpec, location: Location, base: JSON, created_at: str, n: int) -> JSON:
        return {
            **base,
            "device_id": f"{self.rng.getrandbits(48):012x}",
            "time_zone": location.timezone,
            "firmware_version": "Up to Date",
            "battery_life": spec.battery_life,
            "created_at": created_at,
            "deactivated_at": None,
            "schema_id": None,
            "is_sidewalk_gateway": False,
            "ring_net_id": None,
            "function": {"name": None},
            "subscribed": False,
            "alerts": {"connection": "online", "ota_status": "timeout"},
            "settings": {
                "show_recordings": False,
                "recording_ttl": 0,
                "recording_enabled": False,
                "keep_alive": None,
                "keep_alive_auto": 45.0,
                "doorbell_volume": 8,
                "mic_volume": 11,
                "voice_volume": 11,
                "enable_chime": 0,
                "theft_alarm_enable": 0,
                "use_cached_domain": 0,
                "use_server_ip": 0,
                "server_domain": "fw.ring.com",
                "server_ip": None,
                "enable_log": 0,
                "forced_keep_alive": None,
                "chime_settings": {"type": 0, "enable": False, "duration": 0},
                "intercom_settings": self._intercom_settings(),
            },
            "features": {
                "motion_zone_recommendation": False,
                "motions_enabled": False,
                "show_recordings": spec.protect,
                "show_vod_settings": False,
                "rich_notifications_eligible": False,
                "show_24x7_lite": False,
                "show_offline_motion_events": False,
                "cfes_eligible": False,
                "sheila_camera_eligible": None,
                "sheila_camera_processing_eligible": None,
                "chime_auto_detect_capable": False,
            },
            "owned": True,
            "owner": self.owner(),
            "metadata": {
                "ethernet": False,
                "legacy_fw_migrated": True,
                "imported_from_amazon": False,
                "is_sidewalk_gateway": False,
                "key_access_point_associated": False,
            },
        }

    @staticmethod
    def _intercom_settings() -> JSON:
        return {
            "ring_to_open": False,
            "intercom_type": "DF",
            "unlock_mode": 0,
            "replication": 1,
            "predecessor": json.dumps({"make": "Urmet", "model": "1133/1", "wires": 2}, separators=(",", ":")),
            "config": json.dumps({"analog": {"unlock_duration": 3, "mode": 2}}, separators=(",", ":")),
        }

    def _settings_doc(self, spec: DeviceSpec, location: Location) -> JSON | None:
        if spec.family in CAMERA_FAMILIES:
            detection = {
                name: {"enabled": spec.protect, "mode": "edge", "notification": spec.protect}
                for name in (
                    "human",
                    "loitering",
                    "motion",
                    "moving_vehicle",
                    "nearby_pom",
                    "other_motion",
                    "package_delivery",
                    "package_pickup",
                )
            }
            doc: JSON = {
                "motion_settings": {
                    "motion_detection_enabled": True,
                    "enable_audio": False,
                    "enable_ir_led": True,
                    "advanced_motion_detection_enabled": spec.protect,
                    "advanced_motion_detection_mode": "human_only" if spec.protect else "all",
                    "advanced_motion_detection_human_only_mode": False,
                    "advanced_motion_detection_loitering_mode": False,
                    "loitering_threshold": 10,
                    "enable_indoor_mode": spec.kind.startswith("stickup_cam_mini"),
                    "enable_pir_validation": spec.battery,
                    "enable_recording": True,
                    "end_detection": 15,
                },
                "video_settings": {
                    "clip_length_max": 60,
                    "clip_length_min": 10,
                    "exposure_control": 2,
                    "night_color_enable": False,
                    "hdr_enable": False,
                    "ae_mode": 0,
                    "ae_mask": "",
                    "encryption_enabled": False,
                    "hevc_enabled": False,
                },
                "vod_settings": {"enable": True, "toggled_at": location.created_at},
                "volume_settings": {"doorbell_volume": 5, "mic_volume": 8, "voice_volume": 8},
                "general_settings": {
                    "enable_audio_recording": True,
                    "lite_24x7_enabled": False,
                    "lite_24x7_subscribed": spec.protect,
                    "offline_motion_event_enabled": False,
                    "offline_motion_event_subscribed": spec.protect,
                    "firmwares_locked": False,
                    "utc_offset": location.utc_offset,
                    "theft_alarm_enable": False,
                    "power_mode": "battery" if spec.battery else "wired",
                    "country_code": location.address["country"],
                },
                "snapshot_settings": {
                    "frequency_secs": 600 if spec.battery else 30,
                    "lite_24x7_resolution_p": 360,
                    "ome_resolution_p": 360,
                    "max_upload_kb": 150,
                    "frequency_after_secs": 15,
                    "period_after_secs": 60,
                    "close_container": 1,
                },
                "cv_settings": {"detection_types": detection},
                "stream_settings": {
                    "profile": 2,
                    "active_streaming_profile": "rms",
                    "streaming_profiles": {
                        "freeswitch": {},
                        "rms": {"host": "rms-us-east-1.sim.ringvault.test", "port": 443},
                    },
                },
                "sheila_settings": {"cv_processing_enabled": False, "local_storage_enabled": False},
                "lite_24x7": {
                    "subscribed": spec.protect,
                    "enabled": False,
                    "frequency_secs": 600 if spec.battery else 60,
                },
            }
            if spec.family in DOORBELL_FAMILIES:
                doc["chime_settings"] = {"type": 0 if spec.kind.startswith("lpd") else 2, "enable": True,
                                         "enable_ext": False, "duration": 3}  # fmt: skip
            return doc
        if spec.family == "chimes":
            doc = {"volume_settings": {"volume": 6}, "general_settings": {"utc_offset": location.utc_offset}}
            if "pro" in spec.kind:
                doc["night_light_settings"] = {"light_sensor_enabled": False}
            return doc
        if spec.kind in INTERCOM_KINDS:
            return {
                "volume_settings": {"doorbell_volume": 8, "mic_volume": 11, "voice_volume": 11},
                "keep_alive_settings": {"keep_alive_auto": 45.0},
                "intercom_settings": self._intercom_settings(),
                "general_settings": {"utc_offset": location.utc_offset, "theft_alarm_enable": False},
            }
        return None

    def _health_doc(self, spec: DeviceSpec, device_id: int, created: float) -> JSON | None:
        if spec.family not in CAMERA_FAMILIES and spec.family != "chimes" and spec.kind not in INTERCOM_KINDS:
            return None
        rng = self.rng
        average = -40 - rng.randint(0, 30)
        latest = average - rng.randint(0, 10)
        battery: int | None = None
        if spec.battery and spec.battery_life is not None:
            battery = min(int(spec.battery_life), 100)
        doc: JSON = {
            "id": device_id,
            "average_signal_category": "good" if average > -65 else "poor",
            "average_signal_strength": average,
            "latest_signal_category": "good" if latest > -65 else "poor",
            "latest_signal_strength": latest,
            "wifi_name": "home_wifi",
            "wifi_is_ring_network": False,
            "battery_percentage": battery,
            "battery_percentage_category": None if battery is None else ("very_good" if battery > 60 else "good"),
            "battery_voltage": None,
            "battery_voltage_category": None,
            "firmware": f"1.{rng.randint(1, 12)}.{rng.randint(1, 40)}",
            "firmware_out_of_date": False,
            "updated_at": iso_z(self.start - rng.randint(60, 7200), millis=False),
            "packet_loss_category": "good",
            "packet_loss_strength": 0,
        }
        if spec.family in CAMERA_FAMILIES and not spec.battery:
            doc["transformer_voltage"] = rng.randint(16, 24)
            doc["transformer_voltage_category"] = "good"
            doc["ext_power_state"] = 0
        return doc

    def _make_group(self, location: Location) -> LightGroup:
        rng = self.rng
        members = [
            {
                "doorbot_id": rng.randint(10_000_000, 99_999_999),
                "location_id": location.id,
                "type": "beams_ct200_transformer",
                "mac_address": ":".join(f"{rng.randrange(256):02x}" for _ in range(6)),
                "hardware_id": _rng_uuid(rng),
                "name": name,
                "deleted_at": None,
            }
            for name in ("Path Light 1", "Path Light 2")
        ]
        created = iso_z(self.start - rng.randint(30, 300) * 86400, millis=False)
        return LightGroup(id=_rng_uuid(rng), location_id=location.id, name="Backyard Lights", devices=members,
                          created_at=created)  # fmt: skip

    # events

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
            snapshot_uuid=_rng_uuid(rng),
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

    def _initial_capture(self, device: Device) -> None:
        if device.spec.battery:
            age = self.rng.uniform(BATTERY_SNAPSHOT_INTERVAL_S + 60, 3 * BATTERY_SNAPSHOT_INTERVAL_S)
        else:
            age = self.rng.uniform(5.0, 60.0)
        device.captures.append(int((self.clock.now() - age) * 1000))  # relative to the real start-up

    # ----------------------------------------------------------------------------------------------- lookups

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

    # ----------------------------------------------------------------------------------------------- rendering

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

    # ----------------------------------------------------------------------------------------------- mutations

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

    def rename_location(self, location_id: str, name: str) -> JSON | None:
        """``PATCH /_sim/locations/{id}``: a location's name (the owner chooses it; a shared location shows it to
        every user)."""
        with self._lock:
            location = self.location(location_id)
            if location is None:
                return None
            location.name = name
            return location.user_location(self.user_id)

    # ----------------------------------------------------------------------------------------------- snapshots

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

    # ----------------------------------------------------------------------------------------------- modes, groups

    def set_mode(self, location_id: str, mode: str) -> Location | None:
        with self._lock:
            location = self.location(location_id)
            if location is not None:
                location.mode = mode
                location.mode_updated_ms = self.clock.now_ms()
            return location

    def group(self, location_id: str, group_id: str) -> LightGroup | None:
        with self._lock:
            return next((g for g in self.groups if g.location_id == location_id and g.id == group_id), None)

    def groups_at(self, location_id: str) -> list[LightGroup]:
        with self._lock:
            return [g for g in self.groups if g.location_id == location_id]

    def set_group_lights(self, group: LightGroup, on: bool, duration_s: float | None) -> None:
        with self._lock:
            if on:
                group.lights_on_until = self.clock.now() + (duration_s if duration_s else 24 * 3600.0)
            else:
                group.lights_on_until = 0.0

    def group_lights_on(self, group: LightGroup) -> bool:
        return self.clock.now() < group.lights_on_until

    def issue_ticket(self, purpose: str, location_id: str | None) -> str:
        """A one-time ticket (hub WebSocket or live-view signalling); ``consume_ticket`` redeems it once."""
        with self._lock:
            self._ticket_counter += 1
            material = self.s3_secret + f"{purpose}-{self._ticket_counter}-{self.clock.now()}".encode()
            ticket = hashlib.sha256(material).hexdigest()[:40]
            self.tickets[ticket] = {"purpose": purpose, "location_id": location_id, "issued_at": self.clock.now()}
            return ticket

    def consume_ticket(self, ticket: str) -> JSON | None:
        """The ticket's details, once; None for unknown or already used tickets."""
        with self._lock:
            return self.tickets.pop(ticket, None)

    # ----------------------------------------------------------------------------------------------- summary

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
