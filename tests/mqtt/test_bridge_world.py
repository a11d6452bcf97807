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
from tests.cli.watch_helpers import ding, doorbells
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
                if general.get("deviceType") == "hub.redsky" and asset.get("doorbotId") is not None:
                    # the base station's own hub device is published as the account's device of that box
                    node = f"ringvault_{segment(location['location_id'])}_{segment(asset['doorbotId'])}"
                    expected[node] = f"hub.redsky {general.get('name')}"
                    continue
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


def _events(messages: list[Any], topic: str) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in messages if m.topic == topic]


def _panel(sim: SimServer) -> tuple[str, str]:
    """``(location id, zid)`` of the simulated security panel."""
    for location in httpx.get(f"{sim.url}/_sim/hub", timeout=20).json()["locations"]:
        for asset in location["assets"]:
            for doc in asset["devices"]:
                general = doc["general"]["v2"]
                if general["deviceType"] == "security-panel":
                    return location["location_id"], general["zid"]
    raise AssertionError("the simulated world has no security panel")


async def test_a_ding_sets_the_sensor_fires_the_event_entity_and_reaches_the_event_topic(
    sim: SimServer, rv_home: Path, broker: Broker, subscriber_factory: Any
) -> None:
    """With every family the bridge ships: a simulated ding turns the doorbell's ding binary_sensor ON (retained)
    and OFF after the hold, fires its ``event`` entity (not retained) and publishes ``new`` then ``end`` with Ring's
    ding id on the doorbell's event topic."""
    door = doorbells(sim, 1)[0]
    root = f"ringvault/{sim.state.world.devices[door].location_id}/{door}"
    watcher: Subscriber = subscriber_factory(broker, ["ringvault/#"])
    async with open_api(sim, rv_home) as api:
        bridge = Bridge(api, fast_options(ding_hold_s=6.0), BrokerUrl.parse(broker.url))
        try:
            await bridge.start()
            await bridge.link.wait_connected(30)
            await watcher.wait_for_message_async(f"{root}/ding/state", "OFF", WAIT_S)
            ding_id = await asyncio.to_thread(ding, sim, door)
            on = await watcher.wait_for_message_async(f"{root}/ding/state", "ON", WAIT_S)
            fired = await watcher.wait_for_async(
                lambda ms: [m for m in ms if m.topic == f"{root}/ding_event/state"], WAIT_S, "the ding event entity"
            )
            await watcher.wait_for_async(
                lambda ms: any(e["type"] == "end" for e in _events(ms, f"{root}/events")), WAIT_S, "the end message"
            )
            offs = await watcher.wait_for_async(
                lambda ms: [m for m in ms if m.topic == f"{root}/ding/state" and m.payload == b"OFF" and m.at > on.at],
                WAIT_S,
                "the sensor OFF after the hold",
            )
        finally:
            await bridge.aclose()
    assert offs and on.payload == b"ON"
    event_entity = json.loads(fired[0].payload)
    assert event_entity["event_type"] == "ding" and fired[0].retain is False
    news = [e for e in _events(watcher.received, f"{root}/events") if e["type"] == "new"]
    assert [e["event_id"] for e in news] == [ding_id]
    assert news[0]["kind"] == "ding" and news[0]["device_id"] == str(door)


async def test_arming_over_mqtt_moves_the_panel_and_its_notice_reaches_the_panel_s_event_topic(
    sim: SimServer, rv_home: Path, broker: Broker, subscriber_factory: Any
) -> None:
    """ARM_HOME on the panel's ``set`` topic arms the simulated panel, the state topic follows, and the alarm notice
    Ring pushes for it (it names no device) lands on the security panel's event topic, not the bridge's."""
    location, zid = _panel(sim)
    root = f"ringvault/{location}/{zid}"
    watcher: Subscriber = subscriber_factory(broker, ["ringvault/#"])
    async with open_api(sim, rv_home) as api:
        bridge = Bridge(api, fast_options(), BrokerUrl.parse(broker.url))
        try:
            await bridge.start()
            await bridge.link.wait_connected(30)
            await watcher.wait_for_message_async(f"{root}/alarm/state", "disarmed", WAIT_S)
            watcher.publish(f"{root}/alarm/set", "ARM_HOME")
            await watcher.wait_for_message_async(f"{root}/alarm/state", "armed_home", WAIT_S)
            notices = await watcher.wait_for_async(
                lambda ms: [e for e in _events(ms, f"{root}/events") if e["kind"] == "alarm"], WAIT_S, "the notice"
            )
        finally:
            await bridge.aclose()
    hub = (await asyncio.to_thread(httpx.get, f"{sim.url}/_sim/hub/{location}", timeout=20)).json()
    modes = [
        doc["device"]["v1"].get("mode")
        for asset in hub["assets"]
        for doc in asset["devices"]
        if doc["general"]["v2"]["zid"] == zid
    ]
    assert modes == ["some"]
    assert notices[0]["type"] == "new"
    assert not [m for m in watcher.received if m.topic == "ringvault/bridge/bridge/events"]
