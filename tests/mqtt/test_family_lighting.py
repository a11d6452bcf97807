"""The lighting family against the simulator (``MemorySink``): Beams lights with brightness and an on-duration,
motion status, the Beams motion sensor, light groups switched through their REST group, Z-Wave switches and
dimmers, and malformed commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ringvault.cloud import RingApi
from ringvault.cloud.models.kinds import DeviceClass
from ringvault.mqtt.families.lighting import LightingFamily, parse_light_command
from ringvault.mqtt.model import CommandRejected
from ringvault.mqtt.options import BridgeOptions
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.family_helpers import (
    alarm_location,
    check_published,
    hub_bridge,
    hub_control,
    last_json,
    settled_retained,
    sim_hub_devices,
    started,
    wait_state,
)
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.sink_helpers import wait_until


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        yield ring


def light(payload: str | None) -> dict[str, object]:
    assert payload is not None
    doc = json.loads(payload)
    assert isinstance(doc, dict)
    return doc


async def test_every_light_motion_sensor_and_group_with_its_entities(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    expected = sim_hub_devices(sim, home.id)
    async with started(api, LightingFamily(BridgeOptions())) as (_, sink):
        assert {d.name for d in sink.devices} == {"Path Light 1", "Path Light 2", "Backyard Motion", "Backyard Lights"}
        path = sink.device("Path Light 1")
        entity = path.entity("light")
        assert entity.options == {"schema": "json", "supported_color_modes": ["brightness"], "brightness_scale": 100}
        level = expected[path.ident]["level"]
        assert light(sink.state(entity)) == {
            "state": "OFF",
            "brightness": round(level * 100),
            "color_mode": "brightness",
        }
        assert sink.state(path.entity("duration")) == str(expected[path.ident]["onDuration"])
        assert path.entity("duration").options["max"] == 32767 and path.entity("duration").category == "config"
        assert sink.state(path.entity("motion")) == "OFF"
        motion = sink.device("Backyard Motion")
        assert [e.key for e in motion.entities if e.category is None] == ["motion"]
        group = sink.device("Backyard Lights")
        assert group.entity("light").options["supported_color_modes"] == ["onoff"]
        assert light(sink.state(group.entity("light"))) == {"state": "OFF", "color_mode": "onoff"}
        bridge = next(d for d in home.devices if d.device_class is DeviceClass.BEAMS_BRIDGE)
        assert all(d.via is not None and d.via.ident == str(bridge.id) for d in sink.devices)  # the lighting bridge
        check_published(sink.devices)


async def test_switching_a_light_on_with_brightness_and_off(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, LightingFamily(BridgeOptions())) as (_, sink):
        path = sink.device("Path Light 1")
        entity = path.entity("light")
        assert entity.command is not None
        await entity.command('{"state": "ON", "brightness": 40}')
        assert light(sink.state(entity)) == {"state": "ON", "brightness": 40, "color_mode": "brightness"}
        flat = sim_hub_devices(sim, home.id)[path.ident]
        assert flat["on"] is True and flat["level"] == 0.4
        await entity.command('{"state": "ON", "brightness": 75}')  # already on: only the level changes
        assert light(sink.state(entity))["brightness"] == 75
        await entity.command('{"state": "OFF"}')
        assert light(sink.state(entity))["state"] == "OFF"
        assert sim_hub_devices(sim, home.id)[path.ident]["on"] is False
        await entity.command("ON")  # the plain payload works too
        assert light(sink.state(entity))["state"] == "ON"
        await entity.command("OFF")


async def test_the_duration_is_used_when_switching_on(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, LightingFamily(BridgeOptions())) as (_, sink):
        path = sink.device("Path Light 2")
        duration, entity = path.entity("duration"), path.entity("light")
        assert duration.command is not None and entity.command is not None
        await duration.command("900")
        assert sink.state(duration) == "900"
        before_ms = sim.state.clock.now_ms()
        await entity.command('{"state": "ON"}')
        off_at = sim.state.hub.locations[home.id].lights_off_at_ms[path.ident]
        assert 890_000 <= off_at - before_ms <= 910_000  # Ring got duration 900 (the seeded onDuration is 60)
        await entity.command('{"state": "OFF"}')
        with pytest.raises(CommandRejected):
            await duration.command("40000")
        with pytest.raises(CommandRejected):
            await duration.command("-1")
        assert sink.state(duration) == "900"


async def test_motion_status_follows_ring(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, LightingFamily(BridgeOptions())) as (_, sink):
        motion = sink.device("Backyard Motion")
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{motion.ident}/fault", {"faulted": True})
        await wait_until(lambda: sink.state(motion.entity("motion")) == "ON", "motion")
        assert motion in sink.changes
        await asyncio.to_thread(
            hub_control, sim, "POST", f"/{home.id}/devices/{motion.ident}/fault", {"faulted": False}
        )
        await wait_until(lambda: sink.state(motion.entity("motion")) == "OFF", "motion cleared")


async def test_a_light_group_switches_through_its_rest_group(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, LightingFamily(BridgeOptions())) as (_, sink):
        group_device = sink.device("Backyard Lights")
        entity = group_device.entity("light")
        assert entity.command is not None
        groups = {g.id: g for g in await home.get_light_groups()}
        assert len(groups) == 1
        (group,) = groups.values()
        await entity.command('{"state": "ON"}')
        assert light(sink.state(entity))["state"] == "ON"
        assert (await group.get_state())["lights_on"] is True
        await entity.command('{"state": "OFF"}')
        assert light(sink.state(entity))["state"] == "OFF"
        assert (await group.get_state())["lights_on"] is False
        with pytest.raises(CommandRejected) as rejected:
            await entity.command('{"brightness": 50}')
        assert "no brightness" in str(rejected.value)


async def test_a_group_switched_on_for_a_while_goes_off_when_ring_says_so(sim: SimServer, api: RingApi) -> None:
    async with started(api, LightingFamily(BridgeOptions())) as (_, sink):
        group_device = sink.device("Backyard Lights")
        duration, entity = group_device.entity("duration"), group_device.entity("light")
        assert duration.command is not None and entity.command is not None
        await duration.command("2")
        await entity.command("ON")
        assert light(sink.state(entity))["state"] == "ON"
        # the group is re-read once its duration has run out (no update comes from Ring for it)
        await wait_until(lambda: light(sink.state(entity))["state"] == "OFF", "the group off after its duration")


async def test_zwave_switches_dimmers_and_bulbs(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    documents = [
        {"name": "Porch Switch", "deviceType": "switch", "categoryId": 1, "on": True},
        {"name": "Lamp Switch", "deviceType": "switch", "categoryId": 2, "on": False},
        {"name": "Hall Dimmer", "deviceType": "switch.multilevel", "categoryId": 2, "on": True, "level": 0.3},
        {"name": "Ceiling Fan", "deviceType": "switch.multilevel", "categoryId": 17, "on": False, "level": 0.5},
        {"name": "Bulb", "deviceType": "switch.multilevel.bulb", "categoryId": 2, "on": False, "level": 1.0},
    ]
    async with started(api, LightingFamily(BridgeOptions())) as (_, sink):
        known = len(sink.devices)
        for document in documents:
            await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices", {"document": document})
        await wait_until(lambda: len(sink.devices) == known + len(documents), "the Z-Wave devices")
        assert sink.state(sink.device("Porch Switch").entity("switch")) == "ON"
        assert light(sink.state(sink.device("Lamp Switch").entity("light"))) == {"state": "OFF", "color_mode": "onoff"}
        assert light(sink.state(sink.device("Hall Dimmer").entity("light"))) == {
            "state": "ON",
            "brightness": 30,
            "color_mode": "brightness",
        }
        fan = sink.device("Ceiling Fan")
        assert sink.state(fan.entity("switch")) == "OFF" and fan.entity("switch").icon == "mdi:fan"
        assert light(sink.state(sink.device("Bulb").entity("light")))["brightness"] == 100
        check_published(sink.devices)
        switch = sink.device("Porch Switch").entity("switch")
        assert switch.command is not None
        with pytest.raises(CommandRejected):
            await switch.command("toggle")
        # commands reach Ring (``{"device":{"v1":{"on"|"level"}}}``, reference §7.8) and the state follows
        zids = {d.name: d.ident for d in sink.devices}
        await switch.command("OFF")
        assert sink.state(switch) == "OFF" and sim_hub_devices(sim, home.id)[zids["Porch Switch"]]["on"] is False
        dimmer = sink.device("Hall Dimmer").entity("light")
        assert dimmer.command is not None
        await dimmer.command('{"state": "ON", "brightness": 80}')
        assert light(sink.state(dimmer)) == {"state": "ON", "brightness": 80, "color_mode": "brightness"}
        assert sim_hub_devices(sim, home.id)[zids["Hall Dimmer"]]["level"] == 0.8
        fan = sink.device("Ceiling Fan").entity("switch")
        assert fan.command is not None
        await fan.command("ON")
        assert sink.state(fan) == "ON" and sim_hub_devices(sim, home.id)[zids["Ceiling Fan"]]["on"] is True


def test_light_commands_are_parsed_or_rejected_in_one_line() -> None:
    assert parse_light_command('{"state":"ON","brightness":55}', "light x") == (True, 55.0)
    assert parse_light_command('{"state":"off"}', "light x") == (False, None)
    assert parse_light_command('{"brightness": 0}', "light x") == (None, 0.0)
    assert parse_light_command(" on ", "light x") == (True, None)
    for payload in ("{", "[1]", '{"state":"MAYBE"}', '{"brightness":500}', '{"brightness":true}', "{}", '"ON"'):
        with pytest.raises(CommandRejected) as rejected:
            parse_light_command(payload, "light x")
        assert str(rejected.value).startswith("light x: ") and "\n" not in str(rejected.value)


async def test_malformed_light_commands_change_nothing(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, LightingFamily(BridgeOptions())) as (_, sink):
        entity = sink.device("Path Light 1").entity("light")
        assert entity.command is not None
        before = sim_hub_devices(sim, home.id)
        for payload in ("{", '{"state": 1}', '{"brightness": -5}', "x" * 10_000):
            with pytest.raises(CommandRejected):
                await entity.command(payload)
        assert sim_hub_devices(sim, home.id) == before


@pytest.mark.timeout(240)
async def test_e2e_a_light_command_over_mqtt_reaches_ring_and_the_state_follows(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    loc = next(h["location_id"] for h in hub_control(sim, "GET", "")["locations"])
    devices = sim_hub_devices(sim, loc)
    path = next(zid for zid, flat in devices.items() if flat["name"] == "Path Light 1")
    motion = next(zid for zid, flat in devices.items() if flat["name"] == "Backyard Motion")
    async with hub_bridge(sim, rv_home, broker, [LightingFamily(BridgeOptions())]):
        retained = await settled_retained(sub)
        config = json.loads(retained[f"homeassistant/light/ringvault_{loc}_{path}/light/config"])
        assert config["schema"] == "json" and config["supported_color_modes"] == ["brightness"]
        state = f"ringvault/{loc}/{path}/light/state"
        assert json.loads(retained[state])["state"] == "OFF"

        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{path}/light/set", '{"state":"ON","brightness":55}')
        wanted = {"state": "ON", "brightness": 55, "color_mode": "brightness"}
        await sub.wait_for_async(lambda _ms: last_json(sub, state) == wanted, 60, "the light on")
        flat = sim_hub_devices(sim, loc)[path]
        assert flat["on"] is True and flat["level"] == 0.55
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{path}/light/set", '{"state":"OFF"}')
        await sub.wait_for_async(lambda _ms: last_json(sub, state)["state"] == "OFF", 60, "the light off")
        assert sim_hub_devices(sim, loc)[path]["on"] is False

        await asyncio.to_thread(hub_control, sim, "POST", f"/{loc}/devices/{motion}/fault", {"faulted": True})
        await wait_state(sub, f"ringvault/{loc}/{motion}/motion/state", "ON")
