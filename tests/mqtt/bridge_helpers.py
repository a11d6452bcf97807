"""Helpers of the link and bridge tests: a small family of our own (doorbells with a ding sensor, a ding ``event``
entity and a light switch that really calls Ring), a bridge on the simulator and a broker, and log capture."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringvault.cloud.api import RingApi
from ringvault.cloud.camera import RingCamera
from ringvault.cloud.push import RingEvent
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.model import BridgeContext, CommandRejected, Entity, MqttDevice
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.broker import Broker


@dataclass
class DoorbellFamily:
    """Every doorbell and every camera with a light: ``ding`` (binary_sensor, on for ``ding_hold_s`` after a ding),
    ``ding_event`` (event entity) and, with a light, ``light`` (switch: ``ON``/``OFF``, carried out by Ring, then
    re-read)."""

    name: str = "test-doorbells"
    cameras: dict[int, RingCamera] = field(default_factory=dict)
    devices: dict[int, MqttDevice] = field(default_factory=dict)
    last_ding: dict[int, float] = field(default_factory=dict)
    ctx: BridgeContext | None = None
    _unsubscribe: list[Any] = field(default_factory=list)
    _timers: list[asyncio.TimerHandle] = field(default_factory=list)

    async def start(self, ctx: BridgeContext) -> list[MqttDevice]:
        self.ctx = ctx
        for camera in await ctx.api.get_cameras():
            if not (camera.has_light or camera.is_doorbot):
                continue
            device = MqttDevice(
                location=camera.location_id or "none", ident=str(camera.id), name=camera.name or str(camera.id),
                model=camera.model, via=ctx.bridge,
            )  # fmt: skip
            self._entities(device, camera, ctx)
            self.cameras[camera.id] = camera
            self.devices[camera.id] = device
            self._unsubscribe.append(camera.on_data.subscribe(lambda _data, d=device: ctx.sink.changed(d)))
        return list(self.devices.values())

    def _entities(self, device: MqttDevice, camera: RingCamera, ctx: BridgeContext) -> None:
        def ding_on() -> str:
            at = self.last_ding.get(camera.id)
            return "ON" if at is not None and time.monotonic() - at < ctx.options.ding_hold_s else "OFF"

        async def set_light(payload: str) -> None:
            if payload not in ("ON", "OFF"):
                raise CommandRejected(f"light takes ON or OFF, not {payload[:20]!r}")
            await camera.set_light(payload == "ON")
            await ctx.api.refresh_devices()

        device.add(Entity("binary_sensor", "ding", "Ding", read=ding_on, options={"device_class": "occupancy"}))
        device.add(Entity("event", "ding_event", "Ding event", options={"event_types": ["ding"]}, retain=False,
                          read=lambda: None))  # fmt: skip
        if camera.has_light:
            device.add(Entity("switch", "light", "Light", read=lambda: "ON" if camera.light_on else "OFF",
                              command=set_light))  # fmt: skip

    def on_event(self, event: RingEvent) -> None:
        if event.kind != "ding" or event.device_id not in self.devices or self.ctx is None:
            return
        device = self.devices[event.device_id]
        self.last_ding[event.device_id] = time.monotonic()
        self.ctx.sink.changed(device)
        self.ctx.sink.fire(device.entity("ding_event"), "ding", {"ding_id": event.ding_id})
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(self.ctx.options.ding_hold_s + 0.05, self.ctx.sink.changed, device))

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for timer in self._timers:
            timer.cancel()


def lit_camera(sim: SimServer) -> int:
    """The id of a simulated camera with a light (the floodlight)."""
    for device in sim.state.world.devices.values():
        if device.family == "stickup_cams" and device.spec.kind.startswith("floodlight"):
            return device.id
    raise AssertionError("the simulated world has no floodlight camera")


def fast_options(**overrides: Any) -> BridgeOptions:
    values: dict[str, Any] = {"reconnect_initial_s": 0.1, "reconnect_max_s": 1.0, "ding_hold_s": 2.0,
                              "motion_hold_s": 2.0, "keepalive_s": 10}  # fmt: skip
    values.update(overrides)
    return BridgeOptions(**values)


@contextlib.asynccontextmanager
async def running_bridge(
    sim: SimServer,
    home: Path,
    broker: Broker,
    *,
    family: DoorbellFamily | None = None,
    every_family: bool = False,
    **overrides: Any,
) -> AsyncIterator[tuple[Bridge, RingApi, DoorbellFamily]]:
    """A started bridge on a logged-in API, connected to ``broker``; stopped afterwards. Its families: our test
    family only, or with ``every_family`` every family the bridge ships instead (the whole world)."""
    family = family or DoorbellFamily()
    async with open_api(sim, home) as api:
        options = fast_options(**overrides)
        families: list[Any] = [family]
        if every_family:
            from ringvault.mqtt.families import default_families

            families = default_families(options)
        bridge = Bridge(api, options, BrokerUrl.parse(broker.url), families=families)
        try:
            await bridge.start()
            await bridge.link.wait_connected(30)
            yield bridge, api, family
        finally:
            await bridge.aclose()
