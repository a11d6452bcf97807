"""The alarm and unknown-hub-device families against the simulator's hub socket (``MemorySink``; control API
``/_sim/hub``): entities per device kind, states that follow Ring, commands confirmed by Ring's answer, refused
arms, bypass modes, devices that appear later, and hostile device documents."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cloud import RingApi
from ringvault.cloud.models.kinds import DeviceClass
from ringvault.mqtt.families import alarm as alarm_module
from ringvault.mqtt.families import default_families, family_modules
from ringvault.mqtt.families.alarm import AlarmFamily, panel_state
from ringvault.mqtt.families.hub_unknown import UnknownHubFamily
from ringvault.mqtt.families.lighting import LightingFamily
from ringvault.mqtt.families.modes import ModesFamily
from ringvault.mqtt.model import CommandRejected, Family, MqttDevice, Topics
from ringvault.mqtt.options import BridgeOptions
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.family_helpers import (
    HUB_OPTIONS,
    alarm_location,
    check_published,
    hub_bridge,
    hub_control,
    last_json,
    settled_retained,
    sim_device,
    sim_hub_devices,
    started,
    wait_state,
)
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.sink_helpers import MemorySink, wait_until


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        yield ring


def panel_of(sink: MemorySink) -> MqttDevice:
    return next(d for d in sink.devices if d.model == "Alarm Control Panel")


def sim_mode(sim: SimServer, location_id: str) -> str:
    return str(sim_device(sim, location_id, "Security Panel")["mode"])


def warnings_from(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno >= logging.WARNING]


async def test_the_registry_finds_the_hub_families_in_order() -> None:
    names = family_modules()
    assert names.index("alarm") < names.index("lighting") < names.index("hub_unknown") < names.index("modes")
    kinds = {type(f).__name__ for f in default_families(BridgeOptions())}
    assert {"AlarmFamily", "LightingFamily", "UnknownHubFamily", "ModesFamily"} <= kinds


def base_station(sink: MemorySink) -> MqttDevice:
    """The alarm base station's device (named as the account names the box)."""
    return next(d for d in sink.devices if d.model == "Alarm Base Station")


