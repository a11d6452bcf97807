"""Locks and water valves on the simulated hub, over a real socket: ``lock.lock``/``lock.unlock`` and
``valve.open``/``valve.close`` (reference §7.8) answered with the new ``locked``/``valveState``; refusals (a jammed
lock, a valve in an odd state, a device the control API marks as refusing) pushed back unchanged and not recorded;
the control API's ``report`` and ``refuse`` knobs and their bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.helpers import APP_API, login
from tests.sim.hub_helpers import HubClient, hub_location, v1_of

BASE = "base_station_v1"


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    sync_client = login(sim)
    headers = dict(sync_client.headers)
    sync_client.close()
    async with httpx.AsyncClient(base_url=sim.url, headers=headers, timeout=30) as client:
        yield client


async def _add(ring: httpx.AsyncClient, hub: HubClient, location: str, document: dict[str, Any]) -> str:
    answer = await ring.post(f"/_sim/hub/{location}/devices", json={"document": document})
    assert answer.status_code == 201, answer.text
    zid = str(answer.json()["document"]["general"]["v2"]["zid"])
    await hub.update_of(zid)  # the new device's own full-document update
    return zid


async def _history_of(ring: httpx.AsyncClient, location: str, zid: str) -> list[dict[str, Any]]:
    answer = await ring.get(f"{APP_API}/rs/history", params={"accountId": location, "affectedId": zid})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()
    return items


async def test_a_lock_locks_and_unlocks_and_the_change_is_recorded(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await HubClient.open(sim, ring, location)
    try:
        lock = await _add(ring, hub, location, {"name": "Front Door Lock", "deviceType": "lock", "categoryId": 10,
                                                "locked": "unlocked", "batteryLevel": 90})  # fmt: skip
        await hub.command(hub.asset(BASE), lock, "lock.lock")
        update = await hub.update_of(lock)
        assert v1_of(update) == {"locked": "locked"}
        assert update["msg"]["context"]["initiatingEntityType"] == "user"
        await hub.command(hub.asset(BASE), lock, "lock.unlock")
        assert v1_of(await hub.update_of(lock)) == {"locked": "unlocked"}
        # a ``lock.*`` type is a lock too (§7.8: ``^lock($|\.)``)
        other = await _add(ring, hub, location, {"name": "Back Door", "deviceType": "lock.zwave", "locked": "unknown"})
        await hub.command(hub.asset(BASE), other, "lock.lock")
        assert v1_of(await hub.update_of(other)) == {"locked": "locked"}
        listed = await hub.all_devices()
        assert listed[lock]["locked"] == "unlocked" and listed[other]["locked"] == "locked"
    finally:
        await hub.close()
    states = [item["body"][0]["device"]["v1"].get("locked") for item in await _history_of(ring, location, lock)]
    assert states[:2] == ["unlocked", "locked"]  # newest first


async def test_a_jammed_or_refusing_lock_pushes_its_state_back_unchanged(
    sim: SimServer, ring: httpx.AsyncClient
) -> None:
    location = hub_location(sim)
    hub = await HubClient.open(sim, ring, location)
    try:
        lock = await _add(ring, hub, location, {"name": "Jammed Lock", "deviceType": "lock", "locked": "jammed"})
        await hub.command(hub.asset(BASE), lock, "lock.unlock")
        assert v1_of(await hub.update_of(lock)) == {"locked": "jammed"}
        # the lock is freed by hand at the door: the device's own report, from the device
        answer = await ring.post(f"/_sim/hub/{location}/devices/{lock}/report", json={"device": {"locked": "locked"}})
        assert answer.status_code == 200
        report = await hub.update_of(lock)
        assert v1_of(report) == {"locked": "locked"}
        assert report["msg"]["context"]["initiatingEntityType"] == "device"
        # command types that are not strings are ignored, and the socket keeps working
        for odd in ({}, [], None, 5):
            await hub.command(hub.asset(BASE), lock, odd)  # type: ignore[arg-type]
        await hub.command(hub.asset(BASE), lock, "lock.lock")  # the first answer since is this one's
        assert v1_of(await hub.update_of(lock)) == {"locked": "locked"}
        # marked as refusing: the command is answered with the unchanged state
        refuse = await ring.post(f"/_sim/hub/{location}/devices/{lock}/refuse", json={"refuse": True})
        assert refuse.json() == {"zid": lock, "refuse": True}
        await hub.command(hub.asset(BASE), lock, "lock.unlock")
        assert v1_of(await hub.update_of(lock)) == {"locked": "locked"}
        # taking commands again
        await ring.post(f"/_sim/hub/{location}/devices/{lock}/refuse", json={"refuse": False})
        await hub.command(hub.asset(BASE), lock, "lock.unlock")
        assert v1_of(await hub.update_of(lock)) == {"locked": "unlocked"}
    finally:
        await hub.close()
    states = [item["body"][0]["device"]["v1"].get("locked") for item in await _history_of(ring, location, lock)]
    assert "jammed" not in states[:2] and states[:2] == ["unlocked", "locked"]  # refusals are not recorded


async def test_a_water_valve_opens_and_closes_and_refuses_when_broken(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await HubClient.open(sim, ring, location)
    try:
        valve = await _add(ring, hub, location, {"name": "Main Water", "deviceType": "valve.water", "categoryId": 37,
                                                 "valveState": "open"})  # fmt: skip
        await hub.command(hub.asset(BASE), valve, "valve.close")
        assert v1_of(await hub.update_of(valve)) == {"valveState": "closed"}
        await hub.command(hub.asset(BASE), valve, "valve.open")
        assert v1_of(await hub.update_of(valve)) == {"valveState": "open"}
        # a lock command on a valve is not a valve command: ignored, the next answer is the valve's own
        await hub.command(hub.asset(BASE), valve, "lock.lock")
        await ring.post(f"/_sim/hub/{location}/devices/{valve}/refuse", json={"refuse": True})
        await hub.command(hub.asset(BASE), valve, "valve.close")
        assert v1_of(await hub.update_of(valve)) == {"valveState": "open"}  # refused, unchanged
        await ring.post(f"/_sim/hub/{location}/devices/{valve}/refuse", json={"refuse": False})
        # a valve reporting a state that is neither open nor closed refuses too [sim]
        await ring.post(f"/_sim/hub/{location}/devices/{valve}/report", json={"device": {"valveState": "broken"}})
        assert v1_of(await hub.update_of(valve)) == {"valveState": "broken"}
        await hub.command(hub.asset(BASE), valve, "valve.open")
        assert v1_of(await hub.update_of(valve)) == {"valveState": "broken"}
    finally:
        await hub.close()


async def test_report_and_refuse_reject_bad_input(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await HubClient.open(sim, ring, location)
    try:
        lock = await _add(ring, hub, location, {"name": "Side Lock", "deviceType": "lock", "locked": "locked"})
    finally:
        await hub.close()
    base = f"/_sim/hub/{location}/devices"
    for body in ({}, {"device": []}, {"device": {}}, {"device": {"zid": "other"}}):
        answer = await ring.post(f"{base}/{lock}/report", json=body)
        assert answer.status_code == 422 and "device.v1 fields" in answer.json()["error"], body
    assert (await ring.post(f"{base}/{lock}/refuse", json={"refuse": "yes"})).status_code == 422
    assert (await ring.post(f"{base}/no-such-device/refuse", json={"refuse": True})).status_code == 404
    assert (await ring.post(f"{base}/no-such-device/report", json={"device": {"locked": "locked"}})).status_code == 404
    assert (await ring.post("/_sim/hub/no-such-location/devices/x/refuse", json={"refuse": True})).status_code == 404
