"""Hub locks and water valves on MQTT: a Home Assistant ``lock`` for every ``lock``/``lock.*`` device and a
``valve`` (device class ``water``) for every ``valve.*`` device, each with the battery, tamper and status entities
every hub device gets (``common_entities``).

Sources: tsightler/ring-mqtt ``devices/lock.js`` (a ``lock`` entity, model "Lock"; ``locked`` locked/unlocked →
LOCKED/UNLOCKED; LOCK/UNLOCK commands sent as ``lock.lock``/``lock.unlock``; ``LOCKING``/``UNLOCKING`` published
while a command is under way) and ``devices/valve.js`` (a ``valve`` entity, model "Water Valve"; ``valveState``
open/closed as is, anything else as ``None``; OPEN/CLOSE sent as ``valve.open``/``valve.close``, ``opening``/
``closing`` published meanwhile). Home Assistant's ``lock.mqtt`` (defaults ``payload_lock`` LOCK, ``payload_unlock``
UNLOCK, states LOCKED/UNLOCKED/LOCKING/UNLOCKING/JAMMED, ``None`` resets to unknown) and ``valve.mqtt`` (defaults
``payload_open`` OPEN, ``payload_close`` CLOSE, states open/closed/opening/closing, ``None`` resets to unknown; no
position unless ``reports_position``). Ring's values: reference §7.7 (``locked`` locked/unlocked/jammed/unknown,
``valveState`` open/closed), commands §7.8.

Differences from ring-mqtt, on purpose:
- a jammed lock is ``JAMMED`` (Home Assistant's lock has that state; ring-mqtt publishes ``UNKNOWN``, which Home
  Assistant does not take), and ``unknown`` or any other value is ``None`` (unknown in Home Assistant);
- the transitional state lasts only until Ring answers: the command waits for the device's update (``confirm``)
  and then Ring's state is published — the one asked for, a jam, or the old state after a refusal or no answer
  within the hub's command timeout (one log line). ring-mqtt leaves ``LOCKING`` up until the next update comes.

The transitional state is the bridge's, not Ring's: ``pending`` holds it per device only while a command waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ringvault.cloud.hub.kinds import HubDeviceKind
from ringvault.mqtt.families._hub import (
    ACCESS_KINDS,
    HubFamily,
    HubSite,
    as_str,
    clean,
    common_entities,
    confirm,
    guarded,
)
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice, StatePayload

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["ORDER", "AccessFamily", "lock_state", "make_family", "valve_state"]

ORDER = 35

log = logging.getLogger("ringvault.mqtt.access")

#: Home Assistant's "unknown" on a lock's or valve's state topic ([docs lock.mqtt], [docs valve.mqtt]).
UNKNOWN = "None"
#: Ring's ``locked`` → Home Assistant's lock state (§7.7; Home Assistant's lock.mqtt defaults).
_LOCK_STATES = {"locked": "LOCKED", "unlocked": "UNLOCKED", "jammed": "JAMMED"}
#: Ring's ``valveState`` → Home Assistant's valve state (§7.7; valve.mqtt defaults).
_VALVE_STATES = {"open": "open", "closed": "closed"}
#: command payload → (Ring's target value, the transitional state shown meanwhile)
_LOCK_COMMANDS = {"LOCK": ("locked", "LOCKING"), "UNLOCK": ("unlocked", "UNLOCKING")}
_VALVE_COMMANDS = {"OPEN": ("open", "opening"), "CLOSE": ("closed", "closing")}


def lock_state(data: Mapping[str, Any]) -> str:
    """Home Assistant's lock state from Ring's ``locked`` (``None``: unknown, for ``unknown`` and anything else)."""
    return _LOCK_STATES.get(as_str(data.get("locked")) or "", UNKNOWN)


def valve_state(data: Mapping[str, Any]) -> str:
    """Home Assistant's valve state from Ring's ``valveState`` (``None``: unknown, for anything but open/closed;
    Home Assistant's valve has no broken or jammed state)."""
    return _VALVE_STATES.get(as_str(data.get("valveState")) or "", UNKNOWN)


class AccessFamily(HubFamily):
    """Every lock and water valve of every location (see the module docstring)."""

    name = "access"

    def __init__(self, options: BridgeOptions) -> None:
        super().__init__(options)
        self.pending: dict[str, str] = {}
        """per zid: the transitional state shown while a command waits for Ring's answer"""

    def claims(self, device: HubDevice) -> bool:
        return device.kind in ACCESS_KINDS

    def build(self, site: HubSite, device: HubDevice) -> MqttDevice | None:
        if device.kind is HubDeviceKind.LOCK:
            mqtt = site.mqtt_device(device, model="Lock")
            mqtt.add(self._entity(site, device, mqtt, lock=True))
        else:
            mqtt = site.mqtt_device(device, model="Water Valve")
            mqtt.add(self._entity(site, device, mqtt, lock=False))
        common_entities(mqtt, device)
        return mqtt

    def _entity(self, site: HubSite, device: HubDevice, mqtt: MqttDevice, *, lock: bool) -> Entity:
        zid = device.zid
        key, field = ("lock", "locked") if lock else ("valve", "valveState")
        what = f"{key} {clean(device.name)}"
        commands = _LOCK_COMMANDS if lock else _VALVE_COMMANDS
        state_of: Callable[[Mapping[str, Any]], str] = lock_state if lock else valve_state
        usage = " or ".join(commands)

        def read() -> StatePayload:
            return self.pending.get(zid) or state_of(device.data)

        def attributes() -> dict[str, Any]:
            raw = device.data.get(field)
            return {field: clean(raw, 40) if raw is not None else None}

        async def command(payload: str) -> None:
            word = payload.strip().upper()
            if word not in commands:
                raise CommandRejected(f"{what}: {clean(payload, 40)!r} is not {usage}")
            target, transitional = commands[word]
            jammed_before = device.data.get(field) == "jammed"

            def answered(data: Mapping[str, Any]) -> bool:
                # the target reached, or (locks) a jam reported after the command: Ring's answer either way
                value = data.get(field)
                return value == target or (lock and value == "jammed" and not jammed_before)

            send = (lambda: device.set_locked(target == "locked")) if lock else (
                lambda: device.set_valve_open(target == "open"))  # fmt: skip
            self.pending[zid] = transitional
            site.ctx.sink.changed(mqtt)
            try:
                await confirm(device, send, answered, what=word.lower(), timeout=site.timeout)
            finally:
                self.pending.pop(zid, None)
            if lock and device.data.get(field) == "jammed":
                log.warning("%s: Ring reports the lock jammed", what)

        return Entity(
            key,
            key,
            None,
            read=guarded(f"{zid} {key}", read),
            command=command,
            attributes=guarded(f"{zid} {key} attributes", attributes),
            options={} if lock else {"device_class": "water"},
        )


def make_family(options: BridgeOptions) -> AccessFamily:
    return AccessFamily(options)
