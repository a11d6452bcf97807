"""The Home Assistant discovery checker itself: payloads shaped like the bridge's pass, and each rule has a payload
that breaks it and is reported (so a checker that accepted everything would fail here)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.mqtt.broker import Broker
from tests.mqtt.fixtures import SubscriberFactory
from tests.mqtt.ha_schema import (
    check_device_discovery,
    check_discovery,
    check_discovery_topic,
    check_retained_tree,
    check_topic_name,
    topic_problem,
)

DEVICE = {
    "identifiers": ["ringvault_123456"],
    "name": "Front Door",
    "manufacturer": "Ring",
    "model": "Doorbell Pro 2",
    "sw_version": "1.2.3",
    "via_device": "ringvault_bridge",
}
ORIGIN = {"name": "ringvault", "sw_version": "0.1.0", "support_url": "https://example.org/ringvault"}
BASE = "ringvault/home/front_door"
AVAILABILITY = {
    "availability": [{"topic": "ringvault/status"}, {"topic": f"{BASE}/status"}],
    "availability_mode": "all",
}


def entity(object_id: str, **options: Any) -> dict[str, Any]:
    return {
        "name": object_id.replace("_", " ").title(),
        "unique_id": f"ringvault_123456_{object_id}",
        "device": DEVICE,
        "origin": ORIGIN,
        **AVAILABILITY,
        **options,
    }


#: One valid payload per component, shaped like the bridge's.
VALID: dict[str, dict[str, Any]] = {
    "alarm_control_panel": entity(
        "alarm",
        state_topic=f"{BASE}/alarm/state",
        command_topic=f"{BASE}/alarm/set",
        supported_features=["arm_home", "arm_away"],
        code_arm_required=False,
        code_disarm_required=False,
        json_attributes_topic=f"{BASE}/alarm/attributes",
    ),
    "binary_sensor": entity(
        "ding", state_topic=f"{BASE}/ding/state", device_class="occupancy", payload_on="ON", payload_off="OFF"
    ),
    "button": entity(
        "reregister", command_topic=f"{BASE}/reregister/set", payload_press="PRESS", entity_category="config"
    ),
    "climate": entity(
        "thermostat",
        mode_state_topic=f"{BASE}/thermostat/state",
        mode_state_template="{{ value_json.mode }}",
        mode_command_topic=f"{BASE}/thermostat/set",
        mode_command_template='{"mode": {{ value | to_json }}}',
        temperature_state_topic=f"{BASE}/thermostat/state",
        temperature_state_template="{{ value_json.temperature }}",
        temperature_command_topic=f"{BASE}/thermostat/set",
        temperature_low_command_topic=f"{BASE}/thermostat/set",
        temperature_high_command_topic=f"{BASE}/thermostat/set",
        current_temperature_topic=f"{BASE}/thermostat/state",
        action_topic=f"{BASE}/thermostat/state",
        action_template="{{ value_json.action }}",
        modes=["off", "heat", "cool", "heat_cool"],
        fan_modes=["auto", "on"],
        preset_modes=["Auxiliary"],
        preset_mode_command_topic=f"{BASE}/thermostat/set",
        min_temp=10,
        max_temp=32,
        temp_step=0.5,
        precision=0.1,
        temperature_unit="C",
    ),
    "event": entity(
        "ding_event", state_topic=f"{BASE}/ding_event/state", device_class="doorbell", event_types=["ding"]
    ),
    "image": entity("snapshot", url_topic=f"{BASE}/snapshot/url"),
    "light": entity(
        "floodlight",
        schema="json",
        command_topic=f"{BASE}/floodlight/set",
        state_topic=f"{BASE}/floodlight/state",
        supported_color_modes=["brightness"],
        brightness_scale=100,
    ),
    "lock": entity("unlock", command_topic=f"{BASE}/unlock/set", state_topic=f"{BASE}/unlock/state"),
    "number": entity(
        "volume", command_topic=f"{BASE}/volume/set", state_topic=f"{BASE}/volume/state", min=0, max=10, step=1
    ),
    "select": entity(
        "mode", command_topic=f"{BASE}/mode/set", state_topic=f"{BASE}/mode/state", options=["disarmed", "home"]
    ),
    "sensor": entity(
        "battery",
        state_topic=f"{BASE}/battery/state",
        device_class="battery",
        state_class="measurement",
        unit_of_measurement="%",
        entity_category="diagnostic",
    ),
    "siren": entity("siren", command_topic=f"{BASE}/siren/set", state_topic=f"{BASE}/siren/state"),
    "switch": entity("motion_detection", command_topic=f"{BASE}/motion_detection/set", state_topic=f"{BASE}/md/state"),
    "valve": entity("valve", command_topic=f"{BASE}/valve/set", state_topic=f"{BASE}/v/state", device_class="water"),
}


@pytest.mark.parametrize("component", sorted(VALID))
def test_a_payload_like_the_bridges_is_valid(component: str) -> None:
    assert check_discovery(component, VALID[component]) == []


def test_other_valid_shapes() -> None:
    basic_light = entity(
        "lights",
        command_topic="l/set",
        state_topic="l/state",
        brightness_command_topic="l/b/set",
        brightness_state_topic="l/b/state",
        brightness_scale=255,
        on_command_type="brightness",
    )
    assert check_discovery("light", basic_light) == []
    # availability by one topic, a name of null (the device's name alone), a platform of "mqtt"
    single = {**VALID["sensor"], "availability_topic": "x/status", "name": None, "platform": "mqtt"}
    del single["availability"], single["availability_mode"]
    assert check_discovery("sensor", single) == []
    # an entity without a device needs no unique_id; an image by its raw bytes with a content type
    assert check_discovery("binary_sensor", {"state_topic": "a/b"}) == []
    assert check_discovery("image", entity("img", image_topic="i/raw", content_type="image/jpeg")) == []
    # subscribe topics may use whole-level wildcards; sensor enum with options
    assert check_discovery("sensor", {"state_topic": "+/x/#"}) == []
    assert check_discovery("sensor", {"state_topic": "s", "device_class": "enum", "options": ["a", "b"]}) == []
    assert check_discovery("sensor", {"state_topic": "s", "device_class": "timestamp"}) == []
    assert check_discovery("light", {**VALID["light"], "supported_color_modes": ["hs", "white", "color_temp"]}) == []


def _set(path: str, value: Any) -> Any:
    def mutate(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = payload
        for part in parents:
            target = target[part]
        target[last] = value

    return mutate


def _delete(path: str) -> Any:
    def mutate(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = payload
        for part in parents:
            target = target[part]
        del target[last]

    return mutate


#: (component, how to break its valid payload, what the checker must say)
BROKEN = [
    # required options
    ("sensor", _delete("state_topic"), "state_topic: required"),
    ("switch", _delete("command_topic"), "command_topic: required"),
    ("alarm_control_panel", _delete("state_topic"), "state_topic: required"),
    ("event", _delete("event_types"), "event_types: required"),
    ("select", _delete("options"), "options: required"),
    # unknown options, abbreviations, object_id (replaced by default_entity_id)
    ("sensor", _set("stat_t", "x"), "stat_t: unknown option (the abbreviation of state_topic"),
    ("switch", _set("payload_of", "OFF"), "payload_of: unknown option"),
    ("binary_sensor", _set("object_id", "ding"), "object_id: unknown option"),
    ("light", _set("color_mode", True), "color_mode: unknown option"),
    # types
    ("binary_sensor", _set("force_update", "true"), "force_update: must be true or false"),
    ("sensor", _set("qos", 3), "qos: must be 0, 1 or 2"),
    ("sensor", _set("expire_after", -1), "expire_after: must be an integer >= 0"),
    ("number", _set("max", "10"), "max: must be a finite number"),
    ("sensor", _set("icon", "bell"), "icon: must be an icon like 'mdi:bell'"),
    ("sensor", _set("name", 5), "name: must be a string or null"),
    ("lock", _set("code_format", "(unclosed"), "code_format: is not a valid regular expression"),
    ("sensor", _set("entity_picture", "ftp://x/y.png"), "entity_picture: must be an http(s) URL"),
    ("select", _set("options", "a,b"), "options: must be a list of strings"),
    ("valve", _set("position_open", 99.5), "position_open: must be an integer"),
    ("valve", _set("payload_stop", 5), "payload_stop: must be a string or null"),
    ("valve", _set("reports_position", "yes"), "reports_position: must be true or false"),
    # enumerations
    ("binary_sensor", _set("device_class", "doorbell"), "device_class: must be one of battery"),
    ("sensor", _set("device_class", "wifi"), "device_class: must be one of"),
    ("sensor", _set("state_class", "average"), "state_class: must be one of"),
    ("sensor", _set("entity_category", "system"), "entity_category: must be one of config, diagnostic"),
    ("button", _set("device_class", "doorbell"), "device_class: must be one of identify, restart, update"),
    ("event", _set("device_class", "ding"), "device_class: must be one of button, doorbell, motion"),
    ("switch", _set("device_class", "light"), "device_class: must be one of outlet, switch"),
    ("number", _set("mode", "dial"), "mode: must be one of auto, box, slider"),
    ("alarm_control_panel", _set("supported_features", ["arm_home", "panic"]), "has 'panic'"),
    ("light", _set("supported_color_modes", ["dim"]), "unknown mode(s) ['dim']"),
    ("sensor", _set("availability_mode", "most"), "availability_mode: must be one of all, any, latest"),
    ("image", _set("image_encoding", "hex"), "image_encoding: must be one of b64, raw"),
    ("valve", _set("device_class", "sprinkler"), "device_class: must be one of water, gas"),
    # topics
    ("switch", _set("command_topic", "a/+/set"), "command_topic: must not contain the wildcards"),
    ("switch", _set("command_topic", ""), "command_topic: must not be empty"),
    ("sensor", _set("state_topic", "a/b+/c"), "state_topic: a + wildcard must fill a whole level"),
    ("sensor", _set("state_topic", "a/#/c"), "state_topic: a # wildcard must be the last character"),
    ("sensor", _set("state_topic", "a/b#"), "state_topic: a # wildcard must be the last character"),
    ("sensor", _set("state_topic", "a/\x07"), "state_topic: must not contain control characters"),
    ("sensor", _set("json_attributes_topic", 5), "json_attributes_topic: must be a topic string"),
    # availability, device, origin
    ("sensor", _set("availability_topic", "x/status"), "use one of them, not both"),
    ("sensor", _set("availability", [{"payload_available": "up"}]), "availability[0].topic: required"),
    ("sensor", _set("availability", [{"topic": "t", "pl_avail": "up"}]), "availability[0].pl_avail: unknown"),
    ("sensor", _set("availability", []), "availability: must be a non-empty list"),
    ("sensor", _set("device", {"name": "x"}), "device: needs at least one of identifiers or connections"),
    ("sensor", _set("device.ids", ["x"]), "device.ids: unknown option"),
    ("sensor", _set("device.connections", [["mac"]]), "device.connections: must be a list of [type, value]"),
    ("sensor", _set("device.configuration_url", "example.org"), "device.configuration_url: must be an http(s) URL"),
    ("sensor", _delete("unique_id"), "unique_id: required when the entity belongs to a device"),
    ("sensor", _set("origin", {"sw_version": "1"}), "origin.name: required"),
    ("sensor", _set("origin.url", "https://x"), "origin.url: unknown option"),
    ("sensor", _set("platform", "sensor"), "platform: must be 'mqtt' in the component form"),
    # cross-field rules
    ("number", _set("min", 10), "'max' must be > 'min' (min 10, max 10)"),
    ("number", _set("step", 0), "step: must be >= 0.001"),
    ("image", _set("image_topic", "i/raw"), "exactly one of them is required"),
    ("image", _delete("url_topic"), "exactly one of them is required"),
    ("image", _set("content_type", "image/jpeg"), "content_type: cannot be used together with url_topic"),
    ("event", _set("event_types", []), "event_types: must not be empty"),
    ("select", _set("options", []), "options: must not be empty"),
    ("sensor", _set("unit_of_measurement", "mV"), "'mV' is not a unit of device_class 'battery'"),
    ("sensor", _set("entity_category", "config"), "a sensor cannot be 'config'"),
    ("binary_sensor", _set("entity_category", "config"), "a sensor cannot be 'config'"),
    ("sensor", _set("last_reset_value_template", "{{ x }}"), "last_reset_value_template: only with state_class"),
    ("sensor", _set("options", ["a"]), "options: needs device_class 'enum'"),
    ("light", _set("supported_color_modes", ["onoff", "brightness"]), "'onoff' must be the only mode"),
    ("light", _set("supported_color_modes", ["white", "color_temp"]), "'white' needs a color mode beside it"),
    ("light", _set("schema", "template"), "schema 'template' is not one this checker covers"),
    # climate ([core mqtt/climate.py])
    ("climate", _set("modes", ["off", "heating"]), "modes: has 'heating', not one of off, heat"),
    ("climate", _set("precision", 0.25), "precision: must be 0.1, 0.5 or 1"),
    ("climate", _set("temperature_unit", "celsius"), "temperature_unit: must be one of C, F"),
    ("climate", _set("preset_modes", ["none", "Auxiliary"]), "preset_modes: must not include preset mode 'none'"),
    ("climate", _delete("preset_mode_command_topic"), "preset_mode_command_topic/preset_modes: must be used together"),
    ("climate", _set("state_topic", "x"), "state_topic: unknown option"),
    ("climate", _set("aux_command_topic", "x"), "aux_command_topic: unknown option"),
    ("climate", _set("max_humidity", 120), "max_humidity: must be <= 100"),
    ("climate", _set("target_humidity_state_topic", "x"), "cannot be used without target_humidity_command_topic"),
    ("climate", _set("temperature_command_topic", "a/#"), "temperature_command_topic: must not contain the wildcards"),
]


@pytest.mark.parametrize(("component", "mutate", "expected"), BROKEN, ids=[b[2] for b in BROKEN])
def test_each_rule_reports_the_payload_that_breaks_it(component: str, mutate: Any, expected: str) -> None:
    payload = copy.deepcopy(VALID[component])
    mutate(payload)
    problems = check_discovery(component, payload)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith(f"{component}: ") for problem in problems)


def test_rules_that_need_two_fields() -> None:
    sensor = {"state_topic": "s", "device_class": "timestamp", "state_class": "measurement", "unit_of_measurement": "s"}
    problems = check_discovery("sensor", sensor)
    assert any("state_class: impossible with the non-numeric device_class 'timestamp'" in p for p in problems)
    assert any("unit_of_measurement: impossible with the non-numeric" in p for p in problems)
    enum = {"state_topic": "s", "device_class": "enum", "options": ["a"], "unit_of_measurement": "x"}
    assert any("options: not allowed together with state_class or unit_of_measurement" in p for p in
               check_discovery("sensor", enum))  # fmt: skip
    number = {**VALID["number"], "device_class": "temperature", "unit_of_measurement": "C"}
    assert any("'C' is not a unit of device_class 'temperature'" in p for p in check_discovery("number", number))
    assert check_discovery("sensor", ["not", "an", "object"]) == ["sensor: the payload must be a JSON object, got list"]
    assert check_discovery("vacuum", {})[0].startswith("vacuum: not a component this checker covers")


@pytest.mark.parametrize(
    ("topic", "publish", "problem"),
    [
        ("a/b", True, None),
        ("a//b", True, None),  # empty levels are valid MQTT and Home Assistant takes them
        ("#", False, None),
        ("+", False, None),
        ("a/+/b/#", False, None),
        ("a/#", True, "wildcards"),
        ("a+/b", False, "whole level"),
        ("a/#/b", False, "last character"),
        ("x" * 65536, True, "65535 bytes"),
        ("a/\ufdd0", True, "non-characters"),
        ("a/\u0085", True, "control characters"),
        ("", False, "empty"),
    ],
)
def test_topic_rules_are_home_assistants(topic: str, publish: bool, problem: str | None) -> None:
    found = topic_problem(topic, publish=publish)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_discovery_topics_and_the_bridges_own_topic_names() -> None:
    assert check_discovery_topic("homeassistant/sensor/ringvault_1/battery/config") == []
    assert check_discovery_topic("homeassistant/sensor/battery/config") == []  # node_id is optional
    assert check_discovery_topic("homeassistant/device/ringvault_1/config") == []
    assert "ids of [a-zA-Z0-9_-]" in check_discovery_topic("homeassistant/sensor/ring.vault/battery/config")[0]
    assert "ids of [a-zA-Z0-9_-]" in check_discovery_topic("homeassistant/sensor/a/b/c/config")[0]
    assert "not a component" in check_discovery_topic("homeassistant/doorbell/x/y/config")[0]
    assert "discovery prefix" in check_discovery_topic("ha/sensor/x/config")[0]
    assert check_topic_name("ringvault/home/front_door/ding/state") == []
    for bad, why in [("ringvault//x", "empty level"), ("/ringvault/x", "empty level"), ("ringvault/x/", "empty"),
                     ("$SYS/x", "broker"), ("ringvault/+/x", "wildcards")]:  # fmt: skip
        assert why in check_topic_name(bad)[0], bad


def test_the_device_discovery_form() -> None:
    payload = {
        "device": DEVICE,
        "origin": ORIGIN,
        "availability_topic": "ringvault/status",
        "state_topic": f"{BASE}/battery/state",  # shared: the sensor below takes it
        "components": {
            "battery": {"platform": "sensor", "unique_id": "rv_battery", "device_class": "battery"},
            "ding": {"platform": "binary_sensor", "unique_id": "rv_ding", "state_topic": f"{BASE}/ding/state"},
        },
    }
    assert check_device_discovery(payload) == []
    broken = copy.deepcopy(payload)
    del broken["origin"]
    broken["components"]["ding"]["platform"] = "mqtt"  # the device form names the component, not mqtt
    del broken["components"]["battery"]["unique_id"]
    broken["qos"] = 5
    problems = check_device_discovery(broken)
    for expected in ("origin: required", "components.ding: platform must be a supported component",
                     "components.battery: unique_id: required", "qos: must be 0, 1 or 2"):  # fmt: skip
        assert any(expected in p for p in problems), (expected, problems)


def _tree() -> dict[str, bytes]:
    """A retained snapshot like the bridge's: configs, states, availability."""
    tree = {
        f"homeassistant/{component}/ringvault_123456/{VALID[component]['unique_id'].rsplit('_', 1)[-1]}/config": (
            json.dumps(VALID[component]).encode()
        )
        for component in ("binary_sensor", "sensor", "switch", "select", "alarm_control_panel", "event", "button")
    }
    tree |= {
        "ringvault/status": b"online",
        f"{BASE}/status": b"online",
        f"{BASE}/ding/state": b"OFF",
        f"{BASE}/battery/state": b"87",
        f"{BASE}/md/state": b"ON",
        f"{BASE}/mode/state": b"home",
        f"{BASE}/alarm/state": b"disarmed",
    }
    return tree


