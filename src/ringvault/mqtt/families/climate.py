"""Z-Wave thermostats on MQTT: one Home Assistant ``climate`` entity per ``temperature-control.thermostat``, with
its room temperature and what the system does right now taken from the thermostat's two child devices.

Sources: tsightler/ring-mqtt ``devices/thermostat.js`` (the modes are the keys of ``modeSetpoints`` among
off/cool/heat/auto; ``aux`` — emergency heat — is a preset, shown as heat; fan modes from ``supportedFanModes``,
``auto`` alone without them; the auto range is ``setPoint`` ∓ ``deadBand``, written back as its middle and half-width
and never narrower than ``modeSetpoints.auto.deadBandMin``; the action is the operating status child's
``operatingMode`` + "ing", else ``off`` when the mode is off, ``fan`` when the fan runs, ``idle``) and ring-mqtt
``lib/ring.js`` (children by ``parentZid``: the ``sensor.temperature`` under a thermostat and the
``thermostat-operating-status`` device are not published on their own). Home Assistant's ``climate.mqtt`` options
(https://www.home-assistant.io/integrations/climate.mqtt/, home-assistant/core ``mqtt/climate.py``).

Where this differs from ring-mqtt, on purpose:

- Ring's ``auto`` (a range between two set points) is Home Assistant's ``heat_cool``: Home Assistant's ``auto`` means
  a schedule the user cannot adjust (``HVACMode`` in core ``climate/const.py``), and with ``heat_cool`` beside
  ``heat``/``cool`` Home Assistant keeps the single and the range set points apart.
- Fan modes keep Ring's lower-case names (``auto``, ``on``, ``circulate``): Home Assistant's own fan mode constants
  are lower case and get translated; the preset is ``Auxiliary`` (ring-mqtt spells it "Auxillary").

Topics: everything reads one retained JSON state (``.../thermostat/state``: ``mode``, ``temperature``,
``temperature_low``, ``temperature_high``, ``current_temperature``, ``fan_mode``, ``preset_mode``, ``action``; null
when unknown or not used in the mode, which Home Assistant's templates render as "None", its reset payload), each
through its own ``*_state_template``. Every command goes to ``.../thermostat/set`` as a JSON object made by the
matching ``*_command_template`` (``{"mode": "heat"}``, ``{"temperature": 21.5}``, ``{"temperature_low": 19}``, ...);
one payload may carry several keys. Commands are checked against what the thermostat offers (``CommandRejected``)
and end once Ring answered (``Thermostat.write_and_confirm``); the bridge then republishes Ring's state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ringvault.cloud.errors import RingError
from ringvault.cloud.hub.thermostat import OPERATING_STATUS_TYPE, Thermostat
from ringvault.mqtt.families._hub import (
    CLIMATE_KINDS,
    HubFamily,
    HubSite,
    as_float,
    clean,
    common_entities,
    guarded,
    is_thermostat_part,
)
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["AUX_PRESET", "ORDER", "ClimateFamily", "make_family", "parse_command", "thermostat_state"]

ORDER = 35

log = logging.getLogger("ringvault.mqtt.climate")

#: Ring mode -> Home Assistant mode (``aux`` is heat with the ``Auxiliary`` preset).
_HA_MODE = {"off": "off", "heat": "heat", "cool": "cool", "auto": "heat_cool", "aux": "heat"}
_RING_MODE = {"off": "off", "heat": "heat", "cool": "cool", "heat_cool": "auto"}
AUX_PRESET = "Auxiliary"
#: ``operatingMode`` -> Home Assistant ``action`` (ring-mqtt: the operating mode + "ing").
_ACTIONS = {"heat": "heating", "cool": "cooling"}
_KEYS = ("mode", "preset_mode", "fan_mode", "temperature", "temperature_low", "temperature_high")
_USAGE = "send a JSON object with mode, preset_mode, fan_mode, temperature or temperature_low/temperature_high"


def _ha_modes(thermostat: Thermostat) -> list[str]:
    return [_HA_MODE[mode] for mode in thermostat.modes if mode != "aux"]


def thermostat_state(thermostat: Thermostat) -> dict[str, Any]:
    """The climate entity's JSON state (see the module docstring)."""
    mode = thermostat.mode
    set_point = thermostat.set_point
    state: dict[str, Any] = {
        "mode": _HA_MODE.get(mode) if mode is not None else None,
        "temperature": None,
        "temperature_low": None,
        "temperature_high": None,
        "current_temperature": thermostat.temperature,
        "fan_mode": thermostat.fan_mode,
        "preset_mode": (AUX_PRESET if mode == "aux" else "none") if mode is not None else None,
        "action": _action(thermostat),
    }
    if mode == "auto":
        band = thermostat.auto_range
        if band is not None:
            state["temperature_low"], state["temperature_high"] = round(band[0], 2), round(band[1], 2)
    elif mode in ("heat", "cool", "aux"):
        state["temperature"] = set_point
    return state


