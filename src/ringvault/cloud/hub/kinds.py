"""What a hub device is: ``deviceType`` (reference §7.11, rca ``RingDeviceType``) → ``HubDeviceKind`` and a label.

Not a closed list: Ring adds device types, so an unknown ``deviceType`` falls back by prefix (any ``sensor.*`` is a
sensor, any ``lock.*`` a lock, ...) and then to ``unknown``; the device is kept either way with its raw document.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = ["AlarmMode", "HubDeviceKind", "kind_of", "type_label"]

#: Ring's alarm modes (security panel ``mode``): disarmed, home, away.
AlarmMode = Literal["none", "some", "all"]


class HubDeviceKind(StrEnum):
    SECURITY_PANEL = "security_panel"
    BASE_STATION = "base_station"
    KEYPAD = "keypad"
    CONTACT_SENSOR = "contact_sensor"
    MOTION_SENSOR = "motion_sensor"
    FLOOD_FREEZE_SENSOR = "flood_freeze_sensor"
    TEMPERATURE_SENSOR = "temperature_sensor"
    TILT_SENSOR = "tilt_sensor"
    GLASSBREAK_SENSOR = "glassbreak_sensor"
    SMOKE_ALARM = "smoke_alarm"
    CO_ALARM = "co_alarm"
    SMOKE_CO_LISTENER = "smoke_co_listener"
    PANIC_BUTTON = "panic_button"
    SIREN = "siren"
    RANGE_EXTENDER = "range_extender"
    ADAPTER = "adapter"
    ACCESS_CODE = "access_code"
    LIGHT = "light"
    SWITCH = "switch"
    DIMMER = "dimmer"
    LOCK = "lock"
    THERMOSTAT = "thermostat"
    VALVE = "valve"
    BEAMS_LIGHT = "beams_light"
    BEAMS_MOTION_SENSOR = "beams_motion_sensor"
    BEAMS_GROUP = "beams_group"
    BEAMS_TRANSFORMER = "beams_transformer"
    SENSOR = "sensor"
    """a ``sensor`` or ``sensor.*`` type without a kind of its own"""
    UNKNOWN = "unknown"


K = HubDeviceKind

#: Exact ``deviceType`` values (§7.11).
_EXACT: dict[str, HubDeviceKind] = {
    "security-panel": K.SECURITY_PANEL,
    "hub.redsky": K.BASE_STATION,
    "hub.kili": K.BASE_STATION,
    "security-keypad": K.KEYPAD,
    "security-panic": K.PANIC_BUTTON,
    "sensor.contact": K.CONTACT_SENSOR,
    "sensor.zone": K.CONTACT_SENSOR,  # Retrofit kit zone: a wired door/window contact
    "sensor.motion": K.MOTION_SENSOR,
    "sensor.flood-freeze": K.FLOOD_FREEZE_SENSOR,
    "sensor.freeze": K.FLOOD_FREEZE_SENSOR,
    "sensor.water": K.FLOOD_FREEZE_SENSOR,
    "sensor.temperature": K.TEMPERATURE_SENSOR,
    "sensor.tilt": K.TILT_SENSOR,
    "sensor.glassbreak": K.GLASSBREAK_SENSOR,
    "sensor": K.SENSOR,
    "alarm.smoke": K.SMOKE_ALARM,
    "alarm.co": K.CO_ALARM,
    "listener.smoke-co": K.SMOKE_CO_LISTENER,
    "bridge.flatline": K.ADAPTER,  # Retrofit kit bridge
    "access-code.vault": K.ACCESS_CODE,
    "access-code": K.ACCESS_CODE,
    "switch": K.SWITCH,
    "switch.multilevel": K.DIMMER,  # also fans (category 17)
    "switch.multilevel.bulb": K.LIGHT,
    "switch.beams": K.BEAMS_LIGHT,
    "switch.multilevel.beams": K.BEAMS_LIGHT,
    "switch.transformer.beams": K.BEAMS_TRANSFORMER,
    "motion-sensor.beams": K.BEAMS_MOTION_SENSOR,
    "group.light-group.beams": K.BEAMS_GROUP,
    "temperature-control.thermostat": K.THERMOSTAT,
}

#: Prefixes for types not listed above (first match wins; ``lock`` matches ``lock`` and ``lock.*``).
_PREFIXES: tuple[tuple[str, HubDeviceKind], ...] = (
    ("comp.bluejay.", K.SMOKE_ALARM),  # Kidde smoke + CO alarms
    ("siren", K.SIREN),
    ("range-extender", K.RANGE_EXTENDER),
    ("adapter.", K.ADAPTER),
    ("access-code", K.ACCESS_CODE),
    ("lock", K.LOCK),
    ("valve.", K.VALVE),
    ("temperature-control.", K.THERMOSTAT),
    ("hub.", K.BASE_STATION),
    ("sensor.", K.SENSOR),
)

_LABELS: dict[HubDeviceKind, str] = {
    K.SECURITY_PANEL: "alarm panel",
    K.BASE_STATION: "base station",
    K.KEYPAD: "keypad",
    K.CONTACT_SENSOR: "alarm sensor",
    K.MOTION_SENSOR: "alarm sensor",
    K.FLOOD_FREEZE_SENSOR: "alarm sensor",
    K.TEMPERATURE_SENSOR: "alarm sensor",
    K.TILT_SENSOR: "alarm sensor",
    K.GLASSBREAK_SENSOR: "alarm sensor",
    K.SENSOR: "alarm sensor",
    K.SMOKE_ALARM: "smoke/co alarm",
    K.CO_ALARM: "smoke/co alarm",
    K.SMOKE_CO_LISTENER: "smoke/co alarm",
    K.PANIC_BUTTON: "panic button",
    K.SIREN: "siren",
    K.RANGE_EXTENDER: "range extender",
    K.ADAPTER: "adapter",
    K.ACCESS_CODE: "access code",
    K.LIGHT: "light",
    K.DIMMER: "light",
    K.BEAMS_LIGHT: "light",
    K.BEAMS_TRANSFORMER: "light",
    K.SWITCH: "switch",
    K.BEAMS_MOTION_SENSOR: "light motion sensor",
    K.BEAMS_GROUP: "light group",
    K.LOCK: "lock",
    K.THERMOSTAT: "thermostat",
    K.VALVE: "valve",
    K.UNKNOWN: "unknown",
}

#: ``categoryId`` of fans (homebridge tells a fan from a dimmer by it).
FAN_CATEGORY = 17


def kind_of(device_type: str | None) -> HubDeviceKind:
    """The kind of a ``deviceType``; ``unknown`` for types nobody knows (the device is kept anyway)."""
    if not device_type:
        return K.UNKNOWN
    exact = _EXACT.get(device_type)
    if exact is not None:
        return exact
    for prefix, kind in _PREFIXES:
        if device_type.startswith(prefix):
            return kind
    return K.UNKNOWN


def type_label(kind: HubDeviceKind, category_id: int | None = None) -> str:
    """What ``ringvault devices --json`` prints as ``type`` (a Z-Wave multilevel switch in the fan category is a
    switch, not a light)."""
    if kind is K.DIMMER and category_id == FAN_CATEGORY:
        return "switch"
    return _LABELS.get(kind, "unknown")
