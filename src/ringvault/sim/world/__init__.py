"""The simulated Ring account: profile, locations, devices of every family, events, and device state.

Everything is generated deterministically from ``SimConfig.seed`` and anchored to the simulator clock (at the
start of the current hour, so start-ups within one hour see the same world): events are spread over
``history_days`` before start-up, and every time-dependent answer (retention, recording readiness, siren and
do-not-disturb countdowns, snapshot captures) reads ``SimClock.now()`` at request time.

The routers never touch the data structures directly: they call the methods of :class:`World`, which hold
one lock, so the server thread and a test thread can use the same world safely. Every method that returns
JSON-shaped data returns fresh dicts the caller may keep or change.

:class:`World` is one class assembled from one mixin per concern, each in its own module:

- ``model`` — families, records (:class:`Location`, :class:`Device`, :class:`Event`, ...), errors, helpers;
- ``catalogue`` — the devices and places a seeded account holds;
- ``base`` — configuration, clock, lock, the records, and lookups every other part builds on;
- ``generation`` (with ``entries``, ``documents``, ``events``) — building the world from the seed;
- ``reading`` — ring_devices, health, history, event pages, video search, active dings;
- ``settings`` and ``controls`` — changes to devices (settings sync, lights, sirens, chimes, intercoms, test knobs);
- ``snapshots`` — capture times; ``locations`` — modes, light groups, tickets; ``summary`` — ``GET /_sim/world``.
"""

from __future__ import annotations

from ringvault.sim.world.controls import WorldControls
from ringvault.sim.world.generation import ANCHOR_S, WorldGeneration
from ringvault.sim.world.locations import WorldLocations
from ringvault.sim.world.model import (
    CAMERA_FAMILIES,
    DING_ID_SHIFT,
    DOORBELL_FAMILIES,
    FAMILIES,
    INTERCOM_KINDS,
    JSON,
    Device,
    DeviceSpec,
    Event,
    LightGroup,
    Location,
    UnknownDevice,
    UnknownEvent,
    UnsupportedOperation,
    deep_merge,
    ding_id_time_ms,
    iso_z,
)
from ringvault.sim.world.reading import ACTIVE_DING_S
from ringvault.sim.world.snapshots import BATTERY_SNAPSHOT_INTERVAL_S, SNAPSHOT_HISTORY
from ringvault.sim.world.summary import WorldSummary

__all__ = [
    "ACTIVE_DING_S",
    "ANCHOR_S",
    "BATTERY_SNAPSHOT_INTERVAL_S",
    "CAMERA_FAMILIES",
    "DING_ID_SHIFT",
    "DOORBELL_FAMILIES",
    "FAMILIES",
    "INTERCOM_KINDS",
    "JSON",
    "SNAPSHOT_HISTORY",
    "Device",
    "DeviceSpec",
    "Event",
    "LightGroup",
    "Location",
    "UnknownDevice",
    "UnknownEvent",
    "UnsupportedOperation",
    "World",
    "deep_merge",
    "ding_id_time_ms",
    "iso_z",
]


class World(WorldGeneration, WorldControls, WorldLocations, WorldSummary):
    """The simulated account and everything in it; thread-safe."""