async def test_every_alarm_device_with_its_entities_and_ring_state(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    expected = sim_hub_devices(sim, home.id)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        names = {d.name for d in sink.devices}
        station = next(d for d in home.devices if d.device_class is DeviceClass.BASE_STATION)
        assert {
            f"{home.name} Alarm",
            station.name,  # the account's name for the box (the hub's own device is merged into it)
            "Keypad",
            "Front Door Contact",
            "Kitchen Window",
            "Living Room Motion",
            "Basement Flood Sensor",
            "Smoke/CO Listener",
            "Range Extender",
        } == names
        panel = panel_of(sink)
        assert sink.states(panel)["alarm"] == "disarmed" and sink.states(panel)["siren"] == "OFF"
        assert panel.entity("alarm").options["supported_features"] == ["arm_home", "arm_away"]
        assert panel.entity("alarm").options["code_arm_required"] is False

        front = sink.device("Front Door Contact")
        assert front.entity("contact").options == {"device_class": "door"}
        assert sink.states(front)["contact"] == "OFF"
        assert sink.states(front)["bypass_mode"] == "Never"  # the policy "none"
        zid = front.ident
        assert sink.states(front)["battery"] == str(expected[zid]["batteryLevel"])
        assert sink.states(front)["tamper"] == "OFF" and sink.states(front)["info"] == "ok"

        motion = sink.device("Living Room Motion")
        assert motion.entity("motion").options == {"device_class": "motion"}
        flood = sink.device("Basement Flood Sensor")
        assert sink.states(flood)["flood"] == "OFF" and sink.states(flood)["freeze"] == "OFF"
        assert flood.entity("flood").options["device_class"] == "moisture"
        assert flood.entity("freeze").options["device_class"] == "cold"
        listener = sink.device("Smoke/CO Listener")
        assert {listener.entity("smoke").options["device_class"], listener.entity("co").options["device_class"]} == {
            "smoke",
            "carbon_monoxide",
        }
        assert sink.states(listener)["smoke"] == "OFF" and sink.states(listener)["co"] == "OFF"

        base = sink.device(station.name)
        assert base.ident == str(station.id)  # one device: the account's id, the hub's own data
        base_zid = next(zid for zid, doc in expected.items() if doc.get("deviceType") == "hub.redsky")
        assert sink.states(base)["volume"] == str(round(expected[base_zid]["volume"] * 100))
        assert base.entity("volume").options["max"] == 100 and base.entity("volume").category == "config"
        assert sink.states(base)["ac_power"] == "ON" and base.entity("ac_power").category == "diagnostic"
        assert sink.states(base)["battery_backup"] == "charged"
        assert sink.states(sink.device("Keypad"))["volume"] == str(
            round(expected[sink.device("Keypad").ident]["volume"] * 100)
        )
        extender = sink.device("Range Extender")
        assert sink.states(extender)["ac_power"] == "ON" and "battery" not in sink.states(extender)

        # topology: every hub device hangs off its hub, the base station, published under the account's Ring
        # device id; the base station itself is reached through the bridge
        topics = Topics()
        hub_node = topics.node_id(MqttDevice(location=home.id, ident=str(station.id), name="hub"))
        assert all(topics.device_block(d)["via_device"] == hub_node for d in sink.devices if d is not base)
        assert base.via is not None and base.via.ident == "bridge"
        assert all(d.ident in expected and d.location == home.id for d in sink.devices if d is not base)
        assert all(d.available is not None and d.available() for d in sink.devices)
        check_published(sink.devices)


async def test_every_hub_device_is_published_by_exactly_one_family(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    hub_control(sim, "POST", f"/{home.id}/devices", {"document": {"name": "Mystery", "deviceType": "gizmo.v9"}})
    owners: dict[str, list[str]] = {}
    for family in (AlarmFamily(BridgeOptions()), LightingFamily(BridgeOptions()), UnknownHubFamily(BridgeOptions())):
        async with started(api, family) as (_, sink):
            for device in sink.devices:
                if device.location == home.id:
                    owners.setdefault(device.ident, []).append(family.name)
    station = next(d for d in home.devices if d.device_class is DeviceClass.BASE_STATION)
    # the base station's own hub device is published under the account's id of that box
    expected = {
        str(station.id) if flat.get("deviceType") == "hub.redsky" else zid
        for zid, flat in sim_hub_devices(sim, home.id).items()
    }
    assert expected <= set(owners)
    assert all(len(names) == 1 for names in owners.values()), owners
    mystery = next(zid for zid, flat in sim_hub_devices(sim, home.id).items() if flat["name"] == "Mystery")
    assert owners[mystery] == ["hub_unknown"]


async def test_a_contact_opening_reaches_the_sink_and_its_state(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        front = sink.device("Front Door Contact")
        sink.changes.clear()
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{front.ident}/fault", {"faulted": True})
        await wait_until(lambda: sink.state(front.entity("contact")) == "ON", "the open contact")
        assert front in sink.changes
        panel = panel_of(sink)
        attributes = panel.entity("alarm").attributes
        assert attributes is not None and attributes()["faulted_sensors"] == ["Front Door Contact"]
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{front.ident}/fault", {"faulted": False})
        await wait_until(lambda: sink.state(front.entity("contact")) == "OFF", "the closed contact")


async def test_arm_home_arm_away_and_disarm_through_commands(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        panel = panel_of(sink)
        alarm = panel.entity("alarm")
        assert alarm.command is not None
        await alarm.command("ARM_HOME")  # returns once the panel answered
        assert sink.state(alarm) == "armed_home" and sim_mode(sim, home.id) == "some"
        await alarm.command("disarm")  # Home Assistant sends upper case; any case is taken
        assert sink.state(alarm) == "disarmed" and sim_mode(sim, home.id) == "none"

        await alarm.command("ARM_AWAY")  # the simulated exit delay for away is 60 s
        assert sim_mode(sim, home.id) == "all"
        assert sink.state(alarm) == "arming"
        await asyncio.to_thread(httpx.post, f"{sim.url}/_sim/clock", json={"advance_s": 61.0}, timeout=10)
        await wait_until(lambda: sink.state(alarm) == "armed_away", "the end of the exit delay")
        assert panel in sink.changes
        await alarm.command("DISARM")
        assert sink.state(alarm) == "disarmed"


async def test_a_refused_arm_is_one_log_line_and_a_bypass_mode_gets_out_of_it(
    sim: SimServer, api: RingApi, caplog: pytest.LogCaptureFixture
) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions(bypass_policy="none"))) as (_, sink):
        window = sink.device("Kitchen Window")
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{window.ident}/fault", {"faulted": True})
        await wait_until(lambda: sink.state(window.entity("contact")) == "ON", "the open window")
        panel = panel_of(sink)
        alarm = panel.entity("alarm")
        assert alarm.command is not None and alarm.attributes is not None
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="ringvault.mqtt"):
            await alarm.command("ARM_HOME")
        lines = warnings_from(caplog, "ringvault.mqtt.alarm")
        assert lines == [f'alarm of {home.name}: cannot arm home: "Kitchen Window" is open — bypass it or close it']
        assert sink.state(alarm) == "disarmed" and sim_mode(sim, home.id) == "none"  # Ring's real mode
        assert "Kitchen Window" in str(alarm.attributes()["last_refusal"])

        # the way out: this sensor's bypass mode (ring-mqtt's select) → the next arm bypasses it
        select = window.entity("bypass_mode")
        assert select.command is not None
        await select.command("faulted")
        assert sink.state(select) == "Faulted"
        await alarm.command("ARM_HOME")
        assert sink.state(alarm) == "armed_home" and sim_mode(sim, home.id) == "some"
        assert alarm.attributes()["last_refusal"] is None
        assert sim.state.hub.locations[home.id].alarm.bypassed == [window.ident]
        await alarm.command("DISARM")


async def test_bypass_policy_faulted_bypasses_the_open_sensors_only(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions(bypass_policy="faulted"))) as (_, sink):
        window = sink.device("Kitchen Window")
        assert sink.state(window.entity("bypass_mode")) == "Faulted"
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{window.ident}/fault", {"faulted": True})
        await wait_until(lambda: sink.state(window.entity("contact")) == "ON", "the open window")
        alarm = panel_of(sink).entity("alarm")
        assert alarm.command is not None
        await alarm.command("ARM_HOME")
        assert sink.state(alarm) == "armed_home"
        assert sim.state.hub.locations[home.id].alarm.bypassed == [window.ident]
        await alarm.command("DISARM")


