"""The family of every other top-level Ring device against the real simulator (MemorySink): what the camera, chime
and intercom families leave appears as a diagnostic sensor, whatever its entry holds."""

from __future__ import annotations

import json
from pathlib import Path

from ringvault.cloud.device import RingDevice
from ringvault.cloud.models.devices import parse_entry
from ringvault.cloud.options import RingApiOptions
from ringvault.mqtt.families import other
from ringvault.mqtt.model import Topics
from ringvault.sim.server import SimServer
from tests.mqtt.rest_family_helpers import discovery, running, sim_call


async def test_what_the_other_families_leave_appears_with_its_raw_kind(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "other") as run:
        kinds = {d.name: run.sink.states(d)["info"] for d in run.sink.devices}
        # an alarm base station is the alarm family's (with the hub's own data): never a second device here
        assert kinds == {
            "Backyard ONVIF": "onvif_camera",
            "Lighting Bridge": "beams_bridge_v1",
            "Garage Door": "third_party_gdo",
        }
        for device in run.sink.devices:
            payload = discovery(device)["info"]
            assert payload["entity_category"] == "diagnostic" and payload["json_attributes_topic"]
            info = device.entity("info")
            attributes = info.attributes() if info.attributes else None
            assert attributes is not None and attributes["entry"]["kind"] == attributes["kind"]
            assert device.via is run.ctx.bridge
        cameras = {c.id for c in await run.api.get_cameras() if c.has_event_history}
        chimes = {c.id for c in await run.api.get_chimes()}
        assert not {int(d.ident) for d in run.sink.devices} & (cameras | chimes)


async def test_a_hostile_entry_is_shown_bounded_and_breaks_nothing(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "other") as run:
        gdo = next(d for d in run.sink.devices if d.name == "Garage Door")
        gdo_id = int(gdo.ident)
        hostile = {
            "description": "\x1b]0;pwned\x07Garage\n\r\x00" + "A" * 100_000,
            "kind": "\x00\x1b[31mkind/+/#" * 1_000,
            "firmware_version": "9" * 10_000,
            "location_id": "loc/+/#\x00" * 50,
            "alerts": {"connection": "offline", "junk": "\n" * 10_000},
            **{f"field_{n}": "v" * 5_000 for n in range(300)},
            "nested": {"a": [[[[{"b": 1}]]]] * 1_000},
        }
        await sim_call(sim, "PATCH", f"/_sim/devices/{gdo_id}", {"entry": hostile, "id": 2**70})
        await run.api.refresh_devices()
        [added] = [d for d in run.sink.devices if d.ident == str(2**70)]
        assert len(added.name) <= 100 and all(c.isprintable() for c in added.name) and "Garage" in added.name
        info = added.entity("info")
        state = run.sink.state(info)
        assert isinstance(state, str) and len(state) <= 64 and state.isprintable()
        attributes = info.attributes() if info.attributes else None
        assert attributes is not None
        text = json.dumps(attributes)
        assert len(text) < 16_000, len(text)
        assert attributes["entry"]["more_fields"] > 0 and attributes["entry"]["alerts"] == "{2 fields}"
        topics = Topics()
        for topic in (topics.state(info), topics.config(info), topics.availability(added)):
            assert "+" not in topic and "#" not in topic and "\x00" not in topic and len(topic) < 300
        payload = discovery(added)["info"]
        assert len(json.dumps(payload)) < 4_000
        assert added.available is not None and not added.available()  # its alerts say offline


def test_an_unknown_family_or_kind_is_taken_and_a_ring_camera_is_not() -> None:
    options = RingApiOptions(cloud_url="http://127.0.0.1:9")
    unknown = RingDevice(parse_entry("beams", {"id": 5, "kind": "mystery_v9"}), "beams", None, options)  # type: ignore[arg-type]
    assert other.takes(unknown)
    garage = RingDevice(parse_entry("other", {"id": 6, "kind": "third_party_gdo"}), "other", None, options)  # type: ignore[arg-type]
    assert other.takes(garage)
