"""Thermostats on the simulated hub socket: mode, set point, dead band and fan mode writes (applied, or refused and
pushed back unchanged), the operating status that follows, and room temperatures from the control API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.helpers import login
from tests.sim.hub_helpers import HubClient, hub_location, v1_of
from tests.sim.thermostat_docs import SENSOR, STATUS, THERMOSTAT, thermostat_documents

BASE = "base_station_v1"


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    sync_client = login(sim)
    headers = dict(sync_client.headers)
    sync_client.close()
    async with httpx.AsyncClient(base_url=sim.url, headers=headers, timeout=30) as client:
        yield client


async def _with_thermostat(sim: SimServer, ring: httpx.AsyncClient, **kwargs: object) -> HubClient:
    location = hub_location(sim)
    hub = await HubClient.open(sim, ring, location)
    for document in thermostat_documents(**kwargs):  # type: ignore[arg-type]
        answer = await ring.post(f"/_sim/hub/{location}/devices", json={"document": document})
        assert answer.status_code == 201, answer.text
        await hub.update_of(document["general"]["v2"]["zid"])
    return hub


async def test_mode_takes_the_modes_own_set_point_and_the_operating_status_follows(
    sim: SimServer, ring: httpx.AsyncClient
) -> None:
    hub = await _with_thermostat(sim, ring, mode="heat", celsius=20.0)
    try:
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"mode": "cool"})
        assert v1_of(await hub.update_of(THERMOSTAT)) == {"mode": "cool", "setPoint": 25.0}
        assert v1_of(await hub.update_of(STATUS)) == {"operatingMode": "off"}  # 20 °C is below the cooling point
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"mode": "auto"})
        assert v1_of(await hub.update_of(THERMOSTAT)) == {"mode": "auto", "setPoint": 22.0, "deadBand": 2.0}
        # 20 °C is inside 22 ± 2: still off, so no status update; emergency heat heats
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"mode": "aux"})
        assert v1_of(await hub.update_of(THERMOSTAT)) == {"mode": "aux"}
        assert v1_of(await hub.update_of(STATUS)) == {"operatingMode": "heat"}
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"mode": "off"})
        assert v1_of(await hub.update_of(THERMOSTAT)) == {"mode": "off"}
        assert v1_of(await hub.update_of(STATUS)) == {"operatingMode": "off"}
        listed = await hub.all_devices()
        assert listed[THERMOSTAT]["mode"] == "off" and listed[STATUS]["operatingMode"] == "off"
    finally:
        await hub.close()


async def test_a_mode_the_thermostat_does_not_offer_is_pushed_back_unchanged(
    sim: SimServer, ring: httpx.AsyncClient
) -> None:
    hub = await _with_thermostat(sim, ring, with_auto=False)
    try:
        for bad in ("auto", "dry", 3, None):
            await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"mode": bad})
            update = await hub.update_of(THERMOSTAT)
            assert v1_of(update) == {"mode": "heat"}
            assert "context" in update["msg"]
        assert (await hub.all_devices())[THERMOSTAT]["mode"] == "heat"
    finally:
        await hub.close()


async def test_set_point_inside_the_range_is_kept_per_mode_outside_it_is_refused(
    sim: SimServer, ring: httpx.AsyncClient
) -> None:
    hub = await _with_thermostat(sim, ring, mode="heat", celsius=20.0)
    try:
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"setPoint": 19.5})
        update = v1_of(await hub.update_of(THERMOSTAT))
        assert update["setPoint"] == 19.5 and update["modeSetpoints"]["heat"]["setPoint"] == 19.5
        assert v1_of(await hub.update_of(STATUS)) == {"operatingMode": "off"}  # 20 °C reached 19.5
        for bad in (32.5, 9.9, "21", True, None):
            await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"setPoint": bad})
            assert v1_of(await hub.update_of(THERMOSTAT)) == {"setPoint": 19.5}
        # switching away and back finds the heat set point again
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"mode": "cool"})
        assert v1_of(await hub.update_of(THERMOSTAT))["setPoint"] == 25.0
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"mode": "heat"})
        assert v1_of(await hub.update_of(THERMOSTAT))["setPoint"] == 19.5
    finally:
        await hub.close()


async def test_auto_range_dead_band_and_fan_mode(sim: SimServer, ring: httpx.AsyncClient) -> None:
    hub = await _with_thermostat(sim, ring, mode="auto", celsius=20.0)
    try:
        # ring-mqtt writes the auto range as its middle and half-width
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"setPoint": 23.0, "deadBand": 1.5})
        update = v1_of(await hub.update_of(THERMOSTAT))
        assert (update["setPoint"], update["deadBand"]) == (23.0, 1.5)
        assert update["modeSetpoints"]["auto"] == {"setPoint": 23.0, "deadBand": 1.5, "deadBandMin": 1.11111}
        assert v1_of(await hub.update_of(STATUS)) == {"operatingMode": "heat"}  # 20 < 23 - 1.5
        # below deadBandMin: refused, the old value comes back (the set point beside it is applied)
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"setPoint": 22.0, "deadBand": 0.5})
        assert v1_of(await hub.update_of(THERMOSTAT))["setPoint"] == 22.0
        assert v1_of(await hub.update_of(THERMOSTAT)) == {"deadBand": 1.5}
        await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"fanMode": "circulate"})
        assert v1_of(await hub.update_of(THERMOSTAT)) == {"fanMode": "circulate"}
        for bad in ("turbo", "Auto", 1):
            await hub.set_fields(hub.asset(BASE), THERMOSTAT, {"fanMode": bad})
            assert v1_of(await hub.update_of(THERMOSTAT)) == {"fanMode": "circulate"}
    finally:
        await hub.close()


async def test_room_temperature_from_the_control_api(sim: SimServer, ring: httpx.AsyncClient) -> None:
    location = hub_location(sim)
    hub = await _with_thermostat(sim, ring, mode="heat", celsius=20.0)
    try:
        answer = await ring.post(f"/_sim/hub/{location}/devices/{SENSOR}/temperature", json={"celsius": 21.5})
        assert answer.status_code == 200
        update = await hub.update_of(SENSOR)
        assert v1_of(update) == {"celsius": 21.5} and update["msg"]["context"]["initiatingEntityType"] == "device"
        assert v1_of(await hub.update_of(STATUS)) == {"operatingMode": "off"}  # warmer than the 21 °C set point
        await ring.post(f"/_sim/hub/{location}/devices/{SENSOR}/temperature", json={"celsius": 18})
        assert v1_of(await hub.update_of(STATUS)) == {"operatingMode": "heat"}
        for body, status in (({"celsius": "warm"}, 422), ({"celsius": 500}, 422), ({}, 422)):
            reply = await ring.post(f"/_sim/hub/{location}/devices/{SENSOR}/temperature", json=body)
            assert reply.status_code == status
        no_temperature = await ring.post(f"/_sim/hub/{location}/devices/{THERMOSTAT}/temperature",
                                         json={"celsius": 20})  # fmt: skip
        assert no_temperature.status_code == 422
        missing = await ring.post(f"/_sim/hub/{location}/devices/nope/temperature", json={"celsius": 20})
        assert missing.status_code == 404
    finally:
        await hub.close()
