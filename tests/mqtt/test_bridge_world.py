"""Issue 17's first Done-when: the whole bridge (every default family) on the simulated world and a real Mosquitto
broker discovers a device for every Ring device the world holds — cameras, doorbells, chimes, the intercom, the
other kinds, every alarm and Smart Lighting device, each location — and every discovery payload, and the retained
tree as a whole, passes Home Assistant's MQTT schema (``ha_schema``)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.model import segment
from ringvault.mqtt.options import BrokerUrl
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.bridge_helpers import fast_options
from tests.mqtt.broker import Broker, Subscriber
from tests.mqtt.ha_schema import check_discovery, check_retained_tree

#: Wide bound for a whole world to be published on a busy 2-core machine.
WAIT_S = 90.0


def world_nodes(sim: SimServer) -> dict[str, str]:
    """Discovery node id → what it is, for every device the simulator holds (REST devices and hub devices)."""
    expected: dict[str, str] = {}
    for device in sim.state.world.devices.values():
        expected[f"ringvault_{segment(device.location_id)}_{segment(device.id)}"] = f"{device.family} {device.name}"
    hubs = httpx.get(f"{sim.url}/_sim/hub", timeout=20).json()
    for location in hubs["locations"]:
        for asset in location["assets"]:
            for doc in asset["devices"]:
                general = doc.get("general", {}).get("v2", {})
                node = f"ringvault_{segment(location['location_id'])}_{segment(general['zid'])}"
                expected[node] = f"{general.get('deviceType')} {general.get('name')}"
    return expected


def configs_of(retained: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    return {
        topic: json.loads(payload)
        for topic, payload in retained.items()
        if topic.startswith("homeassistant/") and topic.endswith("/config") and payload
    }


async def published_nodes(subscriber: Subscriber, wanted: set[str]) -> dict[str, bytes]:
    """The retained tree once every wanted node has a discovery payload and every entity its first state (the Wi-Fi
    readings, say, are read one device a second after the start), or the last one seen after ``WAIT_S``."""
    started = time.monotonic()
    while True:
        retained = await subscriber.retained_async()
        nodes = {config["device"]["identifiers"][0] for config in configs_of(retained).values()}
        complete = wanted <= nodes and not check_retained_tree(retained)
        if complete or time.monotonic() - started > WAIT_S:
            return retained
        await asyncio.sleep(0.5)


async def test_every_device_of_the_world_is_discovered_and_every_payload_is_valid(
    sim: SimServer, rv_home: Path, broker: Broker, subscriber_factory: Any
) -> None:
    expected = world_nodes(sim)
    kinds = {what.split()[0] for what in expected.values()}
    # the world this test stands on: every family the bridge has is represented in it
    assert {"doorbots", "stickup_cams", "chimes", "other", "security-panel", "sensor.contact", "sensor.motion"} <= kinds
    assert {"sensor.flood-freeze", "listener.smoke-co", "security-keypad", "switch.multilevel.beams"} <= kinds
    assert {"motion-sensor.beams", "group.light-group.beams", "range-extender.zwave", "hub.redsky"} <= kinds
    watcher: Subscriber = subscriber_factory(broker, ["homeassistant/#", "ringvault/#"])
    options = fast_options()
    async with open_api(sim, rv_home) as api:
        bridge = Bridge(api, options, BrokerUrl.parse(broker.url))
        try:
            await bridge.start()
            await bridge.link.wait_connected(30)
            retained = await published_nodes(watcher, set(expected))
        finally:
            await bridge.aclose()

    configs = configs_of(retained)
    nodes = {config["device"]["identifiers"][0] for config in configs.values()}
    missing = {node: expected[node] for node in set(expected) - nodes}
    assert not missing, f"devices of the world without discovery: {missing}"

    problems = {}
    for topic, config in configs.items():
        component = topic.split("/")[1]
        found = check_discovery(component, config)
        if found:
            problems[topic] = found
    assert not problems, f"discovery payloads Home Assistant would refuse: {problems}"
    assert check_retained_tree(retained) == []

    components = {topic.split("/")[1] for topic in configs}
    assert {"alarm_control_panel", "binary_sensor", "sensor", "event", "image", "light", "switch"} <= components
    assert {"lock", "number", "select", "button"} <= components
    unique_ids = [config["unique_id"] for config in configs.values()]
    assert len(unique_ids) == len(set(unique_ids))
    # every entity of a Ring device is reached through the bridge's device (directly or through its hub)
    assert all(config["origin"]["name"] == "ringvault" for config in configs.values())
    assert retained["ringvault/status"] == b"online"
