"""``ringvault chime / unlock / motion / mode`` end to end against the simulator (REST devices; no hub socket)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke


def _world(sim: SimServer) -> dict[str, Any]:
    data = httpx.get(f"{sim.url}/_sim/world", timeout=10).json()
    assert isinstance(data, dict)
    return data


def _device(sim: SimServer, *, kind: str | None = None, family: str | None = None) -> dict[str, Any]:
    for device in _world(sim)["devices"]:
        if (kind is None or device["kind"] == kind) and (family is None or device["family"] == family):
            return dict(device)
    raise AssertionError(f"no {kind or family} in the seeded world")


def _entry(sim: SimServer, device_id: int) -> dict[str, Any]:
    """The device's ``ring_devices`` entry as the simulator serves it now."""
    for family_devices in sim.state.world.ring_devices_payload().values():
        for entry in family_devices:
            if entry.get("id") == device_id:
                return dict(entry)
    raise AssertionError(f"device {device_id} not in ring_devices")


def _set_offline(sim: SimServer, device_id: int) -> None:
    response = httpx.patch(f"{sim.url}/_sim/devices/{device_id}", json={"offline": True}, timeout=10)
    assert response.status_code == 200, response.text


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


# -- chime -------------------------------------------------------------------------------------------------------


def test_chime_play_both_sounds_by_name(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    chime = _device(cloud_env, family="chimes")
    sounds = cloud_env.state.world.device(chime["id"]).sounds
    before = len(sounds)
    played = invoke("chime", chime["name"].upper(), "play")  # names are case-insensitive
    assert played.exit_code == 0, played.output
    assert played.output.strip() == f"{chime['name']}: played the ding sound"
    motion = invoke("chime", str(chime["id"]), "play", "--kind", "motion")
    assert motion.exit_code == 0, motion.output
    assert [s["kind"] for s in sounds[before:]] == ["ding", "motion"]


def test_chime_volume_changes_the_cloud(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    chime = _device(cloud_env, family="chimes")
    old = _entry(cloud_env, chime["id"])["settings"]["volume"]
    new = 3 if old != 3 else 7
    result = invoke("chime", chime["name"], "volume", str(new))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{chime['name']}: volume {new} (was {old})"
    assert _entry(cloud_env, chime["id"])["settings"]["volume"] == new
    shown = invoke("chime", chime["name"])
    assert shown.exit_code == 0, shown.output
    assert f"volume {new} of 11, not snoozed" in shown.output


def test_chime_snooze_and_snooze_off(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    chime = _device(cloud_env, family="chimes")
    result = invoke("chime", chime["name"], "snooze", "30")
    assert result.exit_code == 0, result.output
    assert "snoozed for 30 min" in result.output
    assert _entry(cloud_env, chime["id"])["do_not_disturb"]["seconds_left"] == 30 * 60
    assert "snoozed for 30 more min" in invoke("chime", chime["name"]).output
    off = invoke("chime", chime["name"], "snooze", "off")
    assert off.exit_code == 0, off.output
    assert off.output.strip() == f"{chime['name']}: snooze off"
    assert _entry(cloud_env, chime["id"])["do_not_disturb"]["seconds_left"] == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("volume", "12"), "volume takes a whole number 0..11"),
        (("volume",), "volume takes a whole number 0..11"),
        (("volume", "2.5"), "volume takes a whole number 0..11"),
        (("snooze", "0"), "snooze takes a whole number 1..1440 minutes, or off"),
        (("snooze", "1441"), "snooze takes a whole number 1..1440 minutes, or off"),
        (("snooze", "soon"), "snooze takes a whole number 1..1440 minutes, or off"),
        (("play", "loud"), "play takes no value"),
    ],
)
def test_chime_bad_values_are_usage_errors_and_send_nothing(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, args: tuple[str, ...], expected: str
) -> None:
    chime = _device(cloud_env, family="chimes")
    before = _entry(cloud_env, chime["id"])
    result = invoke("chime", chime["name"], *args)
    assert result.exit_code == 2, result.output
    assert expected in _one_error_line(result.output)
    assert _entry(cloud_env, chime["id"]) == before