def test_a_retained_tree_is_checked_whole() -> None:
    assert check_retained_tree(_tree()) == []
    broken = _tree()
    del broken[f"{BASE}/ding/state"]  # lost state: HA would show unknown after a restart
    broken[f"{BASE}/status"] = b"up"  # neither online nor offline
    broken[f"{BASE}/battery/state"] = b"full"  # a battery sensor must be a number
    broken[f"{BASE}/md/state"] = b"on"  # payloads are case-sensitive: ON/OFF
    broken[f"{BASE}/mode/state"] = b"away"  # not an option of the select
    broken[f"{BASE}/alarm/state"] = b"armed"  # not a state of the panel
    broken["homeassistant/sensor/ringvault_123456/copy/config"] = json.dumps(VALID["sensor"]).encode()
    broken["homeassistant/sensor/ringvault_123456/bad/config"] = b"{not json"
    broken["homeassistant/sensor/ringvault_123456/removed/config"] = b""  # a removal: fine
    problems = check_retained_tree(broken)
    for expected in (
        f"no retained state on {BASE}/ding/state",
        f"availability[1] on {BASE}/status is b'up'",
        "retained state 'full'",
        "retained state 'on'",
        "retained state 'away'",
        "retained state 'armed'",
        "unique_id 'ringvault_123456_battery' already used by homeassistant/sensor/ringvault_123456/battery/config",
        "ringvault_123456/bad/config: not JSON",
    ):
        assert any(expected in p for p in problems), (expected, problems)
    assert not any("removed" in p for p in problems)


