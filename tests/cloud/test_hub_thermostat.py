"""Thermostats through the cloud client, end to end over the real hub socket of the simulator: the typed reading
(``Thermostat``: modes, set point and range, dead band, fan modes, the room temperature and operating status from
the child devices) and the checked writes (``HubDevice.set_thermostat``, ``Thermostat.set_range``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ringvault.cloud import CapabilityError, HubDevice, HubDeviceKind, Location, RingApi
from ringvault.cloud.hub.thermostat import Thermostat
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.cloud.test_hub_e2e import HUB_OPTIONS, alarm_location, control, sim_devices
from tests.sim.thermostat_docs import SENSOR, STATUS, THERMOSTAT, thermostat_documents
from tests.transport.ws_helpers import eventually


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        for location in await ring.get_locations():
            location.hub_options = HUB_OPTIONS
        yield ring


async def _thermostat(sim: SimServer, api: RingApi, **kwargs: object) -> tuple[Location, HubDevice]:
    home = await alarm_location(api)
    await home.get_devices()
    for document in thermostat_documents(**kwargs):  # type: ignore[arg-type]
        control(sim, "POST", f"/{home.id}/devices", {"document": document})
    hub = home.hub
    assert hub is not None
    await eventually(lambda: {THERMOSTAT, SENSOR, STATUS} <= set(hub.devices), what="the thermostat and its parts")
    return home, hub.devices[THERMOSTAT]


async def test_a_thermostat_reads_its_modes_set_point_and_children(sim: SimServer, api: RingApi) -> None:
    _, device = await _thermostat(sim, api, mode="heat", celsius=20.0)
    assert device.kind is HubDeviceKind.THERMOSTAT
    assert sorted(d.zid for d in device.children) == sorted([SENSOR, STATUS])
    assert device.children[0].parent_zid == THERMOSTAT and device.parent_zid is None
    thermostat = Thermostat(device)
    assert thermostat.modes == ("off", "heat", "cool", "auto", "aux")
    assert (thermostat.mode, thermostat.set_point, thermostat.set_point_range) == ("heat", 21.0, (10.0, 32.0))
    assert thermostat.auto_range == (19.0, 23.0) and thermostat.dead_band_min == 1.11111
    assert (thermostat.fan_mode, thermostat.fan_modes) == ("auto", ("auto", "on", "circulate"))
    assert (thermostat.temperature, thermostat.operating_mode) == (20.0, "heat")


async def test_mode_set_point_range_and_fan_mode_reach_ring(sim: SimServer, api: RingApi) -> None:
    home, device = await _thermostat(sim, api, mode="heat", celsius=20.0)
    thermostat = Thermostat(device)
    await device.set_thermostat(mode="cool")
    await eventually(lambda: thermostat.mode == "cool" and thermostat.set_point == 25.0, what="cool at 25 °C")
    await eventually(lambda: thermostat.operating_mode == "off", what="the operating status")
    await device.set_thermostat(set_point=24.5, fan_mode="on")
    await eventually(lambda: thermostat.set_point == 24.5 and thermostat.fan_mode == "on", what="24.5 °C, fan on")
    await device.set_thermostat(mode="auto")
    await eventually(lambda: thermostat.auto_range == (20.0, 24.0), what="auto's own range")
    await thermostat.set_range(18.0, 26.0)
    await eventually(lambda: thermostat.auto_range == (18.0, 26.0), what="the new range")
    # narrower than the dead band minimum: widened around its middle (ring-mqtt setAutoSetPoint)
    await thermostat.set_range(21.0, 21.5)
    await eventually(lambda: thermostat.dead_band == 1.11111, what="the widened range")
    assert thermostat.set_point == 21.25
    flat = sim_devices(sim, home.id)[THERMOSTAT]
    assert (flat["mode"], flat["setPoint"], flat["deadBand"], flat["fanMode"]) == ("auto", 21.25, 1.11111, "on")


async def test_bad_values_are_refused_before_anything_is_sent(sim: SimServer, api: RingApi) -> None:
    home, device = await _thermostat(sim, api, with_auto=False)
    thermostat = Thermostat(device)
    hub = home.hub
    assert hub is not None and hub.socket is not None
    sent_before = hub.socket.stats.frames_out
    cases: list[tuple[dict[str, object], str]] = [
        ({"mode": "auto"}, "mode must be one of off, heat, cool, aux"),
        ({"mode": "dry"}, "mode must be one of"),
        ({"set_point": 32.5}, "set point must be from 10 to 32 °C"),
        ({"set_point": float("nan")}, "set point must be from"),
        ({"dead_band": 0.5}, "dead band must be at least 1.11111"),
        ({"fan_mode": "turbo"}, "fan mode must be one of auto, on, circulate"),
        ({}, "give a mode, set point, dead band or fan mode"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            await device.set_thermostat(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="low < high"):
        await thermostat.set_range(24.0, 20.0)
    keypad = next(d for d in await home.get_devices() if d.kind is HubDeviceKind.KEYPAD)
    with pytest.raises(CapabilityError, match="is not a thermostat"):
        await keypad.set_thermostat(mode="heat")
    assert hub.socket.stats.frames_out == sent_before
    assert sim_devices(sim, home.id)[THERMOSTAT]["mode"] == "heat"


async def test_a_write_ring_refuses_comes_back_unchanged(sim: SimServer, api: RingApi) -> None:
    _, device = await _thermostat(sim, api)
    seen: list[object] = []
    device.on_data.subscribe(lambda data: seen.append(data.get("setPoint")))
    await device.set_info({"device": {"v1": {"setPoint": 40}}})  # past the checks: Ring pushes the old value back
    await eventually(lambda: bool(seen), what="Ring's answer")
    assert seen == [21.0] and Thermostat(device).set_point == 21.0


async def test_write_and_confirm_tells_applied_refused_and_silence_apart(sim: SimServer, api: RingApi) -> None:
    home, device = await _thermostat(sim, api, mode="heat")
    thermostat = Thermostat(device)
    assert await thermostat.write_and_confirm(thermostat.write_for(set_point=23.5), timeout=20) == "applied"
    assert thermostat.set_point == 23.5
    assert await thermostat.write_and_confirm(thermostat.write_for(set_point=23.5), timeout=20) == "applied"  # no-op
    # past the checks (a range Ring knows better): Ring pushes the old value back
    assert await thermostat.write_and_confirm({"setPoint": 40.0}, timeout=20) == "refused"
    assert thermostat.set_point == 23.5
    # the mode applied, the dead band refused: both answers are waited for
    answer = await thermostat.write_and_confirm({"mode": "cool", "deadBand": 0.1}, timeout=20)
    assert answer == "refused" and thermostat.mode == "cool"
    control(sim, "POST", f"/{home.id}/assets/base_station/session", {"status": "unknown"})  # ignores writes
    assert await thermostat.write_and_confirm(thermostat.write_for(mode="heat"), timeout=1.0) == "timeout"
    assert thermostat.mode == "cool"
