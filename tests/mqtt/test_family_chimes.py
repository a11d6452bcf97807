"""The chime family against the real simulator (MemorySink): volume, snooze, test sounds; commands reach the
simulator and the state is Ring's, read back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ringvault.mqtt.families.chimes import ChimeDevice, ChimeFamily
from ringvault.mqtt.model import CommandRejected
from ringvault.sim.server import SimServer
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.rest_family_helpers import (
    RING_DEVICES,
    count,
    discovery,
    named,
    rest_bridge,
    running,
    sim_call,
    topic_root,
)
from tests.mqtt.sink_helpers import wait_until


def unit_named(family: ChimeFamily, name: str) -> ChimeDevice:
    for unit in family.units.values():
        if unit.chime.name == name:
            return unit
    raise AssertionError(f"no chime {name!r}")


async def test_every_chime_gets_its_entities(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "chimes") as run:
        chimes = await run.api.get_chimes()
        assert chimes and {d.ident for d in run.sink.devices} == {str(c.id) for c in chimes}
        for chime in chimes:
            device = run.device(chime.id)
            payloads = discovery(device)
            assert set(payloads) == {
                "volume",
                "snooze",
                "snooze_minutes",
                "snooze_left",
                "play_ding_sound",
                "play_motion_sound",
                "wireless",
            }
            assert (payloads["volume"]["min"], payloads["volume"]["max"]) == (0, 11)
            assert payloads["play_ding_sound"]["command_topic"].endswith("/play_ding_sound/set")
            assert "state_topic" not in payloads["play_ding_sound"]  # a button has no state
            states = run.sink.states(device)
            assert states["volume"] == str(chime.volume) and states["snooze"] == "OFF"
            assert states["snooze_left"] == "0" and states["snooze_minutes"] == "1440"


async def test_the_wifi_signal_is_read_from_the_health_document(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "chimes") as run:
        unit = unit_named(run.family, "Hall Chime")
        wireless = unit.device.entity("wireless")
        await wait_until(lambda: run.sink.state(wireless) is not None, "the Wi-Fi signal", 60)
        expected = sim.state.world.health(unit.chime.id)["device_health"]["latest_signal_strength"]
        assert run.sink.state(wireless) == str(expected)


async def test_volume_reaches_ring_and_is_read_back(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "chimes") as run:
        unit = unit_named(run.family, "Upstairs Chime")
        volume = unit.device.entity("volume")
        assert volume.command is not None
        reads = count(sim, RING_DEVICES)
        await volume.command("3")
        assert sim.state.world.device(unit.chime.id).entry["settings"]["volume"] == 3
        assert run.sink.state(volume) == "3" and count(sim, RING_DEVICES) == reads + 1
        await volume.command("11.0")  # Home Assistant's number may send a float
        assert run.sink.state(volume) == "11"
        for bad, expected in (
            ("12", "out of range"),
            ("-1", "out of range"),
            ("loud", "not a number"),
            ("2.5", "whole"),
        ):
            with pytest.raises(CommandRejected, match=expected) as caught:
                await volume.command(bad)
            assert "\n" not in str(caught.value) and "0-11" in str(caught.value)
        assert run.sink.state(volume) == "11" and count(sim, RING_DEVICES) == reads + 2


async def test_snooze_for_the_chosen_minutes_then_clear(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "chimes") as run:
        unit = unit_named(run.family, "Hall Chime")
        snooze, minutes = unit.device.entity("snooze"), unit.device.entity("snooze_minutes")
        left = unit.device.entity("snooze_left")
        assert snooze.command is not None and minutes.command is not None
        await minutes.command("5")
        assert run.sink.state(minutes) == "5"
        with pytest.raises(CommandRejected, match="1-1440"):
            await minutes.command("1441")
        await snooze.command("ON")
        world = sim.state.world.device(unit.chime.id)
        assert world.dnd_until > sim.state.clock.now() + 4 * 60
        assert run.sink.state(snooze) == "ON" and run.sink.state(left) == "5"
        assert snooze.attributes is not None and snooze.attributes() == {"minutes_remaining": 5}
        await snooze.command("OFF")
        assert world.dnd_until == 0.0 and run.sink.state(snooze) == "OFF" and run.sink.state(left) == "0"
        with pytest.raises(CommandRejected, match="send ON or OFF"):
            await snooze.command("for a while")


async def test_a_snooze_that_runs_out_turns_off_without_another_read(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "chimes") as run:
        unit = unit_named(run.family, "Hall Chime")
        snooze = unit.device.entity("snooze")
        sim.state.world.set_do_not_disturb(unit.chime.id, 2 / 60)  # two seconds left, set in the Ring app
        await run.api.refresh_devices()
        assert run.sink.state(snooze) == "ON"
        reads = count(sim, RING_DEVICES)
        changes = run.changes_of(unit.device)
        await asyncio.sleep(3.0)
        assert run.sink.state(snooze) == "OFF" and run.changes_of(unit.device) > changes
        assert count(sim, RING_DEVICES) == reads


async def test_the_sound_buttons_play_at_ring(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "chimes") as run:
        unit = unit_named(run.family, "Hall Chime")
        ding, motion = unit.device.entity("play_ding_sound"), unit.device.entity("play_motion_sound")
        assert ding.command is not None and motion.command is not None and ding.read is None
        await ding.command("PRESS")
        await motion.command("PRESS")
        assert [s["kind"] for s in sim.state.world.device(unit.chime.id).sounds] == ["ding", "motion"]
        with pytest.raises(CommandRejected, match="send PRESS"):
            await ding.command("ON")
        assert len(sim.state.world.device(unit.chime.id).sounds) == 2


async def test_a_volume_ring_refuses_leaves_ring_s_volume(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "chimes") as run:
        unit = unit_named(run.family, "Upstairs Chime")
        volume = unit.device.entity("volume")
        assert volume.command is not None
        before = run.sink.state(volume)
        faults = {"error_rate": 1.0, "path_pattern": "chimes/"}
        await sim_call(sim, "PATCH", "/_sim/faults", faults)
        with pytest.raises(CommandRejected, match="Ring refused it"):
            await volume.command("2")
        await sim_call(sim, "PATCH", "/_sim/faults", {"error_rate": 0.0})
        await run.api.refresh_devices()
        assert run.sink.state(volume) == before
        await volume.command("2")
        assert run.sink.state(volume) == "2"


@pytest.mark.timeout(240)
async def test_volume_and_snooze_over_the_broker(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    chime = named(sim, "Hall Chime")
    root = topic_root(chime, sim)
    async with rest_bridge(sim, rv_home, broker):
        await sub.wait_for_message_async(f"{root}/volume/state", None, 60)
        await asyncio.to_thread(sub.publish, f"{root}/volume/set", "9")
        await sub.wait_for_message_async(f"{root}/volume/state", "9", 60)
        assert sim.state.world.devices[chime].entry["settings"]["volume"] == 9
        await asyncio.to_thread(sub.publish, f"{root}/snooze_minutes/set", "30")
        await sub.wait_for_message_async(f"{root}/snooze_minutes/state", "30", 60)
        await asyncio.to_thread(sub.publish, f"{root}/snooze/set", "ON")
        await sub.wait_for_message_async(f"{root}/snooze/state", "ON", 60)
        await sub.wait_for_message_async(f"{root}/snooze_left/state", "30", 60)
        assert sim.state.world.devices[chime].dnd_until > sim.state.clock.now() + 29 * 60
        sub.clear()
        await asyncio.to_thread(sub.publish, f"{root}/volume/set", "99")  # refused; the true volume again
        await sub.wait_for_message_async(f"{root}/volume/state", "9", 60)
        await asyncio.to_thread(sub.publish, f"{root}/play_motion_sound/set", "PRESS")
        await sub.wait_for_async(lambda _ms: sim.state.world.devices[chime].sounds, 60, "the motion sound played")
        assert [s["kind"] for s in sim.state.world.devices[chime].sounds] == ["motion"]
