"""The hub client end to end over real WebSockets against the simulator (``sim``; control API ``/_sim/hub``)."""

from __future__ import annotations

import asyncio
import re
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cloud import (
    AlarmArmError,
    HubDevice,
    HubDeviceKind,
    HubOptions,
    HubTimeoutError,
    HubUnavailableError,
    Location,
    RingApi,
)
from ringvault.cloud.hub.device import flatten
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.transport.ws_helpers import eventually

README = Path(__file__).resolve().parents[2] / "README.md"
HUB_OPTIONS = HubOptions(
    devices_timeout_s=20.0,
    command_timeout_s=20.0,
    max_failures=3,
    backoff_initial_s=0.05,
    backoff_max_s=0.3,
    backoff_jitter_s=0.05,
)


def control(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{sim.url}/_sim/hub{path}", json=body, timeout=20)
    response.raise_for_status()
    return response.json() if response.content else None


def set_faults(sim: SimServer, faults: dict[str, Any]) -> None:
    httpx.patch(f"{sim.url}/_sim/faults", json=faults, timeout=10).raise_for_status()


def sim_devices(sim: SimServer, location_id: str) -> dict[str, dict[str, Any]]:
    """The simulator's own view of the location's hub devices: zid -> flattened document."""
    doc = control(sim, "GET", f"/{location_id}")
    found: dict[str, dict[str, Any]] = {}
    for asset in doc["assets"]:
        for device in asset["devices"]:
            flat = flatten(device)
            found[flat["zid"]] = flat
    return found


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        for location in await ring.get_locations():
            location.hub_options = HUB_OPTIONS
        yield ring


async def alarm_location(api: RingApi) -> Location:
    for location in await api.get_locations():
        if location.has_alarm_base_station:
            return location
    raise AssertionError("the simulated world has no alarm location")


def by_name(devices: list[HubDevice], name: str) -> HubDevice:
    for device in devices:
        if device.name == name:
            return device
    raise AssertionError(f"no hub device {name!r} among {[d.name for d in devices]}")


async def test_the_device_list_equals_the_simulators(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    devices = await home.get_devices()
    expected = sim_devices(sim, home.id)
    assert {d.zid: d.data for d in devices} == expected
    kinds = {d.name: d.kind for d in devices}
    assert kinds["Security Panel"] is HubDeviceKind.SECURITY_PANEL
    assert kinds["Front Door Contact"] is HubDeviceKind.CONTACT_SENSOR
    assert kinds["Path Light 1"] is HubDeviceKind.BEAMS_LIGHT
    assert kinds["Backyard Lights"] is HubDeviceKind.BEAMS_GROUP
    assert all(d.kind is not HubDeviceKind.UNKNOWN for d in devices)
    assert await home.get_alarm_mode() == "none"
    rooms = await home.get_rooms()
    assert {"Living Room", "Backyard"} <= {room.get("name") for room in rooms}


async def test_a_location_without_hubs_opens_no_socket(sim: SimServer, api: RingApi) -> None:
    plain = [loc for loc in await api.get_locations() if not loc.has_hubs]
    if not plain:  # the default world's second location may have hubs too; this test needs one without
        pytest.fail("the test world needs a location without hubs")
    before = control(sim, "GET", "")
    for location in plain:
        assert await location.get_devices() == []
        assert location.hub is None
    after = control(sim, "GET", "")
    assert after == before


async def test_arm_home_with_a_bypassed_open_sensor_arm_away_and_disarm(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    devices = await home.get_devices()
    front, panel = by_name(devices, "Front Door Contact"), await home.get_security_panel()
    control(sim, "POST", f"/{home.id}/devices/{front.zid}/fault", {"faulted": True})
    await eventually(lambda: front.faulted is True, what="the open contact")
    modes: list[Any] = []
    panel.on_data.subscribe(lambda data: modes.append(data.get("mode")))

    await home.arm_home(bypass=[front.zid])
    assert panel.mode == "some" and await home.get_alarm_mode() == "some"
    assert sim_devices(sim, home.id)[panel.zid]["mode"] == "some"  # the simulator's panel agrees

    control(sim, "POST", f"/{home.id}/devices/{front.zid}/fault", {"faulted": False})
    await eventually(lambda: front.faulted is False, what="the closed contact")
    await home.disarm()
    await home.arm_away()
    assert panel.mode == "all" and sim_devices(sim, home.id)[panel.zid]["mode"] == "all"
    await home.disarm()
    assert panel.mode == "none" and sim_devices(sim, home.id)[panel.zid]["mode"] == "none"
    assert {"some", "all", "none"} <= set(modes)


async def test_arming_with_an_unbypassed_open_sensor_fails_naming_it(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    devices = await home.get_devices()
    window = by_name(devices, "Kitchen Window")
    control(sim, "POST", f"/{home.id}/devices/Kitchen Window/fault", {"faulted": True})
    await eventually(lambda: window.faulted is True, what="the open window")
    with pytest.raises(AlarmArmError) as refused:
        await home.arm_home()
    assert str(refused.value) == 'cannot arm home: "Kitchen Window" is open — bypass it or close it'
    assert [d.zid for d in refused.value.faulted] == [window.zid]
    assert await home.get_alarm_mode() == "none"
    assert sim_devices(sim, home.id)[(await home.get_security_panel()).zid]["mode"] == "none"


async def test_siren_on_and_off_and_volume(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    devices = await home.get_devices()
    panel = await home.get_security_panel()
    await home.sound_siren()
    await eventually(lambda: (panel.data.get("siren") or {}).get("state") == "on", what="siren on")
    await home.silence_siren()
    await eventually(lambda: (panel.data.get("siren") or {}).get("state") == "off", what="siren off")

    keypad = next(d for d in devices if d.kind is HubDeviceKind.KEYPAD)
    target = 0.35 if keypad.volume != 0.35 else 0.65
    await keypad.set_volume(target)
    await eventually(lambda: keypad.volume == target, what="the keypad's volume")
    assert sim_devices(sim, home.id)[keypad.zid]["volume"] == target


async def test_beams_lights_on_off_and_brightness(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    light = by_name(await home.get_devices(), "Path Light 1")
    await light.set_light(True, duration_s=120)
    await eventually(lambda: light.data.get("on") is True, what="the light on")
    await light.set_brightness(0.6)
    await eventually(lambda: light.data.get("level") == 0.6, what="the level")
    await light.set_light(False)
    await eventually(lambda: light.data.get("on") is False, what="the light off")
    assert sim_devices(sim, home.id)[light.zid]["on"] is False
    # the light group device switches its REST group (ring-mqtt beam.js: setLightGroup with its groupId)
    group_device = by_name(await home.get_devices(), "Backyard Lights")
    await group_device.set_light(True, duration_s=45)
    group = next(g for g in await home.get_light_groups() if g.id == str(group_device.data["groupId"]))
    assert (await group.get_state()).get("lights_on") is True


async def test_a_contact_opened_through_the_control_api_reaches_on_data(sim: SimServer, api: RingApi) -> None:
    """The update arrives by itself over the socket (its delay is measured in bench/mqtt_hub.py, not asserted here:
    a timed assertion fails on a busy machine)."""
    home = await alarm_location(api)
    front = by_name(await home.get_devices(), "Front Door Contact")
    arrived: list[dict[str, object]] = []
    front.on_data.subscribe(lambda data: arrived.append(dict(data)) if data.get("faulted") else None)
    await asyncio.to_thread(control, sim, "POST", f"/{home.id}/devices/{front.zid}/fault", {"faulted": True})
    await eventually(lambda: bool(arrived), within=30, what="the update")
    assert arrived[0]["zid"] == front.zid and front.faulted is True


async def _change_while_disconnected(sim: SimServer, home: Location, trigger: str) -> None:
    """Refuse tickets, cut the socket (``trigger``), change a sensor while no socket is open, let tickets through
    again: the reconnect must bring the change (the sensor's ``on_data`` fires with it)."""
    hub = home.hub
    assert hub is not None and hub.socket is not None and hub.connected
    tickets_before, reconnects_before = hub.tickets, hub.socket.stats.reconnects
    failures_before = hub.socket.stats.failures
    front = by_name(list(hub.devices.values()), "Front Door Contact")
    seen: list[bool] = []
    front.on_data.subscribe(lambda data: seen.append(bool(data.get("faulted"))))
    control(sim, "PUT", "/tickets/refuse", {"count": None, "status": 403, "stage": "ticket"})
    try:
        control(sim, "POST", f"/{home.id}/{trigger}")
        await eventually(lambda: not hub.connected, what="the socket to go")
        socket = hub.socket
        await eventually(lambda: socket.stats.failures > failures_before, what="a refused ticket")
        control(sim, "POST", f"/{home.id}/devices/{front.zid}/fault", {"faulted": True})
    finally:
        control(sim, "DELETE", "/tickets/refuse")
    await eventually(lambda: hub.connected and front.faulted is True, within=30, what="reconnect with the change")
    assert seen and seen[-1] is True
    assert hub.socket.stats.failures > failures_before  # tickets were refused while the change happened...
    assert hub.tickets == tickets_before + 1  # ...then a new one (single use) opened the socket again
    assert hub.socket.stats.reconnects == reconnects_before + 1


async def test_a_dropped_socket_reconnects_with_a_new_ticket_and_loses_no_update(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    await home.get_devices()
    await _change_while_disconnected(sim, home, "drop")


async def test_a_disconnection_event_reconnects_with_a_new_ticket_and_loses_no_update(
    sim: SimServer, api: RingApi
) -> None:
    home = await alarm_location(api)
    await home.get_devices()
    await _change_while_disconnected(sim, home, "disconnect-event")


async def test_a_refused_ticket_gives_a_clear_error_after_bounded_retries(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    control(sim, "PUT", "/tickets/refuse", {"count": None, "status": 403, "stage": "ticket"})
    try:
        started = time.monotonic()
        with pytest.raises(HubUnavailableError) as caught:
            await home.get_devices(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        control(sim, "DELETE", "/tickets/refuse")
    message = str(caught.value)
    assert "after 3 attempts" in message and "HTTP 403" in message and "\n" not in message
    assert elapsed < 30  # bounded: three tickets and short waits, not the whole timeout
    # once tickets are given again, the socket heals by itself and the next call works
    await eventually(lambda: home.hub is not None and home.hub.connected, within=30, what="the healed socket")
    assert len(await home.get_devices()) > 0


async def test_a_handshake_refused_at_the_socket_is_retried_with_new_tickets(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    control(sim, "PUT", "/tickets/refuse", {"count": 2, "status": 401, "stage": "handshake"})
    try:
        devices = await home.get_devices()
    finally:
        control(sim, "DELETE", "/tickets/refuse")
    assert devices and home.hub is not None and home.hub.tickets == 3


async def test_a_hub_that_never_answers_times_out_naming_it(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    control(sim, "POST", f"/{home.id}/assets/bridge/silent", {"silent": True})
    started = time.monotonic()
    with pytest.raises(HubTimeoutError):  # on a busy machine the socket itself may take longer than 2 s to open
        await home.get_devices(timeout=2.0)
    assert time.monotonic() - started < 15
    hub = home.hub
    assert hub is not None
    await eventually(lambda: hub.connected, within=60, what="the socket open")  # then only the bridge is silent
    with pytest.raises(HubTimeoutError) as caught:
        await home.get_devices(timeout=2.0)
    bridge = next(a for a in hub.assets if a.kind.startswith("beams_bridge"))
    assert bridge.uuid in str(caught.value) and "did not answer its device list within 2 s" in str(caught.value)


async def test_an_unknown_device_type_is_kept(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    await home.get_devices()
    document = {
        "general": {"v2": {"name": "Garden Gnome", "deviceType": "gnome.garden-v9", "categoryId": 77}},
        "device": {"v1": {"beard": "long"}},
    }
    control(sim, "POST", f"/{home.id}/devices", {"document": document})
    hub = home.hub
    assert hub is not None
    await eventually(lambda: any(d.name == "Garden Gnome" for d in hub.devices.values()), what="the new device")
    gnome = by_name(await home.get_devices(), "Garden Gnome")
    assert gnome.kind is HubDeviceKind.UNKNOWN and gnome.type_label == "unknown"
    assert gnome.device_type == "gnome.garden-v9" and gnome.data["beard"] == "long" and gnome.category_id == 77


async def test_malformed_and_oversized_frames_do_not_crash_the_client(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    await home.get_devices()
    hub = home.hub
    assert hub is not None and hub.socket is not None
    for text in ["not json", "[1,2,3]", '{"channel": "DataUpdate", "msg": 5}', "[" * 2000 + "]" * 2000]:
        control(sim, "POST", f"/{home.id}/raw", {"text": text})
    control(sim, "POST", f"/{home.id}/raw", {"repeat": "x", "size": hub.options.max_frame_bytes + 1024})
    await eventually(lambda: hub.socket is not None and hub.socket.stats.oversized == 1, what="the oversized frame")
    await eventually(lambda: hub.connected, within=30, what="the reconnect after the oversized frame")
    assert hub.socket.stats.dropped >= 4 and hub.ignored >= 1
    front = by_name(list(hub.devices.values()), "Front Door Contact")
    control(sim, "POST", f"/{home.id}/devices/{front.zid}/fault", {"faulted": True})
    await eventually(lambda: front.faulted is True, what="a normal update afterwards")


async def test_history_light_groups_and_monitoring(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    await home.arm_home()
    await home.disarm()
    page = await home.get_alarm_history(limit=5, category="alarm")
    assert 0 < len(page) <= 5 and all(item.get("msg") == "DataUpdate" for item in page)
    impulses = [
        impulse.get("impulseType")
        for item in page
        for body in item.get("body", [])
        for impulse in (body.get("impulse") or {}).get("v1", [])
    ]
    assert "security-panel.mode-switched.none" in impulses
    every = [item async for item in home.iter_alarm_history(category="alarm", page_size=7)]
    assert len(every) >= len(page) and every[: len(page)] == page
    times = [i["context"]["eventOccurredTsMs"] for i in every if "eventOccurredTsMs" in i.get("context", {})]
    assert times == sorted(times, reverse=True)
    assert (await home.get_monitoring_status()).get("accountState") == "PROFESSIONAL"
    groups = await home.get_light_groups()
    assert groups and groups[0].name
    await groups[0].set_lights(True, duration_s=30)
    state = await groups[0].get_state()
    assert state.get("lights_on") is True


async def test_disconnect_closes_every_hub_socket(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as ring:
        home = await alarm_location(ring)
        await home.get_devices()
        hub = home.hub
        assert hub is not None and hub.connected
    assert not hub.connected and home.hub is None
    await eventually(
        lambda: all(not loc.get("sockets") for loc in control(sim, "GET", "")["locations"]),
        what="the simulator to see no socket",
    )


async def test_a_hub_back_online_is_asked_for_its_devices_again(sim: SimServer, api: RingApi) -> None:
    home = await alarm_location(api)
    await home.get_devices()
    hub = home.hub
    assert hub is not None and hub.socket is not None
    stats = hub.socket.stats
    sent_before, received_before = stats.frames_out, stats.frames_in
    control(sim, "POST", f"/{home.id}/assets/bridge/session", {"status": "cell-backup"})
    await eventually(lambda: stats.frames_in > received_before, what="the SessionInfo frame")
    assert stats.frames_out == sent_before  # offline: nothing asked
    control(sim, "POST", f"/{home.id}/assets/bridge/session", {"status": "online"})
    await eventually(lambda: stats.frames_out == sent_before + 1, what="the list request")
    await eventually(lambda: stats.frames_in >= received_before + 3, what="the bridge's list")
    assert stats.connects == 1  # no reconnect: just the one list again
    light = by_name(list(hub.devices.values()), "Path Light 1")
    assert light.asset_uuid == next(a.uuid for a in hub.assets if a.kind.startswith("beams_bridge"))


async def test_the_readme_alarm_example_runs(sim: SimServer, api: RingApi, capsys: pytest.CaptureFixture[str]) -> None:
    match = re.search(r"### Alarm and Smart Lighting.*?```python\n(.*?)```", README.read_text("utf-8"), re.DOTALL)
    assert match, "README.md has the alarm example"
    code = "async def example(api):\n" + textwrap.indent(match.group(1), "    ")
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    await namespace["example"](api)
    out = capsys.readouterr().out
    assert "Front Door Contact alarm sensor" in out and "none" in out


async def test_under_random_socket_drops_and_latency_the_client_ends_with_the_simulators_state(
    sim: SimServer, api: RingApi
) -> None:
    faults = {"socket_drop_rate": 0.2, "latency_ms": 5, "latency_jitter_ms": 20, "path_pattern": "/ws", "seed": 5}
    set_faults(sim, faults)
    home = await alarm_location(api)
    try:
        devices = await home.get_devices(timeout=60)
        sensors = [by_name(devices, n) for n in ("Front Door Contact", "Kitchen Window", "Living Room Motion")]
        for step in range(12):
            sensor = sensors[step % len(sensors)]
            control(sim, "POST", f"/{home.id}/devices/{sensor.zid}/fault", {"faulted": step % 2 == 0})
            await asyncio.sleep(0.05)
    finally:
        set_faults(sim, {"socket_drop_rate": 0, "latency_ms": 0, "latency_jitter_ms": 0})
    hub = home.hub
    assert hub is not None and hub.socket is not None
    expected = sim_devices(sim, home.id)

    def converged() -> bool:
        return hub.connected and {zid: hub.devices[zid].data for zid in expected if zid in hub.devices} == expected

    await eventually(converged, within=60, what="the client's devices to equal the simulator's")
    assert hub.socket.stats.reconnects >= 1  # the drops really happened
