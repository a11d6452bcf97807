"""``ringvault devices / health / light / siren`` against the simulator."""

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


def _devices(invoke: Invoke) -> list[dict[str, Any]]:
    """The account's devices (``ring_devices``); the hub devices are tested in ``test_hub_cli.py``."""
    result = invoke("devices", "--json", "--no-hub")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


def _ring_device(sim: SimServer, device_id: int) -> dict[str, Any]:
    """The device's entry as the simulator serves it now (read through the control API's world)."""
    for family_devices in sim.state.world.ring_devices_payload().values():
        for entry in family_devices:
            if entry.get("id") == device_id:
                return dict(entry)
    raise AssertionError(f"device {device_id} not in ring_devices")


def test_devices_json_lists_every_device_of_every_family(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    rows = _devices(invoke)
    world = _world(cloud_env)
    assert {r["id"] for r in rows} == {d["id"] for d in world["devices"]}
    for row in rows:
        for key in ("id", "name", "kind", "family", "location_id", "model"):
            assert key in row
    families = {r["family"] for r in rows}
    assert {"doorbots", "authorized_doorbots", "stickup_cams", "chimes", "base_stations", "beams_bridges", "other"} <= (
        families
    )
    assert {r["location_id"] for r in rows if r["family"] != "beams_bridges"} <= {
        loc["location_id"] for loc in world["locations"]
    }


def test_devices_table(invoke: Invoke, logged_in: Path) -> None:
    result = invoke("devices")
    assert result.exit_code == 0, result.output
    assert "devices" in result.output


def test_health_by_name_and_by_id(invoke: Invoke, logged_in: Path) -> None:
    doorbell = next(r for r in _devices(invoke) if r["family"] == "doorbots")
    by_id = invoke("health", str(doorbell["id"]), "--json")
    assert by_id.exit_code == 0, by_id.output
    health = json.loads(by_id.stdout)
    assert isinstance(health, dict) and health
    by_name = invoke("health", doorbell["name"])
    assert by_name.exit_code == 0, by_name.output
    assert doorbell["name"] in by_name.output


def test_unknown_device(invoke: Invoke, logged_in: Path) -> None:
    for query in ("No Such Camera", "999999999"):
        result = invoke("light", query, "on")
        assert result.exit_code == 4, result.output
        assert "ringvault devices" in result.output


def test_light_on_off_changes_the_cloud(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    lit = next(r for r in _devices(invoke) if r.get("has_light"))
    assert invoke("light", lit["name"], "on").exit_code == 0
    assert _ring_device(cloud_env, lit["id"])["led_status"] == "on"
    assert invoke("light", str(lit["id"]), "off").exit_code == 0
    assert _ring_device(cloud_env, lit["id"])["led_status"] == "off"


def test_light_on_a_camera_without_one(invoke: Invoke, logged_in: Path) -> None:
    dark = next(r for r in _devices(invoke) if r["family"] == "stickup_cams" and r.get("has_light") is False)
    result = invoke("light", str(dark["id"]), "on")
    assert result.exit_code != 0
    assert "no light" in result.output


def test_siren_on_with_duration_then_off(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    loud = next(r for r in _devices(invoke) if r.get("has_siren"))
    result = invoke("siren", str(loud["id"]), "on", "--duration", "15")
    assert result.exit_code == 0, result.output
    assert _ring_device(cloud_env, loud["id"])["siren_status"]["seconds_remaining"] > 0
    assert invoke("siren", str(loud["id"]), "off").exit_code == 0
    assert _ring_device(cloud_env, loud["id"])["siren_status"]["seconds_remaining"] == 0


def test_commands_share_one_ring_session(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    for _ in range(3):
        assert invoke("devices", "--json").exit_code == 0
    stats = httpx.get(f"{cloud_env.url}/_sim/stats", timeout=10).json()["endpoints"]
    assert stats["POST api.ring.com/clients_api/session"]["count"] == 1
    assert stats["GET api.ring.com/clients_api/ring_devices"]["count"] == 3


def test_devices_table_is_sorted_by_what_it_shows(
    invoke: Invoke, logged_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Location, then name: the order a reader can see (not by device family, which the table does not show)."""
    monkeypatch.setenv("COLUMNS", "300")  # one table row per line
    result = invoke("devices")
    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines()]
    shown = [(row[4], row[1]) for row in rows if len(row) == 7 and row[0].isdigit()]
    assert len(shown) == len(_devices(invoke))
    assert shown == sorted(shown, key=lambda pair: (pair[0].casefold(), pair[1].casefold()))
    assert len({location for location, _ in shown}) > 1  # the world has several locations
