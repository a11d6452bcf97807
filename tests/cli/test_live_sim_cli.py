"""``ringvault live`` end to end against the simulator's live view (no stand-in): --record, --frame, --archive (the
event is the simulator's own on_demand event), the failures as one line with no partial file, SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from ringvault.archive.store import DB_FILENAME
from ringvault.sim.live.media import read_marker
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.cli_process import CliProcess, cli_env
from tests.cloud.live_helpers import decode, leftovers

pytestmark = pytest.mark.timeout(120)

CAMERA_FAMILIES = {"doorbots", "authorized_doorbots", "stickup_cams"}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _camera(sim: SimServer) -> dict[str, Any]:
    world = httpx.get(f"{sim.url}/_sim/world", timeout=10).json()
    return next(d for d in world["devices"] if d["family"] in CAMERA_FAMILIES and not d["offline"])


def _live(sim: SimServer) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{sim.url}/_sim/live", timeout=10).json()
    return state


def _all_closed(sim: SimServer) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        state = _live(sim)
        if not state["sessions"] and state["peer_connections_open"] == 0 and state["tasks_running"] == 0:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.1)


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def test_record_frame_and_archive(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, out: Path, tmp_path: Path
) -> None:
    camera = _camera(cloud_env)
    result = invoke("live", camera["name"], "--record", str(out / "clip.mp4"), "--duration", "4")
    assert result.exit_code == 0, result.output
    decoded = decode(out / "clip.mp4")
    assert 3.6 <= decoded.duration_s <= 4.4
    assert {read_marker(i.convert("RGB"))[2] for i in decoded.images} == {camera["id"] % 65536}

    result = invoke("live", str(camera["id"]), "--frame", str(out / "now.jpg"))
    assert result.exit_code == 0, result.output
    with Image.open(out / "now.jpg") as image:
        assert image.format == "JPEG" and read_marker(image.convert("RGB"))[2] == camera["id"] % 65536
    assert leftovers(out) == ["clip.mp4", "now.jpg"]

    root = tmp_path / "archive"
    result = invoke("live", camera["name"], "--archive", str(root), "--duration", "2")
    assert result.exit_code == 0, result.output
    with contextlib.closing(sqlite3.connect(root / DB_FILENAME)) as db:
        rows = db.execute(
            "SELECT e.id, e.kind, e.media_status, m.path, m.validated FROM events e JOIN media m ON m.event_id = e.id"
        ).fetchall()
    assert len(rows) == 1
    event_id, kind, status, path, validated = rows[0]
    assert (kind, status, validated) == ("on_demand", "done", 1)
    assert decode(root / path).video_frames > 0
    closed = _all_closed(cloud_env)["closed"]
    assert len(closed) == 3
    assert event_id == closed[0]["event_id"]  # the same event Ring's (the simulator's) history shows


def test_failures_are_one_line_and_leave_no_file(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, out: Path
) -> None:
    sim = cloud_env
    camera = _camera(sim)
    record = ("live", camera["name"], "--record", str(out / "clip.mp4"), "--duration", "10")

    httpx.patch(f"{sim.url}/_sim/live/config", json={"close_after_s": 2}, timeout=10).raise_for_status()
    result = invoke(*record)
    assert result.exit_code == 1 and "ended the live view" in _one_error_line(result.output)

    httpx.patch(f"{sim.url}/_sim/live/config", json={"close_after_s": None, "ice_failure": True}, timeout=10)
    result = invoke(*record)
    assert result.exit_code == 1 and "media connection" in _one_error_line(result.output)
    httpx.patch(f"{sim.url}/_sim/live/config", json={"ice_failure": False}, timeout=10).raise_for_status()

    httpx.patch(f"{sim.url}/_sim/devices/{camera['id']}", json={"offline": True}, timeout=10).raise_for_status()
    result = invoke(*record)
    assert result.exit_code == 1 and "offline" in _one_error_line(result.output)
    httpx.patch(f"{sim.url}/_sim/devices/{camera['id']}", json={"offline": False}, timeout=10).raise_for_status()

    httpx.patch(f"{sim.url}/_sim/devices/{camera['id']}", json={"live_view_disabled": True}, timeout=10)
    result = invoke(*record)
    assert result.exit_code == 1 and "Modes" in _one_error_line(result.output)

    assert leftovers(out) == []
    assert len(_all_closed(sim)["closed"]) == 2  # the refusals before a socket opened none


def test_sigterm_mid_recording_stops_cleanly(logged_in: Path, cloud_env: SimServer, out: Path, rv_home: Path) -> None:
    camera = _camera(cloud_env)
    process = CliProcess(
        ["live", camera["name"], "--record", str(out / "clip.mp4"), "--duration", "60"],
        cli_env(cloud_env, rv_home),
        out.parent / "logs",
        "live",
    )
    try:
        deadline = time.monotonic() + 60
        while not any(".part" in name for name in leftovers(out)):
            assert process.poll() is None and time.monotonic() < deadline, process.result().describe()
            time.sleep(0.1)
        time.sleep(1.0)
        process.popen.send_signal(signal.SIGTERM)
        result = process.wait(timeout=30)
    finally:
        process.kill()
    assert result.returncode == 143, result.describe()
    assert "stopped (SIGTERM)" in result.stderr
    assert leftovers(out) == []
    (closed,) = _all_closed(cloud_env)["closed"]
    assert closed["closed_by"] == "client" and closed["close_code"] == 0
