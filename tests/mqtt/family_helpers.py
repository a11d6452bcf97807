"""Helpers of the hub family tests (alarm, lighting, unknown hub devices, modes): a family started on a logged-in
``RingApi`` against the simulator with a ``MemorySink``, the simulator's hub control API, and the checks every
family's devices must pass (discovery payloads that serialize, states that are strings)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from ringvault.cloud import HubOptions, Location, RingApi
from ringvault.cloud.hub.device import flatten
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.model import BridgeContext, Family, MqttDevice, Topics
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from ringvault.mqtt.settings import BridgeSettings
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.bridge_helpers import fast_options
from tests.mqtt.broker import Broker, Received, Subscriber
from tests.mqtt.ha_schema import check_discovery, check_retained_tree
from tests.mqtt.sink_helpers import MemorySink

HUB_OPTIONS = HubOptions(
    devices_timeout_s=30.0,
    command_timeout_s=20.0,
    max_failures=3,
    backoff_initial_s=0.05,
    backoff_max_s=0.3,
    backoff_jitter_s=0.05,
)
ORIGIN = {"name": "ringvault", "sw_version": "test"}


def bridge_device() -> MqttDevice:
    return MqttDevice(location="bridge", ident="bridge", name="ringvault")


def hub_control(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{sim.url}/_sim/hub{path}", json=body, timeout=20)
    response.raise_for_status()
    return response.json() if response.content else None


def sim_hub_devices(sim: SimServer, location_id: str) -> dict[str, dict[str, Any]]:
    """The simulator's view of a location's hub devices: zid -> flattened document."""
    found: dict[str, dict[str, Any]] = {}
    for asset in hub_control(sim, "GET", f"/{location_id}")["assets"]:
        for device in asset["devices"]:
            flat = flatten(device)
            found[flat["zid"]] = flat
    return found


def sim_device(sim: SimServer, location_id: str, name: str) -> dict[str, Any]:
    for flat in sim_hub_devices(sim, location_id).values():
        if flat.get("name") == name:
            return flat
    raise AssertionError(f"no simulated hub device {name!r}")


async def prepare(api: RingApi, hub_options: HubOptions = HUB_OPTIONS) -> None:
    for location in await api.get_locations():
        location.hub_options = hub_options


async def alarm_location(api: RingApi) -> Location:
    for location in await api.get_locations():
        if location.has_alarm_base_station:
            return location
    raise AssertionError("the simulated world has no alarm location")


@asynccontextmanager
async def started(
    api: RingApi,
    family: Family,
    options: BridgeOptions | None = None,
    *,
    hub_options: HubOptions = HUB_OPTIONS,
    settings: BridgeSettings | None = None,
) -> AsyncIterator[tuple[Family, MemorySink]]:
    """``family`` started with a ``MemorySink`` (its devices in ``sink.devices``), closed afterwards."""
    await prepare(api, hub_options)
    sink = MemorySink()
    ctx = BridgeContext(
        api=api, options=options or BridgeOptions(), sink=sink, bridge=bridge_device(),
        settings=settings or BridgeSettings(),
    )  # fmt: skip
    devices = await family.start(ctx)
    sink.devices.extend(devices)
    try:
        yield family, sink
    finally:
        await family.aclose()


def check_published(devices: list[MqttDevice]) -> None:
    """What the bridge would publish for these devices is publishable: each discovery payload serializes as JSON
    (no NaN), encodes as UTF-8 and passes Home Assistant's discovery schema (``ha_schema``), each state is a string
    (or None), each attributes document serializes."""
    topics = Topics()
    for device in devices:
        if device.available is not None:
            assert isinstance(device.available(), bool)
        for entity in device.entities:
            payload = topics.discovery_payload(entity, ORIGIN)
            json.dumps(payload, allow_nan=False).encode("utf-8")
            problems = check_discovery(entity.component, payload)
            assert problems == [], (device.name, entity.key, problems)
            if entity.read is not None:
                state = entity.read()
                assert state is None or isinstance(state, str | bytes), (entity.key, state)
                if isinstance(state, str):
                    state.encode("utf-8")
            if entity.attributes is not None:
                attributes = entity.attributes()
                if attributes is not None:
                    json.dumps(attributes, allow_nan=False).encode("utf-8")


@asynccontextmanager
async def hub_bridge(
    sim: SimServer, home: Path, broker: Broker, families: list[Family], **overrides: Any
) -> AsyncIterator[tuple[Bridge, RingApi]]:
    """The real ``Bridge`` with ``families`` on a logged-in API (hub timeouts of these tests), connected to
    ``broker``; stopped afterwards."""
    async with open_api(sim, home) as api:
        await prepare(api)
        bridge = Bridge(api, fast_options(**overrides), BrokerUrl.parse(broker.url), families=families)
        try:
            await bridge.start()
            await bridge.link.wait_connected(30)
            yield bridge, api
        finally:
            await bridge.aclose()


async def wait_state(sub: Subscriber, topic: str, payload: str, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Until the last message on ``topic`` is ``payload``."""

    def reached(messages: list[Received]) -> bool:
        last = [m for m in messages if m.topic == topic]
        return bool(last) and last[-1].payload == payload.encode()

    await sub.wait_for_async(reached, timeout, f"{payload!r} on {topic}")


def last_json(sub: Subscriber, topic: str) -> Any:
    message = sub.last(topic)
    assert message is not None, f"nothing on {topic}"
    return message.json()


async def settled_retained(sub: Subscriber, timeout: float = 60.0) -> dict[str, bytes]:  # noqa: ASYNC109
    """The broker's retained tree once the bridge has published it all: every discovery config valid and every state
    and availability topic it names holding a message Home Assistant can read (``check_retained_tree``); the bridge
    publishes in the background after ``start``, so this waits for the tree to be complete."""
    deadline = time.monotonic() + timeout
    while True:
        await sub.barrier_async()
        retained = await sub.retained_async()
        problems = check_retained_tree(retained)
        if not problems:
            return retained
        if time.monotonic() > deadline:
            raise AssertionError(f"the retained tree still has {len(problems)} problems: {problems[:5]}")
        await asyncio.sleep(0.2)
