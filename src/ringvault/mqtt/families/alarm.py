"""Ring Alarm on MQTT: the security panel (``alarm_control_panel`` + siren), its sensors, keypads, base station,
range extenders and sirens — every hub device of an ``ALARM_KINDS`` kind.

Sources: the entity set and payloads mirror tsightler/ring-mqtt (``devices/security-panel.js``,
``binary-sensor.js``, ``flood-freeze-sensor.js``, ``smoke-co-listener.js``, ``smoke-alarm.js``, ``co-alarm.js``,
``temperature-sensor.js``, ``keypad.js``, ``base-station.js``, ``range-extender.js``, ``siren.js``); component keys
and values follow Home Assistant's MQTT documentation (integrations ``alarm_control_panel.mqtt``,
``binary_sensor.mqtt`` with its device classes, ``sensor.mqtt``, ``number.mqtt``, ``select.mqtt``,
``switch.mqtt``). Differences from ring-mqtt, on purpose:

- an arm waits for the panel's answer (``Location.set_alarm_mode``) instead of sleeping a second and retrying five
  times; a refusal is one log line naming the sensors in the way, and the panel shows Ring's real mode;
- an alarm under way (``alarmInfo``) wins over the exit delay when both are set (ring-mqtt checks the delay first,
  so an entry delay — which also sets ``transitionDelayEndTimestamp`` — would show as ``arming``);
- CO uses Home Assistant's ``carbon_monoxide`` device class (ring-mqtt still uses ``gas``);
- each bypassable sensor's ``bypass_mode`` select (ring-mqtt's) starts from ``BridgeOptions.bypass_policy``
  (none → Never, faulted → Faulted, always → Always); a mode chosen through it is kept across restarts (the
  bridge's settings, as ring-mqtt keeps its state file). Motion
  and glassbreak sensors offer ``Faulted`` too (ring-mqtt: Never/Always only), since the policy ``faulted`` bypasses
  a motion sensor that sees motion when arming.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ringvault.cloud.errors import AlarmArmError, RingError
from ringvault.cloud.hub.kinds import AlarmMode, HubDeviceKind
from ringvault.mqtt.families._hub import (
    ALARM_KINDS,
    HubFamily,
    HubSite,
    as_float,
    as_int,
    as_str,
    clean,
    common_entities,
    confirm,
    guarded,
    is_thermostat_part,
    on_off,
    safe_json,
)
from ringvault.mqtt.families._keypad import KEYPAD_MOTION_HOLD_S, keypad_extras
from ringvault.mqtt.families._panel_log import PanelLog
from ringvault.mqtt.families._station import power_entities, volume_entity
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice, StatePayload

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice, Impulse
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["BYPASS_MODES", "ORDER", "AlarmFamily", "make_family", "panel_state"]

#: Before the other hub families: the base station is the ``via`` of every alarm device.
ORDER = 20

log = logging.getLogger("ringvault.mqtt.alarm")
K = HubDeviceKind

#: The select's options (ring-mqtt binary-sensor.js ``bypass_modes``).
BYPASS_MODES = ("Never", "Faulted", "Always")
_POLICY_MODE = {"none": "Never", "faulted": "Faulted", "always": "Always"}
#: Sensors that can be bypassed when arming (ring-mqtt lib/ring.js ``bypassCapableDevices``; ``sensor.zone`` is a
#: contact kind here).
BYPASSABLE = frozenset({K.CONTACT_SENSOR, K.MOTION_SENSOR, K.TILT_SENSOR, K.GLASSBREAK_SENSOR})
#: ``alarmInfo.state`` values (reference §7.7, rca ``allAlarmStates``): ``entry-delay`` is pending, the rest triggered.
ALARM_STATES = frozenset(
    {
        "burglar-alarm",
        "entry-delay",
        "fire-alarm",
        "co-alarm",
        "panic",
        "user-verified-burglar-alarm",
        "user-verified-co-or-fire-alarm",
        "burglar-accelerated-alarm",
        "fire-accelerated-alarm",
    }
)
_PANEL_STATES = {"none": "disarmed", "some": "armed_home", "all": "armed_away"}
_COMMANDS: dict[str, AlarmMode] = {"DISARM": "none", "ARM_HOME": "some", "ARM_AWAY": "all"}
_BUILD_FIRST = {K.BASE_STATION: 0, K.SECURITY_PANEL: 1}


def _now_ms() -> float:
    return time.time() * 1000.0


def _alarm_info_state(data: Mapping[str, Any]) -> str | None:
    info = data.get("alarmInfo")
    state = info.get("state") if isinstance(info, Mapping) else None
    return state if isinstance(state, str) and state else None


def _delay_end_ms(data: Mapping[str, Any]) -> float | None:
    return as_float(data.get("transitionDelayEndTimestamp"))


def panel_state(data: Mapping[str, Any], now_ms: float | None = None) -> StatePayload:
    """Home Assistant's alarm state from the panel's data: an alarm (``alarmInfo``) → ``pending`` (entry delay) or
    ``triggered``; armed with the exit delay running → ``arming``; else ``mode`` none/some/all → disarmed /
    armed_home / armed_away (anything else: unknown, nothing published)."""
    alarm = _alarm_info_state(data)
    if alarm in ALARM_STATES:
        return "pending" if alarm == "entry-delay" else "triggered"
    mode = as_str(data.get("mode"))
    ends = _delay_end_ms(data)
    if mode in ("some", "all") and ends is not None and ends > (_now_ms() if now_ms is None else now_ms):
        return "arming"
    return _PANEL_STATES.get(mode or "")


def _is_faulted(device: HubDevice) -> bool:
    return device.faulted is True or device.data.get("motionStatus") == "faulted"


def _faulted_state(device: HubDevice) -> StatePayload:
    value = device.data.get("faulted")
    return on_off(value) if isinstance(value, bool) else None


def _nested_faulted(device: HubDevice, key: str) -> StatePayload:
    part = device.data.get(key)
    if isinstance(part, Mapping) and isinstance(part.get("faulted"), bool):
        return on_off(part["faulted"])
    if device.device_type == "sensor.water" and key == "flood":
        return _faulted_state(device)
    return None


def _alarm_status(value: Any) -> StatePayload:
    """``alarmStatus`` active/inactive → ON/OFF (ring-mqtt smoke/CO devices)."""
    status = value.get("alarmStatus") if isinstance(value, Mapping) else value
    return on_off(status == "active") if isinstance(status, str) else None


def _component(device: HubDevice, name: str) -> Any:
    components = device.data.get("components")
    return components.get(name) if isinstance(components, Mapping) else None


def _iso(ms: float | None) -> str | None:
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000.0, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


class AlarmFamily(HubFamily):
    """Every Ring Alarm device of every location (see the module docstring)."""

    name = "alarm"

    def __init__(self, options: BridgeOptions) -> None:
        super().__init__(options)
        self.bypass_modes: dict[str, str] = {}
        """per sensor zid: the bypass mode chosen through its select (absent: the policy's)"""
        self.refusals: dict[str, str | None] = {}
        """per location id: the last arm Ring refused (shown as an attribute of the panel), None after a success"""
        self.panel_logs: dict[str, PanelLog] = {}
        """per location id: who last armed, disarmed, cleared (the panel's attributes)"""
        self.keypad_motion_hold_s = KEYPAD_MOTION_HOLD_S
        """how long a keypad's proximity motion stays ON after Ring's last ``keypad.motion`` (ring-mqtt: 20 s)"""

    def claims(self, device: HubDevice) -> bool:
        return device.kind in ALARM_KINDS and not is_thermostat_part(device)  # a thermostat's sensor: climate's

    def build_order(self, device: HubDevice) -> int:
        return _BUILD_FIRST.get(device.kind, 2)

    @property
    def default_bypass(self) -> str:
        return _POLICY_MODE[self.options.bypass_policy]

    def bypass_mode(self, zid: str) -> str:
        """The sensor's mode: chosen through its select (this run, or kept from an earlier one), else the policy's."""
        chosen = self.bypass_modes.get(zid)
        if chosen is None:
            stored = self.settings.get("bypass_mode", zid)
            chosen = stored if stored in BYPASS_MODES else None
        return chosen if isinstance(chosen, str) else self.default_bypass

    def bypass_list(self, site: HubSite) -> list[HubDevice]:
        """The sensors an arm bypasses now: ``Always`` ones, and ``Faulted`` ones that are open / see motion."""
        chosen: list[HubDevice] = []
        for device in site.hub_devices():
            if device.kind not in BYPASSABLE:
                continue
            mode = self.bypass_mode(device.zid)
            if mode == "Always" or (mode == "Faulted" and _is_faulted(device)):
                chosen.append(device)
        return chosen

    # -- building ----------------------------------------------------------------------------------------------
    def build(self, site: HubSite, device: HubDevice) -> MqttDevice | None:
        kind = device.kind
        builder = _BUILDERS.get(kind)
        if builder is None:
            return None
        mqtt = builder(self, site, device)
        common_entities(mqtt, device)
        return mqtt

    def updated(self, site: HubSite, device: HubDevice, mqtt: MqttDevice) -> None:
        """An exit delay that Ring ends without an update still ends here: re-read the panel when it runs out."""
        if device.kind is not K.SECURITY_PANEL:
            return
        ends = _delay_end_ms(device.data)
        left_ms = ends - _now_ms() if ends is not None else 0.0
        if 0 < left_ms < 24 * 3600 * 1000:
            self.later(left_ms / 1000.0 + 0.25, lambda: site.ctx.sink.changed(mqtt))

    def _panel(self, site: HubSite, device: HubDevice) -> MqttDevice:
        location = site.location
        mqtt = site.mqtt_device(device, name=f"{clean(location.name)} Alarm", model="Alarm Control Panel")

        async def arm(payload: str) -> None:
            mode = _COMMANDS.get(payload.strip().upper())
            if mode is None:
                raise CommandRejected(
                    f"alarm of {clean(location.name)}: unknown command {clean(payload, 40)!r}; "
                    "send DISARM, ARM_HOME or ARM_AWAY"
                )
            await self._switch(site, mode)

        mqtt.add(
            Entity(
                "alarm_control_panel",
                "alarm",
                None,
                read=guarded(f"{device.zid} alarm", lambda: panel_state(device.data)),
                command=arm,
                attributes=guarded(f"{device.zid} alarm attributes", lambda: self._panel_attributes(site, device)),
                # Home Assistant alarm_control_panel.mqtt: supported_features names the arm services offered;
                # Ring takes no code here, so no code is asked for
                options={
                    "supported_features": ["arm_home", "arm_away"],
                    "code_arm_required": False,
                    "code_disarm_required": False,
                    "code_trigger_required": False,
                },
            )
        )

        async def siren(payload: str) -> None:
            on = _switch_payload(payload, f"siren of {clean(location.name)}")
            await confirm(
                device,
                location.sound_siren if on else location.silence_siren,
                lambda data: _siren_on(data) is on,
                what=f"siren {'on' if on else 'off'}",
                timeout=site.timeout,
            )

        # ring-mqtt security-panel.js: the siren is a switch on the panel (mdi:alarm-light)
        mqtt.add(
            Entity(
                "switch",
                "siren",
                "Siren",
                read=guarded(f"{device.zid} siren", lambda: _siren_state(device.data)),
                command=siren,
                icon="mdi:alarm-light",
            )
        )
        self._follow_panel_log(site, device, mqtt)
        return mqtt

    def _follow_panel_log(self, site: HubSite, device: HubDevice, mqtt: MqttDevice) -> None:
        """Who armed, disarmed, cleared: live from the panel's impulses, and once from its newest history."""
        record = self.panel_logs.setdefault(site.location.id, PanelLog())

        def impulse(seen: Impulse) -> None:
            if record.seen(seen):
                site.ctx.sink.changed(mqtt)

        self._unsubscribe.append(device.on_impulse.subscribe(impulse))

        async def seed() -> None:
            items = await site.location.get_alarm_history(limit=50, affected_id=device.zid)
            if record.seed(items):
                site.ctx.sink.changed(mqtt)

        self.spawn(seed(), f"alarm history of {clean(site.location.name)}")

    async def _switch(self, site: HubSite, mode: AlarmMode) -> None:
        """Arm or disarm, bypassing what the sensors' bypass modes say; a refusal is one log line."""
        location = site.location
        bypass = [] if mode == "none" else self.bypass_list(site)
        if bypass:
            log.info("%s: arming bypasses %s", clean(location.name), ", ".join(clean(d.name) for d in bypass))
        try:
            await location.set_alarm_mode(mode, [d.zid for d in bypass], timeout=site.timeout)
        except AlarmArmError as err:
            self.refusals[location.id] = clean(str(err), 400)
            log.warning("alarm of %s: %s", clean(location.name), clean(str(err), 400))
            return
        except RingError as err:
            log.warning("alarm of %s: %s", clean(location.name), clean(err.one_line, 400))
            return
        self.refusals[location.id] = None

    def _panel_attributes(self, site: HubSite, device: HubDevice) -> dict[str, Any]:
        data = device.data
        faulted = [clean(d.name) for d in site.hub_devices() if d.kind in BYPASSABLE and _is_faulted(d)]
        return safe_json(
            {
                "alarm_state": _alarm_info_state(data) or "all-clear",
                "mode": as_str(data.get("mode")),
                "delay_ends": _iso(_delay_end_ms(data)),
                "faulted_sensors": faulted,
                "bypass_policy": self.options.bypass_policy,
                "last_refusal": self.refusals.get(site.location.id),
                **self.panel_logs.get(site.location.id, PanelLog()).attributes(),
            }
        )

    def _sensor(self, site: HubSite, device: HubDevice) -> MqttDevice:
        """Contact, motion, tilt, glassbreak and generic sensors (ring-mqtt binary-sensor.js)."""
        kind = device.kind
        key, device_class, model = "sensor", None, "Sensor"
        if kind is K.CONTACT_SENSOR and device.device_type == "sensor.zone":
            key, device_class, model = "zone", "safety", "Retrofit Zone"
        elif kind is K.CONTACT_SENSOR:
            window = as_int(device.data.get("subCategoryId")) == 2
            key, device_class, model = "contact", "window" if window else "door", "Contact Sensor"
        elif kind is K.MOTION_SENSOR:
            key, device_class, model = "motion", "motion", "Motion Sensor"
        elif kind is K.TILT_SENSOR:
            key, device_class, model = "tilt", "garage_door", "Tilt Sensor"
        elif kind is K.GLASSBREAK_SENSOR:
            key, device_class, model = "glassbreak", "safety", "Glassbreak Sensor"
        elif "motion" in device.name.lower():
            key, device_class, model = "motion", "motion", "Motion Sensor"
        mqtt = site.mqtt_device(device, model=model)
        mqtt.add(
            Entity(
                "binary_sensor",
                key,
                None,
                read=guarded(f"{device.zid} {key}", lambda: _faulted_state(device)),
                options={"device_class": device_class} if device_class else {},
            )
        )
        if kind in BYPASSABLE:
            mqtt.add(self._bypass_select(device))
        return mqtt

    def _bypass_select(self, device: HubDevice) -> Entity:
        zid = device.zid

        async def choose(payload: str) -> None:
            wanted = payload.strip().lower()
            for mode in BYPASS_MODES:
                if mode.lower() == wanted:
                    self.bypass_modes[zid] = mode
                    self.settings.set("bypass_mode", zid, mode)  # kept across restarts, as ring-mqtt does
                    return
            raise CommandRejected(
                f"bypass mode of {clean(device.name)}: {clean(payload, 40)!r} is not one of {', '.join(BYPASS_MODES)}"
            )

        return Entity(
            "select",
            "bypass_mode",
            "Bypass Mode",
            read=lambda: self.bypass_mode(zid),
            command=choose,
            options={"options": list(BYPASS_MODES)},
            category="config",
            icon="mdi:shield-off-outline",
        )

    def _flood_freeze(self, site: HubSite, device: HubDevice) -> MqttDevice:
        mqtt = site.mqtt_device(device, model="Flood & Freeze Sensor")
        kind = device.device_type
        if kind != "sensor.freeze" or "flood" in device.data:
            mqtt.add(
                Entity(
                    "binary_sensor",
                    "flood",
                    "Flood",
                    read=guarded(f"{device.zid} flood", lambda: _nested_faulted(device, "flood")),
                    options={"device_class": "moisture"},
                )
            )
        if kind not in ("sensor.water",) or "freeze" in device.data:
            mqtt.add(
                Entity(
                    "binary_sensor",
                    "freeze",
                    "Freeze",
                    read=guarded(f"{device.zid} freeze", lambda: _nested_faulted(device, "freeze")),
                    options={"device_class": "cold"},
                )
            )
        return mqtt

    def _smoke_co(self, site: HubSite, device: HubDevice) -> MqttDevice:
        """Smoke alarms, CO alarms, the smoke/CO listener and Kidde combination alarms."""
        kind = device.kind
        smoke: Callable[[], StatePayload] | None = None
        co: Callable[[], StatePayload] | None = None
        if kind is K.SMOKE_CO_LISTENER:
            model = "Smoke & CO Listener"
            smoke = lambda: _alarm_status(device.data.get("smoke"))  # noqa: E731
            co = lambda: _alarm_status(device.data.get("co"))  # noqa: E731
        elif "components" in device.data or device.device_type.startswith("comp.bluejay."):
            model = "Smoke & CO Alarm"
            smoke = lambda: _alarm_status(_component(device, "alarm.smoke"))  # noqa: E731
            co = lambda: _alarm_status(_component(device, "alarm.co"))  # noqa: E731
        elif kind is K.CO_ALARM:
            model = "CO Alarm"
            co = lambda: _alarm_status(device.data.get("alarmStatus"))  # noqa: E731
        else:
            model = "Smoke Alarm"
            smoke = lambda: _alarm_status(device.data.get("alarmStatus"))  # noqa: E731
        mqtt = site.mqtt_device(device, model=model)
        if smoke is not None:
            mqtt.add(
                Entity(
                    "binary_sensor",
                    "smoke",
                    "Smoke",
                    read=guarded(f"{device.zid} smoke", smoke),
                    options={"device_class": "smoke"},
                )
            )
        if co is not None:
            mqtt.add(
                Entity(
                    "binary_sensor",
                    "co",
                    "CO",
                    read=guarded(f"{device.zid} co", co),
                    options={"device_class": "carbon_monoxide"},
                )
            )
        return mqtt

    def _temperature(self, site: HubSite, device: HubDevice) -> MqttDevice:
        mqtt = site.mqtt_device(device, model="Temperature Sensor")

        def read() -> StatePayload:
            celsius = as_float(device.data.get("celsius"))
            return f"{celsius:.1f}" if celsius is not None and -100.0 <= celsius <= 200.0 else None

        mqtt.add(
            Entity(
                "sensor",
                "temperature",
                "Temperature",
                read=guarded(f"{device.zid} temperature", read),
                options={"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement"},
            )
        )
        return mqtt

    def _keypad(self, site: HubSite, device: HubDevice) -> MqttDevice:
        mqtt = site.mqtt_device(device, model="Security Keypad")
        if "volume" in device.data:
            mqtt.add(volume_entity(site, device))
        keypad_extras(site, device, mqtt, later=self.later, subscriptions=self._unsubscribe,
                      hold_s=self.keypad_motion_hold_s)  # fmt: skip
        return mqtt

    def _base_station(self, site: HubSite, device: HubDevice) -> MqttDevice:
        # one Home Assistant device for the base station: the account's device (its Ring id, the ``via`` of every
        # alarm device) and the hub's own ``hub.redsky`` device (volume, power) are the same box
        hub_id = site.hub_device_id(device)
        listed = next((d for d in site.location.devices if d.id == hub_id), None) if hub_id is not None else None
        name = listed.name if listed is not None and listed.name else f"{site.location.name} Base Station"
        mqtt = site.mqtt_device(device, name=clean(name), model="Alarm Base Station", as_hub=True)
        if "volume" in device.data:
            mqtt.add(volume_entity(site, device))
        power_entities(mqtt, device)
        return mqtt

    def _range_extender(self, site: HubSite, device: HubDevice) -> MqttDevice:
        mqtt = site.mqtt_device(device, model="Z-Wave Range Extender")
        power_entities(mqtt, device)
        return mqtt

    def _siren(self, site: HubSite, device: HubDevice) -> MqttDevice:
        """Alarm sirens (ring-mqtt siren.js): on/off through ``on`` (outdoor sirens: a siren test)."""
        outdoor = device.device_type == "siren.outdoor-strobe"
        mqtt = site.mqtt_device(device, model="Outdoor Siren" if outdoor else "Siren")

        async def switch(payload: str) -> None:
            on = _switch_payload(payload, clean(device.name))

            async def send() -> None:
                if outdoor:
                    await device.send_command("siren-test.start" if on else "siren-test.stop")
                else:
                    await device.set_info({"device": {"v1": {"on": on}}})

            await confirm(
                device,
                send,
                lambda data: (data.get("sirenStatus") == "active") is on,
                what=f"siren {'on' if on else 'off'}",
                timeout=site.timeout,
            )

        mqtt.add(
            Entity(
                "switch",
                "siren",
                None,
                read=guarded(f"{device.zid} siren", lambda: _siren_status(device.data)),
                command=switch,
                icon="mdi:alarm-light",
            )
        )
        return mqtt


def _siren_on(data: Mapping[str, Any]) -> bool | None:
    siren = data.get("siren")
    state = siren.get("state") if isinstance(siren, Mapping) else None
    return state == "on" if isinstance(state, str) else None


def _siren_state(data: Mapping[str, Any]) -> StatePayload:
    on = _siren_on(data)
    return on_off(on) if on is not None else None


def _siren_status(data: Mapping[str, Any]) -> StatePayload:
    status = data.get("sirenStatus")
    return on_off(status == "active") if isinstance(status, str) else None


def _switch_payload(payload: str, what: str) -> bool:
    word = payload.strip().upper()
    if word not in ("ON", "OFF"):
        raise CommandRejected(f"{what}: {clean(payload, 40)!r} is not ON or OFF")
    return word == "ON"


_Builder = Callable[[AlarmFamily, HubSite, "HubDevice"], MqttDevice]
_BUILDERS: dict[HubDeviceKind, _Builder] = {
    K.SECURITY_PANEL: AlarmFamily._panel,
    K.BASE_STATION: AlarmFamily._base_station,
    K.KEYPAD: AlarmFamily._keypad,
    K.CONTACT_SENSOR: AlarmFamily._sensor,
    K.MOTION_SENSOR: AlarmFamily._sensor,
    K.TILT_SENSOR: AlarmFamily._sensor,
    K.GLASSBREAK_SENSOR: AlarmFamily._sensor,
    K.SENSOR: AlarmFamily._sensor,
    K.FLOOD_FREEZE_SENSOR: AlarmFamily._flood_freeze,
    K.TEMPERATURE_SENSOR: AlarmFamily._temperature,
    K.SMOKE_ALARM: AlarmFamily._smoke_co,
    K.CO_ALARM: AlarmFamily._smoke_co,
    K.SMOKE_CO_LISTENER: AlarmFamily._smoke_co,
    K.SIREN: AlarmFamily._siren,
    K.RANGE_EXTENDER: AlarmFamily._range_extender,
}
assert set(_BUILDERS) == set(ALARM_KINDS), "every alarm kind has a builder"


def make_family(options: BridgeOptions) -> AlarmFamily:
    return AlarmFamily(options)