async def test_bypass_policy_always_bypasses_every_contact_and_motion_sensor(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions(bypass_policy="always"))) as (_, sink):
        alarm = panel_of(sink).entity("alarm")
        assert alarm.command is not None
        await alarm.command("ARM_HOME")
        sensors = {d.ident for d in sink.devices if d.model in ("Contact Sensor", "Motion Sensor")}
        assert len(sensors) == 3
        assert set(sim.state.hub.locations[home.id].alarm.bypassed) == sensors
        # a sensor set to Never is armed again
        never = sink.device("Front Door Contact").entity("bypass_mode")
        assert never.command is not None
        await never.command("Never")
        await alarm.command("DISARM")
        await alarm.command("ARM_HOME")
        assert set(sim.state.hub.locations[home.id].alarm.bypassed) == sensors - {
            sink.device("Front Door Contact").ident
        }
        await alarm.command("DISARM")


async def test_an_alarm_and_an_entry_delay_show_as_triggered_and_pending(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        panel = panel_of(sink)
        alarm, siren = panel.entity("alarm"), panel.entity("siren")
        assert alarm.command is not None
        await alarm.command("ARM_HOME")
        front = sink.device("Front Door Contact")
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{front.ident}/fault", {"faulted": True})
        await wait_until(lambda: sink.state(alarm) == "pending", "the entry delay")
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/alarm", {"kind": "burglar"})
        await wait_until(lambda: sink.state(alarm) == "triggered", "the alarm")
        assert sink.state(siren) == "ON"
        assert alarm.attributes is not None and alarm.attributes()["alarm_state"] == "burglar-alarm"
        await alarm.command("DISARM")  # disarming clears the alarm and the siren
        assert sink.state(alarm) == "disarmed"
        await wait_until(lambda: sink.state(siren) == "OFF", "the siren off")
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices/{front.ident}/fault", {"faulted": False})


async def test_the_siren_switch_and_the_volume_are_confirmed_by_ring(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        siren = panel_of(sink).entity("siren")
        assert siren.command is not None
        await siren.command("ON")
        assert sink.state(siren) == "ON"
        assert sim_device(sim, home.id, "Security Panel")["siren"] == {"state": "on"}
        await siren.command("OFF")
        assert sink.state(siren) == "OFF"

        base = base_station(sink)
        volume = base.entity("volume")
        assert volume.command is not None
        target = "35" if sink.state(volume) != "35" else "65"
        await volume.command(target)
        assert sink.state(volume) == target
        station = next(d for d in sim_hub_devices(sim, home.id).values() if d.get("deviceType") == "hub.redsky")
        assert station["volume"] == int(target) / 100


async def test_malformed_commands_are_rejected_in_one_line_and_change_nothing(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        panel = panel_of(sink)
        base = base_station(sink)
        before = sim_hub_devices(sim, home.id)
        cases = [
            (panel.entity("alarm"), "ARM_NIGHT", "send DISARM, ARM_HOME or ARM_AWAY"),
            (panel.entity("alarm"), "\x1b[2J" * 50, "send DISARM, ARM_HOME or ARM_AWAY"),
            (panel.entity("siren"), "loud", "is not ON or OFF"),
            (base.entity("volume"), "150", "from 0 to 100"),
            (base.entity("volume"), "nan", "from 0 to 100"),
            (base.entity("volume"), "", "from 0 to 100"),
            (sink.device("Kitchen Window").entity("bypass_mode"), "sometimes", "Never, Faulted, Always"),
        ]
        for entity, payload, expected in cases:
            assert entity.command is not None
            with pytest.raises(CommandRejected) as rejected:
                await entity.command(payload)
            message = str(rejected.value)
            assert expected in message and "\n" not in message and "\x1b" not in message
            assert len(message) < 300
        assert sim_hub_devices(sim, home.id) == before


async def test_alarm_sirens_are_switched_and_confirmed_by_ring(sim: SimServer, api: RingApi) -> None:
    """An indoor siren takes ``{"on": ...}``, the outdoor strobe siren-test commands (ring-mqtt siren.js); either
    way the switch shows ON only once Ring reports ``sirenStatus: active``."""
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        known = len(sink.devices)
        for name, kind in (("Indoor Siren", "siren"), ("Yard Strobe", "siren.outdoor-strobe")):
            document = {"name": name, "deviceType": kind, "sirenStatus": "inactive"}
            await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices", {"document": document})
        await wait_until(lambda: len(sink.devices) == known + 2, "the two sirens")
        for name in ("Indoor Siren", "Yard Strobe"):
            switch = sink.device(name).entity("siren")
            assert switch.command is not None and sink.state(switch) == "OFF"
            await switch.command("ON")
            assert sink.state(switch) == "ON"
            assert sim_device(sim, home.id, name)["sirenStatus"] == "active"
            await switch.command("OFF")
            assert sink.state(switch) == "OFF"
            assert sim_device(sim, home.id, name)["sirenStatus"] == "inactive"
        check_published(sink.devices)


async def test_devices_that_appear_later_are_added_with_the_right_entities(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    documents: list[dict[str, Any]] = [
        {"name": "Garage Tilt", "deviceType": "sensor.tilt", "batteryLevel": 80, "faulted": True},
        {"name": "Attic Temperature", "deviceType": "sensor.temperature", "celsius": 21.37},
        {"name": "Hall Smoke", "deviceType": "alarm.smoke", "alarmStatus": "active"},
        {"name": "Hall CO", "deviceType": "alarm.co", "alarmStatus": "inactive"},
        {"name": "Kidde", "deviceType": "comp.bluejay.sensor_bluejay_wsc",
         "components": {"alarm.smoke": {"alarmStatus": "inactive"}, "alarm.co": {"alarmStatus": "active"}}},
        {"name": "Indoor Siren", "deviceType": "siren", "sirenStatus": "inactive"},
        {"name": "Basement Window", "deviceType": "sensor.contact", "subCategoryId": 2, "faulted": False},
        {"name": "Zone 1", "deviceType": "sensor.zone", "faulted": False},
        {"name": "Panic Button", "deviceType": "security-panic", "batteryLevel": 70},
    ]  # fmt: skip
    alarm_family, unknown_family = AlarmFamily(BridgeOptions()), UnknownHubFamily(BridgeOptions())
    async with started(api, alarm_family) as (_, sink), started(api, unknown_family) as (_, other):
        known = len(sink.devices)
        for document in documents:
            await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices", {"document": document})
        await wait_until(lambda: len(sink.devices) == known + len(documents) - 1, "the new alarm devices")
        await wait_until(lambda: any(d.name == "Panic Button" for d in other.devices), "the panic button")
        assert sink.states(sink.device("Garage Tilt"))["tilt"] == "ON"
        assert sink.device("Garage Tilt").entity("tilt").options == {"device_class": "garage_door"}
        assert sink.states(sink.device("Garage Tilt"))["bypass_mode"] == "Never"
        assert sink.states(sink.device("Attic Temperature"))["temperature"] == "21.4"
        assert sink.device("Attic Temperature").entity("temperature").options["unit_of_measurement"] == "°C"
        assert sink.states(sink.device("Hall Smoke"))["smoke"] == "ON"
        assert sink.states(sink.device("Hall CO"))["co"] == "OFF"
        assert (sink.states(sink.device("Kidde"))["smoke"], sink.states(sink.device("Kidde"))["co"]) == ("OFF", "ON")
        assert sink.states(sink.device("Indoor Siren"))["siren"] == "OFF"
        assert sink.device("Basement Window").entity("contact").options == {"device_class": "window"}
        assert sink.device("Zone 1").entity("zone").options == {"device_class": "safety"}
        panic = other.device("Panic Button")
        assert other.states(panic)["state"] == "security-panic"
        check_published(sink.devices + other.devices)
        # each new device went through add_device once, and not into the other family
        assert not any(d.name == "Panic Button" for d in sink.devices)
        assert not any(d.name == "Garage Tilt" for d in other.devices)


async def test_an_unknown_device_is_a_diagnostic_sensor_with_its_raw_state_bounded(
    sim: SimServer, api: RingApi
) -> None:
    home = await alarm_location(api)
    async with started(api, UnknownHubFamily(BridgeOptions())) as (_, sink):
        assert sink.devices == []  # the simulated world has only known kinds
        document = {
            "name": "Thing\x1b[31m\u202e",
            "deviceType": "gizmo.v9",
            "huge": "x" * 200_000,
            "list": list(range(5000)),
            "nested": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}},
            "nan": "NaN",
        }
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices", {"document": document})
        await wait_until(lambda: len(sink.devices) == 1, "the unknown device")
        device = sink.devices[0]
        entity = device.entity("state")
        assert entity.component == "sensor" and entity.category == "diagnostic"
        assert sink.state(entity) == "gizmo.v9"
        assert device.name == "Thing\\x1b[31m\\u202e"
        assert entity.attributes is not None
        attributes = entity.attributes()
        assert attributes is not None
        text = json.dumps(attributes, allow_nan=False)
        assert len(text) < 12_000 and attributes["_truncated"] is True
        assert attributes["deviceType"] == "gizmo.v9" and attributes["name"] == "Thing\\x1b[31m\\u202e"
        check_published(sink.devices)


async def test_hostile_documents_never_break_a_read(
    sim: SimServer, api: RingApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Every device kind, with fields of the wrong type, control characters, huge strings and odd numbers: every
    read answers a string or None, every payload serializes, and nothing even needs the safety net."""
    home = await alarm_location(api)
    odd: dict[str, Any] = {
        "faulted": "yes",
        "batteryLevel": "1e400",
        "tamperStatus": ["tamper"],
        "commStatus": {"x": 1},
        "volume": "0.5",
        "celsius": "NaN",
        "mode": {"some": True},
        "alarmInfo": "burglar-alarm",
        "siren": "on",
        "transitionDelayEndTimestamp": "soon",
        "flood": True,
        "freeze": [1],
        "smoke": "active",
        "co": 3,
        "components": ["alarm.co"],
        "acStatus": 0,
        "batteryBackup": None,
        "on": "true",
        "level": "max",
        "motionStatus": 1,
        "groupId": {"id": 1},
        "subCategoryId": "2",
        "sirenStatus": False,
        "manufacturerName": "R\u0000ing\u2028",
        "alarmStatus": None,
        "extra": "\x07" * 100_000,
    }
    kinds = ["security-keypad", "sensor.contact", "sensor.motion", "sensor.flood-freeze", "sensor.temperature",
             "sensor.tilt", "sensor.glassbreak", "sensor", "alarm.smoke", "alarm.co", "listener.smoke-co",
             "comp.bluejay.x", "siren", "siren.outdoor-strobe", "range-extender.zwave", "hub.kili",
             "switch.multilevel.beams", "switch.transformer.beams", "motion-sensor.beams", "group.light-group.beams",
             "switch", "switch.multilevel", "switch.multilevel.bulb", "security-panic", "thermostat.x", "",
             "\x1b]0;x\x07"]  # fmt: skip
    families = [AlarmFamily(BridgeOptions()), LightingFamily(BridgeOptions()), UnknownHubFamily(BridgeOptions())]
    async with (
        started(api, families[0]) as (_, alarm_sink),
        started(api, families[1]) as (_, light_sink),
        started(api, families[2]) as (_, unknown_sink),
    ):
        initial = {id(d) for s in (alarm_sink, light_sink, unknown_sink) for d in s.devices}
        for index, kind in enumerate(kinds):
            document = {**odd, "name": f"Odd {index}\n\x1b[2J" + "n" * 1000, "deviceType": kind}
            await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices", {"document": document})
        # numbers JSON cannot carry and text UTF-8 cannot encode, straight onto the socket
        asset = hub_control(sim, "GET", f"/{home.id}")["assets"][0]["uuid"]
        body = (
            '[{"general":{"v2":{"zid":"raw-1","name":"Odd raw \\ud800","deviceType":"sensor.temperature",'
            '"batteryLevel":1e999}},"device":{"v1":{"celsius":1e999,"faulted":NaN}}}]'
        )
        envelope = '{"msg":"DataUpdate","datatype":"DeviceInfoDocType","src":"' + asset + '","body":' + body + "}"
        raw = '{"channel":"DataUpdate","msg":' + envelope + "}"
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/raw", {"text": raw})
        every = lambda: alarm_sink.devices + light_sink.devices + unknown_sink.devices  # noqa: E731
        await wait_until(lambda: len(every()) == len(initial) + len(kinds) + 1, "every odd device")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ringvault.mqtt"):
            odd_devices = [d for d in every() if id(d) not in initial]
            assert len(odd_devices) == len(kinds) + 1
            check_published(odd_devices)
            for device in odd_devices:
                assert "\n" not in device.name and len(device.name) <= 200
        assert [r.getMessage() for r in caplog.records if "reading" in r.getMessage()] == []
        raw_device = next(d for d in alarm_sink.devices if d.ident == "raw-1")
        assert raw_device.name == "Odd raw \\ud800"  # the lone surrogate shown, not sent
        assert alarm_sink.states(raw_device)["temperature"] is None and alarm_sink.states(raw_device)["battery"] is None
        # odd values read as unknown, not as a guess
        contact = next(d for d in alarm_sink.devices if d.name.startswith("Odd 1"))
        assert contact.entity("contact").read is not None and contact.entity("contact").read() is None


def test_panel_state_mapping() -> None:
    now = time.time() * 1000
    assert panel_state({"mode": "none"}, now) == "disarmed"
    assert panel_state({"mode": "some"}, now) == "armed_home"
    assert panel_state({"mode": "all"}, now) == "armed_away"
    assert panel_state({"mode": "all", "transitionDelayEndTimestamp": now + 30_000}, now) == "arming"
    assert panel_state({"mode": "all", "transitionDelayEndTimestamp": now - 1}, now) == "armed_away"
    entry = {"mode": "all", "transitionDelayEndTimestamp": now + 30_000, "alarmInfo": {"state": "entry-delay"}}
    assert panel_state(entry, now) == "pending"  # not "arming": the alarm wins over the delay
    assert panel_state({"mode": "none", "alarmInfo": {"state": "fire-alarm"}}, now) == "triggered"
    assert panel_state({"mode": "bogus"}, now) is None
    assert panel_state({}, now) is None
    assert alarm_module.BYPASS_MODES == ("Never", "Faulted", "Always")


async def test_a_dropped_socket_makes_the_devices_unavailable_until_it_is_back(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        front = sink.device("Front Door Contact")
        assert front.available is not None and front.available()
        seen: list[bool] = []
        home.on_hub_connected.subscribe(seen.append)
        sink.changes.clear()
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/drop")
        await wait_until(lambda: False in seen, "the socket closing")
        assert front in sink.changes  # every device was re-read (its availability)
        await wait_until(lambda: front.available is not None and front.available(), "the socket back")
        # a device Ring reports as not talking to its hub is unavailable
        document = {"name": "Far Sensor", "deviceType": "sensor.contact", "commStatus": "offline", "faulted": False}
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices", {"document": document})
        await wait_until(lambda: any(d.name == "Far Sensor" for d in sink.devices), "the far sensor")
        far = sink.device("Far Sensor")
        assert far.available is not None and far.available() is False
        assert sink.states(far)["info"] == "offline"


# -- end to end: the real Bridge, a real Mosquitto, the simulator ----------------------------------------------------


def hub_families(options: BridgeOptions) -> list[Family]:
    return [AlarmFamily(options), LightingFamily(options), UnknownHubFamily(options), ModesFamily(options)]


@pytest.mark.timeout(240)
async def test_e2e_discovery_of_every_hub_device_and_arming_through_mqtt(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    loc = next(h["location_id"] for h in hub_control(sim, "GET", "")["locations"] if any(
        a["kind"].startswith("base_station") for a in h["assets"]))  # fmt: skip
    hub_control(sim, "POST", f"/{loc}/devices", {"document": {"name": "Mystery", "deviceType": "gizmo.v9"}})
    devices = sim_hub_devices(sim, loc)
    panel = next(zid for zid, flat in devices.items() if flat["deviceType"] == "security-panel")
    front = next(zid for zid, flat in devices.items() if flat["name"] == "Front Door Contact")
    async with hub_bridge(sim, rv_home, broker, hub_families(BridgeOptions())):
        retained = await settled_retained(sub)  # every config valid per Home Assistant, every state readable
        configs = [t for t in retained if t.startswith("homeassistant/") and t.endswith("/config")]
        station_id = next(
            a["doorbotId"]
            for h in hub_control(sim, "GET", "")["locations"]
            if h["location_id"] == loc
            for a in h["assets"]
            if a["kind"].startswith("base_station")
        )
        for zid in devices:  # every hub device of the simulated world, the unknown one included
            ident = station_id if devices[zid]["deviceType"] == "hub.redsky" else zid  # (the box's account id)
            assert any(f"/ringvault_{loc}_{ident}/" in topic for topic in configs), devices[zid]["name"]
        mode_configs = [
            t for t in configs if t.startswith("homeassistant/select/") and t.endswith("_location/mode/config")
        ]
        assert len(mode_configs) == 1  # the camera-only location; the alarm location uses its panel
        state = f"ringvault/{loc}/{panel}/alarm/state"
        assert retained[state] == b"disarmed"
        assert (
            json.loads(retained[f"homeassistant/alarm_control_panel/ringvault_{loc}_{panel}/alarm/config"])[
                "command_topic"
            ]
            == f"ringvault/{loc}/{panel}/alarm/set"
        )
        assert retained[f"ringvault/{loc}/{panel}/status"] == b"online"

        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{panel}/alarm/set", "ARM_HOME")
        await wait_state(sub, state, "armed_home")
        assert sim_mode(sim, loc) == "some"
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{panel}/alarm/set", "DISARM")
        await wait_state(sub, state, "disarmed")
        assert sim_mode(sim, loc) == "none"

        # a change in Ring reaches its retained state topic
        await asyncio.to_thread(hub_control, sim, "POST", f"/{loc}/devices/{front}/fault", {"faulted": True})
        await wait_state(sub, f"ringvault/{loc}/{front}/contact/state", "ON")
        retained = await settled_retained(sub)
        assert retained[f"ringvault/{loc}/{front}/contact/state"] == b"ON"

        # a device that appears later gets its discovery and state
        document = {"name": "Garage Tilt", "deviceType": "sensor.tilt", "faulted": True}
        created = await asyncio.to_thread(hub_control, sim, "POST", f"/{loc}/devices", {"document": document})
        tilt = created["document"]["general"]["v2"]["zid"]
        await wait_state(sub, f"ringvault/{loc}/{tilt}/tilt/state", "ON")
        await sub.wait_for_message_async(f"homeassistant/binary_sensor/ringvault_{loc}_{tilt}/tilt/config")


@pytest.mark.timeout(240)
async def test_e2e_a_refused_arm_is_one_log_line_and_the_panel_shows_rings_mode(
    sim: SimServer,
    rv_home: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt")
    async with open_api(sim, rv_home) as probe:
        home = await alarm_location(probe)
        loc, name = home.id, home.name
    devices = sim_hub_devices(sim, loc)
    panel = next(zid for zid, flat in devices.items() if flat["deviceType"] == "security-panel")
    window = next(zid for zid, flat in devices.items() if flat["name"] == "Kitchen Window")
    hub_control(sim, "POST", f"/{loc}/devices/{window}/fault", {"faulted": True})
    async with hub_bridge(sim, rv_home, broker, [AlarmFamily(BridgeOptions(bypass_policy="none"))]):
        state = f"ringvault/{loc}/{panel}/alarm/state"
        await wait_state(sub, state, "disarmed")
        await sub.barrier_async()
        sub.clear()
        before = len([r for r in caplog.records if r.name.startswith("ringvault.mqtt")])
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{panel}/alarm/set", "ARM_HOME")
        # the command ends with the panel's state published again (Ring's: still disarmed)
        await wait_state(sub, state, "disarmed")
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("ringvault.mqtt")][before:]
        assert lines == [f'alarm of {name}: cannot arm home: "Kitchen Window" is open — bypass it or close it']
        assert sim_mode(sim, loc) == "none"
        attributes = last_json(sub, f"ringvault/{loc}/{panel}/alarm/attributes")
        assert "Kitchen Window" in attributes["last_refusal"]

        # the way out over MQTT: the window's bypass mode, then the arm goes through
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{window}/bypass_mode/set", "Faulted")
        await wait_state(sub, f"ringvault/{loc}/{window}/bypass_mode/state", "Faulted")
        await asyncio.to_thread(sub.publish, f"ringvault/{loc}/{panel}/alarm/set", "ARM_HOME")
        await wait_state(sub, state, "armed_home")
        assert sim_mode(sim, loc) == "some"


async def test_a_base_station_silent_at_start_publishes_its_devices_once_it_answers(
    sim: SimServer, api: RingApi, caplog: pytest.LogCaptureFixture
) -> None:
    home = await alarm_location(api)
    hub_control(sim, "POST", f"/{home.id}/assets/base_station/silent", {"silent": True})
    impatient = replace(HUB_OPTIONS, devices_timeout_s=3.0)
    with caplog.at_level(logging.WARNING, logger="ringvault.mqtt"):
        async with (
            started(api, AlarmFamily(BridgeOptions()), hub_options=impatient) as (_, sink),
            started(api, LightingFamily(BridgeOptions()), hub_options=impatient) as (_, lights),
        ):
            assert sink.devices == []  # the base station never listed its devices
            assert len(lights.devices) == 4  # the lighting bridge did: the family after waited no second time
            lines = [r.getMessage() for r in caplog.records if r.name == "ringvault.mqtt.hub"]
            assert len(lines) == 1 and lines[0].startswith(f"hub devices of {home.name} not listed yet")
            # the way out: the base station answers again after the next reconnect; its devices are added then
            hub_control(sim, "POST", f"/{home.id}/assets/base_station/silent", {"silent": False})
            await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/drop")
            await wait_until(lambda: len(sink.devices) == 9, "the alarm devices after the reconnect")
            assert sink.states(panel_of(sink))["alarm"] == "disarmed"
            assert len(lights.devices) == 4  # nothing twice
            check_published(sink.devices)
