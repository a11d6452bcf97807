"""Ring Intercoms in Home Assistant: the door as a ``lock``, the ring as a sensor and an event, unlocks as events,
battery and Wi-Fi signal.

Mirrors ring-mqtt's intercom (tsightler/ring-mqtt ``devices/intercom.js``): a ``lock`` that shows ``LOCKED``
normally and ``UNLOCKED`` for a while after an unlock (from the ``set`` topic or any ``intercom_unlock`` event), a
``ding`` binary_sensor (icon ``mdi:doorbell``), ``battery`` and ``wireless`` diagnostic sensors. ring-mqtt shows
``UNLOCKED`` for a fixed 5 s; ringvault uses the intercom's own unlock duration
(``intercom_settings.config.analog.unlock_duration``) and 5 s when Ring gives none, and holds the ding sensor for
``ding_hold_s`` like a doorbell's (ring-mqtt: 20 s). ``ding_event`` and ``unlock_event`` are Home Assistant ``event``
entities.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ringvault.mqtt.families._rest import (
    HealthPoller,
    Hold,
    RestFamily,
    battery_entity,
    display_name,
    iso,
    shown,
    signal_entity,
)
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.intercom import RingIntercom
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.model import BridgeContext
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["DEFAULT_UNLOCK_S", "IntercomDevice", "IntercomFamily", "make_family"]

log = logging.getLogger(__name__)

DEFAULT_UNLOCK_S = 5.0
"""How long the lock shows UNLOCKED when Ring names no unlock duration (ring-mqtt's fixed 5 s)."""


@dataclass(eq=False)
class IntercomDevice:
    intercom: RingIntercom
    ctx: BridgeContext
    health: HealthPoller
    device: MqttDevice = field(init=False)
    ding: Hold = field(init=False)
    unlocked: Hold = field(init=False)
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        intercom = self.intercom
        self.device = MqttDevice(
            location=intercom.location_id or "unknown",
            ident=str(intercom.id),
            name=display_name(intercom.name, f"Intercom {intercom.id}"),
            model=intercom.model,
            sw_version=intercom.data.firmware_version,
            via=self.ctx.bridge,
            available=lambda: not (intercom.is_offline or intercom.removed),
        )
        self.ding = Hold(self.ctx.options.ding_hold_s, self.changed)
        self.unlocked = Hold(self.unlock_s, self.changed)
        self._build()
        self._unsubscribe.append(intercom.on_data.subscribe(lambda _entry: self.changed()))

    @property
    def unlock_s(self) -> float:
        seconds = self.intercom.unlock_duration_s
        return float(seconds) if seconds is not None and 0 < seconds <= 3600 else DEFAULT_UNLOCK_S

    def changed(self) -> None:
        self.ctx.sink.changed(self.device)

    def _build(self) -> None:
        add = self.device.add
        add(
            Entity(
                "lock",
                "lock",
                "Door",
                read=lambda: "UNLOCKED" if self.unlocked.active else "LOCKED",
                attributes=self._lock_attributes,
                command=self._lock_command,
                options={
                    "payload_lock": "LOCK",
                    "payload_unlock": "UNLOCK",
                    "state_locked": "LOCKED",
                    "state_unlocked": "UNLOCKED",
                },
            )
        )
        add(
            Entity(
                "binary_sensor",
                "ding",
                "Ding",
                read=lambda: "ON" if self.ding.active else "OFF",
                attributes=self._ding_attributes,
                options={"device_class": "occupancy", "payload_on": "ON", "payload_off": "OFF"},
                icon="mdi:doorbell",
            )
        )
        add(
            Entity(
                "event",
                "ding_event",
                "Ding event",
                read=lambda: None,
                options={"event_types": ["ding"], "device_class": "doorbell"},
                retain=False,
            )
        )
        add(
            Entity(
                "event",
                "unlock_event",
                "Unlock event",
                read=lambda: None,
                options={"event_types": ["unlock"]},
                icon="mdi:lock-open-variant",
                retain=False,
            )
        )
        if self.intercom.battery_level is not None:
            add(battery_entity(lambda: self.intercom.battery_level))
        add(signal_entity(lambda: self.health.signal(self.intercom.id)))

    def _lock_attributes(self) -> Mapping[str, Any]:
        last = self.unlocked.last
        return {
            "lastUnlock": iso(last.created_at) if last is not None else None,
            "unlockDuration": self.unlock_s,
        }

    def _ding_attributes(self) -> Mapping[str, Any]:
        last = self.ding.last
        return {
            "lastDing": int(last.created_at.timestamp()) if last is not None else None,
            "lastDingTime": iso(last.created_at) if last is not None else None,
            "dingId": last.ding_id if last is not None else None,
        }

    async def _lock_command(self, payload: str) -> None:
        """``UNLOCK``: Ring's ``unlock_door``; the answer's ``result.code == 0`` is Ring's confirmation, and the lock
        shows UNLOCKED for the unlock duration. ``LOCK``: the intercom locks by itself, there is nothing to send."""
        from ringvault.cloud.errors import RingError

        what = f"{self.device.name} door"
        command = payload.strip().upper()
        if command == "LOCK":
            if self.unlocked.active:
                raise CommandRejected(
                    f"{what}: an intercom cannot be locked; it locks by itself {self.unlock_s:.0f} s after an unlock"
                )
            return
        if command != "UNLOCK":
            raise CommandRejected(f"{what}: {shown(payload)} is not a command; send UNLOCK (or LOCK)")
        try:
            await self.intercom.unlock()
        except RingError as exc:
            raise CommandRejected(f"{what}: Ring did not unlock it ({exc.one_line})") from None
        self.unlocked.seconds = self.unlock_s
        self.unlocked.hold_from(datetime.now(UTC))

    def on_event(self, event: RingEvent) -> None:
        fields = {"ding_id": event.ding_id, "time": iso(event.created_at), "source": event.source}
        if event.kind == "intercom_ding":
            self.ding.trigger(event)
            self.ctx.sink.fire(self.device.entity("ding_event"), "ding", fields)
        elif event.kind == "intercom_unlock":
            self.unlocked.seconds = self.unlock_s
            self.unlocked.trigger(event)
            self.ctx.sink.fire(self.device.entity("unlock_event"), "unlock", fields)

    def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.ding.cancel()
        self.unlocked.cancel()


class IntercomFamily(RestFamily["RingIntercom", IntercomDevice]):
    name = "intercoms"

    async def listed(self, api: RingApi) -> list[RingIntercom]:
        return await api.get_intercoms()

    def accepts(self, device: object) -> bool:
        from ringvault.cloud.intercom import RingIntercom

        return isinstance(device, RingIntercom)

    def make_unit(self, device: RingIntercom, ctx: BridgeContext, health: HealthPoller) -> IntercomDevice:
        return IntercomDevice(device, ctx, health)

    def ring_device(self, unit: IntercomDevice) -> RingIntercom:
        return unit.intercom

    def unit_event(self, unit: IntercomDevice, event: RingEvent) -> None:
        unit.on_event(event)


def make_family(options: BridgeOptions) -> IntercomFamily:
    return IntercomFamily(options)
