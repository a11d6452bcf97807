"""What a Ring hub does with a Z-Wave thermostat (``temperature-control.thermostat``) and its two child devices.

Shape (reference §7.7; the fields rca does not type come from tsightler/ring-mqtt ``devices/thermostat.js``, the one
public client that reads them): the thermostat's ``mode`` (``off``/``heat``/``cool``/``auto``/``aux``), ``setPoint``
in °C with ``setPointMin``/``setPointMax``, ``modeSetpoints`` (one entry per mode the thermostat offers; ring-mqtt
takes its mode list from the keys; ``auto`` carries ``setPoint``, ``deadBand`` and ``deadBandMin``), ``deadBand``
(the half-width of the auto range: low = setPoint − deadBand, high = setPoint + deadBand), ``fanMode`` and
``supportedFanModes``. Two child devices hang under it by ``parentZid`` (ring-mqtt lib/ring.js ``childDevices``): a
``sensor.temperature`` whose ``celsius`` is the room temperature, and a ``thermostat-operating-status`` device whose
``operatingMode`` (``heat``/``cool``/``off``) says what the system does right now.

Writes (``{"device":{"v1":{...}}}``, §7.8; ``deadBand`` and ``fanMode`` are written by ring-mqtt's
``setAutoSetPoint``/``setFanMode``). Each field is checked on its own; a value Ring would refuse is not applied and
the device's current value is pushed back unchanged (the ``refused`` convention of ``rules.write_fields``), so a
client waiting for the update sees the refusal:

- ``mode``: one the thermostat offers: ``off`` always; the keys of ``modeSetpoints`` when it has them, else rca's
  ``ThermostatMode`` (heat/cool/off/aux); ``aux`` (emergency heat) wherever ``heat`` is offered (ring-mqtt offers
  its "Auxillary" preset on every thermostat). [sim] The new mode's ``modeSetpoints`` entry becomes the top-level
  ``setPoint`` (and ``deadBand`` for ``auto``) unless the same write sets them: a Z-Wave thermostat keeps one set
  point per mode.
- ``setPoint``: a finite number within ``setPointMin``..``setPointMax`` (homebridge-ring refuses set points outside
  them); without those, 10..37.22223 °C (ring-mqtt's range). [sim] Also stored in ``modeSetpoints[mode]``.
- ``deadBand``: a finite number of at least ``modeSetpoints.auto.deadBandMin`` (ring-mqtt's default 1.11111 when
  absent), and positive.
- ``fanMode``: one of ``supportedFanModes`` (ring-mqtt offers only those; ``auto`` alone when absent).
- [sim] Operating status: after a write or a room temperature change the child's ``operatingMode`` follows from
  mode, set point and temperature (heat below the set point, cool above it; in ``auto`` outside the dead band).
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

from ringvault.sim.hub.history import LEVEL_SENSOR, LEVEL_SETTING, Actor
from ringvault.sim.hub.model import HubDevice, HubLocation

if TYPE_CHECKING:
    from ringvault.sim.hub.rules import Effects

JSON = dict[str, Any]

THERMOSTAT_TYPE = "temperature-control.thermostat"
OPERATING_STATUS_TYPE = "thermostat-operating-status"
TEMPERATURE_SENSOR_TYPE = "sensor.temperature"
#: rca ``ThermostatMode`` (ring-types.ts): the modes of a thermostat that lists no ``modeSetpoints``.
RCA_MODES = ("off", "heat", "cool", "aux")
#: ring-mqtt thermostat.js: the set point range it accepts (°C).
DEFAULT_SET_POINT_RANGE = (10.0, 37.22223)
#: ring-mqtt thermostat.js: the auto dead band minimum when ``modeSetpoints.auto.deadBandMin`` is absent.
DEFAULT_DEAD_BAND_MIN = 1.11111
#: ring-mqtt thermostat.js: the fan modes of a thermostat without ``supportedFanModes``.
DEFAULT_FAN_MODES = ("auto",)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _field(device: HubDevice, key: str) -> Any:
    """A field of the flattened document (``device.v1`` wins, §7.6)."""
    return device.device.get(key, device.general.get(key))


def _mode_setpoints(device: HubDevice) -> dict[str, Any]:
    value = _field(device, "modeSetpoints")
    return value if isinstance(value, dict) else {}


def supported_modes(device: HubDevice) -> set[str]:
    setpoints = _mode_setpoints(device)
    modes = {str(key) for key in setpoints} if setpoints else set(RCA_MODES)
    modes.add("off")
    if "heat" in modes:
        modes.add("aux")
    return modes


def set_point_range(device: HubDevice) -> tuple[float, float]:
    low, high = _number(_field(device, "setPointMin")), _number(_field(device, "setPointMax"))
    return (
        low if low is not None else DEFAULT_SET_POINT_RANGE[0],
        high if high is not None else DEFAULT_SET_POINT_RANGE[1],
    )


def dead_band_min(device: HubDevice) -> float:
    auto = _mode_setpoints(device).get("auto")
    value = _number(auto.get("deadBandMin")) if isinstance(auto, dict) else None
    return value if value is not None else DEFAULT_DEAD_BAND_MIN


def fan_modes(device: HubDevice) -> tuple[str, ...]:
    value = _field(device, "supportedFanModes")
    if isinstance(value, list) and value:
        return tuple(str(mode) for mode in value if isinstance(mode, str))
    return DEFAULT_FAN_MODES


def children(hub: HubLocation, parent: HubDevice, device_type: str) -> list[HubDevice]:
    """The devices whose ``parentZid`` is ``parent`` (ring-mqtt lib/ring.js ``childDevices``) of one type."""
    return [d for d in hub.devices.values() if _field(d, "parentZid") == parent.zid and d.device_type == device_type]


def write(fx: Effects, device: HubDevice, v1: JSON) -> None:
    """A thermostat's ``device.v1`` write (the module docstring's rules)."""
    applied: JSON = {}
    refused: JSON = {}
    mode = v1.get("mode")
    if "mode" in v1:
        if isinstance(mode, str) and mode in supported_modes(device):
            applied["mode"] = mode
            entry = _mode_setpoints(device).get(mode)
            if isinstance(entry, dict):  # [sim] the new mode's own set point (and auto's dead band)
                if _number(entry.get("setPoint")) is not None:
                    applied["setPoint"] = entry["setPoint"]
                if mode == "auto" and _number(entry.get("deadBand")) is not None:
                    applied["deadBand"] = entry["deadBand"]
        else:
            refused["mode"] = _field(device, "mode")
    if "setPoint" in v1:
        value = _number(v1["setPoint"])
        low, high = set_point_range(device)
        if value is not None and low <= value <= high:
            applied["setPoint"] = value
        else:
            refused["setPoint"] = _field(device, "setPoint")
            applied.pop("setPoint", None)
    if "deadBand" in v1:
        value = _number(v1["deadBand"])
        if value is not None and value > 0 and value >= dead_band_min(device) - 1e-9:
            applied["deadBand"] = value
        else:
            refused["deadBand"] = _field(device, "deadBand")
            applied.pop("deadBand", None)
    if "fanMode" in v1:
        fan = v1["fanMode"]
        if isinstance(fan, str) and fan in fan_modes(device):
            applied["fanMode"] = fan
        else:
            refused["fanMode"] = _field(device, "fanMode")
    if applied:
        _remember_set_point(device, applied)
        fx.update(device, applied, level=LEVEL_SETTING)
        update_operating_status(fx, device)
    if refused:
        fx.update(device, refused, record=False)


def _remember_set_point(device: HubDevice, applied: JSON) -> None:
    """[sim] A set point (or auto dead band) written for the current mode is kept in that mode's ``modeSetpoints``
    entry, so switching away and back finds it again."""
    mode = applied.get("mode", _field(device, "mode"))
    setpoints = _mode_setpoints(device)
    entry = setpoints.get(mode) if isinstance(mode, str) else None
    if not isinstance(entry, dict) or ("setPoint" not in applied and "deadBand" not in applied):
        return
    updated = copy.deepcopy(setpoints)
    if "setPoint" in applied:
        updated[mode]["setPoint"] = applied["setPoint"]
    if "deadBand" in applied and mode == "auto":
        updated[mode]["deadBand"] = applied["deadBand"]
    if updated != setpoints:
        applied["modeSetpoints"] = updated


def operating_mode(device: HubDevice, celsius: float) -> str:
    """[sim] What the system does at ``celsius``: ``heat``, ``cool`` or ``off``."""
    mode = _field(device, "mode")
    set_point = _number(_field(device, "setPoint"))
    if mode == "off" or set_point is None:
        return "off"
    if mode in ("heat", "aux"):
        return "heat" if celsius < set_point else "off"
    if mode == "cool":
        return "cool" if celsius > set_point else "off"
    if mode == "auto":
        band = _number(_field(device, "deadBand")) or 0.0
        if celsius < set_point - band:
            return "heat"
        if celsius > set_point + band:
            return "cool"
    return "off"


def update_operating_status(fx: Effects, thermostat: HubDevice) -> None:
    """[sim] Push the operating-status child's new ``operatingMode`` when it changes."""
    sensors = children(fx.hub, thermostat, TEMPERATURE_SENSOR_TYPE)
    celsius = _number(_field(sensors[0], "celsius")) if sensors else None
    if celsius is None:
        return
    status = operating_mode(thermostat, celsius)
    for child in children(fx.hub, thermostat, OPERATING_STATUS_TYPE):
        if _field(child, "operatingMode") != status:
            fx.update(
                child, {"operatingMode": status}, level=LEVEL_SETTING, actor=Actor("device", child.zid, child.name)
            )


def set_temperature(fx: Effects, sensor: HubDevice, celsius: float) -> None:
    """A temperature sensor reports ``celsius``; a thermostat it belongs to may start or stop heating/cooling."""
    fx.update(sensor, {"celsius": celsius}, level=LEVEL_SENSOR, actor=Actor("device", sensor.zid, sensor.name))
    parent = fx.hub.devices.get(str(_field(sensor, "parentZid") or ""))
    if parent is not None and parent.device_type == THERMOSTAT_TYPE:
        update_operating_status(fx, parent)
