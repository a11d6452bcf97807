"""A keypad's extras on MQTT (ring-mqtt keypad.js): proximity motion from Ring's ``keypad.motion`` impulse, held and
then cleared, and the chirps switch confirmed by Ring's answer — against the simulator's hub socket with a
``MemorySink``, and end to end over a real Mosquitto broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ringvault.cloud import RingApi
from ringvault.cloud.errors import CapabilityError
from ringvault.mqtt.families.alarm import AlarmFamily
from ringvault.mqtt.model import CommandRejected, MqttDevice
from ringvault.mqtt.options import BridgeOptions
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.family_helpers import (
    alarm_location,
    hub_bridge,
    hub_control,
    settled_retained,
    sim_device,
    started,
    wait_state,
)
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.sink_helpers import wait_until


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        yield ring


def impulse(sim: SimServer, location_id: str, zid: str, kind: str = "keypad.motion") -> None:
    hub_control(sim, "POST", f"/{location_id}/devices/{zid}/impulse", {"impulseType": kind})


async def test_proximity_motion_is_held_after_the_impulse_then_clears(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    family = AlarmFamily(BridgeOptions())
    family.keypad_motion_hold_s = 3.0  # ring-mqtt holds 20 s; the rule is the same
    async with started(api, family) as (_, sink):
        keypad = sink.device("Keypad")
        motion = keypad.entity("motion")
        assert motion.options == {"device_class": "motion"} and sink.state(motion) == "OFF"
        seen: list[str | None] = []  # the sensor as the bridge reads it at each publish
        sink_changed = sink.changed

        def changed(device: MqttDevice) -> None:
            sink_changed(device)
            if device is keypad:
                seen.append(sink.state(motion))

        sink.changed = changed  # type: ignore[method-assign]
        # an impulse of another kind (mode switches carry impulses too) is not someone at the keypad
        await asyncio.to_thread(impulse, sim, home.id, keypad.ident, "keypad.other")
        await asyncio.to_thread(impulse, sim, home.id, keypad.ident)
        await wait_until(lambda: "ON" in seen, "keypad motion")  # published when it turned on ...
        published = len(seen)
        await wait_until(lambda: sink.state(motion) == "OFF", "the motion's end")
        await wait_until(lambda: len(seen) > published and seen[-1] == "OFF", "a publish at the hold's end")
        # ... and again when the hold ended, with no update from Ring in between


async def test_chirps_are_switched_and_confirmed_by_ring_and_a_bad_payload_changes_nothing(
    sim: SimServer, api: RingApi
) -> None:
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        keypad = sink.device("Keypad")
        chirps = keypad.entity("chirps")
        assert chirps.command is not None and chirps.category == "config"
        assert sink.state(chirps) == "ON"  # the simulated keypad's chirps are "enabled"
        await chirps.command("OFF")
        assert sink.state(chirps) == "OFF"  # once Ring answered, not assumed
        assert sim_device(sim, home.id, "Keypad")["chirps"] == "disabled"
        for payload in ("maybe", "", "\x1b[2J" * 40):
            with pytest.raises(CommandRejected) as rejected:
                await chirps.command(payload)
            assert "is not ON or OFF" in str(rejected.value) and "\x1b" not in str(rejected.value)
        assert sim_device(sim, home.id, "Keypad")["chirps"] == "disabled"
        await chirps.command("on")
        assert sink.state(chirps) == "ON" and sim_device(sim, home.id, "Keypad")["chirps"] == "enabled"


async def test_a_keypad_that_reports_no_chirps_has_no_switch(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    document = {"name": "Back Keypad", "deviceType": "security-keypad", "volume": 0.5}
    await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/devices", {"document": document})
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        back = sink.device("Back Keypad")
        assert {e.key for e in back.entities} >= {"volume", "motion"}
        assert "chirps" not in {e.key for e in back.entities}
        assert home.hub is not None
        with pytest.raises(CapabilityError):
            await home.hub.devices[back.ident].set_chirps(True)


@pytest.mark.timeout(240)
async def test_e2e_keypad_motion_and_chirps_over_the_broker(
    sim: SimServer, rv_home: Path, broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    family = AlarmFamily(BridgeOptions())
    family.keypad_motion_hold_s = 3.0
    async with hub_bridge(sim, rv_home, broker, [family]) as (_, api):
        home = await alarm_location(api)
        assert home.hub is not None
        keypad = next(d for d in home.hub.devices.values() if d.device_type == "security-keypad")
        base = f"ringvault/{home.id}/{keypad.zid}"
        retained = await settled_retained(sub)  # every config valid per Home Assistant's schema
        node = f"ringvault_{home.id}_{keypad.zid}"
        assert f"homeassistant/switch/{node}/chirps/config" in retained
        assert f"homeassistant/binary_sensor/{node}/motion/config" in retained
        assert retained[f"{base}/motion/state"] == b"OFF" and retained[f"{base}/chirps/state"] == b"ON"

        await asyncio.to_thread(impulse, sim, home.id, keypad.zid)
        # ON, then OFF once the hold ends (ON is looked for among all messages: a slow check may see OFF last)
        await sub.wait_for_async(
            lambda messages: any(m.topic == f"{base}/motion/state" and m.payload == b"ON" for m in messages),
            60, "keypad motion ON",
        )  # fmt: skip
        await wait_state(sub, f"{base}/motion/state", "OFF")

        await asyncio.to_thread(sub.publish, f"{base}/chirps/set", "OFF")
        await wait_state(sub, f"{base}/chirps/state", "OFF")
        assert sim_device(sim, home.id, keypad.name)["chirps"] == "disabled"
