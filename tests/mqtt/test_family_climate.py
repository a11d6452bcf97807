"""The climate family against the simulator: one Home Assistant ``climate`` entity per thermostat, its children
folded in (no other family publishes them), commands checked and confirmed by Ring, refusals and silence handled;
with a ``MemorySink``, and end to end over the real broker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.cloud import Location, RingApi
from ringvault.mqtt.families.alarm import AlarmFamily
from ringvault.mqtt.families.climate import ClimateFamily, parse_command
from ringvault.mqtt.families.hub_unknown import UnknownHubFamily
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice
from ringvault.mqtt.options import BridgeOptions
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.family_helpers import (
    HUB_OPTIONS,
    alarm_location,
    check_published,
    hub_bridge,
    hub_control,
    last_json,
    settled_retained,
    sim_hub_devices,
    started,
)
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.sink_helpers import MemorySink, wait_until
from tests.sim.thermostat_docs import SENSOR, STATUS, THERMOSTAT, thermostat_documents

CLIMATE_LOG = "ringvault.mqtt.climate"


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        yield ring


def add_thermostat(sim: SimServer, location_id: str, **kwargs: Any) -> None:
    for document in thermostat_documents(**kwargs):
        hub_control(sim, "POST", f"/{location_id}/devices", {"document": document})


async def with_thermostat(sim: SimServer, api: RingApi, **kwargs: Any) -> Location:
    home = await alarm_location(api)
    await asyncio.to_thread(add_thermostat, sim, home.id, **kwargs)
    return home


def climate(sink: MemorySink) -> tuple[MqttDevice, Entity]:
    device = next(d for d in sink.devices if d.ident == THERMOSTAT)
    return device, device.entity("thermostat")


def state(entity: Entity) -> dict[str, Any]:
    assert entity.read is not None
    payload = entity.read()
    assert isinstance(payload, str)
    doc = json.loads(payload)
    assert isinstance(doc, dict)
    return doc


def ring_state(sim: SimServer, location_id: str) -> dict[str, Any]:
    return sim_hub_devices(sim, location_id)[THERMOSTAT]


async def send(entity: Entity, payload: dict[str, Any] | str) -> None:
    assert entity.command is not None
    await entity.command(payload if isinstance(payload, str) else json.dumps(payload))


async def test_a_thermostat_is_one_climate_entity_with_its_children_folded_in(sim: SimServer, api: RingApi) -> None:
    await with_thermostat(sim, api, mode="heat", celsius=20.0)
    families = [ClimateFamily(BridgeOptions()), AlarmFamily(BridgeOptions()), UnknownHubFamily(BridgeOptions())]
    async with (
        started(api, families[0]) as (_, sink),
        started(api, families[1]) as (_, alarm_sink),
        started(api, families[2]) as (_, unknown_sink),
    ):
        assert [d.ident for d in sink.devices] == [THERMOSTAT]
        published = {d.ident for s in (alarm_sink, unknown_sink) for d in s.devices}
        assert not {THERMOSTAT, SENSOR, STATUS} & published  # neither a separate sensor nor an "unknown device"
        device, entity = climate(sink)
        assert (device.name, device.model, device.manufacturer) == ("Hall Thermostat", "Thermostat", "Honeywell")
        assert entity.component == "climate" and entity.name is None
        options = entity.options
        assert options["modes"] == ["off", "heat", "cool", "heat_cool"]
        assert options["fan_modes"] == ["auto", "on", "circulate"] and options["preset_modes"] == ["Auxiliary"]
        assert (options["min_temp"], options["max_temp"], options["temperature_unit"]) == (10.0, 32.0, "C")
        assert state(entity) == {
            "mode": "heat", "temperature": 21.0, "temperature_low": None, "temperature_high": None,
            "current_temperature": 20.0, "fan_mode": "auto", "preset_mode": "none", "action": "heating",
        }  # fmt: skip
        assert {e.key for e in device.entities} == {"thermostat", "tamper", "info"}
        check_published(sink.devices)


async def test_mode_range_set_point_fan_and_preset_commands_follow_ring(sim: SimServer, api: RingApi) -> None:
    home = await with_thermostat(sim, api, mode="heat", celsius=20.0)
    async with started(api, ClimateFamily(BridgeOptions())) as (_, sink):
        _, entity = climate(sink)
        await send(entity, {"temperature": 22.5})
        assert state(entity)["temperature"] == 22.5 and ring_state(sim, home.id)["setPoint"] == 22.5
        await send(entity, {"mode": "heat_cool"})
        doc = state(entity)
        assert (doc["mode"], doc["temperature"], doc["temperature_low"], doc["temperature_high"]) == (
            "heat_cool", None, 20.0, 24.0
        )  # fmt: skip
        assert ring_state(sim, home.id)["mode"] == "auto"
        # Home Assistant sends the two ends as two commands: each moves its own end
        await send(entity, {"temperature_low": 19})
        assert (state(entity)["temperature_low"], state(entity)["temperature_high"]) == (19.0, 24.0)
        await send(entity, {"temperature_high": 25})
        assert (state(entity)["temperature_low"], state(entity)["temperature_high"]) == (19.0, 25.0)
        flat = ring_state(sim, home.id)
        assert (flat["setPoint"], flat["deadBand"]) == (22.0, 3.0)
        # a low end past the high one pushes the high end out (never narrower than twice deadBandMin)
        await send(entity, {"temperature_low": 26})
        low, high = state(entity)["temperature_low"], state(entity)["temperature_high"]
        assert low == 26.0 and high == pytest.approx(28.22, abs=0.01)
        await send(entity, {"temperature_low": 20, "temperature_high": 24})  # both in one payload: one write
        assert (state(entity)["temperature_low"], state(entity)["temperature_high"]) == (20.0, 24.0)
        await send(entity, {"fan_mode": "circulate"})
        assert state(entity)["fan_mode"] == "circulate" and ring_state(sim, home.id)["fanMode"] == "circulate"
        await send(entity, {"preset_mode": "Auxiliary"})
        doc = state(entity)
        assert (doc["mode"], doc["preset_mode"], ring_state(sim, home.id)["mode"]) == ("heat", "Auxiliary", "aux")
        await send(entity, {"preset_mode": "none"})
        assert (state(entity)["preset_mode"], ring_state(sim, home.id)["mode"]) == ("none", "heat")
        await send(entity, {"mode": "off"})
        assert (state(entity)["mode"], state(entity)["temperature"]) == ("off", None)
        # the operating status is its own device: its update follows the thermostat's
        await wait_until(lambda: state(entity)["action"] == "off", "the action off")


async def test_room_temperature_and_operating_status_reach_the_state(sim: SimServer, api: RingApi) -> None:
    home = await with_thermostat(sim, api, mode="heat", celsius=20.0)
    async with started(api, ClimateFamily(BridgeOptions())) as (_, sink):
        device, entity = climate(sink)
        sink.changes.clear()
        path = f"/{home.id}/devices/{SENSOR}/temperature"
        await asyncio.to_thread(hub_control, sim, "POST", path, {"celsius": 22.0})
        await wait_until(lambda: state(entity)["current_temperature"] == 22.0, "the new room temperature")
        await wait_until(lambda: state(entity)["action"] == "idle", "the heating to stop")
        assert device in sink.changes  # the children's updates republish the thermostat
        await send(entity, {"fan_mode": "on"})
        assert state(entity)["action"] == "fan"  # idle with the fan on (ring-mqtt)


async def test_a_thermostat_added_later_is_published_with_its_children(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, ClimateFamily(BridgeOptions())) as (_, sink):
        assert sink.devices == []
        await asyncio.to_thread(add_thermostat, sim, home.id, celsius=18.5)
        await wait_until(lambda: any(d.ident == THERMOSTAT for d in sink.devices), "the new thermostat")
        _, entity = climate(sink)
        await wait_until(lambda: state(entity)["current_temperature"] == 18.5, "its room temperature")
        assert [d.ident for d in sink.devices] == [THERMOSTAT]


async def test_malformed_and_impossible_commands_are_refused_and_change_nothing(sim: SimServer, api: RingApi) -> None:
    home = await with_thermostat(sim, api, mode="heat", with_auto=False)
    async with started(api, ClimateFamily(BridgeOptions())) as (_, sink):
        _, entity = climate(sink)
        assert entity.options["modes"] == ["off", "heat", "cool"]
        before = ring_state(sim, home.id)
        cases = [
            ("{", "not JSON"),
            ("[1]", "not a JSON object"),
            ("{}", "not a JSON object"),
            ('{"power": "on"}', "unknown key(s) power"),
            ('{"mode": "heat_cool"}', "mode must be one of off, heat, cool, not 'heat_cool'"),
            ('{"mode": 1}', "mode must be a string"),
            ('{"temperature": 40}', "set point must be from 10 to 32 °C"),
            ('{"temperature": "warm"}', "temperatures must be numbers"),
            ('{"temperature_low": 18}', "a temperature range needs mode heat_cool"),
            ('{"fan_mode": "turbo"}', "fan mode must be one of auto, on, circulate"),
            ('{"preset_mode": "eco"}', "preset_mode must be Auxiliary or none"),
        ]
        for payload, message in cases:
            with pytest.raises(CommandRejected, match=re.escape(message)) as caught:
                await send(entity, payload)
            assert "\n" not in str(caught.value)
        assert ring_state(sim, home.id) == before
        with pytest.raises(CommandRejected, match="not JSON"):
            parse_command("x" * 10_000, "thermostat")


async def test_a_silent_hub_ends_the_command_with_ring_state_shown(
    sim: SimServer, api: RingApi, caplog: pytest.LogCaptureFixture
) -> None:
    home = await with_thermostat(sim, api, mode="heat")
    quick = dataclasses.replace(HUB_OPTIONS, command_timeout_s=1.0)
    async with started(api, ClimateFamily(BridgeOptions()), hub_options=quick) as (_, sink):
        _, entity = climate(sink)
        hub_control(sim, "POST", f"/{home.id}/assets/base_station/session", {"status": "unknown"})  # ignores writes
        with caplog.at_level(logging.WARNING, logger=CLIMATE_LOG):
            await send(entity, {"mode": "cool"})
        lines = [r.getMessage() for r in caplog.records if r.name == CLIMATE_LOG]
        assert lines == ["thermostat Hall Thermostat: Ring did not confirm the mode within 1 s; showing Ring's state"]
        assert state(entity)["mode"] == "heat" and ring_state(sim, home.id)["mode"] == "heat"


async def test_odd_thermostat_documents_read_as_unknown_never_crash(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    odd = {
        "general": {"v2": {"zid": "zid-odd-thermostat", "name": "Odd\n\x1b[2J", "deviceType":
                           "temperature-control.thermostat", "parentZid": 7}},
        "device": {"v1": {"mode": ["heat"], "setPoint": "21", "setPointMin": 40, "setPointMax": 10,
                          "modeSetpoints": "auto", "supportedFanModes": [1, None], "fanMode": {"x": 1},
                          "deadBand": -3}},
    }  # fmt: skip
    orphan = {"general": {"v2": {"zid": "zid-odd-status", "deviceType": "thermostat-operating-status",
                                 "parentZid": "zid-nobody"}}, "device": {"v1": {"operatingMode": 5}}}  # fmt: skip
    for document in (odd, orphan):
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices", {"document": document})
    async with started(api, ClimateFamily(BridgeOptions())) as (_, sink):
        device = next(d for d in sink.devices if d.ident == "zid-odd-thermostat")
        entity = device.entity("thermostat")
        assert state(entity) == {
            "mode": None, "temperature": None, "temperature_low": None, "temperature_high": None,
            "current_temperature": None, "fan_mode": None, "preset_mode": None, "action": None,
        }  # fmt: skip
        assert entity.options["modes"] == ["off", "heat", "cool"] and entity.options["fan_modes"] == ["auto"]
        assert (entity.options["min_temp"], entity.options["max_temp"]) == (10.0, 37.22223)  # the odd range ignored
        check_published([device])
        assert "\n" not in device.name


@pytest.mark.timeout(240)
async def test_e2e_a_thermostat_over_mqtt(
    sim: SimServer,
    rv_home: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    loc = next(h["location_id"] for h in hub_control(sim, "GET", "")["locations"])
    add_thermostat(sim, loc, mode="heat", celsius=20.0)
    async with hub_bridge(sim, rv_home, broker, [ClimateFamily(BridgeOptions())]) as (bridge, _):
        retained = await settled_retained(sub)  # every climate state topic holds a message Home Assistant takes
        config = json.loads(retained[f"homeassistant/climate/ringvault_{loc}_{THERMOSTAT}/thermostat/config"])
        topic = f"ringvault/{loc}/{THERMOSTAT}/thermostat"
        assert config["mode_state_topic"] == config["current_temperature_topic"] == config["action_topic"]
        assert config["mode_state_topic"] == f"{topic}/state"
        assert config["mode_command_topic"] == config["temperature_low_command_topic"] == f"{topic}/set"
        assert not [t for t in retained if SENSOR in t or STATUS in t]  # the children have no topics of their own
        assert json.loads(retained[f"{topic}/state"])["mode"] == "heat"

        # a command reaches Ring and the state follows
        await asyncio.to_thread(sub.publish, f"{topic}/set", json.dumps({"mode": "cool"}))
        await sub.wait_for_async(lambda _ms: last_json(sub, f"{topic}/state")["mode"] == "cool", 60, "cool")
        assert sim_hub_devices(sim, loc)[THERMOSTAT]["mode"] == "cool"
        assert last_json(sub, f"{topic}/state")["temperature"] == 25.0

        # a change at Ring (the room warms up) reaches the retained state
        await asyncio.to_thread(hub_control, sim, "POST", f"/{loc}/devices/{SENSOR}/temperature", {"celsius": 26})
        await sub.wait_for_async(lambda _ms: last_json(sub, f"{topic}/state")["action"] == "cooling", 60, "cooling")
        assert last_json(sub, f"{topic}/state")["current_temperature"] == 26.0

        # a malformed command: one log line, the true state published again, Ring unchanged
        rejected = bridge.commands_rejected
        published = len(sub.on(f"{topic}/state"))
        with caplog.at_level(logging.WARNING, logger="ringvault.mqtt"):
            await asyncio.to_thread(sub.publish, f"{topic}/set", '{"temperature": 99}')
            await wait_until(lambda: bridge.commands_rejected == rejected + 1, "the rejection")
            await sub.wait_for_async(lambda _ms: len(sub.on(f"{topic}/state")) > published, 60, "the republished state")
        lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(lines) == 1 and "set point must be from 10 to 32" in lines[0]
        assert last_json(sub, f"{topic}/state")["mode"] == "cool"
        assert sim_hub_devices(sim, loc)[THERMOSTAT]["setPoint"] == 25.0