def test_a_climate_needs_a_retained_message_on_every_state_topic_it_names() -> None:
    """One JSON state read through templates passes; a missing state topic, and (without templates) a mode outside
    ``modes`` or an action that is no HVACAction, are reported."""
    config = "homeassistant/climate/ringvault_123456/thermostat/config"
    tree = {
        config: json.dumps(VALID["climate"]).encode(),
        "ringvault/status": b"online",
        f"{BASE}/status": b"online",
        f"{BASE}/thermostat/state": b'{"mode": "heat", "action": "heating"}',
    }
    assert check_retained_tree(tree) == []
    del tree[f"{BASE}/thermostat/state"]
    problems = check_retained_tree(tree)
    assert any(f"no retained state on {BASE}/thermostat/state (mode_state_topic)" in p for p in problems), problems
    plain = {key: value for key, value in VALID["climate"].items() if not key.endswith("_template")}
    plain |= {"mode_state_topic": f"{BASE}/mode", "action_topic": f"{BASE}/action"}
    tree |= {config: json.dumps(plain).encode(), f"{BASE}/thermostat/state": b"21", f"{BASE}/mode": b"auto",
             f"{BASE}/action": b"heat"}  # fmt: skip
    problems = check_retained_tree(tree)
    assert any("mode_state_topic payload 'auto'" in p for p in problems), problems
    assert any("action_topic payload 'heat'" in p for p in problems), problems
    tree |= {f"{BASE}/mode": b"heat_cool", f"{BASE}/action": b"None"}
    assert check_retained_tree(tree) == []


