"""The location modes family against the simulator (``MemorySink``): which locations get a mode ``select``, the
state following Ring (commands and polling), and what is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ringvault.cloud import RingApi
from ringvault.mqtt.families.modes import ModesFamily
from ringvault.mqtt.model import CommandRejected
from ringvault.mqtt.options import BridgeOptions
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.family_helpers import check_published, hub_bridge, settled_retained, started, wait_state
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.sink_helpers import wait_until


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        yield ring


def world_mode(sim: SimServer, location_id: str) -> str:
    location = sim.state.world.location(location_id)
    assert location is not None
    return str(location.mode)


async def test_only_camera_locations_without_an_alarm_get_a_mode_select(sim: SimServer, api: RingApi) -> None:
    locations = await api.get_locations()
    alarm = next(loc for loc in locations if loc.has_alarm_base_station)
    plain = next(loc for loc in locations if not loc.has_alarm_base_station)
    assert alarm.cameras and plain.cameras  # the alarm location is left out for its alarm, not for lack of cameras
    async with started(api, ModesFamily(BridgeOptions())) as (_, sink):
        assert [(d.location, d.ident) for d in sink.devices] == [(plain.id, "location")]
        device = sink.devices[0]
        assert device.name == f"{plain.name} Mode" and device.via is not None and device.via.ident == "bridge"
        select = device.entity("mode")
        assert select.component == "select" and select.options == {"options": ["home", "away", "disarmed"]}
        assert sink.state(select) == world_mode(sim, plain.id)
        check_published(sink.devices)


async def test_a_mode_command_is_confirmed_by_ring(sim: SimServer, api: RingApi) -> None:
    async with started(api, ModesFamily(BridgeOptions())) as (_, sink):
        device = sink.devices[0]
        select = device.entity("mode")
        assert select.command is not None
        for mode in ("away", "disarmed", "home"):
            await select.command(mode)
            assert world_mode(sim, device.location) == mode
            assert sink.state(select) == mode
        assert device in sink.changes
        assert select.attributes is not None and select.attributes()["ring_mode"] == "home"


async def test_a_mode_changed_in_the_ring_app_is_polled(sim: SimServer, api: RingApi) -> None:
    async with started(api, ModesFamily(BridgeOptions(), poll_s=0.2)) as (_, sink):
        device = sink.devices[0]
        select = device.entity("mode")
        other = "away" if sink.state(select) != "away" else "disarmed"
        sink.changes.clear()
        sim.state.world.set_mode(device.location, other)  # as if switched in the Ring app
        await wait_until(lambda: sink.state(select) == other, "the polled mode")
        assert device in sink.changes
        assert device.available is not None and device.available()
        # modes switched off in the Ring app: the select goes unavailable (its last state is not Ring's any more),
        # and comes back when they are on again
        sim.state.world.set_mode(device.location, "disabled")
        await wait_until(lambda: not device.available(), "the select unavailable")
        assert sink.state(select) is None
        sim.state.world.set_mode(device.location, "home")
        await wait_until(lambda: device.available() and sink.state(select) == "home", "the select back")


async def test_bad_mode_commands_are_rejected_and_change_nothing(sim: SimServer, api: RingApi) -> None:
    async with started(api, ModesFamily(BridgeOptions())) as (_, sink):
        device = sink.devices[0]
        select = device.entity("mode")
        assert select.command is not None
        before = world_mode(sim, device.location)
        for payload in ("vacation", "", "ARM_AWAY", "home\nerror: fake"):
            with pytest.raises(CommandRejected) as rejected:
                await select.command(payload)
            assert "is not one of home, away, disarmed" in str(rejected.value)
            assert "\n" not in str(rejected.value)
        assert world_mode(sim, device.location) == before


@pytest.mark.parametrize("mode", ["disabled", "unset"])
async def test_a_location_whose_modes_are_off_gets_no_select(sim: SimServer, api: RingApi, mode: str) -> None:
    plain = next(loc for loc in await api.get_locations() if not loc.has_alarm_base_station)
    sim.state.world.set_mode(plain.id, mode)
    async with started(api, ModesFamily(BridgeOptions())) as (_, sink):
        assert sink.devices == []
    # the way back: modes switched on again → the next start publishes the select
    sim.state.world.set_mode(plain.id, "home")
    async with started(api, ModesFamily(BridgeOptions())) as (_, sink):
        assert [d.location for d in sink.devices] == [plain.id]


@pytest.mark.timeout(240)
async def test_e2e_a_mode_chosen_over_mqtt_reaches_ring_and_the_state_follows(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    plain = next(loc for loc in sim.state.world.locations if sim.state.hub.location(loc.id) is None)
    async with hub_bridge(sim, rv_home, broker, [ModesFamily(BridgeOptions())]):
        retained = await settled_retained(sub)
        state = f"ringvault/{plain.id}/location/mode/state"
        assert retained[state] == plain.mode.encode()
        target = "away" if plain.mode != "away" else "disarmed"
        await asyncio.to_thread(sub.publish, f"ringvault/{plain.id}/location/mode/set", target)
        await wait_state(sub, state, target)
        assert world_mode(sim, plain.id) == target
