"""Push health end to end: the real Bridge, a real Mosquitto broker, the simulator. What Home Assistant sees on the
broker: the health entities' discovery (checked with Home Assistant's schema) and retained states; pushes Ring
silently stops sending, found by the **scheduled** check, turning the problem ON, the lost ding on its event topic
exactly once, a new registration, and the problem OFF once push delivers again; the button on its ``set`` topic."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.families.health import HealthFamily
from ringvault.mqtt.model import Family
from ringvault.mqtt.options import BrokerUrl
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, sim_get
from tests.mqtt.bridge_helpers import DoorbellFamily, fast_options
from tests.mqtt.broker import Broker, Received
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.ha_schema import check_retained_tree

pytestmark = pytest.mark.timeout(300)

WAIT_S = 60.0
BRIDGE = "ringvault/bridge/bridge"
CONFIG = "homeassistant/{component}/ringvault_bridge_bridge/{key}/config"


async def sim_call(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, f"{sim.url}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None


@asynccontextmanager
async def running_bridge(sim: SimServer, home: Path, broker: Broker, families: list[Family]) -> AsyncIterator[Bridge]:
    """A started bridge with ``families`` (its own EventWatch), connected to ``broker``; stopped afterwards."""
    async with open_api(sim, home) as api:
        bridge = Bridge(api, fast_options(), BrokerUrl.parse(broker.url), families=families)
        try:
            await bridge.start()
            await bridge.link.wait_connected(30)
            yield bridge
        finally:
            await bridge.aclose()


def doorbell_id(sim: SimServer) -> int:
    return min(d.id for d in sim.state.world.devices.values() if d.family == "doorbots" and d.spec.protect)


def news(messages: list[Received], topic: str, ding_id: str) -> list[dict[str, Any]]:
    found = [m.json() for m in messages if m.topic == topic]
    return [e for e in found if e["type"] == "new" and e["event_id"] == ding_id]


def health(options_check_s: float = 2.0) -> HealthFamily:
    """The family with a short schedule (the real minimum is a minute) and grace (the real one is two minutes)."""
    return HealthFamily(fast_options(health_check_s=options_check_s), grace_s=1.0, min_check_s=1.0)


async def test_discovery_states_and_a_silent_push_failure_seen_and_repaired_over_the_broker(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    door = doorbell_id(sim)
    loc = str(sim.state.world.devices[door].location_id)
    family = health()
    async with running_bridge(sim, rv_home, broker, [family, DoorbellFamily()]) as bridge:
        await sub.wait_for_message_async(f"{BRIDGE}/push_mode/state", "push", WAIT_S)
        registered = f"{BRIDGE}/push_registered/state"
        await sub.wait_for_async(
            lambda ms: any(m.topic == registered and m.payload.startswith(b"20") for m in ms), WAIT_S, "a time"
        )
        await sub.barrier_async()
        retained = await sub.retained_async()
        assert check_retained_tree(retained) == []  # Home Assistant's MQTT discovery schema, states readable
        configs = {
            key: json.loads(retained[CONFIG.format(component=component, key=key)])
            for component, key in (
                ("sensor", "push_last"),
                ("sensor", "push_registered"),
                ("sensor", "push_mode"),
                ("sensor", "push_missed"),
                ("binary_sensor", "push_problem"),
                ("button", "push_reregister"),
            )
        }
        assert configs["push_registered"]["device_class"] == "timestamp"
        assert configs["push_mode"]["options"] == ["push", "polling", "stopped"]
        assert configs["push_problem"]["device_class"] == "problem"
        assert configs["push_reregister"]["command_topic"] == f"{BRIDGE}/push_reregister/set"
        assert all(c["device"]["identifiers"] == ["ringvault_bridge_bridge"] for c in configs.values())
        assert retained[f"{BRIDGE}/push_problem/state"] == b"OFF"
        assert retained[f"{BRIDGE}/push_missed/state"] == b"0"
        assert retained[f"{BRIDGE}/push_registered/state"].startswith(b"20")

        # Ring stops pushing to the token (MCS stays up); the scheduled check finds the ding in history
        await sim_call(sim, "PATCH", "/_sim/push/faults", {"stale_registrations": True})
        sub.clear()
        lost = (await sim_call(sim, "POST", f"/_sim/devices/{door}/ding"))["event"]["id_str"]
        events = f"ringvault/{loc}/{door}/events"
        await sub.wait_for_message_async(f"{BRIDGE}/push_problem/state", "ON", WAIT_S)
        await sub.wait_for_message_async(f"{BRIDGE}/push_missed/state", "1", WAIT_S)
        await sub.wait_for_message_async(f"{BRIDGE}/push_mode/state", "polling", WAIT_S)
        await sub.wait_for_async(lambda ms: news(ms, events, lost), WAIT_S, "the lost ding on the event topic")
        assert family.reregistrations == 1
        assert sim_get(sim, "/_sim/push")["google"]["fcm_registrations"] == 2

        # the new registration receives: the problem turns OFF, polling stops
        sub.clear()
        pushed = (await sim_call(sim, "POST", f"/_sim/devices/{door}/ding"))["event"]["id_str"]
        await sub.wait_for_message_async(f"{BRIDGE}/push_problem/state", "OFF", WAIT_S)
        await sub.wait_for_message_async(f"{BRIDGE}/push_mode/state", "push", WAIT_S)
        await sub.wait_for_async(lambda ms: news(ms, events, pushed), WAIT_S, "the pushed ding on the event topic")
        checks = family.checks
        await sub.wait_for_async(lambda _ms: family.checks >= checks + 2, WAIT_S, "two more checks")
        await sub.barrier_async()
        assert len(news(sub.received, events, pushed)) == 1
        retained = await sub.retained_async()
        assert retained[f"{BRIDGE}/push_problem/state"] == b"OFF"
        assert retained[f"{BRIDGE}/push_missed/state"] == b"1"  # a later check counted nothing again
        assert family.reregistrations == 1
        assert bridge.commands_rejected == 0


async def test_the_button_over_mqtt_registers_anew_and_a_bad_payload_is_one_log_line(
    sim: SimServer,
    rv_home: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt")
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    family = HealthFamily(fast_options(), grace_s=1.0)  # the real schedule: no check runs during the test
    async with running_bridge(sim, rv_home, broker, [family]) as bridge:
        topic = f"{BRIDGE}/push_registered/state"
        [registered] = await sub.wait_for_async(
            lambda ms: [m for m in ms if m.topic == topic and m.payload.startswith(b"20")][:1], WAIT_S, "a time"
        )  # "None" (unknown) until the watch has registered push
        await asyncio.to_thread(sub.publish, f"{BRIDGE}/push_reregister/set", "nope")
        await sub.wait_for_async(lambda _ms: bridge.commands_rejected == 1, WAIT_S, "the refusal")
        lines = [r.getMessage() for r in caplog.records if "push_reregister" in r.getMessage()]
        assert len(lines) == 1 and "takes PRESS" in lines[0] and "\n" not in lines[0]
        assert family.reregistrations == 0

        await asyncio.to_thread(sub.publish, f"{BRIDGE}/push_reregister/set", "PRESS")
        await sub.wait_for_async(lambda _ms: family.reregistrations == 1, WAIT_S, "the re-registration")
        later = await sub.wait_for_async(
            lambda ms: [
                m for m in ms if m.topic == topic and m.payload.startswith(b"20") and m.payload > registered.payload
            ],
            WAIT_S,
            "a later registration time",
        )
        assert later
        assert sim_get(sim, "/_sim/push")["google"]["fcm_registrations"] == 2
        assert bridge.commands_rejected == 1
