"""The camera family against the real simulator (MemorySink): entities per camera, events from Ring's push,
commands that reach the simulator and are confirmed by re-reading Ring, snapshots, availability."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ringvault.archive.follow import EventWatch
from ringvault.archive.store import ArchiveStore
from ringvault.archive.watch import ArchiveFollower, RecordingChange
from ringvault.cloud.push import RingEvent
from ringvault.mqtt.archive import StoreLinks
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.families import _rest
from ringvault.mqtt.families.cameras import MOTION_EVENT_TYPES, CameraDevice, CameraFamily
from ringvault.mqtt.families.chimes import ChimeFamily
from ringvault.mqtt.model import CommandRejected, RecordingLink
from ringvault.mqtt.options import BrokerUrl
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.bridge_helpers import fast_options
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.ha_schema import check_retained_tree
from tests.mqtt.rest_family_helpers import (
    RING_DEVICES,
    count,
    discovery,
    named,
    rest_bridge,
    running,
    sim_call,
    then,
    topic_root,
)
from tests.mqtt.sink_helpers import wait_until

WAIT_S = 60.0


def unit_named(family: CameraFamily, name: str) -> CameraDevice:
    for unit in family.units.values():
        if unit.camera.name == name:
            return unit
    raise AssertionError(f"no camera {name!r}")


async def test_every_ring_camera_gets_its_entities_and_a_discovery_payload(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras") as run:
        cameras = [c for c in await run.api.get_cameras()]
        ring_own = [c for c in cameras if c.has_event_history]
        assert {d.ident for d in run.sink.devices} == {str(c.id) for c in ring_own}
        assert any(not c.has_event_history for c in cameras), "the world has an ONVIF camera; other.py shows it"
        for camera in ring_own:
            device = run.device(camera.id)
            keys = {e.key for e in device.entities}
            assert {"motion", "motion_event", "snapshot", "motion_detection", "wireless"} <= keys
            assert ("ding" in keys and "ding_event" in keys) == camera.is_doorbot
            assert ("light" in keys) == camera.has_light
            assert ("siren" in keys) == camera.has_siren
            assert ("battery" in keys) == camera.has_battery
            assert "last_recording" not in keys  # no archive in this context
            assert device.via is run.ctx.bridge and device.location == camera.location_id
            payloads = discovery(device)
            assert payloads["snapshot"]["image_topic"].endswith("/snapshot/state")
            assert payloads["snapshot"]["content_type"] == "image/jpeg"
            assert payloads["motion_event"]["event_types"] == list(MOTION_EVENT_TYPES)
            assert payloads["motion"]["device_class"] == "motion"
            assert payloads["motion_detection"]["entity_category"] == "config"
            assert payloads["wireless"]["unit_of_measurement"] == "dBm"
        states = run.sink.states(run.device(unit_named(run.family, "Driveway Floodlight").camera.id))
        assert states["light"] == "OFF" and states["siren"] == "OFF" and states["motion"] == "OFF"
        assert states["motion_detection"] == "ON" and states["wireless"] is not None
        front = run.sink.states(run.device(unit_named(run.family, "Front Door").camera.id))
        assert front["battery"] == "58" and front["ding"] == "OFF"


@pytest.mark.timeout(180)
async def test_a_ding_turns_the_sensor_on_fires_the_event_and_turns_it_off_after_the_hold(
    sim: SimServer, rv_home: Path
) -> None:
    async with running(sim, rv_home, "cameras", push=True, ding_hold_s=6.0) as run:
        unit = unit_named(run.family, "Back Door")  # wired doorbell: a ding brings a fresh snapshot
        device = unit.device
        ding = device.entity("ding")
        answer = await sim_call(sim, "POST", f"/_sim/devices/{unit.camera.id}/ding")
        ding_id = answer["event"]["id_str"]
        await wait_until(lambda: run.sink.state(ding) == "ON", "the ding sensor on", WAIT_S)
        fired = [(e.key, t, a) for e, t, a in run.sink.fired if e.device is device]
        assert fired == [("ding_event", "ding", fired[0][2])]
        assert fired[0][2]["ding_id"] == ding_id and fired[0][2]["source"] == "push"
        attributes = ding.attributes() if ding.attributes else None
        assert attributes is not None and attributes["dingId"] == ding_id and attributes["lastDing"] > 0
        assert device in run.sink.changes
        changes_on = run.changes_of(device)
        await wait_until(lambda: run.sink.state(ding) == "OFF", "the ding sensor off after the hold", WAIT_S)
        await wait_until(lambda: run.changes_of(device) > changes_on, "a change at the hold's end", WAIT_S)
        snapshot = device.entity("snapshot")
        await wait_until(
            lambda: unit.snapshot is not None and unit.snapshot.reason == "ding", "the ding's image", WAIT_S
        )
        image = run.sink.state(snapshot)
        assert isinstance(image, bytes) and image.startswith(b"\xff\xd8")
        assert snapshot.attributes is not None and (snapshot.attributes() or {})["type"] == "ding"


@pytest.mark.timeout(180)
async def test_motion_fires_the_detection_ring_reports(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras", push=True, snapshot_modes=frozenset()) as run:
        unit = unit_named(run.family, "Side Yard")
        motion = unit.device.entity("motion")
        for detection in ("person", "vehicle", "package", "motion"):  # "motion": Ring names nothing that moved
            await sim_call(sim, "POST", f"/_sim/devices/{unit.camera.id}/motion", {"detection": detection})
        await wait_until(lambda: len(run.sink.fired) >= 4, "four motion events", WAIT_S)
        kinds = sorted(t for e, t, _ in run.sink.fired if e.key == "motion_event")
        assert kinds == ["motion", "package", "person", "vehicle"], [(t, a) for _, t, a in run.sink.fired]
        assert run.sink.state(motion) == "ON"
        attributes = motion.attributes() if motion.attributes else None
        assert attributes is not None and set(attributes) >= {"lastMotion", "lastMotionTime", "personDetected"}
        assert attributes["motionDetectionEnabled"] is True


async def test_an_event_older_than_the_hold_fires_but_leaves_the_sensor_off(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras", motion_hold_s=30.0, snapshot_modes=frozenset()) as run:
        unit = unit_named(run.family, "Garden")
        old = RingEvent(
            kind="motion",
            created_at=datetime.now(UTC) - timedelta(minutes=5),
            device_id=unit.camera.id,
            ding_id="7407512345678901234",
            source="poll",
        )
        run.family.on_event(old)
        assert run.sink.state(unit.device.entity("motion")) == "OFF"  # caught up long after: not "motion now"
        [(entity, kind, attributes)] = run.sink.fired
        assert (entity.key, kind, attributes["ding_id"]) == ("motion_event", "motion", "7407512345678901234")
        fresh = RingEvent(kind="motion", created_at=datetime.now(UTC), device_id=unit.camera.id, detection="person")
        run.family.on_event(fresh)
        assert run.sink.state(unit.device.entity("motion")) == "ON"
        other = RingEvent(kind="ding", created_at=datetime.now(UTC), device_id=unit.camera.id)
        run.family.on_event(other)  # a camera without a button: nothing to show
        assert [t for _, t, _ in run.sink.fired] == ["motion", "person"]


async def test_light_siren_and_motion_detection_reach_ring_and_the_state_is_read_back(
    sim: SimServer, rv_home: Path
) -> None:
    async with running(sim, rv_home, "cameras") as run:
        unit = unit_named(run.family, "Driveway Floodlight")
        world = sim.state.world.device(unit.camera.id)
        light, siren = unit.device.entity("light"), unit.device.entity("siren")
        detection = unit.device.entity("motion_detection")
        assert light.command is not None and siren.command is not None and detection.command is not None

        reads = count(sim, RING_DEVICES)
        await light.command("ON")
        assert world.led_on is True and run.sink.state(light) == "ON"
        assert count(sim, RING_DEVICES) == reads + 1  # confirmed by Ring's device list, not assumed
        await light.command("off")
        assert world.led_on is False and run.sink.state(light) == "OFF"

        await siren.command('{"state": "ON", "duration": 12}')
        assert world.siren_duration == 12 and run.sink.state(siren) == "ON"
        await siren.command("OFF")
        assert world.siren_started_at is None and run.sink.state(siren) == "OFF"
        await siren.command("ON")
        assert world.siren_duration == 30 and run.sink.state(siren) == "ON"

        await detection.command("OFF")
        assert world.motion_detection_enabled is False and run.sink.state(detection) == "OFF"
        await detection.command("ON")
        assert world.motion_detection_enabled is True and run.sink.state(detection) == "ON"
        assert count(sim, RING_DEVICES) == reads + 7


@pytest.mark.parametrize(
    ("key", "payload", "expected"),
    [
        ("light", "MAYBE", "send ON or OFF"),
        ("light", "", "send ON or OFF"),
        ("light", "\x00\n" * 5000, "send ON or OFF"),
        ("siren", '{"state": 1}', 'no "state"'),
        ("siren", '{"state": "ON", "duration": 500}', "1-120"),
        ("siren", '{"state": "ON", "duration": "soon"}', "not a number"),
        ("motion_detection", "[1, 2]", "send ON or OFF"),
    ],
)
async def test_a_bad_command_is_refused_in_one_line_and_ring_is_not_called(
    sim: SimServer, rv_home: Path, key: str, payload: str, expected: str
) -> None:
    async with running(sim, rv_home, "cameras") as run:
        unit = unit_named(run.family, "Driveway Floodlight")
        entity = unit.device.entity(key)
        assert entity.command is not None
        before = sim.state.stats.counts()["total"]
        with pytest.raises(CommandRejected) as caught:
            await entity.command(payload)
        message = str(caught.value)
        assert expected in message and "\n" not in message and len(message) < 200
        assert message.startswith("Driveway Floodlight")
        assert sim.state.stats.counts()["total"] == before


async def test_a_command_ring_refuses_is_rejected_and_the_state_stays_ring_s(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras") as run:
        unit = unit_named(run.family, "Side Yard")
        light = unit.device.entity("light")
        assert light.command is not None
        faults = {"error_rate": 1.0, "path_pattern": "floodlight_light_on"}
        await sim_call(sim, "PATCH", "/_sim/faults", faults)
        with pytest.raises(CommandRejected, match="Ring refused it"):
            await light.command("ON")
        await sim_call(sim, "PATCH", "/_sim/faults", {"error_rate": 0.0})
        assert sim.state.world.device(unit.camera.id).led_on is False and run.sink.state(light) == "OFF"
        await light.command("ON")  # once Ring accepts again, the same command works
        assert run.sink.state(light) == "ON"


async def test_an_offline_camera_is_unavailable_until_it_is_back(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras") as run:
        unit = unit_named(run.family, "Living Room")
        assert unit.device.available is not None and unit.device.available()
        await sim_call(sim, "PATCH", f"/_sim/devices/{unit.camera.id}", {"offline": True})
        await run.api.refresh_devices()
        assert not unit.device.available() and unit.device in run.sink.changes
        await sim_call(sim, "PATCH", f"/_sim/devices/{unit.camera.id}", {"offline": False})
        await run.api.refresh_devices()
        assert unit.device.available()


@pytest.mark.timeout(180)
async def test_snapshots_one_at_a_time_and_a_battery_camera_spared(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras", snapshot_modes=frozenset(), battery_snapshot_min_s=600.0) as run:
        assert run.family.start_round is not None
        await run.family.start_round  # the image each camera holds, fetched at start without a capture
        assert all(u.snapshot is not None and u.snapshot.reason == "start" for u in run.family.units.values())
        wired = unit_named(run.family, "Living Room")
        wired.request_snapshot("interval")
        first = wired.snapshot_task
        wired.request_snapshot("interval")  # while the first runs: covered by it
        assert wired.snapshot_task is first and first is not None
        await first
        assert wired.snapshot is not None and wired.snapshot.image.startswith(b"\xff\xd8")

        async def captures_asked(unit: CameraDevice, times: int) -> int:
            asked: list[asyncio.Task[None]] = []
            for _ in range(times):
                before = unit.snapshot_task
                unit.request_snapshot("interval")
                if unit.snapshot_task is not before and unit.snapshot_task is not None:
                    asked.append(unit.snapshot_task)
                    await unit.snapshot_task
            return len(asked)

        battery = unit_named(run.family, "Garden")
        assert await captures_asked(battery, 3) == 1  # once in battery_snapshot_min_s, whatever the mode asks
        assert await captures_asked(wired, 3) == 3  # a wired camera: each time (Ring's own 10 s limit aside)
        assert battery.snapshot is not None and battery.last_capture is not None


@pytest.mark.timeout(180)
async def test_interval_mode_takes_a_snapshot_of_each_camera(sim: SimServer, rv_home: Path) -> None:
    options = {"snapshot_modes": frozenset({"interval"}), "snapshot_interval_s": 3600.0}
    async with running(sim, rv_home, "cameras", **options) as run:
        units = list(run.family.units.values())
        await wait_until(lambda: all(u.snapshot is not None for u in units), "a snapshot of every camera", 120)
        assert all(u.snapshot is not None and u.snapshot.reason == "interval" for u in units)


@pytest.mark.timeout(120)
async def test_a_failed_snapshot_keeps_the_last_image_and_logs_one_line(
    sim: SimServer, rv_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(sim, rv_home, "cameras", snapshot_modes=frozenset()) as run:
        assert run.family.start_round is not None
        await run.family.start_round
        unit = unit_named(run.family, "Side Yard")
        unit.request_snapshot("motion")
        assert unit.snapshot_task is not None
        await unit.snapshot_task
        kept = unit.snapshot
        assert kept is not None
        await sim_call(sim, "PATCH", f"/_sim/devices/{unit.camera.id}", {"motion_detection_enabled": False})
        await run.api.refresh_devices()
        caplog.set_level(logging.DEBUG, logger="ringvault.mqtt")
        for _ in range(3):
            await asyncio.sleep(0)
            unit.request_snapshot("motion")
            assert unit.snapshot_task is not None
            await unit.snapshot_task
        assert unit.snapshot is kept and run.sink.state(unit.device.entity("snapshot")) == kept.image
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("ringvault.mqtt")]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        line = warnings[0].getMessage()
        assert "Side Yard" in line and "last image stays" in line and "\n" not in line
        await sim_call(sim, "PATCH", f"/_sim/devices/{unit.camera.id}", {"motion_detection_enabled": True})
        await run.api.refresh_devices()
        await asyncio.sleep(10.5)  # Ring's own limit: one forced capture per camera in 10 s
        unit.request_snapshot("motion")
        assert unit.snapshot_task is not None
        await unit.snapshot_task
        assert unit.snapshot is not kept  # back to fresh images


@pytest.mark.timeout(180)
async def test_a_battery_doorbell_s_ding_image_comes_with_ring_s_second_push(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras", push=True, battery_snapshot_min_s=600.0) as run:
        assert run.family.start_round is not None
        await run.family.start_round
        unit = unit_named(run.family, "Front Door")  # battery doorbell: Ring pushes a ding twice, the image second
        assert unit.camera.has_battery
        unit.request_snapshot("interval")  # a capture now: the battery limit holds for 600 s
        assert unit.snapshot_task is not None
        await unit.snapshot_task
        answer = await sim_call(sim, "POST", f"/_sim/devices/{unit.camera.id}/ding")
        created_ms = answer["event"]["created_at_ms"]
        await wait_until(lambda: unit.snapshot is not None and unit.snapshot.reason == "ding", "the ding image", 60)
        assert unit.snapshot is not None and unit.snapshot.time_millis == created_ms  # the ding's own image


async def test_an_event_during_an_interval_image_gets_its_own_image_after_it(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras", snapshot_modes=frozenset({"motion"})) as run:
        assert run.family.start_round is not None
        await run.family.start_round
        unit = unit_named(run.family, "Side Yard")
        answer = await sim_call(sim, "POST", f"/_sim/devices/{unit.camera.id}/motion", {"detection": "person"})
        uuid = answer["event"]["snapshot_uuid"]
        assert uuid
        unit.request_snapshot("interval")
        interval_task = unit.snapshot_task
        event = RingEvent(kind="motion", created_at=datetime.now(UTC), device_id=unit.camera.id, snapshot_uuid=uuid)
        run.family.on_event(event)  # arrives while the interval image is fetched: taken right after it
        assert unit.snapshot_task is interval_task and unit.pending is not None
        await wait_until(lambda: unit.snapshot is not None and unit.snapshot.reason == "motion", "the motion image", 60)
        assert unit.pending is None


class Links:
    """The archive's answers (``ArchiveLinks``) for the family's wiring; the bridge supplies the real one."""

    def __init__(self) -> None:
        self.by_device: dict[int, RecordingLink] = {}

    def recording(self, event_id: str) -> RecordingLink | None:
        return next((link for link in self.by_device.values() if link.event_id == event_id), None)

    def latest(self, device_id: int) -> RecordingLink | None:
        return self.by_device.get(device_id)


async def test_the_last_recording_follows_the_archive(sim: SimServer, rv_home: Path) -> None:
    links = Links()
    async with running(sim, rv_home, "cameras", ctx_extra={"archive": links}) as run:
        watch = EventWatch(run.api)
        run.ctx.watch = watch
        await run.family.aclose()  # start again with the watch in the context
        run.sink.devices.clear()
        run.sink.devices.extend(await run.family.start(run.ctx))
        unit = unit_named(run.family, "Front Door")
        entity = unit.device.entity("last_recording")
        assert run.sink.state(entity) is None
        links.by_device[unit.camera.id] = RecordingLink("7407512345678901234", "/srv/archive/a.mp4", None)
        pending = RecordingChange("7407512345678901234", unit.camera.id, "ding", "pending", None)
        watch.on_archived.emit(pending)
        assert run.sink.state(entity) is None  # not archived yet
        done = RecordingChange("7407512345678901234", unit.camera.id, "ding", "done", None)
        watch.on_archived.emit(done)
        assert run.sink.state(entity) == "/srv/archive/a.mp4"
        url = "http://127.0.0.1:8765/timeline/7407512345678901234"
        links.by_device[unit.camera.id] = RecordingLink("7407512345678901234", "/srv/archive/a.mp4", url)
        watch.on_archived.emit(done)
        assert run.sink.state(entity) == url
        assert entity.attributes is not None and entity.attributes() == {
            "event_id": "7407512345678901234",
            "path": "/srv/archive/a.mp4",
            "url": url,
        }
        links.by_device[unit.camera.id] = RecordingLink("1", "/" + "x" * 400, None)
        watch.on_archived.emit(done)
        assert run.sink.state(entity) == "1"  # a path too long for a state: the id, the path in the attributes


async def test_a_camera_that_appears_later_is_added_and_the_old_one_goes_away(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "cameras") as run:
        unit = unit_named(run.family, "Living Room")
        old_id = unit.camera.id
        hostile = "Living\x1b[2J Room\n" + "\u202e" * 3 + "x" * 5_000
        await sim_call(sim, "PATCH", f"/_sim/devices/{old_id}", {"id": 987654321, "description": hostile})
        await run.api.refresh_devices()
        added = run.device(987654321)
        assert added.name.startswith("Living [2J Room") and len(added.name) <= 100
        assert added.name.isprintable() and {e.key for e in added.entities} >= {"motion", "snapshot"}
        assert discovery(added)["motion"]["device"]["name"] == added.name
        light_or_detection = added.entity("motion_detection")
        assert light_or_detection.command is not None
        with pytest.raises(CommandRejected) as caught:
            await light_or_detection.command("nope")
        assert "\x1b" not in str(caught.value) and "\n" not in str(caught.value)
        assert unit.device.available is not None and not unit.device.available()
        assert run.family.units[987654321].device is added


# -- end to end: the real Bridge, a real Mosquitto broker, the simulator -------------------------------------------


@pytest.mark.timeout(240)
async def test_every_rest_device_is_discovered_valid_and_retained(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    async with rest_bridge(sim, rv_home, broker) as (bridge, _api):
        await sub.barrier_async()
        expected = {
            (named(sim, "Driveway Floodlight"), "light", "light"),
            (named(sim, "Driveway Floodlight"), "siren", "siren"),
            (named(sim, "Front Door"), "binary_sensor", "ding"),
            (named(sim, "Front Door"), "event", "ding_event"),
            (named(sim, "Garden"), "image", "snapshot"),
            (named(sim, "Garden"), "sensor", "battery"),
            (named(sim, "Hall Chime"), "number", "volume"),
            (named(sim, "Hall Chime"), "button", "play_ding_sound"),
            (named(sim, "Building Entrance"), "lock", "lock"),
            (named(sim, "Garage Door"), "sensor", "info"),
            (named(sim, "Backyard ONVIF"), "sensor", "info"),
        }

        def all_there(retained: dict[str, bytes]) -> bool:
            for device_id, component, key in expected:
                loc = sim.state.world.devices[device_id].location_id
                if f"homeassistant/{component}/ringvault_{loc}_{device_id}/{key}/config" not in retained:
                    return False
            return True

        # the images Ring holds and the Wi-Fi signals read from health documents (one a second) arrive within seconds
        retained = await sub.retained_async()
        for _ in range(100):
            if all_there(retained) and not check_retained_tree(retained):
                break
            await asyncio.sleep(0.3)
            retained = await sub.retained_async()
        assert all_there(retained)
        problems = check_retained_tree(retained)
        assert problems == [], "\n".join(problems)  # Home Assistant's schema, and every state topic readable
        floodlight = topic_root(named(sim, "Driveway Floodlight"), sim)
        assert retained[f"{floodlight}/light/state"] == b"OFF"
        assert retained[f"{floodlight}/motion_detection/state"] == b"ON"
        assert retained[f"{floodlight}/status"] == b"online"
        garage = topic_root(named(sim, "Garage Door"), sim)
        assert retained[f"{garage}/info/state"] == b"third_party_gdo"
        # every device of Ring's list but the alarm base stations (the alarm family's), and the bridge itself
        rest = [d for d in sim.state.world.devices.values() if d.family != "base_stations"]
        assert len(bridge.devices) == len(rest) + 1


@pytest.mark.timeout(240)
async def test_a_ding_over_the_broker_sets_the_sensor_fires_the_event_and_brings_a_snapshot(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    door = named(sim, "Back Door")
    root = topic_root(door, sim)
    async with rest_bridge(sim, rv_home, broker, ding_hold_s=6.0):
        await sub.wait_for_message_async(f"{root}/ding/state", "OFF", WAIT_S)
        sub.clear()
        answer = await sim_call(sim, "POST", f"/_sim/devices/{door}/ding")
        ding_id = answer["event"]["id_str"]
        await sub.wait_for_message_async(f"{root}/ding/state", "ON", WAIT_S)
        fired = await sub.wait_for_message_async(f"{root}/ding_event/state", None, WAIT_S)
        assert fired.json()["event_type"] == "ding" and fired.json()["ding_id"] == ding_id and not fired.retain
        attributes = await sub.wait_for_async(
            lambda ms: [m for m in ms if m.topic == f"{root}/ding/attributes" and m.json().get("dingId") == ding_id],
            WAIT_S,
            "the ding's attributes",
        )
        assert attributes[0].json()["lastDing"] > 0
        retained = await sub.retained_async()
        assert retained[f"{root}/ding/state"] == b"ON"
        await sub.wait_for_async(lambda ms: then(ms, f"{root}/ding/state", b"ON", b"OFF"), WAIT_S, "the hold's end")
        image = await sub.wait_for_message_async(f"{root}/snapshot/state", None, WAIT_S)
        assert image.payload.startswith(b"\xff\xd8")
        # the broker retains the newest snapshot (the notification's image, then the fresh one the ding asks for)
        for _ in range(100):
            retained = await sub.retained_async()
            newest = sub.last(f"{root}/snapshot/state")
            if newest is not None and retained.get(f"{root}/snapshot/state") == newest.payload:
                break
            await asyncio.sleep(0.2)
        assert newest is not None and newest.payload.startswith(b"\xff\xd8")
        assert retained[f"{root}/ding/state"] == b"OFF" and retained[f"{root}/snapshot/state"] == newest.payload


@pytest.mark.timeout(240)
async def test_commands_over_the_broker_reach_the_simulator_and_the_state_follows(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    camera = named(sim, "Driveway Floodlight")
    root = topic_root(camera, sim)
    world = sim.state.world.devices[camera]
    async with rest_bridge(sim, rv_home, broker):
        await sub.wait_for_message_async(f"{root}/light/state", "OFF", WAIT_S)
        await asyncio.to_thread(sub.publish, f"{root}/light/set", "ON")
        await sub.wait_for_message_async(f"{root}/light/state", "ON", WAIT_S)
        assert world.led_on is True
        await asyncio.to_thread(sub.publish, f"{root}/siren/set", '{"state": "ON", "duration": 20}')
        await sub.wait_for_message_async(f"{root}/siren/state", "ON", WAIT_S)
        assert world.siren_duration == 20
        await asyncio.to_thread(sub.publish, f"{root}/siren/set", "OFF")
        await sub.wait_for_message_async(f"{root}/siren/state", "OFF", WAIT_S)
        await asyncio.to_thread(sub.publish, f"{root}/motion_detection/set", "OFF")
        await sub.wait_for_message_async(f"{root}/motion_detection/state", "OFF", WAIT_S)
        assert world.motion_detection_enabled is False
        sub.clear()
        await asyncio.to_thread(sub.publish, f"{root}/light/set", "BLINK")  # refused: the true state again
        await sub.wait_for_message_async(f"{root}/light/state", "ON", WAIT_S)
        assert world.led_on is True


@pytest.mark.timeout(240)
async def test_the_last_recording_links_the_archived_file_over_the_broker(
    sim: SimServer,
    rv_home: Path,
    tmp_path: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
) -> None:
    broker = broker_factory()
    door = named(sim, "Back Door")
    root = topic_root(door, sim)
    sub = subscriber_factory(broker, [f"{root}/#"])
    archive_dir = tmp_path / "archive"
    store = ArchiveStore.open(archive_dir)
    try:
        async with open_api(sim, rv_home) as api:
            follower = ArchiveFollower(api, store, archive_dir, devices=[str(door)])
            watch = EventWatch(api, follower)
            links = StoreLinks(store, archive_dir, "http://127.0.0.1:8080")
            options = fast_options(snapshot_modes=frozenset())
            bridge = Bridge(
                api,
                options,
                BrokerUrl.parse(broker.url),
                families=[CameraFamily(options)],
                watch=watch,
                archive=links,
            )
            try:
                await bridge.start()
                await watch.start()
                await bridge.link.wait_connected(30)
                answer = await sim_call(sim, "POST", f"/_sim/devices/{door}/ding")
                ding_id = answer["event"]["id_str"]
                url = f"http://127.0.0.1:8080/timeline/{ding_id}"
                await sub.wait_for_message_async(f"{root}/last_recording/state", url, 120)
                attributes = await sub.wait_for_async(
                    lambda ms: [m.json() for m in ms if m.topic == f"{root}/last_recording/attributes"],
                    WAIT_S,
                    "the recording's attributes",
                )
            finally:
                await bridge.aclose()
                await watch.aclose()
    finally:
        store.close()
    assert attributes[-1]["event_id"] == ding_id and attributes[-1]["url"] == url
    path = Path(attributes[-1]["path"])
    assert await asyncio.to_thread(path.is_file) and path.is_relative_to(archive_dir)


@pytest.mark.timeout(120)
async def test_changes_made_in_the_ring_app_show_without_a_command(
    sim: SimServer, rv_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_rest, "DEVICE_POLL_S", 0.3)
    async with running(sim, rv_home, "cameras", snapshot_modes=frozenset({"motion"})) as run:
        chimes = ChimeFamily(run.ctx.options)  # a second family on the same RingApi shares the one reader
        await chimes.start(run.ctx)
        assert len([p for p in _rest._POLLS.values() if not p.task.done()]) == 1
        unit = unit_named(run.family, "Driveway Floodlight")
        light = unit.device.entity("light")
        sim.state.world.set_light(unit.camera.id, True)  # switched on in the Ring app
        await wait_until(lambda: run.sink.state(light) == "ON", "the light on, read from Ring's device list", WAIT_S)
        await sim_call(sim, "PATCH", f"/_sim/devices/{unit.camera.id}", {"offline": True})
        available = unit.device.available
        assert available is not None
        await wait_until(lambda: not available(), "the camera unavailable", WAIT_S)
        await chimes.aclose()
        assert len(_rest._POLLS) == 1  # the cameras still need it
        await run.family.aclose()
        assert len(_rest._POLLS) == 0
        reads = count(sim, RING_DEVICES)
        await asyncio.sleep(1.0)
        assert count(sim, RING_DEVICES) == reads  # stopped with the last family


async def test_no_reader_of_its_own_when_the_api_polls_itself(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home, camera_status_polling_seconds=30.0) as api:
        release = _rest.poll_devices(api)
        assert api not in _rest._POLLS
        await release()
