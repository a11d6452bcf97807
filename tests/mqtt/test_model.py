"""The contract's own rules: topic segments that no id can break, stable topics and discovery payloads, and broker
URLs whose password never shows."""

from __future__ import annotations

import pytest

from ringvault.mqtt.model import Entity, MqttDevice, Topics, segment
from ringvault.mqtt.options import BridgeOptions, BrokerUrl, BrokerUrlError


def _device(ident: str = "12345", location: str = "loc-1") -> MqttDevice:
    return MqttDevice(location=location, ident=ident, name="Front Door", model="doorbell_v5")


@pytest.mark.parametrize(
    "hostile",
    ["a/b", "+", "#", "x\x00y", "tab\there", "é" * 10, "a" * 500, "", "../..", "ding/+/#", "\u202e"],
)
def test_a_segment_is_always_one_safe_level(hostile: str) -> None:
    seg = segment(hostile)
    assert seg and len(seg) <= 64
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in seg)
    assert "/" not in seg and "+" not in seg and "#" not in seg


def test_ids_that_reduce_alike_stay_apart() -> None:
    assert segment("a/b") != segment("a+b")
    assert segment("a" * 100) != segment("a" * 101)
    assert segment("1234567890") == "1234567890"
    assert segment("6f0d2d4e-0b8c-4e1b-9c8e-2f1d5c7e9a10") == "6f0d2d4e-0b8c-4e1b-9c8e-2f1d5c7e9a10"


def test_topics_of_an_entity_follow_the_documented_tree() -> None:
    topics = Topics(base="ringvault", discovery="homeassistant")
    device = _device()
    motion = device.add(Entity("binary_sensor", "motion", "Motion", read=lambda: "ON"))
    assert topics.state(motion) == "ringvault/loc-1/12345/motion/state"
    assert topics.command(motion) == "ringvault/loc-1/12345/motion/set"
    assert topics.attributes(motion) == "ringvault/loc-1/12345/motion/attributes"
    assert topics.availability(device) == "ringvault/loc-1/12345/status"
    assert topics.events(device) == "ringvault/loc-1/12345/events"
    assert topics.config(motion) == "homeassistant/binary_sensor/ringvault_loc-1_12345/motion/config"
    assert topics.parse_command("ringvault/loc-1/12345/motion/set") == ("loc-1", "12345", "motion")
    for foreign in ("other/loc-1/12345/motion/set", "ringvault/loc-1/12345/set", "ringvault/a/b/c/state"):
        assert topics.parse_command(foreign) is None


def test_a_discovery_payload_names_both_availabilities_and_only_the_topics_it_uses() -> None:
    topics = Topics()
    bridge = MqttDevice(location="bridge", ident="bridge", name="ringvault")
    device = _device()
    device.via = bridge

    async def press(payload: str) -> None:
        return None

    button = device.add(Entity("button", "chime", "Play ding", command=press, category="config"))
    payload = topics.discovery_payload(button, {"name": "ringvault"})
    assert payload["availability"] == [{"topic": "ringvault/status"}, {"topic": "ringvault/loc-1/12345/status"}]
    assert payload["availability_mode"] == "all"
    assert payload["command_topic"] == "ringvault/loc-1/12345/chime/set"
    assert "state_topic" not in payload and "json_attributes_topic" not in payload
    assert payload["device"]["via_device"] == "ringvault_bridge_bridge"
    assert payload["unique_id"] == "ringvault_loc-1_12345_chime"
    assert payload["entity_category"] == "config"
    image = device.add(Entity("image", "snapshot", "Snapshot", read=lambda: b"", state_key="image_topic"))
    assert topics.discovery_payload(image, {})["image_topic"] == "ringvault/loc-1/12345/snapshot/state"


