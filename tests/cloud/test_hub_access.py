"""Locks and water valves through the hub client, end to end over the real socket against the simulator:
``HubDevice.set_locked`` / ``set_valve_open`` send the §7.8 commands and Ring's answer arrives as the device's
update; a jammed lock answers with its unchanged state; bad arguments and the wrong device fail in one line before
anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.cloud import HubDevice, HubDeviceKind, RingApi
from ringvault.cloud.errors import CapabilityError
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.cloud.test_hub_e2e import HUB_OPTIONS, alarm_location, by_name, control, sim_devices
from tests.transport.ws_helpers import eventually


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        for location in await ring.get_locations():
            location.hub_options = HUB_OPTIONS
        yield ring


async def _added(api: RingApi, sim: SimServer, document: dict[str, Any]) -> tuple[str, HubDevice]:
    home = await alarm_location(api)
    await home.get_devices()
    control(sim, "POST", f"/{home.id}/devices", {"document": document})
    hub = home.hub
    assert hub is not None
    name = document["name"]
    await eventually(lambda: any(d.name == name for d in hub.devices.values()), what=f"the new {name}")
    return home.id, by_name(await home.get_devices(), name)


async def test_a_lock_locks_and_unlocks(sim: SimServer, api: RingApi) -> None:
    location, lock = await _added(api, sim, {"name": "Front Door Lock", "deviceType": "lock", "categoryId": 10,
                                             "locked": "unlocked"})  # fmt: skip
    assert lock.kind is HubDeviceKind.LOCK and lock.locked == "unlocked"
    updates: list[Any] = []
    lock.on_data.subscribe(lambda data: updates.append(data.get("locked")))
    await lock.set_locked(True)
    await eventually(lambda: lock.locked == "locked", what="the lock locked")
    assert sim_devices(sim, location)[lock.zid]["locked"] == "locked"
    await lock.set_locked(False)
    await eventually(lambda: lock.locked == "unlocked", what="the lock unlocked")
    assert updates == ["locked", "unlocked"]


async def test_a_jammed_lock_answers_with_its_unchanged_state(sim: SimServer, api: RingApi) -> None:
    _, lock = await _added(api, sim, {"name": "Jammed Lock", "deviceType": "lock.zwave", "locked": "jammed"})
    updates: list[Any] = []
    lock.on_data.subscribe(lambda data: updates.append(data.get("locked")))
    await lock.set_locked(False)
    await eventually(lambda: bool(updates), what="Ring's answer")
    assert updates == ["jammed"] and lock.locked == "jammed"


async def test_a_water_valve_opens_and_closes(sim: SimServer, api: RingApi) -> None:
    location, valve = await _added(api, sim, {"name": "Main Water", "deviceType": "valve.water", "categoryId": 37,
                                              "valveState": "open"})  # fmt: skip
    assert valve.kind is HubDeviceKind.VALVE and valve.valve_state == "open"
    await valve.set_valve_open(False)
    await eventually(lambda: valve.valve_state == "closed", what="the valve closed")
    assert sim_devices(sim, location)[valve.zid]["valveState"] == "closed"
    await valve.set_valve_open(True)
    await eventually(lambda: valve.valve_state == "open", what="the valve open")


async def test_wrong_arguments_and_wrong_devices_fail_in_one_line(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    devices = await home.get_devices()
    keypad = next(d for d in devices if d.kind is HubDeviceKind.KEYPAD)
    with pytest.raises(CapabilityError, match="is not a lock"):
        await keypad.set_locked(True)
    with pytest.raises(CapabilityError, match="is not a water valve"):
        await keypad.set_valve_open(True)
    _, lock = await _added(api, sim, {"name": "Side Lock", "deviceType": "lock", "locked": "locked"})
    with pytest.raises(ValueError, match="locked must be True or False, got 'yes'"):
        await lock.set_locked("yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="open must be True or False, got 1"):
        await lock.set_valve_open(1)  # type: ignore[arg-type]
    with pytest.raises(CapabilityError, match="is not a water valve"):
        await lock.set_valve_open(True)
    assert sim_devices(sim, home.id)[lock.zid]["locked"] == "locked"  # nothing was sent
