"""Ids too big for a 64-bit integer, and ids that are no ids, never crash a command.

Ring's JSON numbers have no size limit. The simulator's control API renumbers a camera to 2^70 everywhere (entry,
health, events, routes); the cloud models keep the id exact, ``devices`` lists it, ``health`` finds it, and the
archive — whose device ids are signed 64-bit — skips that one device with one line while everything else is archived.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.cli.common import EXIT_NOT_FOUND, EXIT_PARTIAL
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke

BIG = 2**70  # 1180591620717411303424


def _world(sim: SimServer) -> dict[str, Any]:
    data = httpx.get(f"{sim.url}/_sim/world", timeout=10).json()
    assert isinstance(data, dict)
    return data


@pytest.fixture
def big_camera(cloud_env: SimServer) -> dict[str, Any]:
    """A wired doorbell with recordings, renumbered to 2^70."""
    world = _world(cloud_env)
    doorbell = next(d for d in world["devices"] if d["family"] == "doorbots" and d["show_recordings"])
    response = httpx.patch(f"{cloud_env.url}/_sim/devices/{doorbell['id']}", json={"id": BIG}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == BIG
    return {**doorbell, "id": BIG, "old_id": doorbell["id"]}


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def test_devices_lists_the_exact_id(
    invoke: Invoke, logged_in: Path, big_camera: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    as_json = invoke("devices", "--json")
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert [r["name"] for r in rows if r["id"] == BIG] == [big_camera["name"]]
    assert '"id": 1180591620717411303424' in as_json.stdout  # exact digits in the JSON text, not a float
    monkeypatch.setenv("COLUMNS", "300")
    table = invoke("devices")
    assert table.exit_code == 0, table.output
    assert "1180591620717411303424" in table.output
    health = invoke("health", str(BIG))  # found by its id, and its health route works
    assert health.exit_code == 0, health.output
    assert health.output.startswith(big_camera["name"])


def test_sync_skips_only_that_device_with_one_line(
    invoke: Invoke, logged_in: Path, big_camera: dict[str, Any], cloud_env: SimServer, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    result = invoke("sync", "--archive", str(archive))
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.stdout.splitlines() if "skipped:" in line]
    assert skipped == [
        f"  note: {big_camera['name']}: skipped: its device id 1180591620717411303424 is larger than the archive can "
        "hold (signed 64-bit), so its events and snapshots are not archived"
    ]
    world = _world(cloud_env)
    with ArchiveStore.open(archive) as store:
        stored = {d.id for d in store.list_devices()}
        assert stored == {d["id"] for d in world["devices"]} - {BIG}  # every other device is there
        for device_id, events in world["events"].items():
            if int(device_id) == BIG:
                continue
            archived = store.query_events(device_id=int(device_id), limit=10_000).events
            assert {e.id for e in archived} == {e["id_str"] for e in events}, device_id
    again = invoke("sync", "--archive", str(archive))  # and so on every later run: the same line, nothing else
    assert again.exit_code == 0, again.output
    assert sum("skipped: its device id" in line for line in again.stdout.splitlines()) == 1


def test_snapshot_of_that_camera(
    invoke: Invoke, logged_in: Path, big_camera: dict[str, Any], cloud_env: SimServer, tmp_path: Path
) -> None:
    into_archive = invoke("snapshot", "--all", "--archive", str(tmp_path / "archive"))
    assert into_archive.exit_code == EXIT_PARTIAL, into_archive.output
    assert (
        f"{big_camera['name']}: failed: its device id 1180591620717411303424 is larger than the archive can hold"
        in into_archive.stderr
    )
    assert into_archive.stderr.strip().splitlines()[-1].startswith("error: 1 of ")
    with ArchiveStore.open(tmp_path / "archive") as store:
        assert store.counts().media >= 1  # the other cameras were kept
        assert BIG not in {d.id for d in store.list_devices()}
    into_folder = invoke("snapshot", str(BIG), "--out", str(tmp_path / "folder"))  # a folder has no id limit
    assert into_folder.exit_code == 0, into_folder.output
    (jpeg,) = (tmp_path / "folder").glob("*.jpg")
    assert "-1180591620717411303424-" in jpeg.name


@pytest.mark.parametrize(
    "query",
    [
        "99999999999999999999999",  # beyond 64 bits, no such device
        "9" * 5000,  # beyond Python's int-from-text limit (4300 digits)
        "²",  # a digit to str.isdigit, but no number
        "١٢٣",  # Arabic-Indic digits
    ],
)
def test_an_id_that_matches_nothing_is_one_line(invoke: Invoke, logged_in: Path, query: str) -> None:
    for command in (["health", query], ["sync", "--device", query, "--dry-run"], ["snapshot", query, "--out", "x"]):
        result = invoke(*command)
        assert result.exit_code == EXIT_NOT_FOUND, (command, result.output)
        _one_error_line(result.stderr)


def test_a_location_id_that_is_a_huge_number(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    """A device whose location_id is a number beyond 64 bits: location ids are text, so it is kept as such."""
    camera = next(d for d in _world(cloud_env)["devices"] if d["family"] == "stickup_cams" and d["show_recordings"])
    body = {"entry": {"location_id": BIG}}
    assert httpx.patch(f"{cloud_env.url}/_sim/devices/{camera['id']}", json=body, timeout=10).status_code == 200
    rows = json.loads(invoke("devices", "--json").stdout)
    assert [r["location_id"] for r in rows if r["id"] == camera["id"]] == [str(BIG)]
    result = invoke("sync", "--archive", str(tmp_path / "archive"), "--metadata-only")
    assert result.exit_code == 0, result.output
    with ArchiveStore.open(tmp_path / "archive") as store:
        device = next(d for d in store.list_devices() if d.id == camera["id"])
        assert device.location_id == str(BIG)
