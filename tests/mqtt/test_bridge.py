"""The Bridge end to end: the simulator's Ring cloud (push through its FCM stand-in), a real Mosquitto broker, and a
small family of our own (``bridge_helpers.DoorbellFamily``). Checks what Home Assistant sees: discovery, retained
states, the event topic (``new`` / ``update`` / ``end``), commands (good and bad), and events across broker restarts."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.follow import EventWatch
from ringvault.archive.store import ArchiveStore
from ringvault.archive.watch import ArchiveFollower
from ringvault.mqtt.archive import StoreLinks
from ringvault.mqtt.bridge import MAX_COMMAND_BYTES, Bridge
from ringvault.mqtt.options import BrokerUrl
from ringvault.sim.server import SimServer
from tests.cli.watch_helpers import ding, set_faults
from tests.cloud.api_helpers import open_api
from tests.mqtt.bridge_helpers import DoorbellFamily, fast_options, lit_camera, running_bridge
from tests.mqtt.broker import Received
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.ha_schema import check_retained_tree

pytestmark = pytest.mark.timeout(240)

WAIT_S = 60.0


def events_of(messages: list[Received], topic: str) -> list[dict[str, Any]]:
    return [m.json() for m in messages if m.topic == topic]


def doorbell_id(sim: SimServer) -> int:
    return min(d.id for d in sim.state.world.devices.values() if d.family == "doorbots" and d.spec.protect)


def location_of(sim: SimServer, device_id: int) -> str:
    return str(sim.state.world.devices[device_id].location_id)


async def test_discovery_states_and_a_ding_end_to_end(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    door = doorbell_id(sim)
    loc = location_of(sim, door)
    async with running_bridge(sim, rv_home, broker) as (_bridge, _api, family):
        assert door in family.devices
        await sub.barrier_async()
        retained = await sub.retained_async()
        # the bridge's availability, its own device and every entity of the family: discovery + state, retained
        assert retained["ringvault/status"] == b"online"
        config = json.loads(retained["homeassistant/binary_sensor/ringvault_" + f"{loc}_{door}/ding/config"])
        assert config["state_topic"] == f"ringvault/{loc}/{door}/ding/state"
        assert config["availability"] == [{"topic": "ringvault/status"}, {"topic": f"ringvault/{loc}/{door}/status"}]
        assert config["device"]["via_device"] == "ringvault_bridge_bridge"
        assert config["origin"]["name"] == "ringvault"
        assert retained[f"ringvault/{loc}/{door}/ding/state"] == b"OFF"
        assert retained[f"ringvault/{loc}/{door}/status"] == b"online"
        bridge_config = json.loads(retained["homeassistant/sensor/ringvault_bridge_bridge/broker_connection/config"])
        assert bridge_config["device_class"] == "timestamp"
        assert retained["ringvault/bridge/bridge/broker_connection/state"].startswith(b"20")
        assert f"ringvault/{loc}/{door}/ding_event/state" not in retained  # an event entity's state is never retained
        assert check_retained_tree(retained) == []  # Home Assistant's discovery schema, and every state readable

        sub.clear()
        ding_id = ding(sim, door)
        events_topic = f"ringvault/{loc}/{door}/events"
        new = await sub.wait_for_async(lambda ms: events_of(ms, events_topic), WAIT_S, "the ding on the event topic")
        assert new[0]["type"] == "new"
        assert new[0]["event_id"] == ding_id
        assert new[0]["kind"] == "ding"
        assert new[0]["device_id"] == str(door)
        assert new[0]["recording"] is None  # no archive
        await sub.wait_for_message_async(f"ringvault/{loc}/{door}/ding/state", "ON", WAIT_S)
        fired = await sub.wait_for_message_async(f"ringvault/{loc}/{door}/ding_event/state", None, WAIT_S)
        assert fired.json() == {"event_type": "ding", "ding_id": ding_id}
        assert not fired.retain
        # the hold time (2 s) runs out: the sensor goes off and the event topic says "end"
        await sub.wait_for_message_async(f"ringvault/{loc}/{door}/ding/state", "OFF", WAIT_S)
        ended = await sub.wait_for_async(
            lambda ms: [e for e in events_of(ms, events_topic) if e["type"] == "end"], WAIT_S, "the end of the ding"
        )
        assert ended[0]["event_id"] == ding_id
        assert [e["type"] for e in events_of(sub.received, events_topic)] == ["new", "end"]
        assert all(not m.retain for m in sub.on(events_topic))


async def test_birth_message_republishes_everything(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    async with running_bridge(sim, rv_home, broker) as (bridge, _api, _family):
        await sub.barrier_async()
        before = await sub.retained_async()
        assert len(before) > 10
        sub.clear()
        sub.publish("homeassistant/status", "online")

        def all_again(messages: list[Received]) -> bool:
            live = {m.topic: m.payload for m in messages if not m.retain}
            return all(live.get(topic) == payload for topic, payload in before.items() if topic != "ringvault/status")

        await sub.wait_for_async(all_again, WAIT_S, "every retained message published again")
        assert bridge.link.stats.birth_republishes == 1
        sub.clear()
        sub.publish("homeassistant/status", "offline")  # Home Assistant going away is no reason to republish
        await sub.barrier_async()
        await asyncio.sleep(0.5)
        assert not [m for m in sub.received if m.topic.startswith("homeassistant/binary_sensor")]


async def test_commands_good_bad_and_too_fast(
    sim: SimServer,
    rv_home: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    cam = lit_camera(sim)
    loc = location_of(sim, cam)
    state_topic = f"ringvault/{loc}/{cam}/light/state"
    set_topic = f"ringvault/{loc}/{cam}/light/set"
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt")
    async with running_bridge(sim, rv_home, broker, command_rate=3, command_period_s=600.0) as (bridge, _api, _fam):
        await sub.wait_for_message_async(state_topic, "OFF", WAIT_S)

        # a good command reaches the simulator, and the state follows Ring's answer
        sub.clear()
        sub.publish(set_topic, "ON")
        await sub.wait_for_message_async(state_topic, "ON", WAIT_S)
        assert sim.state.world.devices[cam].led_on is True

        async def one_line_for(payload: bytes | str, words: str, topic: str = set_topic) -> None:
            count = len([r for r in caplog.records if r.name.startswith("ringvault.mqtt")])
            sub.clear()
            sub.publish(topic, payload)
            await sub.wait_for_async(
                lambda _ms: len([r for r in caplog.records if r.name.startswith("ringvault.mqtt")]) > count,
                WAIT_S,
                f"a log line for {words}",
            )
            await asyncio.sleep(0.3)  # any second line would be here by now
            new = [r for r in caplog.records if r.name.startswith("ringvault.mqtt")][count:]
            assert len(new) == 1, [r.getMessage() for r in new]
            line = new[0].getMessage()
            assert words in line and "\n" not in line, line
            assert new[0].exc_info is None  # never a traceback for what a payload did

        await one_line_for("BLINK", "light takes ON or OFF")  # malformed: CommandRejected from the entity
        await sub.wait_for_message_async(state_topic, "ON", WAIT_S)  # the true state again, republished
        assert sim.state.world.devices[cam].led_on is True
        await one_line_for(b"\xff\xfe", "not UTF-8")
        await sub.wait_for_message_async(state_topic, "ON", WAIT_S)
        await one_line_for(b"O" * (MAX_COMMAND_BYTES + 1), "over 4096")
        await sub.wait_for_message_async(state_topic, "ON", WAIT_S)
        await one_line_for("ON", "no such entity", f"ringvault/{loc}/{cam}/nothing/set")
        await one_line_for("ON", "no such entity", f"ringvault/{loc}/999999/light/set")
        await one_line_for("ON", "no such entity", f"ringvault/{loc}/{cam}/ding/set")  # a sensor takes no command

        # too fast: 3 per 600 s are allowed; "ON" and "BLINK" used two (the bad bytes never reached the limiter),
        # so one more passes and the next is dropped
        sub.clear()
        before = bridge.commands_dropped
        sub.publish(set_topic, "OFF")
        await sub.wait_for_message_async(state_topic, "OFF", WAIT_S)
        await one_line_for("ON", "dropped: more than 3 commands in 600 s")
        assert bridge.commands_dropped == before + 1
        await sub.wait_for_message_async(state_topic, "OFF", WAIT_S)  # republished: still off, as Ring says
        assert sim.state.world.devices[cam].led_on is False

        # a retained command is never carried out (the broker would replay it at every reconnect)
        sub.publish(set_topic, "ON", retain=True)
        await sub.barrier_async()
        await asyncio.sleep(0.5)
        sub.publish(set_topic, b"", retain=True)  # (clear it from the broker)
        assert sim.state.world.devices[cam].led_on is False
        # and the bridge is alive: still connected, still answering
        assert bridge.link.connected
        assert bridge.link.queued_events == 0
    assert broker.password not in caplog.text


async def test_a_ring_error_on_a_command_is_one_line_and_the_state_republished(
    sim: SimServer,
    rv_home: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    cam = lit_camera(sim)
    loc = location_of(sim, cam)
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt")
    async with running_bridge(sim, rv_home, broker) as (bridge, _api, _family):
        await sub.wait_for_message_async(f"ringvault/{loc}/{cam}/light/state", "OFF", WAIT_S)
        # Ring answers the light with server errors: the client retries, then raises a RingError
        await asyncio.to_thread(set_faults, sim, error_rate=1.0, path_pattern="floodlight_light")
        sub.clear()
        sub.publish(f"ringvault/{loc}/{cam}/light/set", "ON")
        await sub.wait_for_message_async(f"ringvault/{loc}/{cam}/light/state", "OFF", WAIT_S)
        await asyncio.to_thread(set_faults, sim, error_rate=0.0, path_pattern=None)
        assert sim.state.world.devices[cam].led_on is False
        lines = [r for r in caplog.records if r.name == "ringvault.mqtt.bridge"]
        assert len(lines) == 1 and "Ring refused it" in lines[0].getMessage(), [r.getMessage() for r in lines]
        assert lines[0].exc_info is None
        assert bridge.link.connected


@pytest.mark.timeout(420)
async def test_broker_restarted_three_times_loses_no_ding_and_restores_every_state(
    sim: SimServer,
    rv_home: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Dings before, during and after three broker outages: every ding on the event topic exactly once (the broker
    persists the test subscriber's session, so it gets what was published while it was reconnecting), and every
    retained state right afterwards — also after a last restart from a broker that lost everything it held."""
    broker = broker_factory(persistence=True)
    door = doorbell_id(sim)
    loc = location_of(sim, door)
    events_topic = f"ringvault/{loc}/{door}/events"
    sub = subscriber_factory(broker, [f"ringvault/{loc}/{door}/events"], persistent=True)
    caplog.set_level(logging.INFO, logger="ringvault.mqtt")
    dings: list[str] = []
    # every family the bridge ships: the whole simulated world's retained tree (~440 topics) must come back
    async with running_bridge(sim, rv_home, broker, every_family=True, ding_hold_s=600.0) as (bridge, _api, _f):

        def news(messages: list[Received]) -> list[str]:
            return [e["event_id"] for e in events_of(messages, events_topic) if e["type"] == "new"]

        for _round in range(3):
            dings.append(await asyncio.to_thread(ding, sim, door))  # while the broker is up
            await sub.wait_for_async(lambda ms: dings[-1] in news(ms), WAIT_S, f"ding {len(dings)} delivered")
            await asyncio.sleep(0.3)  # its PUBACK is back at the bridge too
            connections = sub.connections
            await asyncio.to_thread(broker.stop)
            # while the broker is away: two dings reach the bridge (push is Ring's, not the broker's)
            for _ in range(2):
                dings.append(await asyncio.to_thread(ding, sim, door))
            await _wait(lambda: bridge.link.queued_events >= 2, "the dings queued while the broker is away")
            await asyncio.to_thread(broker.start)
            await sub.wait_connected_async(connections + 1, WAIT_S)
            await sub.wait_for_async(lambda ms: set(dings) <= set(news(ms)), WAIT_S, "the queued dings delivered")
        dings.append(await asyncio.to_thread(ding, sim, door))
        await sub.wait_for_async(lambda ms: dings[-1] in news(ms), WAIT_S, "the last ding")
        await sub.barrier_async()
        await asyncio.sleep(0.5)
        delivered = news(sub.received)
        assert sorted(delivered) == sorted(dings), "every ding exactly once"
        assert len(dings) == 10
        # a last restart from an empty broker (its persistence database gone: every retained message lost, as
        # on a broker without persistence); the bridge republishes its whole cache when it is back
        connects = bridge.link.stats.connects
        await asyncio.to_thread(broker.stop)
        for path in broker.persistence_dir.iterdir():
            path.unlink()
        await asyncio.to_thread(broker.start)
        await _wait(lambda: bridge.link.stats.connects > connects, "the bridge connected again")
        await bridge.link.wait_connected(WAIT_S)
        checker = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
        retained = await checker.retained_async()
        expected = bridge.link.retained_now()
        missing = {t for t, p in expected.items() if retained.get(t) != p}
        assert not missing, sorted(missing)[:5]
        assert check_retained_tree(retained) == []
        assert len(expected) > 300  # the whole world, not a handful of test entities
        assert retained["ringvault/status"] == b"online"
        assert retained[f"ringvault/{loc}/{door}/ding/state"] == b"ON"
        assert bridge.link.stats.outages == 4
    outage_lines = [r for r in caplog.records if r.levelno >= logging.WARNING and "connection lost" in r.getMessage()]
    assert len(outage_lines) == 4, [r.getMessage() for r in outage_lines]  # one line per outage, not per attempt
    assert broker.password not in caplog.text