def test_one_state_and_one_command_topic_may_stand_under_several_keys() -> None:
    """A climate entity reads its mode, temperatures and action from one JSON state and sends every command to one
    topic; the bridge names those two topics under each key (and under no ``state_topic``/``command_topic``)."""

    async def command(payload: str) -> None:
        return None

    climate = _device().add(
        Entity(
            "climate",
            "thermostat",
            None,
            read=lambda: "{}",
            command=command,
            state_key="mode_state_topic",
            state_keys=("action_topic", "current_temperature_topic"),
            command_key="mode_command_topic",
            command_keys=("temperature_command_topic",),
        )
    )
    payload = Topics().discovery_payload(climate, {})
    state, command_topic = "ringvault/loc-1/12345/thermostat/state", "ringvault/loc-1/12345/thermostat/set"
    assert payload["mode_state_topic"] == payload["action_topic"] == payload["current_temperature_topic"] == state
    assert payload["mode_command_topic"] == payload["temperature_command_topic"] == command_topic
    assert "state_topic" not in payload and "command_topic" not in payload
    with pytest.raises(ValueError, match="does not name a topic"):
        Entity("climate", "x", None, state_keys=("mode_state_template",))


def test_an_entity_may_not_set_topics_or_odd_keys() -> None:
    device = _device()
    with pytest.raises(ValueError, match="entity key"):
        Entity("sensor", "Bad Key", "x")
    sneaky = device.add(Entity("sensor", "x", "x", read=lambda: "1", options={"state_topic": "elsewhere/#"}))
    with pytest.raises(ValueError, match="topics are the bridge's"):
        Topics().discovery_payload(sneaky, {})
    with pytest.raises(ValueError, match="already has"):
        device.add(Entity("sensor", "x", "again"))


def test_a_broker_url_keeps_its_password_out_of_every_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RINGVAULT_MQTT_PASSWORD", raising=False)
    url = BrokerUrl.parse("mqtts://homeassistant:s3cr%40t-pw@broker.local")
    assert (url.host, url.port, url.tls, url.username, url.password) == (
        "broker.local",
        8883,
        True,
        "homeassistant",
        "s3cr@t-pw",
    )
    for text in (repr(url), str(url), url.display):
        assert "s3cr" not in text
    assert url.display == "mqtts://homeassistant@broker.local:8883"
    monkeypatch.setenv("RINGVAULT_MQTT_PASSWORD", "from-env")
    assert BrokerUrl.parse("mqtt://user@127.0.0.1").password == "from-env"
    assert BrokerUrl.parse("mqtt://127.0.0.1:1884").port == 1884


@pytest.mark.parametrize(
    "bad",
    [
        "http://host",
        "mqtt://",
        "mqtt://host:99999",
        "mqtt://host:port",
        "mqtt://host/path",
        "host:1883",
        "mqtt://h?x=1",
    ],
)
def test_a_wrong_broker_url_is_one_line_without_secrets(bad: str) -> None:
    with pytest.raises(BrokerUrlError) as caught:
        BrokerUrl.parse(bad.replace("host", "user:hunter2@host") if "://host" in bad else bad)
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message and "--broker" in message


def test_options_refuse_what_would_break_the_tree() -> None:
    for bad in ("ring/#", "", "/ring", "ring/"):
        with pytest.raises(ValueError):
            BridgeOptions(base_topic=bad)
    with pytest.raises(ValueError, match="snapshot modes"):
        BridgeOptions(snapshot_modes=frozenset({"always"}))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BridgeOptions(bypass_policy="sometimes")  # type: ignore[arg-type]
    assert BridgeOptions(base_topic="home/ring").base_topic == "home/ring"


def test_a_base_topic_of_several_levels_still_routes_commands() -> None:
    topics = Topics(base="home/ring")
    device = _device()
    entity = device.add(Entity("switch", "light", "Light", read=lambda: "OFF"))
    assert topics.command(entity) == "home/ring/loc-1/12345/light/set"
    assert topics.parse_command(topics.command(entity)) == ("loc-1", "12345", "light")
    assert topics.parse_command("home/other/loc-1/12345/light/set") is None
    assert topics.parse_command("home/ring/loc-1//light/set") is None
    assert topics.command_filter == "home/ring/+/+/+/set"
