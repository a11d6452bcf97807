"""The seeded world is pinned byte for byte: a refactor of ``ringvault.sim.world`` must not change what it generates.

The digests below were computed on the single-module ``world.py`` before it became a package. Media, ids and the
on-disk media cache all derive from the generated world, so any drift (a reordered RNG draw, a renamed field, a
changed default) shows up here first. If a change to the world is *intended*, recompute the digests and say why in
the commit message.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig
from ringvault.sim.world import World

START = 1_767_000_000.0  # a fixed "now": generation, captures and recording readiness all read the clock


class FixedClock(SimClock):
    """A clock frozen at START."""

    def now(self) -> float:
        return START + self.offset


def _fingerprint(world: World) -> dict[str, Any]:
    """Everything generation decides: the control API's full summary and ring_devices, plus the state they omit."""
    return {
        "summary": world.summary("full"),
        "ring_devices": world.ring_devices(),
        "user_locations": world.user_locations(),
        "s3_secret": world.s3_secret.hex(),
        "profile_created_at": world.profile_created_at,
        "devices": {
            str(d.id): {
                "settings_doc": d.settings_doc,
                "health": d.health,
                "asset_uuid": d.asset_uuid,
                "captures": d.captures,
                "subscribed": [d.subscribed, d.subscribed_motions],
            }
            for d in world.devices.values()
        },
        "groups": [[g.id, g.location_id, g.name, g.devices, g.created_at] for g in world.groups],
    }


def _digest(world: World) -> str:
    text = json.dumps(_fingerprint(world), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("seed", "locations", "events", "expected"),
    [
        (7, 3, 25, "5a2ef63e18334d6edda28638c48a69a40e1827117f4dddec12382b54db668812"),
        # nine locations: every place, the location-name wrap-around ("Home 2") and every away-device cycle
        (1234, 9, 40, "24a407ff82e8505f1e3303f887c7f936ddf7dfba6487138e624390204f2f53af"),
    ],
)
def test_generated_world_is_pinned(seed: int, locations: int, events: int, expected: str) -> None:
    world = World.generate(SimConfig(seed=seed, locations=locations, events_per_device=events), FixedClock())
    assert _digest(world) == expected


def test_the_digest_sees_a_one_field_change() -> None:
    """The fingerprint is not blind: changing one generated value changes the digest."""
    config = SimConfig(seed=7, locations=3, events_per_device=25)
    world = World.generate(config, FixedClock())
    before = _digest(world)
    next(iter(world.devices.values())).entry["firmware_version"] = "changed"
    assert _digest(world) != before
