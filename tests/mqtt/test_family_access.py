"""The access family (hub locks and water valves) against the simulator: with a ``MemorySink`` (entities and
states, commands confirmed by Ring's answer, the transitional state while Ring has not answered, jams, refusals,
malformed commands, odd values) and end to end over the real Mosquitto broker (discovery checked against Home
Assistant's schema, a change in the simulator reaching the retained state topic, a command on ``.../set`` reaching
the simulator, a malformed command and a refusal each one log line with Ring's state published again)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ringvault.cloud import RingApi
from ringvault.mqtt.families.access import AccessFamily, lock_state, valve_state
from ringvault.mqtt.families.hub_unknown import UnknownHubFamily
from ringvault.mqtt.model import CommandRejected, Entity
from ringvault.mqtt.options import BridgeOptions
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.family_helpers import (
    HUB_OPTIONS,
    alarm_location,
    check_published,
    hub_bridge,
    hub_control,
    settled_retained,
    sim_hub_devices,
    started,
    wait_state,
)
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.sink_helpers import MemorySink, wait_until

LOCK = {"name": "Front Door Lock", "deviceType": "lock", "categoryId": 10, "locked": "unlocked", "batteryLevel": 88,
        "batteryStatus": "ok", "tamperStatus": "ok", "manufacturerName": "Yale"}  # fmt: skip
VALVE = {"name": "Main Water", "deviceType": "valve.water", "categoryId": 37, "valveState": "open"}
#: the hub's command timeout in the refusal tests (the default 20 s would only make them slow; 6 s leaves a busy
#: machine 4.5 s more than the 1.5 s frame delay a confirmed command waits through)
QUICK = 6.0


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        yield ring


def add(sim: SimServer, location: str, document: dict[str, Any]) -> str:
    answer = hub_control(sim, "POST", f"/{location}/devices", {"document": document})
    return str(answer["document"]["general"]["v2"]["zid"])


async def add_and_wait(sim: SimServer, sink: MemorySink, location: str, document: dict[str, Any]) -> str:
    zid = await asyncio.to_thread(add, sim, location, document)
    await wait_until(lambda: any(d.ident == zid for d in sink.devices), f"the {document['name']}")
    return zid


def sim_field(sim: SimServer, location: str, zid: str, field: str) -> Any:
    return sim_hub_devices(sim, location)[zid].get(field)


def commanded(entity: Entity) -> Any:
    assert entity.command is not None
    return entity.command


def test_ring_values_map_to_home_assistant_states() -> None:
    assert [lock_state({"locked": v}) for v in ("locked", "unlocked", "jammed", "unknown")] == [
        "LOCKED", "UNLOCKED", "JAMMED", "None"]  # fmt: skip
    assert (
        lock_state({}) == "None" and lock_state({"locked": 1}) == "None" and lock_state({"locked": "LOCKED"}) == "None"
    )
    assert [valve_state({"valveState": v}) for v in ("open", "closed", "broken")] == ["open", "closed", "None"]
    assert valve_state({"valveState": None}) == "None" and valve_state({}) == "None"


async def test_locks_and_valves_get_their_entities_and_leave_the_unknown_family(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    lock_zid = add(sim, home.id, LOCK)
    zwave = add(sim, home.id, {"name": "Back Door", "deviceType": "lock.zwave", "locked": "jammed"})
    async with (
        started(api, AccessFamily(BridgeOptions())) as (_, sink),
        started(api, UnknownHubFamily(BridgeOptions())) as (_, unknown),
    ):
        valve_zid = await add_and_wait(sim, sink, home.id, VALVE)  # a device that appears later
        assert {d.name for d in sink.devices} == {"Front Door Lock", "Back Door", "Main Water"}
        assert not any(d.ident in (lock_zid, zwave, valve_zid) for d in unknown.devices)
        lock = sink.device("Front Door Lock")
        assert (lock.model, lock.manufacturer, lock.ident) == ("Lock", "Yale", lock_zid)
        assert [e.key for e in lock.entities] == ["lock", "battery", "tamper", "info"]
        assert lock.entity("lock").component == "lock" and lock.entity("lock").name is None
        assert sink.states(lock) == {"lock": "UNLOCKED", "battery": "88", "tamper": "OFF", "info": "ok"}
        assert sink.states(sink.device("Back Door"))["lock"] == "JAMMED"
        valve = sink.device("Main Water")
        assert valve.model == "Water Valve" and [e.key for e in valve.entities] == ["valve", "info"]
        assert valve.entity("valve").component == "valve" and valve.entity("valve").options == {"device_class": "water"}
        assert sink.state(valve.entity("valve")) == "open"
        assert all(d.via is not None and d.via.ident != "bridge" for d in sink.devices)  # their base station
        check_published(sink.devices)


async def test_a_lock_command_shows_the_transition_then_rings_state(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    zid = add(sim, home.id, LOCK)
    async with started(api, AccessFamily(BridgeOptions())) as (_, sink):
        entity = sink.device("Front Door Lock").entity("lock")
        # Ring's answer is slow: the command shows LOCKING until it comes
        hub_control(sim, "PUT", f"/{home.id}/frame-delay", {"delay_ms": 1500})
        sink.changes.clear()
        task = asyncio.ensure_future(commanded(entity)("lock"))  # payloads are taken in any case
        await wait_until(lambda: sink.state(entity) == "LOCKING", "LOCKING while Ring has not answered")
        assert sink.changes  # published, not only readable
        await task
        hub_control(sim, "PUT", f"/{home.id}/frame-delay", {"delay_ms": 0})
        assert sink.state(entity) == "LOCKED" and sim_field(sim, home.id, zid, "locked") == "locked"
        await commanded(entity)("UNLOCK")
        assert sink.state(entity) == "UNLOCKED" and sim_field(sim, home.id, zid, "locked") == "unlocked"
        await commanded(entity)("UNLOCK")  # already unlocked: confirmed at once, still Ring's state
        assert sink.state(entity) == "UNLOCKED"


async def test_a_lock_turned_or_jammed_at_the_door_follows_ring(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    zid = add(sim, home.id, LOCK)
    async with started(api, AccessFamily(BridgeOptions())) as (_, sink):
        lock = sink.device("Front Door Lock")
        entity = lock.entity("lock")
        for reported, shown in (("locked", "LOCKED"), ("jammed", "JAMMED"), ("unknown", "None")):
            sink.changes.clear()
            await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{zid}/report",
                                    {"device": {"locked": reported}})  # fmt: skip
            await wait_until(lambda shown=shown: sink.state(entity) == shown, shown)  # type: ignore[misc]
            assert lock in sink.changes
            assert entity.attributes is not None and entity.attributes() == {"locked": reported}
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{zid}/report",
                                {"device": {"batteryLevel": 12, "tamperStatus": "tamper"}})  # fmt: skip
        await wait_until(lambda: sink.states(lock)["battery"] == "12", "the battery level")
        assert sink.states(lock)["tamper"] == "ON"


async def test_malformed_lock_and_valve_commands_change_nothing(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    add(sim, home.id, LOCK)
    add(sim, home.id, VALVE)
    async with started(api, AccessFamily(BridgeOptions())) as (_, sink):
        before = sim_hub_devices(sim, home.id)
        lock, valve = sink.device("Front Door Lock").entity("lock"), sink.device("Main Water").entity("valve")
        for entity, payloads, usage in (
            (lock, ("OPEN", "", "locked", "LOCK LOCK", "x" * 10_000), "is not LOCK or UNLOCK"),
            (valve, ("ON", "LOCK", "50", "{}"), "is not OPEN or CLOSE"),
        ):
            for payload in payloads:
                with pytest.raises(CommandRejected) as rejected:
                    await commanded(entity)(payload)
                message = str(rejected.value)
                assert usage in message and "\n" not in message and len(message) < 200, message
        assert sink.state(lock) == "UNLOCKED" and sink.state(valve) == "open"  # no transitional state left behind
        assert sim_hub_devices(sim, home.id) == before


async def test_a_refused_or_jammed_lock_command_is_one_log_line_and_rings_state(
    sim: SimServer, api: RingApi, caplog: pytest.LogCaptureFixture
) -> None:
    home = await alarm_location(api)
    zid = add(sim, home.id, LOCK)
    jammed = add(sim, home.id, {"name": "Jammed Lock", "deviceType": "lock", "locked": "jammed"})
    quick = replace(HUB_OPTIONS, command_timeout_s=QUICK)
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt")
    async with started(api, AccessFamily(BridgeOptions()), hub_options=quick) as (_, sink):
        entity = sink.device("Front Door Lock").entity("lock")
        # Ring answers with the unchanged state: no confirmation within the timeout, Ring's state shown
        hub_control(sim, "POST", f"/{home.id}/devices/{zid}/refuse", {"refuse": True})
        caplog.clear()
        await commanded(entity)("LOCK")
        assert sink.state(entity) == "UNLOCKED" and sim_field(sim, home.id, zid, "locked") == "unlocked"
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("ringvault.mqtt")]
        assert lines == [f"Front Door Lock: Ring did not confirm lock within {QUICK:g} s; showing Ring's state"]
        # a jam reported while the command waits is Ring's answer: shown at once, one line
        task = asyncio.ensure_future(commanded(entity)("LOCK"))
        await wait_until(lambda: sink.state(entity) == "LOCKING", "LOCKING")
        caplog.clear()
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{zid}/report",
                                {"device": {"locked": "jammed"}})  # fmt: skip
        await asyncio.wait_for(task, QUICK)  # well before the timeout ran out
        assert sink.state(entity) == "JAMMED"
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("ringvault.mqtt")]
        assert lines == ["lock Front Door Lock: Ring reports the lock jammed"]
        # the way out: the lock is freed and takes commands again
        hub_control(sim, "POST", f"/{home.id}/devices/{zid}/refuse", {"refuse": False})
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{zid}/report",
                                {"device": {"locked": "unlocked"}})  # fmt: skip
        await wait_until(lambda: sink.state(entity) == "UNLOCKED", "the freed lock")
        await commanded(entity)("LOCK")
        assert sink.state(entity) == "LOCKED"
        # a lock jammed before the command refuses it (the simulator pushes "jammed" back): still JAMMED
        stuck = sink.device("Jammed Lock").entity("lock")
        await commanded(stuck)("UNLOCK")
        assert sink.state(stuck) == "JAMMED" and sim_field(sim, home.id, jammed, "locked") == "jammed"


async def test_a_valve_opens_and_closes_and_an_odd_state_reads_unknown(
    sim: SimServer, api: RingApi, caplog: pytest.LogCaptureFixture
) -> None:
    home = await alarm_location(api)
    zid = add(sim, home.id, VALVE)
    quick = replace(HUB_OPTIONS, command_timeout_s=QUICK)
    async with started(api, AccessFamily(BridgeOptions()), hub_options=quick) as (_, sink):
        entity = sink.device("Main Water").entity("valve")
        hub_control(sim, "PUT", f"/{home.id}/frame-delay", {"delay_ms": 1500})
        task = asyncio.ensure_future(commanded(entity)("CLOSE"))
        await wait_until(lambda: sink.state(entity) == "closing", "closing while Ring has not answered")
        await task
        hub_control(sim, "PUT", f"/{home.id}/frame-delay", {"delay_ms": 0})
        assert sink.state(entity) == "closed" and sim_field(sim, home.id, zid, "valveState") == "closed"
        await commanded(entity)("open")
        assert sink.state(entity) == "open" and sim_field(sim, home.id, zid, "valveState") == "open"
        # a state Home Assistant's valve has no word for: unknown, the raw value in the attributes
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{zid}/report",
                                {"device": {"valveState": "broken"}})  # fmt: skip
        await wait_until(lambda: sink.state(entity) == "None", "the broken valve unknown")
        assert entity.attributes is not None and entity.attributes() == {"valveState": "broken"}
        # it refuses commands then [sim]: one line, still unknown
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ringvault.mqtt"):
            await commanded(entity)("CLOSE")
        assert sink.state(entity) == "None"
        assert [r.getMessage() for r in caplog.records if r.name.startswith("ringvault.mqtt")] == [
            f"Main Water: Ring did not confirm close within {QUICK:g} s; showing Ring's state"]  # fmt: skip


async def test_odd_values_read_as_unknown_never_as_a_crash(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    odd: dict[str, Any] = {"batteryLevel": "full", "tamperStatus": 7, "commStatus": None,
                           "manufacturerName": "Y\u0000ale\u2028", "extra": "\x07" * 50_000}  # fmt: skip
    add(sim, home.id, {**odd, "name": "Odd Lock\n\x1b[2J", "deviceType": "lock.x", "locked": {"state": "locked"}})
    add(sim, home.id, {**odd, "name": "Odd Valve", "deviceType": "valve.water", "valveState": ["open"]})
    async with started(api, AccessFamily(BridgeOptions())) as (_, sink):
        assert len(sink.devices) == 2
        check_published(sink.devices)
        lock = next(d for d in sink.devices if d.model == "Lock")
        assert "\n" not in lock.name and sink.state(lock.entity("lock")) == "None"
        assert sink.states(lock)["battery"] is None and sink.states(lock)["tamper"] is None
        valve = sink.device("Odd Valve")
        assert sink.state(valve.entity("valve")) == "None"
        attributes = valve.entity("valve").attributes
        assert attributes is not None and json.dumps(attributes())


@pytest.mark.timeout(240)
async def test_e2e_locks_and_valves_over_mqtt(
    sim: SimServer,
    rv_home: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt")
    loc = next(h["location_id"] for h in hub_control(sim, "GET", "")["locations"])
    lock, valve = add(sim, loc, LOCK), add(sim, loc, VALVE)
    async with hub_bridge(sim, rv_home, broker, [AccessFamily(BridgeOptions())]) as (_, api):
        # discovery valid (settled_retained runs Home Assistant's schema over the whole retained tree)
        retained = await settled_retained(sub)
        lock_config = json.loads(retained[f"homeassistant/lock/ringvault_{loc}_{lock}/lock/config"])
        assert lock_config["command_topic"] == f"ringvault/{loc}/{lock}/lock/set" and lock_config["name"] is None
        valve_config = json.loads(retained[f"homeassistant/valve/ringvault_{loc}_{valve}/valve/config"])
        assert valve_config["device_class"] == "water" and "reports_position" not in valve_config
        lock_state_topic, valve_state_topic = (
            f"ringvault/{loc}/{lock}/lock/state",
            f"ringvault/{loc}/{valve}/valve/state",
        )
        assert retained[lock_state_topic] == b"UNLOCKED" and retained[valve_state_topic] == b"open"
        assert retained[f"ringvault/{loc}/{lock}/battery/state"] == b"88"

        # a change at Ring reaches the retained state topic
        await asyncio.to_thread(
            hub_control, sim, "POST", f"/{loc}/devices/{lock}/report", {"device": {"locked": "locked"}}
        )
        await wait_state(sub, lock_state_topic, "LOCKED")
        # commands reach Ring and the state follows (the transitional state published on the way)
        sub.clear()
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{lock}/lock/set", "UNLOCK")
        await wait_state(sub, lock_state_topic, "UNLOCKED")
        shown = [m.payload for m in sub.on(lock_state_topic)]
        # UNLOCKING is published unless Ring answered before the bridge's publisher ran: never after the answer
        assert shown[-1] == b"UNLOCKED" and shown in ([b"UNLOCKING", b"UNLOCKED"], [b"UNLOCKED"]), shown
        assert sim_field(sim, loc, lock, "locked") == "unlocked"
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{valve}/valve/set", "CLOSE")
        await wait_state(sub, valve_state_topic, "closed")
        assert sim_field(sim, loc, valve, "valveState") == "closed"

        # a malformed command: one log line, the true state published again, nothing sent
        await sub.barrier_async()
        sub.clear()
        caplog.clear()
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{lock}/lock/set", "OPEN")
        await sub.wait_for_async(lambda ms: any(m.topic == lock_state_topic for m in ms), 60, "the state again")
        assert last_text(sub, lock_state_topic) == "UNLOCKED"
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("ringvault.mqtt")]
        assert len(lines) == 1 and "'OPEN' is not LOCK or UNLOCK" in lines[0], lines

        # a refusal: Ring answers with the unchanged state; after the (shortened) timeout, one line and Ring's state
        for location in await api.get_locations():
            location.hub_options = replace(location.hub_options, command_timeout_s=QUICK)
        hub_control(sim, "POST", f"/{loc}/devices/{lock}/refuse", {"refuse": True})
        await sub.barrier_async()
        sub.clear()
        caplog.clear()
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{lock}/lock/set", "LOCK")
        await sub.wait_for_async(
            lambda ms: [m.payload for m in ms if m.topic == lock_state_topic] == [b"LOCKING", b"UNLOCKED"],
            60,
            "LOCKING, then Ring's state again",
        )
        assert sim_field(sim, loc, lock, "locked") == "unlocked"
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("ringvault.mqtt")]
        assert lines == [f"Front Door Lock: Ring did not confirm lock within {QUICK:g} s; showing Ring's state"]
        retained = await settled_retained(sub)
        assert retained[lock_state_topic] == b"UNLOCKED"


def last_text(sub: Any, topic: str) -> str:
    message = sub.last(topic)
    assert message is not None, f"nothing on {topic}"
    return str(message.payload.decode())