async def test_recording_archived_sends_update_with_path_and_url(
    sim: SimServer,
    rv_home: Path,
    tmp_path: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
) -> None:
    broker = broker_factory()
    door = doorbell_id(sim)
    loc = location_of(sim, door)
    events_topic = f"ringvault/{loc}/{door}/events"
    sub = subscriber_factory(broker, [events_topic])
    archive_dir = tmp_path / "archive"
    store = ArchiveStore.open(archive_dir)
    try:
        async with open_api(sim, rv_home) as api:
            follower = ArchiveFollower(api, store, archive_dir, devices=[str(door)])
            watch = EventWatch(api, follower)
            links = StoreLinks(store, archive_dir, "http://127.0.0.1:8080")
            bridge = Bridge(api, fast_options(ding_hold_s=600.0), BrokerUrl.parse(broker.url),
                            families=[DoorbellFamily()], watch=watch, archive=links)  # fmt: skip
            try:
                await bridge.start()
                await watch.start()
                await bridge.link.wait_connected(30)
                ding_id = await asyncio.to_thread(ding, sim, door)
                updates = await sub.wait_for_async(
                    lambda ms: [e for e in events_of(ms, events_topic) if e["type"] == "update"],
                    120,
                    "the update with the recording",
                )
            finally:
                await bridge.aclose()
                await watch.aclose()
    finally:
        store.close()
    first = events_of(sub.received, events_topic)[0]
    assert first["type"] == "new" and first["event_id"] == ding_id and first["recording"] is None
    update = updates[0]
    assert update["event_id"] == ding_id
    path = Path(update["recording"]["path"])
    assert await asyncio.to_thread(path.is_file)
    assert path.is_relative_to(archive_dir) and ding_id in path.name
    assert update["recording"]["url"] == f"http://127.0.0.1:8080/timeline/{ding_id}"