def test_the_checker_reads_a_real_brokers_retained_messages(
    broker: Broker, subscriber_factory: SubscriberFactory
) -> None:
    """The two halves together, as the bridge's tests use them: publish retained, snapshot, check."""
    with subscriber_factory(broker, ["nothing/#"]) as publisher:
        for topic, payload in _tree().items():
            publisher.publish(topic, payload, retain=True)
        publisher.publish(f"{BASE}/battery/state", "n/a", retain=True)
    snapshot = subscriber_factory(broker, ["homeassistant/#", "ringvault/#"]).retained()
    assert len(snapshot) == len(_tree())
    assert check_retained_tree(snapshot) == [
        "homeassistant/sensor/ringvault_123456/battery/config: retained state 'n/a' on "
        f"{BASE}/battery/state is not a number"
    ]


def test_valve_rules() -> None:
    """[core mqtt/valve.py]: nothing is required (a valve without a command topic only reports), ``payload_open``
    and friends cannot be combined with ``reports_position``, and the state topic takes the four states or "None"."""
    assert check_discovery("valve", {"state_topic": "v/state"}) == []
    assert check_discovery("valve", {**VALID["valve"], "payload_open": None, "device_class": None}) == []
    positioned = {**VALID["valve"], "reports_position": True, "payload_open": "OPEN", "state_closed": "shut"}
    problems = check_discovery("valve", positioned)
    assert "valve: payload_open: not allowed when reports_position is true" in problems
    assert "valve: state_closed: not allowed when reports_position is true" in problems
    assert check_discovery("valve", {**VALID["valve"], "reports_position": True}) == []
    config = "homeassistant/valve/ringvault_123456/valve/config"
    tree = {config: json.dumps(VALID["valve"]).encode(), "ringvault/status": b"online", f"{BASE}/status": b"online"}
    for state in (b"open", b"closed", b"opening", b"closing", b"None"):
        assert check_retained_tree({**tree, f"{BASE}/v/state": state}) == [], state
    problems = check_retained_tree({**tree, f"{BASE}/v/state": b"OPEN"})  # states are case-sensitive
    assert problems == [f"{config}: retained state 'OPEN' on {BASE}/v/state is not one of "
                        "['', 'None', 'closed', 'closing', 'open', 'opening']"]  # fmt: skip
    custom = {**VALID["valve"], "state_open": "on"}
    assert check_retained_tree({**tree, config: json.dumps(custom).encode(), f"{BASE}/v/state": b"on"}) == []
