"""What the hub does with locks and water valves: their commands, and the control API's knobs for them.

Rules and their sources (see docs/simulator.md, "Rules"):
- ``lock.lock`` / ``lock.unlock`` on a ``lock`` or ``lock.*`` device (reference §7.8; ring-client-api's
  ``RingDeviceType``, ring-mqtt devices/lock.js and homebridge-ring lock.ts send exactly these) → an update with
  ``locked`` ``locked``/``unlocked`` (§7.7: ``locked`` is one of locked, unlocked, jammed, unknown).
- ``valve.open`` / ``valve.close`` on ``valve.water`` (§7.8; ring-mqtt devices/valve.js, homebridge-ring valve.ts)
  → ``valveState`` ``open``/``closed`` (§7.7, ring-client-api ``valveState?: 'open' | 'closed'``).
- [sim] Refusals: a lock that is ``jammed``, a valve whose ``valveState`` is neither open nor closed (ring-mqtt's
  valve.js handles such a state, so Ring reports others), and any device the control API marks as refusing
  (``POST /_sim/hub/{loc}/devices/{ref}/refuse``) push their current value back unchanged and record nothing —
  the write rules' ``refused`` convention, so a client waiting for the new state sees the refusal. (A real lock may
  well clear a jam when told to move again; no public source says either way, and the refusal is the harder path
  for a client.)
- A command of the wrong family (``valve.open`` on a lock ...) is ignored, like every command a device type does not
  take.
- ``POST /_sim/hub/{loc}/devices/{ref}/report`` pushes a device's own change (turned by hand at the door, jammed,
  closed by a leak sensor ...): the given ``device.v1`` fields, as a sensor update from the device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringvault.sim.hub.history import LEVEL_SENSOR, LEVEL_SETTING, Actor

if TYPE_CHECKING:
    from ringvault.sim.hub.model import HubDevice
    from ringvault.sim.hub.rules import Effects

#: Command → the ``locked`` value it asks for (§7.8).
LOCK_COMMANDS = {"lock.lock": "locked", "lock.unlock": "unlocked"}
#: Command → the ``valveState`` value it asks for (§7.8).
VALVE_COMMANDS = {"valve.open": "open", "valve.close": "closed"}
#: The one valve type Ring lists (§7.11).
VALVE_TYPE = "valve.water"


def is_lock(device_type: str) -> bool:
    """``lock`` and ``lock.*`` (§7.8: ``^lock($|\\.)``)."""
    return device_type == "lock" or device_type.startswith("lock.")


def takes(device: HubDevice, command_type: Any) -> bool:
    """Whether this is a lock or valve command for this device (``apply_set`` hands it over then). Any JSON may
    arrive as ``commandType``: only a string is looked up (a list or object would not even hash)."""
    if not isinstance(command_type, str):
        return False
    if is_lock(device.device_type):
        return command_type in LOCK_COMMANDS
    return device.device_type == VALVE_TYPE and command_type in VALVE_COMMANDS


def command(fx: Effects, device: HubDevice, command_type: str) -> None:
    """Carry out (or refuse) a lock/valve command: the new value, or the current one pushed back unchanged."""
    if is_lock(device.device_type):
        key, target = "locked", LOCK_COMMANDS[command_type]
        refused = device.device.get(key) == "jammed"
    else:
        key, target = "valveState", VALVE_COMMANDS[command_type]
        refused = device.device.get(key) not in VALVE_COMMANDS.values()
    if refused or device.zid in fx.hub.refusing:
        current = device.device.get(key)
        fx.update(device, {key: current} if current is not None else {}, record=False)
        return
    fx.update(device, {key: target}, level=LEVEL_SETTING)


def report(fx: Effects, device: HubDevice, fields: dict[str, Any]) -> None:
    """The device changed by itself: push ``fields`` (``device.v1``) as its update, recorded like a sensor's."""
    fx.update(device, fields, level=LEVEL_SENSOR, actor=Actor("device", device.zid, device.name))