def _action(thermostat: Thermostat) -> str | None:
    operating = thermostat.operating_mode
    if operating in _ACTIONS:
        return _ACTIONS[operating]
    if thermostat.mode == "off":
        return "off"
    if operating == "off":
        return "fan" if thermostat.fan_mode == "on" else "idle"
    return None


def _options(thermostat: Thermostat) -> dict[str, Any]:
    low, high = thermostat.set_point_range
    options: dict[str, Any] = {
        "modes": _ha_modes(thermostat),
        "fan_modes": list(thermostat.fan_modes),
        "min_temp": low,
        "max_temp": high,
        "temp_step": 0.5,
        "precision": 0.1,
        "temperature_unit": "C",
        "mode_state_template": "{{ value_json.mode }}",
        "temperature_state_template": "{{ value_json.temperature }}",
        "temperature_low_state_template": "{{ value_json.temperature_low }}",
        "temperature_high_state_template": "{{ value_json.temperature_high }}",
        "current_temperature_template": "{{ value_json.current_temperature }}",
        "fan_mode_state_template": "{{ value_json.fan_mode }}",
        "action_template": "{{ value_json.action }}",
        "mode_command_template": '{"mode": {{ value | to_json }}}',
        "temperature_command_template": '{"temperature": {{ value | to_json }}}',
        "temperature_low_command_template": '{"temperature_low": {{ value | to_json }}}',
        "temperature_high_command_template": '{"temperature_high": {{ value | to_json }}}',
        "fan_mode_command_template": '{"fan_mode": {{ value | to_json }}}',
    }
    if "aux" in thermostat.modes:
        options["preset_modes"] = [AUX_PRESET]
        options["preset_mode_value_template"] = "{{ value_json.preset_mode }}"
        options["preset_mode_command_template"] = '{"preset_mode": {{ value | to_json }}}'
    return options


