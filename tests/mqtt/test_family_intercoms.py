"""The intercom family against the real simulator (MemorySink): the door as a lock, rings and unlocks from Ring's
push as sensors and events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ringvault.mqtt.families.intercoms import IntercomDevice, IntercomFamily
from ringvault.mqtt.model import CommandRejected
from ringvault.sim.server import SimServer
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.rest_family_helpers import discovery, named, rest_bridge, running, sim_call, then, topic_root
from tests.mqtt.sink_helpers import wait_until

WAIT_S = 60.0


def the_intercom(family: IntercomFamily) -> IntercomDevice:
    [unit] = family.units.values()
    return unit


async def test_the_intercom_gets_a_lock_sensors_and_events(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "intercoms") as run:
        unit = the_intercom(run.family)
        payloads = discovery(unit.device)
        assert set(payloads) == {"lock", "ding", "ding_event", "unlock_event", "battery", "wireless"}
        lock = payloads["lock"]
        assert (lock["payload_unlock"], lock["state_locked"], lock["state_unlocked"]) == (
            "UNLOCK",
            "LOCKED",
            "UNLOCKED",
        )
        assert payloads["unlock_event"]["event_types"] == ["unlock"]
        assert run.sink.states(unit.device)["lock"] == "LOCKED"
        assert run.sink.states(unit.device)["battery"] == "52"
        assert unit.unlock_s == 3.0  # the simulated intercom's own unlock_duration


@pytest.mark.timeout(120)
async def test_unlock_opens_the_door_at_ring_and_shows_unlocked_for_its_duration(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "intercoms", push=True) as run:
        unit = the_intercom(run.family)
        lock = unit.device.entity("lock")
        assert lock.command is not None
        await lock.command("UNLOCK")
        world = sim.state.world.device(unit.intercom.id)
        assert len(world.unlocks) == 1 and world.unlocks[0]["request"]["method"] == "unlock_door"
        assert run.sink.state(lock) == "UNLOCKED"
        with pytest.raises(CommandRejected, match="locks by itself"):
            await lock.command("LOCK")
        # Ring's push of the unlock reaches the unlock event entity
        await wait_until(lambda: any(e.key == "unlock_event" for e, _, _ in run.sink.fired), "the unlock event", WAIT_S)
        await wait_until(lambda: run.sink.state(lock) == "LOCKED", "the door locked again", WAIT_S)
        await lock.command("LOCK")  # already locked: nothing to do, no error
        with pytest.raises(CommandRejected, match="send UNLOCK") as caught:
            await lock.command("OPEN SESAME\n" * 100)
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 200
        assert len(world.unlocks) == 1


@pytest.mark.timeout(120)
async def test_a_ring_and_an_unlock_elsewhere_reach_their_entities(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "intercoms", push=True, ding_hold_s=6.0) as run:
        unit = the_intercom(run.family)
        ding, lock = unit.device.entity("ding"), unit.device.entity("lock")
        answer = await sim_call(sim, "POST", f"/_sim/devices/{unit.intercom.id}/ding")
        await wait_until(lambda: run.sink.state(ding) == "ON", "the ring sensor on", WAIT_S)
        [(entity, kind, fields)] = run.sink.fired
        assert (entity.key, kind) == ("ding_event", "ding")
        assert fields["ding_id"] == answer["event"]["id_str"]
        await wait_until(lambda: run.sink.state(ding) == "OFF", "the ring sensor off after the hold", WAIT_S)
        await sim_call(sim, "POST", f"/_sim/devices/{unit.intercom.id}/unlock")  # opened from the Ring app
        await wait_until(lambda: len(run.sink.fired) == 2, "the unlock event", WAIT_S)
        assert run.sink.fired[1][0].key == "unlock_event" and run.sink.fired[1][1] == "unlock"
        assert lock.attributes is not None and (lock.attributes() or {})["lastUnlock"] is not None


async def test_an_unlock_ring_refuses_is_rejected_and_the_door_stays_locked(sim: SimServer, rv_home: Path) -> None:
    async with running(sim, rv_home, "intercoms") as run:
        unit = the_intercom(run.family)
        lock = unit.device.entity("lock")
        assert lock.command is not None
        await sim_call(sim, "PATCH", f"/_sim/devices/{unit.intercom.id}", {"offline": True})
        with pytest.raises(CommandRejected, match="Ring did not unlock it"):
            await lock.command("UNLOCK")
        assert run.sink.state(lock) == "LOCKED" and sim.state.world.device(unit.intercom.id).unlocks == []
        await sim_call(sim, "PATCH", f"/_sim/devices/{unit.intercom.id}", {"offline": False})
        await lock.command("UNLOCK")  # back online: the same command works
        assert run.sink.state(lock) == "UNLOCKED"


@pytest.mark.timeout(240)
async def test_unlock_and_ring_over_the_broker(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    intercom = named(sim, "Building Entrance")
    root = topic_root(intercom, sim)
    async with rest_bridge(sim, rv_home, broker, ding_hold_s=6.0):
        await sub.wait_for_message_async(f"{root}/lock/state", "LOCKED", WAIT_S)
        sub.clear()
        await asyncio.to_thread(sub.publish, f"{root}/lock/set", "UNLOCK")
        await sub.wait_for_message_async(f"{root}/lock/state", "UNLOCKED", WAIT_S)
        assert len(sim.state.world.devices[intercom].unlocks) == 1
        unlock = await sub.wait_for_message_async(f"{root}/unlock_event/state", None, WAIT_S)
        assert unlock.json()["event_type"] == "unlock" and not unlock.retain
        locked_again = await sub.wait_for_async(
            lambda ms: then(ms, f"{root}/lock/state", b"UNLOCKED", b"LOCKED"), WAIT_S, "LOCKED after UNLOCKED"
        )
        assert locked_again  # by itself, after the intercom's unlock duration
        answer = await sim_call(sim, "POST", f"/_sim/devices/{intercom}/ding")
        await sub.wait_for_message_async(f"{root}/ding/state", "ON", WAIT_S)
        ding = await sub.wait_for_message_async(f"{root}/ding_event/state", None, WAIT_S)
        assert ding.json() == {**ding.json(), "event_type": "ding", "ding_id": answer["event"]["id_str"]}
        await sub.wait_for_async(lambda ms: then(ms, f"{root}/ding/state", b"ON", b"OFF"), WAIT_S, "OFF after ON")
        retained = await sub.retained_async()
        assert retained[f"{root}/lock/state"] == b"LOCKED" and retained[f"{root}/ding/state"] == b"OFF"