async def test_event_outbox_overflow_drops_the_oldest_counted_and_logged(
    sim: SimServer,
    rv_home: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = broker_factory(persistence=True)
    door = doorbell_id(sim)
    loc = location_of(sim, door)
    events_topic = f"ringvault/{loc}/{door}/events"
    sub = subscriber_factory(broker, [events_topic], persistent=True)
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt")
    async with running_bridge(sim, rv_home, broker, event_queue_max=2, ding_hold_s=600.0) as (bridge, _api, _f):
        connections = sub.connections
        await asyncio.to_thread(broker.stop)
        dings = [await asyncio.to_thread(ding, sim, door) for _ in range(4)]
        await _wait(lambda: bridge.link.stats.events_dropped == 2, "two events dropped")
        dropped_lines = [r for r in caplog.records if "outbox full" in r.getMessage()]
        assert len(dropped_lines) == 2
        await asyncio.to_thread(broker.start)
        await sub.wait_connected_async(connections + 1, WAIT_S)
        await sub.wait_for_async(lambda ms: len(events_of(ms, events_topic)) >= 2, WAIT_S, "the two newest dings")
        await sub.barrier_async()
        assert [e["event_id"] for e in events_of(sub.received, events_topic)] == dings[2:]
        # the diagnostic says so too
        attributes = json.loads(bridge.link.cached("ringvault/bridge/bridge/broker_connection/attributes") or b"{}")
        assert attributes["events_dropped"] == 2
        assert attributes["reconnects"] == 1


async def _wait(check: Any, what: str) -> None:
    from tests.mqtt.sink_helpers import wait_until

    await wait_until(check, what, WAIT_S)


async def test_a_refused_broker_login_under_serve_stops_the_families_too(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory
) -> None:
    """``serve --broker`` does not wait on the link: when the broker refuses the login, the bridge says so once and
    stops its families and timers (before, they went on reading Ring's devices for a link that had ended)."""
    broker = broker_factory()
    family = DoorbellFamily()
    failures: list[Exception] = []
    closed: list[bool] = []
    original = family.aclose

    async def aclose() -> None:
        closed.append(True)
        await original()

    family.aclose = aclose  # type: ignore[method-assign]
    wrong = BrokerUrl.parse(broker.url.replace(f":{broker.password}@", ":not-the-password@"))
    async with open_api(sim, rv_home) as api:
        bridge = Bridge(api, fast_options(), wrong, families=[family])
        bridge.on_link_failed = failures.append
        try:
            await bridge.start()
            for _ in range(600):
                if closed:
                    break
                await asyncio.sleep(0.05)
        finally:
            await bridge.aclose()
    assert len(failures) == 1 and "refused" in str(failures[0]).lower()
    assert broker.password not in str(failures[0])
    assert closed == [True]  # stopped once, by the failure; the later aclose() stops nothing twice
    assert bridge.families == []