def _topic_keys(thermostat: Thermostat) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The state keys beside ``mode_state_topic`` and the command keys beside ``mode_command_topic``."""
    states: tuple[str, ...] = (
        "temperature_state_topic",
        "temperature_low_state_topic",
        "temperature_high_state_topic",
        "current_temperature_topic",
        "fan_mode_state_topic",
        "action_topic",
    )
    commands: tuple[str, ...] = (
        "temperature_command_topic",
        "temperature_low_command_topic",
        "temperature_high_command_topic",
        "fan_mode_command_topic",
    )
    if "aux" in thermostat.modes:
        states += ("preset_mode_state_topic",)
        commands += ("preset_mode_command_topic",)
    return states, commands


def parse_command(payload: str, what: str) -> dict[str, Any]:
    """A climate command: a JSON object with one or more of ``_KEYS`` (``CommandRejected`` otherwise)."""
    try:
        doc = json.loads(payload)
    except ValueError:
        raise CommandRejected(f"{what}: not JSON; {_USAGE}") from None
    if not isinstance(doc, dict) or not doc:
        raise CommandRejected(f"{what}: not a JSON object; {_USAGE}")
    unknown = [clean(key, 40) for key in doc if key not in _KEYS]
    if unknown:
        raise CommandRejected(f"{what}: unknown key(s) {', '.join(unknown)}; {_USAGE}")
    return doc


class ClimateFamily(HubFamily):
    """Every thermostat of every location (see the module docstring); its child devices are claimed too, so no
    other family publishes them, and a change of theirs republishes the thermostat."""

    name = "climate"

    def __init__(self, options: BridgeOptions) -> None:
        super().__init__(options)
        self._watched: set[str] = set()

    def claims(self, device: HubDevice) -> bool:
        return device.kind in CLIMATE_KINDS or is_thermostat_part(device)

    def build_order(self, device: HubDevice) -> int:
        return 0 if device.kind in CLIMATE_KINDS else 1

    def build(self, site: HubSite, device: HubDevice) -> MqttDevice | None:
        if device.kind not in CLIMATE_KINDS:
            self._watch_part(site, device)
            return None
        thermostat = Thermostat(device)
        mqtt = site.mqtt_device(device, model="Thermostat")
        states, commands = _topic_keys(thermostat)

        async def command(payload: str) -> None:
            await self._command(site, thermostat, payload)

        mqtt.add(
            Entity(
                "climate",
                "thermostat",
                None,
                read=guarded(f"{device.zid} thermostat",
                             lambda: json.dumps(thermostat_state(thermostat), sort_keys=True, allow_nan=False)),
                command=command,
                options=_options(thermostat),
                state_key="mode_state_topic",
                state_keys=states,
                command_key="mode_command_topic",
                command_keys=commands,
            )
        )  # fmt: skip
        common_entities(mqtt, device)
        for child in device.children:
            self._watch_part(site, child)
        return mqtt

    def _watch_part(self, site: HubSite, part: HubDevice) -> None:
        """A child's change republishes its thermostat (once subscribed per child)."""
        if part.zid in self._watched:
            return
        parent_zid = part.parent_zid
        if parent_zid is None and part.device_type == OPERATING_STATUS_TYPE:
            return  # an operating status that names no thermostat: nothing to show it on
        self._watched.add(part.zid)

        def changed(_data: Mapping[str, Any]) -> None:
            mqtt = site.devices.get(parent_zid or "")
            if mqtt is not None:
                site.ctx.sink.changed(mqtt)

        self._unsubscribe.append(part.on_data.subscribe(changed))
        changed({})

    # -- commands -------------------------------------------------------------------------------------------------
    async def _command(self, site: HubSite, thermostat: Thermostat, payload: str) -> None:
        what = f"thermostat {clean(thermostat.device.name)}"
        doc = parse_command(payload, what)
        writes: list[tuple[str, dict[str, Any]]] = []
        try:
            if "mode" in doc:
                writes.append(("mode", thermostat.write_for(mode=self._ring_mode(thermostat, doc["mode"], what))))
            if "preset_mode" in doc:
                mode = self._preset(thermostat, doc["preset_mode"], what)
                if mode is not None:
                    writes.append(("preset", thermostat.write_for(mode=mode)))
            if "fan_mode" in doc:
                fan_mode = self._text(doc["fan_mode"], "fan_mode", what)
                writes.append(("fan mode", thermostat.write_for(fan_mode=fan_mode)))
            if "temperature" in doc:
                writes.append(("set point", thermostat.write_for(set_point=self._number(doc["temperature"], what))))
            if "temperature_low" in doc or "temperature_high" in doc:
                writes.append(("range", self._range(thermostat, doc, what)))
        except ValueError as exc:  # the thermostat cannot take it: Thermostat's one line
            raise CommandRejected(str(exc)) from None
        for label, v1 in writes:
            await self._write(site, thermostat, label, v1)

    @staticmethod
    def _text(value: Any, key: str, what: str) -> str:
        if not isinstance(value, str):
            raise CommandRejected(f"{what}: {key} must be a string; {_USAGE}")
        return value

    @staticmethod
    def _number(value: Any, what: str) -> float:
        number = as_float(value)
        if number is None:
            raise CommandRejected(f"{what}: temperatures must be numbers (°C); {_USAGE}")
        return number

    def _ring_mode(self, thermostat: Thermostat, value: Any, what: str) -> str:
        mode = self._text(value, "mode", what)
        offered = _ha_modes(thermostat)
        if mode not in offered:
            raise CommandRejected(f"{what}: mode must be one of {', '.join(offered)}, not {clean(mode, 40)!r}")
        return _RING_MODE[mode]

    def _preset(self, thermostat: Thermostat, value: Any, what: str) -> str | None:
        """``Auxiliary`` → Ring's ``aux``; ``none`` leaves aux for heat (ring-mqtt), and is nothing to do
        otherwise."""
        preset = self._text(value, "preset_mode", what)
        if preset == AUX_PRESET and "aux" in thermostat.modes:
            return "aux"
        if preset == "none":
            return "heat" if thermostat.mode == "aux" else None
        offered = f"{AUX_PRESET} or none" if "aux" in thermostat.modes else "none"
        raise CommandRejected(f"{what}: preset_mode must be {offered}, not {clean(preset, 40)!r}")

    def _range(self, thermostat: Thermostat, doc: Mapping[str, Any], what: str) -> dict[str, Any]:
        """Home Assistant sends the low and the high end as two commands: each moves its end and keeps the other,
        unless they would come closer than twice the dead band minimum — then the other end moves with it."""
        if thermostat.mode != "auto":
            raise CommandRejected(f"{what}: a temperature range needs mode heat_cool (Ring's auto)")
        current = thermostat.auto_range
        low = self._number(doc["temperature_low"], what) if "temperature_low" in doc else None
        high = self._number(doc["temperature_high"], what) if "temperature_high" in doc else None
        gap = 2 * thermostat.dead_band_min
        if low is None or high is None:
            if current is None:
                raise CommandRejected(f"{what}: Ring reports no range yet; send temperature_low and temperature_high")
            if low is None:
                assert high is not None
                low = min(current[0], high - gap)
            else:
                high = max(current[1], low + gap)
        return thermostat.range_write(low, high)

    async def _write(self, site: HubSite, thermostat: Thermostat, label: str, v1: dict[str, Any]) -> None:
        name = clean(thermostat.device.name)
        try:
            answer = await thermostat.write_and_confirm(v1, timeout=site.timeout)
        except RingError as err:
            log.warning("thermostat %s: %s failed: %s", name, label, clean(err.one_line, 400))
            return
        if answer == "refused":
            log.warning("thermostat %s: Ring refused the %s %s; showing Ring's state", name, label, _shown(v1))
        elif answer == "timeout":
            log.warning("thermostat %s: Ring did not confirm the %s within %g s; showing Ring's state", name, label,
                        site.timeout)  # fmt: skip


def _shown(v1: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {value!r}" for key, value in v1.items())


def make_family(options: BridgeOptions) -> ClimateFamily:
    return ClimateFamily(options)
