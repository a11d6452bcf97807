"""Generation of the whole world from ``SimConfig.seed``: locations, devices, light groups, events, first captures.

The order of every draw from ``self.rng`` is part of the world: the same seed must give the same ids, entries and
media (``tests/sim/test_world_digest.py`` pins it), so new generation steps go after the existing ones.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Self

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig
from ringvault.sim.world.catalogue import (
    AWAY_CAMERAS,
    AWAY_CHIME,
    AWAY_DOORBELLS,
    HOME_SPECS,
    LOCATION_NAMES,
    PLACES,
    SHORT_ID_ALPHABET,
)
from ringvault.sim.world.documents import DeviceDocuments
from ringvault.sim.world.entries import DeviceEntries
from ringvault.sim.world.events import WorldEvents
from ringvault.sim.world.model import (
    CAMERA_FAMILIES,
    INTERCOM_KINDS,
    JSON,
    Device,
    DeviceSpec,
    LightGroup,
    Location,
    iso_z,
    rng_uuid,
)
from ringvault.sim.world.snapshots import BATTERY_SNAPSHOT_INTERVAL_S

#: Generated times are anchored at a multiple of this (seconds), see World.generate.
ANCHOR_S = 3600


def short_location_id(rng: random.Random) -> str:
    """A location id in Ring's short form (``9q9htg-4evb0-0``); the other form is a UUID."""
    a = "".join(rng.choice(SHORT_ID_ALPHABET) for _ in range(6))
    b = "".join(rng.choice(SHORT_ID_ALPHABET) for _ in range(5))
    return f"{a}-{b}-0"


class WorldGeneration(DeviceEntries, DeviceDocuments, WorldEvents):
    """``World.generate`` and the steps that build locations, devices and groups."""

    @classmethod
    def generate(cls, config: SimConfig, clock: SimClock) -> Self:
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
            specs: list[DeviceSpec] = list(HOME_SPECS)
        else:
            cycle = (index - 1) % len(AWAY_DOORBELLS)
            specs = [AWAY_DOORBELLS[cycle], AWAY_CAMERAS[cycle]]
            if index % 2 == 1:
                specs.append(AWAY_CHIME)
        families = self.config.device_families
        if families is not None:  # e.g. an account of doorbells only (the sync benchmark)
            specs = [spec for spec in specs if spec.family in families]
        return tuple(specs)

    def _make_location(self, index: int) -> Location:
        rng = self.rng
        tz, offset, city, state, zip_code, country, lat, lon, street = PLACES[index % len(PLACES)]
        loc_id = short_location_id(rng) if index % 2 == 0 else rng_uuid(rng)
        name = LOCATION_NAMES[index % len(LOCATION_NAMES)]
        if index >= len(LOCATION_NAMES):
            name = f"{name} {index // len(LOCATION_NAMES) + 1}"
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
            device.asset_uuid = rng_uuid(self.rng)
        if device.is_camera or device.is_intercom:
            device.subscribed = spec.family != "other"
            device.subscribed_motions = spec.family in CAMERA_FAMILIES
        return device

    def _make_group(self, location: Location) -> LightGroup:
        rng = self.rng
        members = [
            {
                "doorbot_id": rng.randint(10_000_000, 99_999_999),
                "location_id": location.id,
                "type": "beams_ct200_transformer",
                "mac_address": ":".join(f"{rng.randrange(256):02x}" for _ in range(6)),
                "hardware_id": rng_uuid(rng),
                "name": name,
                "deleted_at": None,
            }
            for name in ("Path Light 1", "Path Light 2")
        ]
        created = iso_z(self.start - rng.randint(30, 300) * 86400, millis=False)
        return LightGroup(id=rng_uuid(rng), location_id=location.id, name="Backyard Lights", devices=members,
                          created_at=created)  # fmt: skip

    def _initial_capture(self, device: Device) -> None:
        if device.spec.battery:
            age = self.rng.uniform(BATTERY_SNAPSHOT_INTERVAL_S + 60, 3 * BATTERY_SNAPSHOT_INTERVAL_S)
        else:
            age = self.rng.uniform(5.0, 60.0)
        device.captures.append(int((self.clock.now() - age) * 1000))  # relative to the real start-up
