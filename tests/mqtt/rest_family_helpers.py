"""Helpers of the camera / chime / intercom / other family tests: a family started on a logged-in ``RingApi`` against
the real simulator, with a ``MemorySink``; Ring's events reach it as the bridge hands them over (``on_event``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ringvault.cloud.api import RingApi
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.families import cameras, chimes, intercoms, other
from ringvault.mqtt.model import ArchiveLinks, BridgeContext, Family, MqttDevice, Topics
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.bridge_helpers import fast_options
from tests.mqtt.broker import Broker, Received
from tests.mqtt.ha_schema import check_discovery
from tests.mqtt.sink_helpers import MemorySink

MODULES = {"cameras": cameras, "chimes": chimes, "intercoms": intercoms, "other": other}
ORIGIN = {"name": "ringvault", "sw_version": "test"}


@dataclass
class Running:
    api: RingApi
    family: Any
    sink: MemorySink
    ctx: BridgeContext

    def device(self, ident: int | str) -> MqttDevice:
        for device in self.sink.devices:
            if device.ident == str(ident):
                return device
        raise AssertionError(f"no device {ident} among {[d.ident for d in self.sink.devices]}")

    def changes_of(self, device: MqttDevice) -> int:
        return sum(1 for d in self.sink.changes if d is device)


@asynccontextmanager
async def running(
    sim: SimServer,
    home: Path,
    name: str,
    *,
    push: bool = False,
    ctx_extra: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[Running]:
    """Start family ``name`` with ``BridgeOptions(**options)``; with ``push``, Ring's notifications run and each
    event is handed to the family, as the bridge does."""
    async with open_api(sim, home) as api:
        sink = MemorySink()
        bridge = MqttDevice(location="bridge", ident="bridge", name="ringvault")
        ctx = BridgeContext(api=api, options=BridgeOptions(**options), sink=sink, bridge=bridge, **(ctx_extra or {}))
        family: Family = MODULES[name].make_family(ctx.options)
        sink.devices.extend(await family.start(ctx))
        if push:
            api.on_new_notification.subscribe(family.on_event)
            status = await api.start_notifications()
            assert status.mode == "push", status.reason
        try:
            yield Running(api, family, sink, ctx)
        finally:
            await family.aclose()


def discovery(device: MqttDevice) -> dict[str, dict[str, Any]]:
    """Every entity's discovery payload (the bridge's own ``Topics``), by entity key, each checked against Home
    Assistant's MQTT discovery schema (``ha_schema``)."""
    topics = Topics()
    payloads = {e.key: topics.discovery_payload(e, ORIGIN) for e in device.entities}
    for entity in device.entities:
        problems = check_discovery(entity.component, payloads[entity.key])
        assert problems == [], f"{device.name} {entity.key}: {problems}"
    return payloads


async def sim_call(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.request(method, f"{sim.url}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None


def count(sim: SimServer, endpoint: str) -> int:
    """Requests the simulator saw for ``"METHOD host/route"``."""
    return sim.state.stats.count(endpoint)


RING_DEVICES = "GET api.ring.com/clients_api/ring_devices"


@asynccontextmanager
async def rest_bridge(
    sim: SimServer, home: Path, broker: Broker, *, archive: ArchiveLinks | None = None, **overrides: Any
) -> AsyncIterator[tuple[Bridge, RingApi]]:
    """The real ``Bridge`` with the four REST families (cameras, chimes, intercoms, other) on the simulator and
    ``broker``; Ring's events arrive by push (the bridge's own ``EventWatch``)."""
    options = fast_options(**overrides)
    async with open_api(sim, home) as api:
        families: list[Family] = [module.make_family(options) for module in MODULES.values()]
        bridge = Bridge(api, options, BrokerUrl.parse(broker.url), families=families, archive=archive)
        try:
            await bridge.start()
            await bridge.link.wait_connected(30)
            yield bridge, api
        finally:
            await bridge.aclose()


def topic_root(device_id: int, sim: SimServer) -> str:
    """``ringvault/<location>/<device>`` of a simulated device."""
    return f"ringvault/{sim.state.world.devices[device_id].location_id}/{device_id}"


def named(sim: SimServer, name: str) -> int:
    """The id of the simulated device called ``name`` (the first location's)."""
    return next(d.id for d in sim.state.world.devices.values() if d.name == name)


def then(messages: list[Received], topic: str, first: bytes, second: bytes) -> bool:
    """Whether ``topic`` carried ``second`` after it carried ``first`` (among the messages received so far)."""
    payloads = [m.payload for m in messages if m.topic == topic]
    return first in payloads and second in payloads[payloads.index(first) + 1 :]
