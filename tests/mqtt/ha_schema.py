"""Home Assistant's MQTT discovery schema, as a checker for what the bridge publishes.

``check_discovery(component, payload)`` returns the problems of one discovery payload (``homeassistant/<component>/
[<node_id>/]<object_id>/config``), an empty list when Home Assistant would take it as meant. It covers the components
the bridge uses — alarm_control_panel, binary_sensor, button, climate, event, image, light (default and json
schema), lock, number, select, sensor, siren, switch, valve — and the ``device``, ``origin`` and availability blocks.
``check_device_discovery`` does the same for the device form (``homeassistant/device/<id>/config`` with ``components``),
``check_discovery_topic`` checks a discovery topic, and ``check_retained_tree`` checks a whole retained snapshot (every
config valid, unique ids unique, and every state and availability topic an entity reads holding a retained message
that entity can take).

Where the rules come from (each rule below names its source):

- the option tables of Home Assistant's MQTT documentation, https://www.home-assistant.io/integrations/mqtt/ (discovery,
  device, origin, availability) and https://www.home-assistant.io/integrations/<component>.mqtt/ for each component
  (``[docs <component>.mqtt]`` below);
- the validation schemas in home-assistant/core, ``homeassistant/components/mqtt/``: ``schemas.py`` (common entity
  options, device, origin, availability, the device discovery form), ``config.py`` (qos, encoding, the read-only and
  read-write option sets), ``util.py`` (topic validity), ``discovery.py`` (topic pattern, supported components) and
  the platform files (``[core mqtt/<file>]`` below); device classes, state classes and units from the entity
  components (``homeassistant/components/<component>/const.py``, ``sensor/const.py`` ``DEVICE_CLASS_UNITS``).

Where this checker is stricter than Home Assistant, on purpose, and says so in the message:

- An unknown option is a problem. Home Assistant's discovery schemas are built with ``extra=REMOVE_EXTRA``
  ([core mqtt/sensor.py] ``DISCOVERY_SCHEMA``): it drops unknown options without a word, which is exactly how a typo
  becomes an entity that silently ignores a setting. (Unknown keys in ``device`` and ``origin`` are rejected by Home
  Assistant itself: those schemas allow no extra keys.)
- Abbreviations (``stat_t``, ``cmd_t``, ``dev``...) and the ``~`` base topic are not expanded: the bridge sends full
  names, so an abbreviation here is reported as an unknown option (with the full name it stands for, when known).
- Types are JSON types: a boolean must be ``true``/``false``, not ``"on"`` (Home Assistant's ``cv.boolean`` would
  coerce the string), a number a JSON number.
- Templates are only checked to be strings (rendering Jinja is Home Assistant's business).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Problem = str
Check = Callable[[Any], str | None]

# -- value checks: each returns None when the value is fine, else what is wrong with it


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, got {type(value).__name__}"


def _string_or_null(value: Any) -> str | None:
    # [core mqtt/<platform>.py] vol.Optional(CONF_NAME): vol.Any(cv.string, None): a null name means "the device's
    # name alone" (https://www.home-assistant.io/integrations/mqtt/#naming-of-mqtt-entities)
    return None if value is None or isinstance(value, str) else f"must be a string or null, got {type(value).__name__}"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    return None


def _positive_int(value: Any) -> str | None:
    # cv.positive_int: an int >= 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"must be an integer >= 0, got {value!r}"
    return None


def _integer(value: Any) -> str | None:
    # [core mqtt/valve.py] position_open/position_closed: ``int`` (any integer, negative too)
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, got {value!r}"
    return None


def _qos(value: Any) -> str | None:
    # [core mqtt/util.py] valid_qos_schema: 0, 1 or 2
    return None if value in (0, 1, 2) and not isinstance(value, bool) else f"must be 0, 1 or 2, got {value!r}"


def _one_of(*allowed: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}; got {value!r}"

    return check


def _string_list(value: Any) -> str | None:
    # cv.ensure_list + [cv.string]: Home Assistant also takes a lone string; the bridge sends lists
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return f"must be a list of strings, got {value!r}"
    return None


def _url(value: Any) -> str | None:
    # cv.url / cv.configuration_url: http(s) URLs (configuration_url also takes homeassistant://)
    if not isinstance(value, str) or not re.match(r"^(https?://[^\s/]+|homeassistant://)\S*$", value):
        return f"must be an http(s) URL, got {value!r}"
    return None


def _icon(value: Any) -> str | None:
    # cv.icon: "prefix:name", e.g. "mdi:bell"
    if not isinstance(value, str) or not re.fullmatch(r"[^:\s]+:[^:\s]+", value):
        return f"must be an icon like 'mdi:bell', got {value!r}"
    return None


def _regex(value: Any) -> str | None:
    # [core mqtt/lock.py] CONF_CODE_FORMAT: cv.is_regex
    if not isinstance(value, str):
        return f"must be a regular expression string, got {value!r}"
    try:
        re.compile(value)
    except re.error as exc:
        return f"is not a valid regular expression ({exc})"
    return None


def topic_problem(topic: Any, *, publish: bool) -> str | None:
    """What is wrong with ``topic`` as Home Assistant checks it ([core mqtt/util.py] valid_topic,
    valid_subscribe_topic, valid_publish_topic), or None. ``publish``: a topic Home Assistant publishes to (a
    command topic), where wildcards are not allowed; otherwise a topic it subscribes to, where a wildcard must fill
    a whole level (``+``) or end the filter after a ``/`` (``#``). Empty levels (``a//b``) are valid MQTT and
    Home Assistant takes them."""
    if not isinstance(topic, str):
        return f"must be a topic string, got {type(topic).__name__}"
    raw = topic.encode("utf-8", errors="surrogatepass")
    if not raw:
        return "must not be empty"
    if len(raw) > 65535:
        return "must not be longer than 65535 bytes"
    for char in topic:
        if char == "\0" or char <= "\u001f" or "\u007f" <= char <= "\u009f":
            return "must not contain control characters"
        if "\ufdd0" <= char <= "\ufdef" or (ord(char) & 0xFFFF) in (0xFFFE, 0xFFFF):
            return "must not contain Unicode non-characters"
    if publish:
        return "must not contain the wildcards + or # (it is published to)" if "+" in topic or "#" in topic else None
    for index, char in enumerate(topic):
        if char == "+" and (
            (index > 0 and topic[index - 1] != "/") or (index < len(topic) - 1 and topic[index + 1] != "/")
        ):
            return "a + wildcard must fill a whole level"
    hash_at = topic.find("#")
    if hash_at != -1 and (hash_at != len(topic) - 1 or (len(topic) > 1 and topic[hash_at - 1] != "/")):
        return "a # wildcard must be the last character, after a /"
    return None


def _subscribe_topic(value: Any) -> str | None:
    return topic_problem(value, publish=False)


def _publish_topic(value: Any) -> str | None:
    return topic_problem(value, publish=True)


# -- enumerations

#: [core entity.py / const.py] EntityCategory; [docs mqtt] entity_category
ENTITY_CATEGORIES = ("config", "diagnostic")
#: [core mqtt/const.py] AVAILABILITY_MODES
AVAILABILITY_MODES = ("all", "any", "latest")
#: [core binary_sensor/__init__.py] BinarySensorDeviceClass
BINARY_SENSOR_DEVICE_CLASSES = (
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas", "heat",
    "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power", "presence", "problem",
    "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
)  # fmt: skip
#: [core sensor/const.py] SensorDeviceClass, the ones whose state is not a number
SENSOR_NON_NUMERIC_DEVICE_CLASSES = ("date", "enum", "timestamp")
#: [core sensor/const.py] SensorDeviceClass, numeric ones (number entities take the same: [core number/const.py])
SENSOR_NUMERIC_DEVICE_CLASSES = (
    "absolute_humidity", "apparent_power", "aqi", "area", "atmospheric_pressure", "battery",
    "blood_glucose_concentration", "carbon_dioxide", "carbon_monoxide", "conductivity", "current", "data_rate",
    "data_size", "distance", "duration", "energy", "energy_distance", "energy_storage", "frequency", "gas",
    "humidity", "illuminance", "irradiance", "moisture", "monetary", "nitrogen_dioxide", "nitrogen_monoxide",
    "nitrous_oxide", "ozone", "ph", "pm1", "pm10", "pm25", "pm4", "power", "power_factor", "precipitation",
    "precipitation_intensity", "pressure", "reactive_energy", "reactive_power", "signal_strength", "sound_pressure",
    "speed", "sulphur_dioxide", "temperature", "volatile_organic_compounds", "volatile_organic_compounds_parts",
    "voltage", "volume", "volume_flow_rate", "volume_storage", "water", "weight", "wind_direction", "wind_speed",
)  # fmt: skip
#: [core sensor/const.py] SensorStateClass
SENSOR_STATE_CLASSES = ("measurement", "measurement_angle", "total", "total_increasing")
#: [core sensor/const.py] DEVICE_CLASS_UNITS, for the device classes the bridge uses (a unit outside the set is an
#: error since Home Assistant 2025.7; [core mqtt/util.py] validate_sensor_state_and_device_class_config)
DEVICE_CLASS_UNITS: dict[str, tuple[str | None, ...]] = {
    "battery": ("%",),
    "humidity": ("%",),
    "signal_strength": ("dB", "dBm"),
    "temperature": ("°C", "°F", "K"),
    "duration": ("d", "h", "min", "s", "ms", "µs"),
    "illuminance": ("lx",),
    "voltage": ("V", "mV", "µV", "kV", "MV"),
    "power": ("mW", "W", "kW", "MW", "GW", "TW", "BTU/h"),
    "sound_pressure": ("dB", "dBA"),
}
#: [core button/__init__.py] ButtonDeviceClass
BUTTON_DEVICE_CLASSES = ("identify", "restart", "update")
#: [core valve/__init__.py] ValveDeviceClass
VALVE_DEVICE_CLASSES = ("water", "gas")
#: [core event/__init__.py] EventDeviceClass
EVENT_DEVICE_CLASSES = ("button", "doorbell", "motion")
#: [core switch/__init__.py] SwitchDeviceClass
SWITCH_DEVICE_CLASSES = ("outlet", "switch")
#: [core number/const.py] NumberMode
NUMBER_MODES = ("auto", "box", "slider")
#: [core mqtt/alarm_control_panel.py] supported_features (ALARM_CONTROL_PANEL_SUPPORTED_FEATURES)
ALARM_FEATURES = ("arm_home", "arm_away", "arm_night", "arm_vacation", "arm_custom_bypass", "trigger")
#: [docs alarm_control_panel.mqtt] the states the panel accepts on its state topic
ALARM_STATES = (
    "disarmed", "armed_home", "armed_away", "armed_night", "armed_vacation", "armed_custom_bypass", "pending",
    "triggered", "arming", "disarming",
)  # fmt: skip
#: [core light/__init__.py] ColorMode, as supported_color_modes takes them
COLOR_MODES = ("onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white")
#: [core climate/const.py] HVACMode: the values a climate's ``modes`` and mode state take ([docs climate.mqtt] modes:
#: "needs to be a subset of the default values"; ``heat_cool`` is the range mode)
HVAC_MODES = ("off", "heat", "cool", "heat_cool", "auto", "dry", "fan_only")
#: [core climate/const.py] HVACAction; [docs climate.mqtt] action_topic: "Valid action values"
HVAC_ACTIONS = ("off", "preheating", "heating", "cooling", "drying", "idle", "fan", "defrosting")
#: [core mqtt/discovery.py] SUPPORTED_COMPONENTS
SUPPORTED_COMPONENTS = (
    "alarm_control_panel", "binary_sensor", "button", "camera", "climate", "cover", "device_automation",
    "device_tracker", "event", "fan", "humidifier", "image", "lawn_mower", "light", "lock", "notify", "number",
    "scene", "siren", "select", "sensor", "switch", "tag", "text", "update", "vacuum", "valve", "water_heater",
)  # fmt: skip
#: the components with an entity (device_automation and tag have none: [core mqtt/const.py] ENTITY_PLATFORMS)
ENTITY_COMPONENTS = tuple(c for c in SUPPORTED_COMPONENTS if c not in ("device_automation", "tag"))

#: A few abbreviations ([core mqtt/abbreviations.py]) with their full names, for the unknown-option message.
ABBREVIATIONS = {
    "avty": "availability", "avty_t": "availability_topic", "avty_mode": "availability_mode",
    "cmd_t": "command_topic", "cmd_tpl": "command_template", "dev": "device", "dev_cla": "device_class",
    "ent_cat": "entity_category", "json_attr_t": "json_attributes_topic", "o": "origin",
    "pl_avail": "payload_available", "pl_not_avail": "payload_not_available", "pl_on": "payload_on",
    "pl_off": "payload_off", "stat_t": "state_topic", "stat_cla": "state_class", "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement", "val_tpl": "value_template", "~": "(the base topic)",
    "cmps": "components", "p": "platform",
}  # fmt: skip

# -- option sets

#: [core mqtt/schemas.py] the availability options (single topic or list), MQTT_AVAILABILITY_SCHEMA
AVAILABILITY_OPTIONS: dict[str, Check] = {
    "availability_topic": _subscribe_topic,
    "availability_template": _string,
    "payload_available": _string,
    "payload_not_available": _string,
    "availability_mode": _one_of(*AVAILABILITY_MODES),
    "availability": lambda value: None,  # checked by _availability_problems
}
#: [core mqtt/schemas.py] MQTT_ENTITY_COMMON_SCHEMA (``object_id`` is gone: ``default_entity_id`` replaced it)
COMMON_OPTIONS: dict[str, Check] = {
    **AVAILABILITY_OPTIONS,
    "device": lambda value: None,  # checked by _device_problems
    "origin": lambda value: None,  # checked by _origin_problems
    "entity_picture": _url,
    "enabled_by_default": _boolean,
    "entity_category": _one_of(*ENTITY_CATEGORIES),
    "icon": _icon,
    "json_attributes_topic": _subscribe_topic,
    "json_attributes_template": _string,
    "default_entity_id": _string,
    "message_expiry_interval": _positive_int,
    "unique_id": _string,
    "visible_by_default": _boolean,
}
#: [core mqtt/config.py] SCHEMA_BASE
BASE_OPTIONS: dict[str, Check] = {"qos": _qos, "encoding": _string, "group": _string_list}
#: [core mqtt/config.py] MQTT_RO_SCHEMA: state_topic required
READ_ONLY_OPTIONS: dict[str, Check] = {**BASE_OPTIONS, "state_topic": _subscribe_topic, "value_template": _string}
#: [core mqtt/config.py] MQTT_RW_SCHEMA: command_topic required, state_topic optional
READ_WRITE_OPTIONS: dict[str, Check] = {
    **BASE_OPTIONS,
    "command_topic": _publish_topic,
    "optimistic": _boolean,
    "retain": _boolean,
    "state_topic": _subscribe_topic,
}

_NAME: dict[str, Check] = {"name": _string_or_null}

#: component -> (its options, its required options); the common options come on top of every one
COMPONENTS: dict[str, tuple[dict[str, Check], frozenset[str]]] = {
    # [core mqtt/alarm_control_panel.py] PLATFORM_SCHEMA_MODERN; [docs alarm_control_panel.mqtt]
    "alarm_control_panel": (
        {
            **BASE_OPTIONS, **_NAME,
            "supported_features": lambda v: _string_list(v) or next(
                (f"has {f!r}, not one of {', '.join(ALARM_FEATURES)}" for f in v if f not in ALARM_FEATURES), None
            ),
            "code": _string, "code_arm_required": _boolean, "code_disarm_required": _boolean,
            "code_trigger_required": _boolean, "command_template": _string, "command_topic": _publish_topic,
            "payload_arm_away": _string, "payload_arm_home": _string, "payload_arm_night": _string,
            "payload_arm_vacation": _string, "payload_arm_custom_bypass": _string, "payload_disarm": _string,
            "payload_trigger": _string, "retain": _boolean, "state_topic": _subscribe_topic,
            "value_template": _string,
        },
        frozenset({"command_topic", "state_topic"}),
    ),
    # [core mqtt/binary_sensor.py]; [docs binary_sensor.mqtt]
    "binary_sensor": (
        {
            **READ_ONLY_OPTIONS, **_NAME,
            "device_class": lambda v: None if v is None else _one_of(*BINARY_SENSOR_DEVICE_CLASSES)(v),
            "expire_after": _positive_int, "force_update": _boolean, "off_delay": _positive_int,
            "payload_on": _string, "payload_off": _string,
        },
        frozenset({"state_topic"}),
    ),
    # [core mqtt/button.py]; [docs button.mqtt]
    "button": (
        {
            **BASE_OPTIONS, **_NAME,
            "command_template": _string, "command_topic": _publish_topic,
            "device_class": lambda v: None if v is None else _one_of(*BUTTON_DEVICE_CLASSES)(v),
            "payload_press": _string, "retain": _boolean,
        },
        frozenset({"command_topic"}),
    ),
    # [core mqtt/climate.py] _PLATFORM_SCHEMA_BASE (every option optional, no state_topic/command_topic of its own);
    # [docs climate.mqtt]
    "climate": (
        {
            **BASE_OPTIONS, **_NAME,
            "action_template": _string, "action_topic": _subscribe_topic,
            "current_humidity_template": _string, "current_humidity_topic": _subscribe_topic,
            "current_temperature_template": _string, "current_temperature_topic": _subscribe_topic,
            "fan_mode_command_template": _string, "fan_mode_command_topic": _publish_topic,
            "fan_mode_state_template": _string, "fan_mode_state_topic": _subscribe_topic, "fan_modes": _string_list,
            "target_humidity_command_template": _string, "target_humidity_command_topic": _publish_topic,
            "target_humidity_state_template": _string, "target_humidity_state_topic": _subscribe_topic,
            "min_humidity": _number, "max_humidity": _number,
            "mode_command_template": _string, "mode_command_topic": _publish_topic,
            "mode_state_template": _string, "mode_state_topic": _subscribe_topic,
            "modes": lambda v: _string_list(v) or next(
                (f"has {m!r}, not one of {', '.join(HVAC_MODES)}" for m in v if m not in HVAC_MODES), None
            ),
            "optimistic": _boolean, "payload_on": _string, "payload_off": _string,
            "power_command_template": _string, "power_command_topic": _publish_topic,
            # [core mqtt/climate.py] vol.In([PRECISION_TENTHS, PRECISION_HALVES, PRECISION_WHOLE])
            "precision": lambda v: _number(v) or (None if v in (0.1, 0.5, 1.0) else f"must be 0.1, 0.5 or 1, not {v}"),
            "preset_mode_command_template": _string, "preset_mode_command_topic": _publish_topic,
            "preset_mode_state_topic": _subscribe_topic, "preset_mode_value_template": _string,
            "preset_modes": _string_list, "retain": _boolean,
            "swing_horizontal_mode_command_template": _string, "swing_horizontal_mode_command_topic": _publish_topic,
            "swing_horizontal_mode_state_template": _string, "swing_horizontal_mode_state_topic": _subscribe_topic,
            "swing_horizontal_modes": _string_list,
            "swing_mode_command_template": _string, "swing_mode_command_topic": _publish_topic,
            "swing_mode_state_template": _string, "swing_mode_state_topic": _subscribe_topic,
            "swing_modes": _string_list,
            "initial": _number, "min_temp": _number, "max_temp": _number, "temp_step": _number,
            "temperature_command_template": _string, "temperature_command_topic": _publish_topic,
            "temperature_high_command_template": _string, "temperature_high_command_topic": _publish_topic,
            "temperature_high_state_template": _string, "temperature_high_state_topic": _subscribe_topic,
            "temperature_low_command_template": _string, "temperature_low_command_topic": _publish_topic,
            "temperature_low_state_template": _string, "temperature_low_state_topic": _subscribe_topic,
            "temperature_state_template": _string, "temperature_state_topic": _subscribe_topic,
            # [core helpers/config_validation.py] temperature_unit: "C" or "F"
            "temperature_unit": _one_of("C", "F"),
            "value_template": _string,
        },
        frozenset(),
    ),
    # [core mqtt/event.py]; [docs event.mqtt]: event_types is required
    "event": (
        {
            **READ_ONLY_OPTIONS, **_NAME,
            "device_class": lambda v: None if v is None else _one_of(*EVENT_DEVICE_CLASSES)(v),
            "event_types": _string_list,
        },
        frozenset({"state_topic", "event_types"}),
    ),
    # [core mqtt/image.py] PLATFORM_SCHEMA_BASE + validate_topic_required; [docs image.mqtt]
    "image": (
        {
            **BASE_OPTIONS, **_NAME,
            "content_type": _string, "image_topic": _subscribe_topic, "url_topic": _subscribe_topic,
            "image_encoding": _one_of("b64", "raw"), "url_template": _string,
        },
        frozenset(),
    ),
    # [core mqtt/lock.py]; [docs lock.mqtt]
    "lock": (
        {
            **READ_WRITE_OPTIONS, **_NAME,
            "code_format": _regex, "command_template": _string, "payload_lock": _string,
            "payload_unlock": _string, "payload_open": _string, "payload_reset": _string, "state_jammed": _string,
            "state_locked": _string, "state_locking": _string, "state_unlocked": _string, "state_unlocking": _string,
            "state_open": _string, "state_opening": _string, "value_template": _string,
        },
        frozenset({"command_topic"}),
    ),
    # [core mqtt/number.py]; [docs number.mqtt]
    "number": (
        {
            **READ_WRITE_OPTIONS, **_NAME,
            "command_template": _string,
            "device_class": lambda v: None if v is None else _one_of(*SENSOR_NUMERIC_DEVICE_CLASSES)(v),
            "min": _number, "max": _number, "mode": _one_of(*NUMBER_MODES), "payload_reset": _string,
            "step": lambda v: _number(v) or (None if v >= 0.001 else f"must be >= 0.001, got {v!r}"),
            "unit_of_measurement": _string_or_null, "value_template": _string,
        },
        frozenset({"command_topic"}),
    ),
    # [core mqtt/select.py]; [docs select.mqtt]: options is required
    "select": (
        {
            **READ_WRITE_OPTIONS, **_NAME,
            "command_template": _string, "options": _string_list, "value_template": _string,
        },
        frozenset({"command_topic", "options"}),
    ),
    # [core mqtt/sensor.py] _PLATFORM_SCHEMA_BASE; [docs sensor.mqtt]
    "sensor": (
        {
            **READ_ONLY_OPTIONS, **_NAME,
            "device_class": lambda v: None if v is None else _one_of(
                *SENSOR_NUMERIC_DEVICE_CLASSES, *SENSOR_NON_NUMERIC_DEVICE_CLASSES
            )(v),
            "expire_after": _positive_int, "force_update": _boolean, "last_reset_value_template": _string,
            "options": _string_list, "suggested_display_precision": _positive_int,
            "state_class": lambda v: None if v is None else _one_of(*SENSOR_STATE_CLASSES)(v),
            "unit_of_measurement": _string_or_null,
        },
        frozenset({"state_topic"}),
    ),
    # [core mqtt/siren.py]; [docs siren.mqtt]
    "siren": (
        {
            **READ_WRITE_OPTIONS, **_NAME,
            "available_tones": _string_list, "command_template": _string, "command_off_template": _string,
            "payload_on": _string, "payload_off": _string, "state_on": _string, "state_off": _string,
            "state_value_template": _string, "support_duration": _boolean, "support_volume_set": _boolean,
        },
        frozenset({"command_topic"}),
    ),
    # [core mqtt/switch.py]; [docs switch.mqtt]
    "switch": (
        {
            **READ_WRITE_OPTIONS, **_NAME,
            "command_template": _string,
            "device_class": lambda v: None if v is None else _one_of(*SWITCH_DEVICE_CLASSES)(v),
            "payload_on": _string, "payload_off": _string, "state_on": _string, "state_off": _string,
            "value_template": _string,
        },
        frozenset({"command_topic"}),
    ),
    # [core mqtt/valve.py] _PLATFORM_SCHEMA_BASE (MQTT_BASE_SCHEMA + its own keys; nothing required, command_topic
    # optional); [docs valve.mqtt]
    "valve": (
        {
            **BASE_OPTIONS, **_NAME,
            "command_template": _string, "command_topic": _publish_topic,
            "device_class": lambda v: None if v is None else _one_of(*VALVE_DEVICE_CLASSES)(v),
            "optimistic": _boolean, "payload_close": _string_or_null, "payload_open": _string_or_null,
            "payload_stop": _string_or_null, "position_closed": _integer, "position_open": _integer,
            "reports_position": _boolean, "retain": _boolean, "state_closed": _string, "state_closing": _string,
            "state_open": _string, "state_opening": _string, "state_topic": _subscribe_topic,
            "value_template": _string,
        },
        frozenset(),
    ),
}  # fmt: skip

#: [core mqtt/light/schema_basic.py] the default ("basic") light schema; [docs light.mqtt] "Default schema"
_LIGHT_BASIC: dict[str, Check] = {
    **READ_WRITE_OPTIONS, **_NAME,
    "schema": _one_of("basic"),
    "brightness_command_template": _string, "brightness_command_topic": _publish_topic,
    "brightness_scale": lambda v: _positive_int(v) or (None if v >= 1 else "must be >= 1"),
    "brightness_state_topic": _subscribe_topic, "brightness_value_template": _string,
    "color_mode_state_topic": _subscribe_topic, "color_mode_value_template": _string,
    "color_temp_command_template": _string, "color_temp_command_topic": _publish_topic,
    "color_temp_kelvin": _boolean, "color_temp_state_topic": _subscribe_topic, "color_temp_value_template": _string,
    "effect_command_template": _string, "effect_command_topic": _publish_topic, "effect_list": _string_list,
    "effect_state_topic": _subscribe_topic, "effect_value_template": _string,
    "hs_command_template": _string, "hs_command_topic": _publish_topic, "hs_state_topic": _subscribe_topic,
    "hs_value_template": _string, "max_kelvin": _positive_int, "min_kelvin": _positive_int,
    "max_mireds": _positive_int, "min_mireds": _positive_int,
    "on_command_type": _one_of("first", "last", "brightness"), "payload_on": _string, "payload_off": _string,
    "rgb_command_template": _string, "rgb_command_topic": _publish_topic, "rgb_state_topic": _subscribe_topic,
    "rgb_value_template": _string, "rgbw_command_template": _string, "rgbw_command_topic": _publish_topic,
    "rgbw_state_topic": _subscribe_topic, "rgbw_value_template": _string, "rgbww_command_template": _string,
    "rgbww_command_topic": _publish_topic, "rgbww_state_topic": _subscribe_topic, "rgbww_value_template": _string,
    "state_value_template": _string, "white_command_topic": _publish_topic,
    "white_scale": lambda v: _positive_int(v) or (None if v >= 1 else "must be >= 1"),
    "xy_command_template": _string, "xy_command_topic": _publish_topic, "xy_state_topic": _subscribe_topic,
    "xy_value_template": _string,
}  # fmt: skip
#: [core mqtt/light/schema_json.py]; [docs light.mqtt] "JSON schema"
_LIGHT_JSON: dict[str, Check] = {
    **READ_WRITE_OPTIONS, **_NAME,
    "schema": _one_of("json"),
    "brightness": _boolean,
    "brightness_scale": lambda v: _positive_int(v) or (None if v >= 1 else "must be >= 1"),
    "color_temp_kelvin": _boolean, "effect": _boolean, "effect_list": _string_list, "flash": _boolean,
    "flash_time_long": _positive_int, "flash_time_short": _positive_int, "max_kelvin": _positive_int,
    "min_kelvin": _positive_int, "max_mireds": _positive_int, "min_mireds": _positive_int,
    "supported_color_modes": _string_list, "transition": _boolean,
    "white_scale": lambda v: _positive_int(v) or (None if v >= 1 else "must be >= 1"),
}  # fmt: skip


def _pairs(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair) for pair in value
    )


#: [core mqtt/schemas.py] MQTT_ENTITY_DEVICE_INFO_SCHEMA (no other keys: the schema allows no extra)
DEVICE_OPTIONS: dict[str, Check] = {
    "identifiers": _string_list,
    "connections": lambda v: None if _pairs(v) else f"must be a list of [type, value] string pairs, got {v!r}",
    "manufacturer": _string, "model": _string, "model_id": _string, "name": _string, "hw_version": _string,
    "serial_number": _string, "sw_version": _string, "via_device": _string, "suggested_area": _string,
    "configuration_url": _url,
}  # fmt: skip
#: [core mqtt/schemas.py] MQTT_ORIGIN_INFO_SCHEMA: name required (no other keys)
ORIGIN_OPTIONS: dict[str, Check] = {"name": _string, "sw_version": _string, "support_url": _url}


def _options_of(component: str, payload: Mapping[str, Any]) -> tuple[dict[str, Check], frozenset[str]] | None:
    if component == "light":
        schema = payload.get("schema", "basic")
        if schema == "json":
            return _LIGHT_JSON, frozenset({"command_topic"})
        if schema == "basic":
            return _LIGHT_BASIC, frozenset({"command_topic"})
        return None
    return COMPONENTS.get(component)


def check_discovery(component: str, payload: Any, *, form: str = "component") -> list[Problem]:
    """The problems of the discovery ``payload`` of one ``component`` entity; empty when it is valid.

    ``form="component"`` is a payload on ``homeassistant/<component>/.../config``: Home Assistant sets its
    ``platform`` to ``mqtt`` itself ([core mqtt/discovery.py]), so a ``platform`` key may only say ``mqtt``.
    ``form="device"`` is one entry of a device payload's ``components`` (see :func:`check_device_discovery`)."""
    if not isinstance(payload, Mapping):
        return [f"{component}: the payload must be a JSON object, got {type(payload).__name__}"]
    known = _options_of(component, payload)
    if known is None:
        if component == "light":
            return [f"light: schema {payload.get('schema')!r} is not one this checker covers (basic, json)"]
        return [f"{component}: not a component this checker covers ({', '.join(sorted(COMPONENTS))}, light)"]
    options, required = known
    allowed = {**COMMON_OPTIONS, **options}
    problems: list[Problem] = []
    for key in sorted(required - payload.keys()):
        problems.append(f"{key}: required")  # [docs <component>.mqtt] "required"; the core schemas' vol.Required
    for key, value in payload.items():
        if key == "platform":
            # the component form: HA overwrites it with "mqtt" ([core mqtt/discovery.py]); the device form: each
            # component names its own platform ([core mqtt/schemas.py] _COMPONENT_CONFIG_SCHEMA)
            wanted = "mqtt" if form == "component" else component
            if value != wanted:
                problems.append(f"platform: must be {wanted!r} in the {form} form, got {value!r}")
            continue
        check = allowed.get(key)
        if check is None:
            hint = f" (the abbreviation of {ABBREVIATIONS[key]}: send full names)" if key in ABBREVIATIONS else ""
            problems.append(f"{key}: unknown option{hint}; Home Assistant would drop it silently")
            continue
        if (problem := check(value)) is not None:
            problems.append(f"{key}: {problem}")
    problems += _availability_problems(payload)
    if "device" in payload:
        problems += _device_problems(payload["device"])
        # [docs mqtt] device: "Only works when unique_id is set"; [core mqtt/schemas.py] check_unique_id for the
        # device form: an entity without unique_id cannot be attached to a device (nor renamed or moved in the UI)
        if "unique_id" not in payload:
            problems.append("unique_id: required when the entity belongs to a device")
    if "origin" in payload:
        problems += _origin_problems(payload["origin"])
    problems += _cross_field_problems(component, payload)
    return [f"{component}: {problem}" for problem in problems]


def _availability_problems(payload: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    # [core mqtt/schemas.py] vol.Exclusive(availability_topic / availability, "availability")
    if "availability_topic" in payload and "availability" in payload:
        problems.append("availability and availability_topic: use one of them, not both")
    if "availability" not in payload:
        return problems
    entries = payload["availability"]
    if not isinstance(entries, list) or not entries:
        return [*problems, f"availability: must be a non-empty list of {{topic, ...}} objects, got {entries!r}"]
    allowed = {"topic": _subscribe_topic, "payload_available": _string, "payload_not_available": _string,
               "value_template": _string}  # fmt: skip
    for index, entry in enumerate(entries):
        where = f"availability[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: must be an object, got {entry!r}")
            continue
        if "topic" not in entry:
            problems.append(f"{where}.topic: required")
        for key, value in entry.items():
            check = allowed.get(key)
            if check is None:
                problems.append(f"{where}.{key}: unknown option")
            elif (problem := check(value)) is not None:
                problems.append(f"{where}.{key}: {problem}")
    return problems


def _device_problems(device: Any) -> list[Problem]:
    if not isinstance(device, Mapping):
        return [f"device: must be an object, got {device!r}"]
    problems: list[Problem] = []
    for key, value in device.items():
        check = DEVICE_OPTIONS.get(key)
        if check is None:
            hint = f" (the abbreviation of {ABBREVIATIONS[key]})" if key in ABBREVIATIONS else ""
            # the device schema allows no extra keys: Home Assistant rejects the whole entity
            problems.append(f"device.{key}: unknown option{hint}; Home Assistant rejects the entity")
        elif (problem := check(value)) is not None:
            problems.append(f"device.{key}: {problem}")
    # [core mqtt/schemas.py] validate_device_has_at_least_one_identifier
    if not device.get("identifiers") and not device.get("connections"):
        problems.append("device: needs at least one of identifiers or connections")
    return problems


def _origin_problems(origin: Any) -> list[Problem]:
    # [core mqtt/discovery.py]: an origin that does not validate makes Home Assistant drop the whole message
    if not isinstance(origin, Mapping):
        return [f"origin: must be an object, got {origin!r}"]
    problems = [] if "name" in origin else ["origin.name: required"]
    for key, value in origin.items():
        check = ORIGIN_OPTIONS.get(key)
        if check is None:
            problems.append(f"origin.{key}: unknown option; Home Assistant drops the discovery message")
        elif (problem := check(value)) is not None:
            problems.append(f"origin.{key}: {problem}")
    return problems


def _cross_field_problems(component: str, payload: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    category = payload.get("entity_category")
    if component in ("sensor", "binary_sensor") and category == "config":
        # [core sensor/__init__.py, binary_sensor/__init__.py]: "cannot be added as the entity category is set to
        # config" (a sensor only reports; config is for entities that change the device)
        problems.append("entity_category: a sensor cannot be 'config' (use 'diagnostic')")
    if component == "event" and payload.get("event_types") == []:
        # [docs event.mqtt]: the event types the entity can fire; with none, every event is refused (stricter
        # than Home Assistant, which takes the empty list)
        problems.append("event_types: must not be empty (no event could fire)")
    if component == "select" and payload.get("options") == []:
        # [core mqtt/select.py] / [core select/__init__.py]: a select needs options to choose from
        problems.append("options: must not be empty")
    if component == "number":
        low, high = payload.get("min", 1), payload.get("max", 100)  # [core number/const.py] DEFAULT_MIN/MAX_VALUE
        if _number(low) is None and _number(high) is None and low >= high:
            problems.append(f"min/max: 'max' must be > 'min' (min {low}, max {high})")  # [core mqtt/number.py]
        problems += _unit_problems(payload)
    if component == "image":
        # [core mqtt/image.py] validate_topic_required, and the Exclusive(url_topic / image_topic) group
        has_image, has_url = "image_topic" in payload, "url_topic" in payload
        if has_image == has_url:
            problems.append("image_topic/url_topic: exactly one of them is required")
        if "content_type" in payload and has_url:
            problems.append("content_type: cannot be used together with url_topic")
    if component == "valve" and payload.get("reports_position") is True:
        # [core mqtt/valve.py] _validate_and_add_defaults: these four need a valve without a position
        for key in ("payload_open", "payload_close", "state_open", "state_closed"):
            if key in payload:
                problems.append(f"{key}: not allowed when reports_position is true")
    if component == "climate":
        problems += _climate_problems(payload)
    if component == "sensor":
        problems += _sensor_problems(payload)
    if component == "light" and "supported_color_modes" in payload:
        problems += _color_mode_problems(payload["supported_color_modes"])
    return problems


def _sensor_problems(payload: Mapping[str, Any]) -> list[Problem]:
    """[core mqtt/util.py] validate_sensor_state_and_device_class_config, and the sensor entity's own rules
    ([core sensor/__init__.py]: a non-numeric device class has no state class and no unit)."""
    problems: list[Problem] = []
    device_class, state_class = payload.get("device_class"), payload.get("state_class")
    unit = payload.get("unit_of_measurement")
    if "last_reset_value_template" in payload and state_class != "total":
        problems.append("last_reset_value_template: only with state_class 'total'")
    if "options" in payload:
        if not payload["options"]:
            problems.append("options: must not be empty")
        if state_class or unit:
            problems.append("options: not allowed together with state_class or unit_of_measurement")
        if device_class != "enum":
            problems.append(f"options: needs device_class 'enum', got {device_class!r}")
    if device_class in SENSOR_NON_NUMERIC_DEVICE_CLASSES:
        if state_class is not None:
            problems.append(f"state_class: impossible with the non-numeric device_class {device_class!r}")
        if unit is not None:
            problems.append(f"unit_of_measurement: impossible with the non-numeric device_class {device_class!r}")
    problems += _unit_problems(payload)
    return problems


def _climate_problems(payload: Mapping[str, Any]) -> list[Problem]:
    """[core mqtt/climate.py]: valid_preset_mode_configuration, the vol.Inclusive("preset_modes") group,
    valid_humidity_range_configuration and valid_humidity_state_configuration."""
    problems: list[Problem] = []
    presets = payload.get("preset_modes")
    if isinstance(presets, list) and "none" in presets:
        problems.append("preset_modes: must not include preset mode 'none'")
    if ("preset_mode_command_topic" in payload) != ("preset_modes" in payload):
        problems.append("preset_mode_command_topic/preset_modes: must be used together")
    low, high = payload.get("min_humidity", 30), payload.get("max_humidity", 99)  # [core climate/const.py] defaults
    if _number(low) is None and _number(high) is None:
        if low >= high:
            problems.append("min_humidity/max_humidity: max_humidity must be > min_humidity")
        if high > 100:
            problems.append("max_humidity: must be <= 100")
    if "target_humidity_state_topic" in payload and "target_humidity_command_topic" not in payload:
        problems.append("target_humidity_state_topic: cannot be used without target_humidity_command_topic")
    return problems


def _unit_problems(payload: Mapping[str, Any]) -> list[Problem]:
    device_class, unit = payload.get("device_class"), payload.get("unit_of_measurement")
    if device_class in DEVICE_CLASS_UNITS and unit is not None and unit not in DEVICE_CLASS_UNITS[device_class]:
        units = ", ".join(str(u) for u in DEVICE_CLASS_UNITS[device_class])
        return [f"unit_of_measurement: {unit!r} is not a unit of device_class {device_class!r} ({units})"]
    return []


def _color_mode_problems(modes: Any) -> list[Problem]:
    """[core light/__init__.py] valid_supported_color_modes: known modes; onoff and brightness only alone; white
    only beside a color mode (hs, xy, rgb, rgbw, rgbww)."""
    if _string_list(modes) is not None or not modes:
        return [f"supported_color_modes: must be a non-empty list of color modes, got {modes!r}"]
    unknown = [mode for mode in modes if mode not in COLOR_MODES]
    if unknown:
        return [f"supported_color_modes: unknown mode(s) {unknown} (known: {', '.join(COLOR_MODES)})"]
    problems: list[Problem] = []
    for alone in ("onoff", "brightness"):
        if alone in modes and len(set(modes)) > 1:
            problems.append(f"supported_color_modes: {alone!r} must be the only mode")
    if "white" in modes and not {"hs", "xy", "rgb", "rgbw", "rgbww"} & set(modes):
        problems.append("supported_color_modes: 'white' needs a color mode beside it (hs, xy, rgb, rgbw, rgbww)")
    return problems


def check_device_discovery(payload: Any) -> list[Problem]:
    """The problems of a device discovery payload (``homeassistant/device/<id>/config``; [core mqtt/schemas.py]
    DEVICE_DISCOVERY_SCHEMA; [docs mqtt] "Device discovery payload"): ``device``, ``origin`` and ``components``
    required; each component names its ``platform`` and has a ``unique_id``; the shared options apply to all."""
    if not isinstance(payload, Mapping):
        return [f"device discovery: the payload must be a JSON object, got {type(payload).__name__}"]
    problems = [
        f"device discovery: {key}: required" for key in ("device", "origin", "components") if key not in payload
    ]
    shared = {**AVAILABILITY_OPTIONS, "state_topic": _subscribe_topic, "command_topic": _publish_topic,
              "qos": _qos, "encoding": _string, "message_expiry_interval": _positive_int,
              "device": lambda v: None, "origin": lambda v: None, "components": lambda v: None}  # fmt: skip
    for key, value in payload.items():
        check = shared.get(key)
        if check is None:
            problems.append(f"device discovery: {key}: unknown option")
        elif (problem := check(value)) is not None:
            problems.append(f"device discovery: {key}: {problem}")
    if "device" in payload:
        problems += [f"device discovery: {p}" for p in _device_problems(payload["device"])]
    if "origin" in payload:
        problems += [f"device discovery: {p}" for p in _origin_problems(payload["origin"])]
    components = payload.get("components", {})
    if not isinstance(components, Mapping):
        return [*problems, "device discovery: components: must be an object of id -> component config"]
    for object_id, config in components.items():
        if not isinstance(config, Mapping) or config.get("platform") not in SUPPORTED_COMPONENTS:
            platform = config.get("platform") if isinstance(config, Mapping) else None
            problems.append(f"components.{object_id}: platform must be a supported component, got {platform!r}")
            continue
        if config["platform"] in ENTITY_COMPONENTS and len(config) > 1 and "unique_id" not in config:
            problems.append(f"components.{object_id}: unique_id: required")  # [core mqtt/schemas.py] check_unique_id
        # the device, the origin and the shared options apply to every component that does not set its own
        # ([core mqtt/schemas.py] SHARED_OPTIONS; [docs mqtt] "Device discovery payload")
        inherited = {key: value for key, value in payload.items() if key != "components" and key in shared}
        problems += [
            f"components.{object_id}: {p}"
            for p in check_discovery(config["platform"], {**inherited, **config}, form="device")
        ]
    return problems


#: [core mqtt/discovery.py] TOPIC_MATCHER: <component>/[<node_id>/]<object_id>/config, ids of [a-zA-Z0-9_-]
_DISCOVERY_TOPIC = re.compile(
    r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config"
)


def check_discovery_topic(topic: str, prefix: str = "homeassistant") -> list[Problem]:
    """The problems of a discovery topic: ``<prefix>/<component>/[<node_id>/]<object_id>/config`` with ids of
    letters, digits, ``_`` and ``-`` only (Home Assistant ignores any other topic with a warning) and a component it
    supports."""
    if not topic.startswith(prefix + "/"):
        return [f"{topic}: not under the discovery prefix {prefix!r}"]
    match = _DISCOVERY_TOPIC.fullmatch(topic[len(prefix) + 1 :])
    if match is None:
        return [f"{topic}: not <component>/[<node_id>/]<object_id>/config with ids of [a-zA-Z0-9_-]"]
    component = match["component"]
    if component != "device" and component not in SUPPORTED_COMPONENTS:
        return [f"{topic}: {component!r} is not a component Home Assistant's MQTT discovery supports"]
    return []


def check_topic_name(topic: str) -> list[Problem]:
    """ringvault's own conventions for the topics it publishes, stricter than MQTT and Home Assistant (which take
    empty levels): a valid publish topic, no empty level, no leading or trailing ``/``, no ``$`` at the start
    (``$SYS/...`` is the broker's)."""
    problem = topic_problem(topic, publish=True)
    if problem is not None:
        return [f"{topic!r}: {problem}"]
    if topic.startswith("$"):
        return [f"{topic!r}: topics starting with $ are the broker's"]
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        return [f"{topic!r}: has an empty level"]
    return []


def check_retained_tree(retained: Mapping[str, bytes], prefix: str = "homeassistant") -> list[Problem]:
    """Check a snapshot of the retained messages (topic -> payload, e.g. ``Subscriber.retained()`` on ``#``): every
    discovery config has a valid topic and payload; no two entities of one component share a unique_id ([core
    mqtt]: the second is refused); and every topic an entity reads its state or availability from holds a retained
    message that the entity can take (so Home Assistant, restarted, shows the truth at once instead of 'unknown').
    Payloads with a template are not rendered, so their states are not checked."""
    problems: list[Problem] = []
    unique_ids: dict[tuple[str, str], str] = {}
    for topic in sorted(retained):
        if not (topic.startswith(prefix + "/") and topic.endswith("/config")):
            continue
        topic_problems = check_discovery_topic(topic, prefix)
        if topic_problems:
            problems += topic_problems
            continue
        if not retained[topic]:
            continue  # an empty retained config is a removal
        try:
            payload = json.loads(retained[topic])
        except ValueError as exc:
            problems.append(f"{topic}: not JSON ({exc})")
            continue
        component = topic[len(prefix) + 1 :].split("/", 1)[0]
        entities: Iterable[tuple[str, Any]]
        if component == "device":
            problems += [f"{topic}: {p}" for p in check_device_discovery(payload)]
            components = payload.get("components", {}) if isinstance(payload, Mapping) else {}
            entities = [(c.get("platform", "?"), c) for c in components.values() if isinstance(c, Mapping)]
        else:
            problems += [f"{topic}: {p}" for p in check_discovery(component, payload)]
            entities = [(component, payload)]
        for entity_component, config in entities:
            if not isinstance(config, Mapping):
                continue
            unique_id = config.get("unique_id")
            if isinstance(unique_id, str):
                if (entity_component, unique_id) in unique_ids:
                    first = unique_ids[(entity_component, unique_id)]
                    problems.append(f"{topic}: unique_id {unique_id!r} already used by {first}")
                else:
                    unique_ids[(entity_component, unique_id)] = topic
            problems += [f"{topic}: {p}" for p in _retained_state_problems(entity_component, config, retained)]
    return problems


def _retained_state_problems(component: str, config: Mapping[str, Any], retained: Mapping[str, bytes]) -> list[str]:
    problems: list[str] = []
    for index, (topic, available, not_available, template) in enumerate(_availability_topics(config)):
        payload = retained.get(topic)
        if payload is None:
            problems.append(f"no retained availability on {topic}")
        elif not template and payload.decode(errors="replace") not in (available, not_available):
            problems.append(f"availability[{index}] on {topic} is {payload!r}, not {available!r}/{not_available!r}")
    if component == "climate":
        return problems + _climate_retained_problems(config, retained)
    state_topic = config.get("state_topic")
    if component == "image":
        state_topic = config.get("image_topic") or config.get("url_topic")
    if component in ("event", "button") or not isinstance(state_topic, str):
        return problems  # an event is not a state (never retained); a button has none
    payload = retained.get(state_topic)
    if payload is None:
        return [*problems, f"no retained state on {state_topic}"]
    if any(key in config for key in ("value_template", "state_value_template")):
        return problems
    text = payload.decode(errors="replace")
    allowed = _allowed_states(component, config)
    if allowed is not None and text not in allowed:
        problems.append(f"retained state {text!r} on {state_topic} is not one of {sorted(allowed)}")
    numeric = component == "number" or (
        component == "sensor" and config.get("device_class") in SENSOR_NUMERIC_DEVICE_CLASSES
    )
    if numeric and text not in ("", "None"):
        try:
            value = float(text)
        except ValueError:
            problems.append(f"retained state {text!r} on {state_topic} is not a number")
        else:
            if component == "number" and not config.get("min", 1) <= value <= config.get("max", 100):
                problems.append(f"retained state {text!r} on {state_topic} is outside min..max")
    return problems


#: A climate's state topics and the template that renders each ([core mqtt/climate.py] VALUE_TEMPLATE_KEYS)
_CLIMATE_STATE_TOPICS = {
    "action_topic": "action_template", "current_humidity_topic": "current_humidity_template",
    "current_temperature_topic": "current_temperature_template", "fan_mode_state_topic": "fan_mode_state_template",
    "mode_state_topic": "mode_state_template", "preset_mode_state_topic": "preset_mode_value_template",
    "swing_horizontal_mode_state_topic": "swing_horizontal_mode_state_template",
    "swing_mode_state_topic": "swing_mode_state_template", "target_humidity_state_topic":
    "target_humidity_state_template", "temperature_high_state_topic": "temperature_high_state_template",
    "temperature_low_state_topic": "temperature_low_state_template",
    "temperature_state_topic": "temperature_state_template",
}  # fmt: skip


def _climate_retained_problems(config: Mapping[str, Any], retained: Mapping[str, bytes]) -> list[str]:
    """Every state topic a climate names holds a retained message; without a template, a mode must be one of
    ``modes`` and an action an HVACAction ("None" resets either: [core mqtt/climate.py] PAYLOAD_NONE)."""
    problems: list[str] = []
    for key, template in _CLIMATE_STATE_TOPICS.items():
        topic = config.get(key)
        if not isinstance(topic, str):
            continue
        payload = retained.get(topic)
        if payload is None:
            problems.append(f"no retained state on {topic} ({key})")
            continue
        if template in config or "value_template" in config:
            continue
        text = payload.decode(errors="replace")
        allowed = None
        if key == "mode_state_topic":
            allowed = set(config.get("modes") or HVAC_MODES[:3] + HVAC_MODES[4:]) | {"None"}
        elif key == "action_topic":
            allowed = set(HVAC_ACTIONS) | {"None", ""}
        if allowed is not None and text not in allowed:
            problems.append(f"retained {key} payload {text!r} on {topic} is not one of {sorted(allowed)}")
    return problems


def _availability_topics(config: Mapping[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(topic, payload_available, payload_not_available, has a template) of each availability topic
    ([core mqtt/const.py] defaults online/offline)."""
    found: list[tuple[str, str, str, bool]] = []
    if isinstance(config.get("availability_topic"), str):
        found.append((
            config["availability_topic"], config.get("payload_available", "online"),
            config.get("payload_not_available", "offline"), "availability_template" in config,
        ))  # fmt: skip
    for entry in config.get("availability") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("topic"), str):
            found.append((
                entry["topic"], entry.get("payload_available", "online"),
                entry.get("payload_not_available", "offline"), "value_template" in entry,
            ))  # fmt: skip
    return found


def _allowed_states(component: str, config: Mapping[str, Any]) -> set[str] | None:
    """The payloads an entity takes on its state topic without a template ([docs <component>.mqtt]; an empty
    payload or "None" resets the state to unknown for most components), or None when any text goes."""
    reset = {"", "None"}
    if component == "binary_sensor":
        return {config.get("payload_on", "ON"), config.get("payload_off", "OFF")} | reset
    if component in ("switch", "siren"):
        on, off = config.get("payload_on", "ON"), config.get("payload_off", "OFF")
        return {config.get("state_on", on), config.get("state_off", off)} | reset
    if component == "alarm_control_panel":
        return set(ALARM_STATES) | reset
    if component == "lock":
        keys = {"state_jammed": "JAMMED", "state_locked": "LOCKED", "state_locking": "LOCKING",
                "state_unlocked": "UNLOCKED", "state_unlocking": "UNLOCKING", "state_open": "OPEN",
                "state_opening": "OPENING"}  # fmt: skip
        return {config.get(key, default) for key, default in keys.items()} | reset
    if component == "valve":
        # [docs valve.mqtt] state_topic: the four states (a position instead of open/closed when reports_position;
        # JSON {"state", "position"} too), "None" resets to unknown, an empty payload is ignored
        if config.get("reports_position") is True or "value_template" in config:
            return None
        keys = {"state_open": "open", "state_opening": "opening", "state_closed": "closed", "state_closing": "closing"}
        return {config.get(key, default) for key, default in keys.items()} | reset
    if component == "select":
        return set(config.get("options") or []) | reset
    if component == "light" and config.get("schema", "basic") == "basic":
        return {config.get("payload_on", "ON"), config.get("payload_off", "OFF")} | reset
    return None
