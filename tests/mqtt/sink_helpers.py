"""``MemorySink``: the bridge's ``Sink`` without a broker, for family tests: it keeps the devices a family built and
what it asked to publish, and reads every entity's state the way the bridge does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ringvault.mqtt.model import Entity, MqttDevice, StatePayload


@dataclass
class MemorySink:
    devices: list[MqttDevice] = field(default_factory=list)
    changes: list[MqttDevice] = field(default_factory=list)
    fired: list[tuple[Entity, str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[MqttDevice, dict[str, Any]]] = field(default_factory=list)

    def changed(self, device: MqttDevice) -> None:
        self.changes.append(device)

    def fire(self, entity: Entity, event_type: str, attributes: Mapping[str, Any] | None = None) -> None:
        self.fired.append((entity, event_type, dict(attributes or {})))

    def event(self, device: MqttDevice, payload: Mapping[str, Any]) -> None:
        self.events.append((device, dict(payload)))

    def add_device(self, device: MqttDevice) -> None:
        self.devices.append(device)

    # -- reading, as the bridge reads ---------------------------------------------------------------------
    def device(self, name: str) -> MqttDevice:
        for device in self.devices:
            if device.name == name:
                return device
        raise AssertionError(f"no device {name!r} among {[d.name for d in self.devices]}")

    @staticmethod
    def state(entity: Entity) -> StatePayload:
        assert entity.read is not None, f"{entity.key} has no state"
        return entity.read()

    def states(self, device: MqttDevice) -> dict[str, StatePayload]:
        return {e.key: e.read() for e in device.entities if e.read is not None}


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait (asynchronously) until ``check()``; an AssertionError naming ``what`` after ``timeout`` seconds."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"no {what} after {timeout:.0f} s")
        await asyncio.sleep(0.05)