def test_chime_refusals(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    unknown = invoke("chime", "No Such Chime", "play")
    assert unknown.exit_code == 4, unknown.output
    assert "ringvault devices" in _one_error_line(unknown.output)

    doorbell = _device(cloud_env, family="doorbots")
    not_chime = invoke("chime", doorbell["name"], "play")
    assert not_chime.exit_code == 1, not_chime.output
    assert f"{doorbell['name']} is a " in _one_error_line(not_chime.output)
    assert "not a chime" in not_chime.output

    chime = _device(cloud_env, family="chimes")
    _set_offline(cloud_env, chime["id"])
    offline = invoke("chime", chime["name"], "play")
    assert offline.exit_code == 1, offline.output
    assert "offline" in _one_error_line(offline.output)
    assert cloud_env.state.world.device(chime["id"]).sounds == []


def test_ambiguous_name_names_the_candidates(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    chimes = [d for d in _world(cloud_env)["devices"] if d["family"] == "chimes"]
    assert len(chimes) > 1  # every chime's name ends in "Chime"
    result = invoke("chime", "chime", "play")
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.output)
    for chime in chimes:
        assert repr(chime["name"]) in line


# -- intercom ----------------------------------------------------------------------------------------------------


def test_unlock_intercom(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    intercom = _device(cloud_env, kind="intercom_handset_audio")
    result = invoke("unlock", intercom["name"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{intercom['name']}: unlocked")
    unlocks = cloud_env.state.world.device(intercom["id"]).unlocks
    assert len(unlocks) == 1
    assert unlocks[0]["request"]["method"] == "unlock_door"


def test_unlock_refusals(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    chime = _device(cloud_env, family="chimes")
    not_intercom = invoke("unlock", chime["name"])
    assert not_intercom.exit_code == 1, not_intercom.output
    assert "not an intercom" in _one_error_line(not_intercom.output)
    assert invoke("unlock", "999999999").exit_code == 4

    intercom = _device(cloud_env, kind="intercom_handset_audio")
    _set_offline(cloud_env, intercom["id"])
    offline = invoke("unlock", intercom["name"])
    assert offline.exit_code == 1, offline.output
    assert "offline" in _one_error_line(offline.output)
    assert cloud_env.state.world.device(intercom["id"]).unlocks == []


# -- motion detection --------------------------------------------------------------------------------------------


def test_motion_off_and_on(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    camera = _device(cloud_env, kind="stickup_cam_lunar")
    assert _entry(cloud_env, camera["id"])["settings"]["motion_detection_enabled"] is True
    off = invoke("motion", camera["name"], "off")
    assert off.exit_code == 0, off.output
    assert off.output.strip() == f"{camera['name']}: motion detection off (was on)"
    assert _entry(cloud_env, camera["id"])["settings"]["motion_detection_enabled"] is False
    again = invoke("motion", camera["name"], "off")
    assert again.output.strip() == f"{camera['name']}: motion detection off (already)"
    on = invoke("motion", str(camera["id"]), "on")
    assert on.exit_code == 0, on.output
    assert _entry(cloud_env, camera["id"])["settings"]["motion_detection_enabled"] is True


def test_motion_refusals(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    chime = _device(cloud_env, family="chimes")
    not_camera = invoke("motion", chime["name"], "on")
    assert not_camera.exit_code == 1, not_camera.output
    assert "not a camera" in _one_error_line(not_camera.output)

    bad_state = invoke("motion", chime["name"], "maybe")
    assert bad_state.exit_code == 2, bad_state.output

    camera = _device(cloud_env, kind="stickup_cam_lunar")
    _set_offline(cloud_env, camera["id"])
    offline = invoke("motion", camera["name"], "off")
    assert offline.exit_code == 1, offline.output
    assert "offline" in _one_error_line(offline.output)
    assert _entry(cloud_env, camera["id"])["settings"]["motion_detection_enabled"] is True


# -- location mode -----------------------------------------------------------------------------------------------


def _camera_location(sim: SimServer) -> dict[str, Any]:
    """A location without an alarm base station (its mode is the mode API's)."""
    world = _world(sim)
    alarmed = {d["location_id"] for d in world["devices"] if d["family"] == "base_stations"}
    return next(loc for loc in world["locations"] if loc["location_id"] not in alarmed)


def _alarm_location(sim: SimServer) -> dict[str, Any]:
    world = _world(sim)
    alarmed = {d["location_id"] for d in world["devices"] if d["family"] == "base_stations"}
    return next(loc for loc in world["locations"] if loc["location_id"] in alarmed)


def test_mode_set_and_get_on_a_camera_location(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    place = _camera_location(cloud_env)
    assert place["mode"] == "home"
    result = invoke("mode", "set", "away", "--location", place["name"].lower())
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{place['name']}: mode away (was home)"
    assert cloud_env.state.world.location(place["location_id"]).mode == "away"
    shown = invoke("mode", "get", "--location", place["location_id"], "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == [
        {
            "location_id": place["location_id"],
            "location_name": place["name"],
            "mode": "away",
            "source": "location",
            "switchable": True,
        }
    ]


def test_mode_set_on_an_alarm_location_points_to_alarm(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    place = _alarm_location(cloud_env)
    before = cloud_env.state.world.location(place["location_id"]).mode
    result = invoke("mode", "set", "away", "--location", place["name"])
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.output)
    assert "has a Ring Alarm" in line
    assert "`ringvault alarm arm away`" in line
    disarm = invoke("mode", "set", "disarmed", "--location", place["name"])
    assert "`ringvault alarm disarm`" in disarm.output
    assert cloud_env.state.world.location(place["location_id"]).mode == before


def test_mode_set_needs_a_location_among_several(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    names = [loc["name"] for loc in _world(cloud_env)["locations"]]
    assert len(names) > 1
    result = invoke("mode", "set", "home")
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.output)
    assert "this account has 2 locations" in line and "--location" in line
    for name in names:
        assert f'"{name}"' in line
    unknown = invoke("mode", "set", "home", "--location", "Moon Base")
    assert unknown.exit_code == 4, unknown.output
    assert "no location 'Moon Base'" in _one_error_line(unknown.output)
    bad_mode = invoke("mode", "set", "sleep", "--location", names[0])
    assert bad_mode.exit_code == 2, bad_mode.output


def test_mode_set_refused_when_modes_are_off(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    place = _camera_location(cloud_env)
    cloud_env.state.world.set_mode(place["location_id"], "disabled")
    result = invoke("mode", "set", "away", "--location", place["name"])
    assert result.exit_code == 1, result.output
    assert "Turn Modes on" in _one_error_line(result.output)
    assert cloud_env.state.world.location(place["location_id"]).mode == "disabled"
