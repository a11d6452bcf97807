"""Impulses over the hub socket (an update that reports that something happened without a field to keep:
``keypad.motion`` when someone comes near a keypad, ring-mqtt keypad.js; mode switches) reach
``HubDevice.on_impulse`` once each, bounded, and never stick in ``raw``; a keypad's chirps are written as ring-mqtt
writes them and a value Ring would not take is pushed back unchanged. Real WebSockets against the simulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cloud import HubOptions, Location, RingApi
from ringvault.cloud.errors import CapabilityError
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.transport.ws_helpers import eventually

HUB_OPTIONS = HubOptions(devices_timeout_s=20.0, command_timeout_s=20.0, max_failures=3, backoff_initial_s=0.05,
                         backoff_max_s=0.3, backoff_jitter_s=0.05)  # fmt: skip


def control(sim: SimServer, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{sim.url}/_sim/hub{path}", json=body, timeout=20)


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        for location in await ring.get_locations():
            location.hub_options = HUB_OPTIONS
        yield ring


async def _alarm(api: RingApi) -> Location:
    home = next(loc for loc in await api.get_locations() if loc.has_alarm_base_station)
    await home.get_devices()
    return home


async def test_a_keypad_impulse_reaches_on_impulse_once_and_not_raw(sim: SimServer, api: RingApi) -> None:
    home = await _alarm(api)
    assert home.hub is not None
    keypad = next(d for d in home.hub.devices.values() if d.device_type == "security-keypad")
    seen: list[str] = []
    keypad.on_impulse.subscribe(lambda impulse: seen.append(impulse.kind))
    before = dict(keypad.data)
    answer = control(sim, "POST", f"/{home.id}/devices/{keypad.zid}/impulse", {"impulseType": "keypad.motion"})
    assert answer.status_code == 200, answer.text
    await eventually(lambda: seen == ["keypad.motion"], what="the keypad's impulse")
    assert keypad.data == before and "impulse" not in keypad.raw  # nothing to keep

    panel = next(d for d in home.hub.devices.values() if d.device_type == "security-panel")
    switched: list[str] = []
    panel.on_impulse.subscribe(lambda impulse: switched.append(impulse.kind))
    await home.arm_home()
    await home.disarm()
    await eventually(lambda: "security-panel.mode-switched.none" in switched, what="the mode switch impulse")
    assert seen == ["keypad.motion"]  # another device's impulses are not the keypad's


async def test_hostile_impulses_are_bounded_and_odd_items_skipped(sim: SimServer, api: RingApi) -> None:
    home = await _alarm(api)
    assert home.hub is not None
    keypad = next(d for d in home.hub.devices.values() if d.device_type == "security-keypad")
    seen: list[str] = []
    keypad.on_impulse.subscribe(lambda impulse: seen.append(impulse.kind))
    items: list[Any] = [5, None, {"impulseType": 7}, {"impulseType": "x" * 5000}, {"impulseType": ""}]
    items += [{"impulseType": f"keypad.motion-{n}", "data": {}} for n in range(1000)]
    body = [{"general": {"v2": {"zid": keypad.zid}}, "impulse": {"v1": items}}]
    msg = {"msg": "DataUpdate", "datatype": "DeviceInfoDocType", "src": keypad.asset_uuid, "body": body}
    frame = {"channel": "DataUpdate", "msg": msg}
    assert control(sim, "POST", f"/{home.id}/raw", {"text": json.dumps(frame)}).status_code == 200
    await eventually(lambda: bool(seen), what="the valid impulses")
    # the first 16 items are looked at; the 5 odd ones among them are skipped
    assert seen == [f"keypad.motion-{n}" for n in range(11)]


async def test_the_control_api_refuses_a_bad_impulse_in_one_line(sim: SimServer, api: RingApi) -> None:
    home = await _alarm(api)
    assert home.hub is not None
    keypad = next(d for d in home.hub.devices.values() if d.device_type == "security-keypad")
    for body in ({}, {"impulseType": 5}, {"impulseType": "a b"}, {"impulseType": "x" * 65}):
        answer = control(sim, "POST", f"/{home.id}/devices/{keypad.zid}/impulse", body)
        assert answer.status_code == 422 and "impulseType" in answer.text, (body, answer.text)
    answer = control(sim, "POST", f"/{home.id}/devices/no-such-zid/impulse", {"impulseType": "keypad.motion"})
    assert answer.status_code == 404


async def test_chirps_are_written_and_a_value_ring_would_not_take_is_pushed_back(sim: SimServer, api: RingApi) -> None:
    home = await _alarm(api)
    assert home.hub is not None
    keypad = next(d for d in home.hub.devices.values() if d.device_type == "security-keypad")
    assert keypad.data["chirps"] == "enabled"
    await keypad.set_chirps(False)
    await eventually(lambda: keypad.data.get("chirps") == "disabled", what="chirps off")
    updates: list[dict[str, Any]] = []
    keypad.on_data.subscribe(lambda data: updates.append(dict(data)))
    await keypad.set_info({"device": {"v1": {"chirps": "loud"}}})  # not a value Ring takes
    await eventually(lambda: bool(updates), what="the simulator's answer to a refused value")
    assert keypad.data["chirps"] == "disabled"  # pushed back unchanged
    with pytest.raises(ValueError):
        await keypad.set_chirps("yes")  # type: ignore[arg-type]
    panel = next(d for d in home.hub.devices.values() if d.device_type == "security-panel")
    with pytest.raises(CapabilityError):
        await panel.set_chirps(True)
