"""``ringvault alarm / lights / mode / devices`` over the real hub WebSocket of the simulator (end to end).

Every state change is read back from the simulator's own hub (``/_sim/hub/{loc}``), not from the CLI's output; the
simulator's control API opens contacts, silences hubs and refuses tickets as Ring (or a broken network) would."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke

#: Generous bound for the simulator's hub to apply a frame the CLI sent before it exited (usually milliseconds).
SETTLE_S = 15.0


# -- the simulator's view ----------------------------------------------------------------------------------------


def _world(sim: SimServer) -> dict[str, Any]:
    data = httpx.get(f"{sim.url}/_sim/world", timeout=10).json()
    assert isinstance(data, dict)
    return data


def _alarm_location(sim: SimServer) -> dict[str, Any]:
    world = _world(sim)
    alarmed = {d["location_id"] for d in world["devices"] if d["family"] == "base_stations"}
    return dict(next(loc for loc in world["locations"] if loc["location_id"] in alarmed))


def _camera_location(sim: SimServer) -> dict[str, Any]:
    world = _world(sim)
    hubs = {d["location_id"] for d in world["devices"] if d["family"] in ("base_stations", "beams_bridges")}
    return dict(next(loc for loc in world["locations"] if loc["location_id"] not in hubs))


def _hub(sim: SimServer, location_id: str) -> dict[str, Any]:
    response = httpx.get(f"{sim.url}/_sim/hub/{location_id}", timeout=10)
    assert response.status_code == 200, response.text
    data = response.json()
    assert isinstance(data, dict)
    return data


def _flat(document: dict[str, Any]) -> dict[str, Any]:
    """A device document flattened as clients do (``{**general.v2, **device.v1}``)."""
    general = document.get("general", {}).get("v2", {})
    device = document.get("device", {}).get("v1", {})
    return {**general, **device}


def _hub_devices(sim: SimServer, location_id: str) -> list[dict[str, Any]]:
    return [_flat(doc) for asset in _hub(sim, location_id)["assets"] for doc in asset["devices"]]


def _hub_device(sim: SimServer, location_id: str, name: str) -> dict[str, Any]:
    return next(d for d in _hub_devices(sim, location_id) if d["name"] == name)


def _panel(sim: SimServer, location_id: str) -> dict[str, Any]:
    return next(d for d in _hub_devices(sim, location_id) if d["deviceType"] == "security-panel")


def _control(sim: SimServer, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.request(method, f"{sim.url}/_sim/hub/{path}", json=body, timeout=10)
    assert response.status_code in (200, 201, 204), response.text
    return response.json() if response.content else {}


def _fault(sim: SimServer, location_id: str, name: str, faulted: bool) -> None:
    _control(sim, "POST", f"{location_id}/devices/{name}/fault", {"faulted": faulted})


def _eventually(read: Callable[[], Any], wanted: Callable[[Any], bool]) -> Any:
    """``read()`` once it satisfies ``wanted`` (the simulator applies a frame a moment after the CLI sent it)."""
    deadline = time.monotonic() + SETTLE_S
    value = read()
    while not wanted(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def _one_error_line(output: str) -> str:
    """The command's one ``error:`` line; ``warning:`` lines before it (a retried connection) are the project's
    convention for what was retried on the way."""
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


def _secrets(token_file: Path) -> list[str]:
    doc = json.loads(token_file.read_text())
    found = [str(v) for k, v in doc.items() if "token" in k.lower() and isinstance(v, str) and len(v) > 8]
    assert found, "the token file holds a refresh token"
    return found


def _assert_no_secret(output: str, token_file: Path) -> None:
    for secret in _secrets(token_file):
        assert secret not in output
    for ticket in re.findall(r"authcode=([^&\s\"']*)", output):  # the hub URL carries the ticket: never shown
        assert set(ticket) <= {"*"}, ticket


# -- devices -----------------------------------------------------------------------------------------------------


def test_devices_lists_hub_devices_with_types(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the table's full names on one line
    home = _alarm_location(cloud_env)
    result = invoke("devices", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    hub_rows = [r for r in rows if r["family"] == "hub"]
    expected = {d["zid"]: d for d in _hub_devices(cloud_env, home["location_id"])}
    assert {r["id"] for r in hub_rows} == set(expected)
    for row in hub_rows:
        device = expected[row["id"]]
        assert row["zid"] == row["id"]
        assert row["name"] == device["name"]
        assert row["kind"] == row["model"] == device["deviceType"]
        assert row["location_id"] == home["location_id"] and row["location_name"] == home["name"]
    types = {r["name"]: r["type"] for r in hub_rows}
    assert types["Security Panel"] == "alarm panel"
    assert types["Front Door Contact"] == "alarm sensor"
    assert types["Keypad"] == "keypad"
    assert types["Path Light 1"] == "light"
    assert types["Backyard Motion"] == "light motion sensor"
    assert types["Smoke/CO Listener"] == "smoke/co alarm"
    assert types["Range Extender"] == "range extender"
    # the account's devices keep their fields and gain a type
    account = {r["name"]: r for r in rows if r["family"] != "hub"}
    assert {r["id"] for r in account.values()} == {d["id"] for d in _world(cloud_env)["devices"]}
    by_kind = {r["kind"]: r["type"] for r in account.values()}
    assert by_kind["lpd_v4"] == "doorbell"
    assert by_kind["floodlight_v2"] == "camera"
    assert by_kind["chime_pro_v2"] == "chime"
    assert by_kind["intercom_handset_audio"] == "intercom"
    assert by_kind["base_station_v1"] == "base station"
    assert by_kind["beams_bridge_v1"] == "lighting bridge"
    assert by_kind["third_party_gdo"] == "garage door opener"
    table = invoke("devices")
    assert table.exit_code == 0, table.output
    assert "alarm sensor" in table.output and "Front Door Contact" in table.output


def test_devices_keeps_unknown_hub_device_types(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    loc = _alarm_location(cloud_env)["location_id"]
    document = {"general": {"v2": {"name": "Flux Capacitor", "deviceType": "quantum.flux", "categoryId": 99}}}
    _control(cloud_env, "POST", f"{loc}/devices", {"document": document})
    rows = json.loads(invoke("devices", "--json").stdout)
    row = next(r for r in rows if r["name"] == "Flux Capacitor")
    assert row["type"] == "unknown" and row["kind"] == "quantum.flux" and row["family"] == "hub"


def test_devices_no_hub_opens_no_socket(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    httpx.delete(f"{cloud_env.url}/_sim/stats", timeout=10)
    result = invoke("devices", "--json", "--no-hub")
    assert result.exit_code == 0, result.output
    assert all(r["family"] != "hub" for r in json.loads(result.stdout))
    endpoints = httpx.get(f"{cloud_env.url}/_sim/stats", timeout=10).json()["endpoints"]
    assert any("ring_devices" in key for key in endpoints)  # the stats do count this command's requests
    assert not [key for key in endpoints if "clap/tickets" in key or key.endswith("/ws")]


def test_devices_lists_the_rest_when_a_hub_fails(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    _control(cloud_env, "PUT", "tickets/refuse", {"count": None, "status": 401, "stage": "ticket"})
    result = invoke("devices", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["id"] for r in rows} == {d["id"] for d in _world(cloud_env)["devices"]}
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: hub devices of")]
    assert len(warnings) == 1, result.stderr
    assert _alarm_location(cloud_env)["name"] in warnings[0]


# -- alarm status ------------------------------------------------------------------------------------------------


def test_alarm_status_text_and_json(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    home = _alarm_location(cloud_env)
    _fault(cloud_env, home["location_id"], "Kitchen Window", True)
    result = invoke("alarm", "status", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["location_id"] == home["location_id"] and doc["location_name"] == home["name"]
    assert doc["mode"] == "disarmed" and doc["ring_mode"] == "none"
    assert doc["alarm"] is None and doc["delay"] is None and doc["siren"] == "off"
    assert [d["name"] for d in doc["faulted"]] == ["Kitchen Window"]
    assert doc["faulted"][0]["type"] == "alarm sensor"
    assert doc["offline"] == []
    assert isinstance(doc["monitoring"], dict) and doc["monitoring_error"] is None
    low = {d["name"] for d in _hub_devices(cloud_env, home["location_id"]) if d.get("batteryStatus") == "low"}
    assert {d["name"] for d in doc["low_battery"]} >= low
    text = invoke("alarm")  # status is the default
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[0] == f"{home['name']}: disarmed"
    assert '  faulted: "Kitchen Window"' in text.output
    assert "  siren: off" in text.output


def test_alarm_status_lists_offline_devices(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    loc = _alarm_location(cloud_env)["location_id"]
    document = {
        "general": {"v2": {"name": "Garage Side Door", "deviceType": "sensor.contact", "commStatus": "error"}},
        "device": {"v1": {"faulted": False}},
    }
    _control(cloud_env, "POST", f"{loc}/devices", {"document": document})
    doc = json.loads(invoke("alarm", "status", "--json").stdout)
    assert [d["name"] for d in doc["offline"]] == ["Garage Side Door"]
    assert '  offline: "Garage Side Door"' in invoke("alarm", "status").output


def test_alarm_status_of_a_location_without_alarm(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    lake = _camera_location(cloud_env)
    home = _alarm_location(cloud_env)
    result = invoke("alarm", "status", "--location", lake["name"])
    assert result.exit_code == 4, result.output
    line = _one_error_line(result.output)
    assert f"no alarm location {lake['name']!r}" in line and f'"{home["name"]}"' in line


# -- arming ------------------------------------------------------------------------------------------------------


def test_arm_refused_names_the_open_sensor(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    home = _alarm_location(cloud_env)
    _fault(cloud_env, home["location_id"], "Front Door Contact", True)
    result = invoke("alarm", "arm", "home")
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.output)
    assert "Front Door Contact" in line
    assert _panel(cloud_env, home["location_id"])["mode"] == "none"


def test_arm_home_with_bypass_then_disarm(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    home = _alarm_location(cloud_env)
    loc = home["location_id"]
    _fault(cloud_env, loc, "Front Door Contact", True)
    result = invoke("alarm", "arm", "home", "--bypass", "front door")  # a unique part of the name, any case
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f'{home["name"]}: armed home (bypassed "Front Door Contact")')
    assert _panel(cloud_env, loc)["mode"] == "some"
    status = json.loads(invoke("alarm", "status", "--json").stdout)
    assert status["mode"] == "home" and status["ring_mode"] == "some"
    assert json.loads(invoke("mode", "get", "--json", "--location", home["name"]).stdout)[0]["mode"] == "home"
    disarm = invoke("alarm", "disarm")
    assert disarm.exit_code == 0, disarm.output
    assert disarm.output.strip() == f"{home['name']}: disarmed"
    assert _panel(cloud_env, loc)["mode"] == "none"


def test_arm_away_bypassing_every_faulted_sensor(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    home = _alarm_location(cloud_env)
    loc = home["location_id"]
    _fault(cloud_env, loc, "Front Door Contact", True)
    _fault(cloud_env, loc, "Kitchen Window", True)
    sensor = _hub_device(cloud_env, loc, "Kitchen Window")
    result = invoke("alarm", "arm", "away", "--bypass", sensor["zid"], "--bypass-faulted")
    assert result.exit_code == 0, result.output
    assert '"Front Door Contact"' in result.output and '"Kitchen Window"' in result.output
    assert "; exit delay " in result.output  # the simulator's away exit delay is 60 s
    assert _panel(cloud_env, loc)["mode"] == "all"
    delay = json.loads(invoke("alarm", "status", "--json").stdout)["delay"]
    assert delay["transition"] == "exit" and 0 < delay["seconds_left"] <= 60
    assert "  delay: exit delay, " in invoke("alarm", "status").output
    assert invoke("alarm", "disarm").exit_code == 0
    assert json.loads(invoke("alarm", "status", "--json").stdout)["delay"] is None


def test_entry_delay_shows_in_status(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    loc = _alarm_location(cloud_env)["location_id"]
    assert invoke("alarm", "arm", "home").exit_code == 0  # no exit delay at home in the simulator
    _fault(cloud_env, loc, "Front Door Contact", True)
    doc = json.loads(invoke("alarm", "status", "--json").stdout)
    assert doc["alarm"] == "entry-delay"
    assert doc["delay"]["transition"] == "entry" and 0 < doc["delay"]["seconds_left"] <= 30
    assert [d["name"] for d in doc["faulted"]] == ["Front Door Contact"]


def test_bypass_names_that_are_unknown_or_ambiguous(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    home = _alarm_location(cloud_env)
    sensors = [
        d["name"] for d in _hub_devices(cloud_env, home["location_id"]) if str(d["deviceType"]).startswith("sensor.")
    ]
    unknown = invoke("alarm", "arm", "home", "--bypass", "Garage Door Tilt")
    assert unknown.exit_code == 4, unknown.output
    line = _one_error_line(unknown.output)
    for name in sensors:
        assert f'"{name}"' in line
    keypad = invoke("alarm", "arm", "home", "--bypass", "Keypad")  # not a sensor: it cannot be bypassed
    assert keypad.exit_code == 4, keypad.output
    ambiguous = invoke("alarm", "arm", "home", "--bypass", "o")
    assert ambiguous.exit_code == 1, ambiguous.output
    assert "matches" in _one_error_line(ambiguous.output)
    assert _panel(cloud_env, home["location_id"])["mode"] == "none"


def test_siren_on_and_off(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    home = _alarm_location(cloud_env)
    loc = home["location_id"]
    on = invoke("alarm", "siren", "on")
    assert on.exit_code == 0, on.output
    assert on.output.strip() == f"{home['name']}: siren on"
    assert _eventually(lambda: _panel(cloud_env, loc)["siren"], lambda s: s == {"state": "on"}) == {"state": "on"}
    assert json.loads(invoke("alarm", "status", "--json").stdout)["siren"] == "on"
    off = invoke("alarm", "siren", "off")
    assert off.exit_code == 0, off.output
    assert _eventually(lambda: _panel(cloud_env, loc)["siren"], lambda s: s == {"state": "off"}) == {"state": "off"}


def test_alarm_going_off_shows_in_status(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    home = _alarm_location(cloud_env)
    _control(cloud_env, "POST", f"{home['location_id']}/alarm", {"kind": "burglar"})
    doc = json.loads(invoke("alarm", "status", "--json").stdout)
    assert doc["alarm"] == "burglar-alarm" and doc["siren"] == "on"
    text = invoke("alarm", "status")
    assert "  alarm: burglar-alarm" in text.output


# -- history -----------------------------------------------------------------------------------------------------


def test_history_shows_arming_newest_first(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    assert invoke("alarm", "arm", "home").exit_code == 0
    assert invoke("alarm", "disarm").exit_code == 0
    result = invoke("alarm", "history", "--json", "--limit", "10")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert 2 <= len(rows) <= 10
    events = [r["event"] for r in rows]
    assert "disarmed" in events[0] and any("armed home" in e for e in events[1:])
    for row in rows:
        assert set(row) == {"time", "time_ms", "zid", "device", "event", "by", "raw"}
        assert isinstance(row["raw"], dict)
    times = [r["time_ms"] for r in rows if r["time_ms"] is not None]
    assert times == sorted(times, reverse=True)
    one = json.loads(invoke("alarm", "history", "--json", "--limit", "1").stdout)
    assert one == rows[:1]
    text = invoke("alarm", "history", "--limit", "2")
    assert text.exit_code == 0 and len(text.output.splitlines()) == 2
    assert "disarmed" in text.output.splitlines()[0]


def test_history_since(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    assert invoke("alarm", "arm", "away").exit_code == 0
    future = invoke("alarm", "history", "--since", "2999-01-01")
    assert future.exit_code == 0, future.output
    assert future.output.strip() == "no alarm events since 2999-01-01"
    recent = json.loads(invoke("alarm", "history", "--json", "--since", "2000-01-01").stdout)
    assert any("armed away" in r["event"] for r in recent)
    bad = invoke("alarm", "history", "--since", "last tuesday")
    assert bad.exit_code == 2, bad.output
    assert "--since" in _one_error_line(bad.output)


# -- lights ------------------------------------------------------------------------------------------------------


def test_lights_list(invoke: Invoke, logged_in: Path, cloud_env: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the table's full names on one line
    home = _alarm_location(cloud_env)
    result = invoke("lights", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["Path Light 1"]["type"] == "light" and rows["Path Light 2"]["type"] == "light"
    assert rows["Backyard Lights"]["type"] == "light group" and rows["Backyard Lights"]["lights"] == 2
    assert "Backyard Motion" not in rows  # a motion sensor is no light
    assert {r["location_id"] for r in rows.values()} == {home["location_id"]}
    light = _hub_device(cloud_env, home["location_id"], "Path Light 1")
    assert rows["Path Light 1"]["id"] == light["zid"]
    assert rows["Path Light 1"]["on"] is light["on"]
    assert rows["Path Light 1"]["brightness"] == round(light["level"] * 100)
    table = invoke("lights", "list")
    assert table.exit_code == 0 and "Backyard Lights" in table.output


def test_light_on_with_brightness_and_off(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    loc = _alarm_location(cloud_env)["location_id"]
    result = invoke("lights", "on", "path light 1", "--brightness", "40", "--duration", "300")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Path Light 1: on (brightness 40%, for 300 s)"
    light = _eventually(lambda: _hub_device(cloud_env, loc, "Path Light 1"), lambda d: d["on"] is True)
    assert light["on"] is True and light["level"] == pytest.approx(0.4)
    assert _hub_device(cloud_env, loc, "Path Light 2")["on"] is False
    off = invoke("lights", "off", light["zid"])
    assert off.exit_code == 0, off.output
    assert off.output.strip() == "Path Light 1: off"
    assert _eventually(lambda: _hub_device(cloud_env, loc, "Path Light 1"), lambda d: d["on"] is False)["on"] is False


def test_light_group_on_and_off(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    def group() -> dict[str, Any]:
        rows = json.loads(invoke("lights", "--json").stdout)
        return dict(next(r for r in rows if r["type"] == "light group"))

    result = invoke("lights", "on", "backyard", "--duration", "60")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Backyard Lights: on (for 60 s)"
    assert group()["on"] is True
    assert invoke("lights", "off", "Backyard Lights").exit_code == 0
    assert group()["on"] is False
    dimmed = invoke("lights", "on", "Backyard Lights", "--brightness", "50")
    assert dimmed.exit_code == 2, dimmed.output
    assert "no brightness" in _one_error_line(dimmed.output)
    assert group()["on"] is False


def _add_light(sim: SimServer, location_id: str, name: str, **general: Any) -> str:
    """Add a Beams light to the lighting bridge through the control API; its zid. A dimmable one (the default
    ``deviceType``) has a ``level``, a plain switch (``switch.beams``) none."""
    kind = general.pop("deviceType", "switch.multilevel.beams")
    state: dict[str, Any] = {"on": False, "level": 0.5} if kind == "switch.multilevel.beams" else {"on": False}
    document = {
        "general": {"v2": {"name": name, "deviceType": kind, "categoryId": 2, **general}},
        "device": {"v1": state},
    }
    added = _control(sim, "POST", f"{location_id}/devices", {"asset": "bridge", "document": document})
    return str(_flat(added["document"])["zid"])


def test_light_refusals(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    loc = _alarm_location(cloud_env)["location_id"]
    ambiguous = invoke("lights", "on", "Path Light")
    assert ambiguous.exit_code == 1, ambiguous.output
    line = _one_error_line(ambiguous.output)
    assert '"Path Light 1"' in line and '"Path Light 2"' in line
    unknown = invoke("lights", "on", "Backyard Motion")
    assert unknown.exit_code == 4, unknown.output
    assert '"Path Light 1"' in _one_error_line(unknown.output)
    assert invoke("lights", "on", "x", "--brightness", "101").exit_code == 2
    assert invoke("lights", "on", "x", "--duration", "32768").exit_code == 2
    # a light named like the group: the name is refused, the ids decide
    added = _control(
        cloud_env,
        "POST",
        f"{loc}/devices",
        {
            "asset": "bridge",
            "document": {
                "general": {
                    "v2": {"name": "Backyard Lights", "deviceType": "switch.multilevel.beams", "categoryId": 2}
                },
                "device": {"v1": {"on": False, "level": 0.5}},
            },
        },
    )
    zid = _flat(added["document"])["zid"]
    both = invoke("lights", "on", "Backyard Lights")
    assert both.exit_code == 1, both.output
    line = _one_error_line(both.output)
    assert 'light "Backyard Lights"' in line and 'light group "Backyard Lights"' in line
    by_id = invoke("lights", "on", zid)
    assert by_id.exit_code == 0, by_id.output
    # a light that reports no level cannot be dimmed: refused before anything is sent
    _add_light(cloud_env, loc, "Porch Switch", deviceType="switch.beams")
    undimmable = invoke("lights", "on", "Porch Switch", "--brightness", "50")
    assert undimmable.exit_code == 1, undimmable.output
    assert "cannot be dimmed" in _one_error_line(undimmable.output)
    assert _hub_device(cloud_env, loc, "Porch Switch")["on"] is False
    # an offline light is refused at once
    _control(
        cloud_env,
        "POST",
        f"{loc}/devices",
        {
            "asset": "bridge",
            "document": {
                "general": {
                    "v2": {"name": "Shed Light", "deviceType": "switch.multilevel.beams", "commStatus": "offline"}
                },
                "device": {"v1": {"on": False, "level": 0.5}},
            },
        },
    )
    offline = invoke("lights", "on", "Shed Light")
    assert offline.exit_code == 1, offline.output
    assert "offline" in _one_error_line(offline.output)
    assert _hub_device(cloud_env, loc, "Shed Light")["on"] is False


def test_lights_without_any_hub(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    lake = _camera_location(cloud_env)
    result = invoke("lights", "--location", lake["name"])
    assert result.exit_code == 1, result.output
    assert "no Smart Lighting bridge" in _one_error_line(result.output)


# -- hubs that fail ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_a_hub_that_does_not_answer(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    home = _alarm_location(cloud_env)
    _control(cloud_env, "POST", f"{home['location_id']}/assets/base_station/silent", {"silent": True})
    result = invoke("alarm", "status")
    assert result.exit_code == 5, result.output
    assert _one_error_line(result.output)
    armed = invoke("alarm", "arm", "away")
    assert armed.exit_code == 5, armed.output
    assert _panel(cloud_env, home["location_id"])["mode"] == "none"


@pytest.mark.timeout(180)
def test_refused_tickets(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    _control(cloud_env, "PUT", "tickets/refuse", {"count": None, "status": 401, "stage": "handshake"})
    home = _alarm_location(cloud_env)["name"]
    for args in (("alarm", "status"), ("lights", "on", "Path Light 1"), ("mode", "get", "--location", home)):
        result = invoke(*args)
        assert result.exit_code == 5, (args, result.output)
        _one_error_line(result.output)
    # every location's mode: the one behind the refused hub is unknown (one warning), the others are shown
    every = invoke("mode", "--json")
    assert every.exit_code == 0, every.output
    rows = {r["location_name"]: r for r in json.loads(every.stdout)}
    assert rows[home]["mode"] is None and rows[home]["source"] == "alarm" and rows[home]["error"]
    lake = _camera_location(cloud_env)
    assert rows[lake["name"]]["mode"] == lake["mode"]
    assert [line for line in every.stderr.splitlines() if line.startswith(f"warning: {home}: ")]


# -- nothing secret printed --------------------------------------------------------------------------------------


def test_nothing_secret_is_printed(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    outputs = [
        invoke(*args).output
        for args in (
            ("devices", "--json"),
            ("alarm", "status", "--json"),
            ("alarm", "arm", "home"),
            ("alarm", "history", "--json"),
            ("alarm", "disarm"),
            ("lights", "--json"),
            ("--debug", "alarm", "status"),
        )
    ]
    for output in outputs:
        _assert_no_secret(output, logged_in)
