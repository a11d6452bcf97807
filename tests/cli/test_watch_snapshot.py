"""``ringvault watch --archive DIR --snapshot-on-motion`` as a real subprocess against the simulator: a motion of a
camera puts a snapshot into the archive (a checked JPEG and its ``media`` row, as ``ringvault snapshot`` keeps
them), a ding takes none, a battery camera's second motion within 10 minutes reuses its image instead of waking it
(reported ``unchanged``, nothing saved twice), and without ``--archive`` the option is a one-line usage error."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from ringvault.cloud.camera import FORCE_SNAPSHOT_INTERVAL_S
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.cli.watch_helpers import ding, output, start_watch, wait_for
from tests.cli_process import cli_env, run_cli

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    """Forced captures complete in 0.2 s instead of 1 s (as in the snapshot tests)."""
    return sim_config.model_copy(update={"snapshot_capture_delay_s": 0.2})


def _camera(sim: SimServer, *, battery: bool) -> int:
    """A doorbell (wired or battery-powered) with a plan."""
    found = [
        d.id
        for d in sim.state.world.devices.values()
        if d.family == "doorbots" and d.spec.battery == battery and not d.is_intercom and d.spec.protect
    ]
    assert found, f"the simulated world has no {'battery' if battery else 'wired'} camera"
    return min(found)


def _motion(sim: SimServer, device_id: int) -> None:
    httpx.post(
        f"{sim.url}/_sim/devices/{device_id}/motion", json={"detection": "person"}, timeout=10
    ).raise_for_status()


def _snapshot_requests(sim: SimServer, device_id: int) -> int:
    """How many snapshot requests for ``device_id`` reached the simulator."""
    log = httpx.get(f"{sim.url}/_sim/requests", params={"limit": 10000}, timeout=10).json()["requests"]
    return sum(f"/snapshots/next/{device_id}" in str(item.get("path", "")) for item in log)


def _snapshot_rows(archive: Path) -> dict[int, list[str]]:
    db = archive / "archive.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT device_id, path FROM media WHERE kind = 'snapshot' ORDER BY id").fetchall()
    found: dict[int, list[str]] = {}
    for device_id, path in rows:
        found.setdefault(int(device_id), []).append(str(path))
    return found


def test_a_motion_takes_a_snapshot_into_the_archive(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    sim = cloud_env
    wired, battery = _camera(sim, battery=False), _camera(sim, battery=True)
    archive = tmp_path / "archive"
    args = ["--archive", str(archive), "--snapshot-on-motion", "--device", str(wired), "--device", str(battery)]
    proc = start_watch(sim, rv_home, tmp_path, "watch", *args)
    try:
        wait_for(lambda: "archive: " in output(proc), "catch-up pass", proc, timeout=120)
        ding(sim, wired)
        _motion(sim, wired)
        wait_for(lambda: "snapshot: " in output(proc), "a snapshot line", proc)
        assert "saved" in output(proc).split("snapshot: ", 1)[1].splitlines()[0], output(proc)
        rows = _snapshot_rows(archive)
        assert len(rows.get(wired, [])) == 1, rows  # the ding took none; the motion one
        image = archive / rows[wired][0]
        assert image.read_bytes()[:2] == b"\xff\xd8" and image.stat().st_size > 100

        _motion(sim, battery)
        wait_for(lambda: output(proc).count("snapshot: ") >= 2, "the battery camera's snapshot", proc)
        asked = _snapshot_requests(sim, battery)
        time.sleep(FORCE_SNAPSHOT_INTERVAL_S + 1)  # past the window in which any camera's last image is reused
        _motion(sim, battery)  # within 10 minutes: the battery camera is not asked again, its image is reused
        wait_for(lambda: output(proc).count("snapshot: ") >= 3, "the second battery snapshot", proc)
        lines = [line for line in output(proc).splitlines() if line.startswith("snapshot: ")]
        assert "saved" in lines[1] and "unchanged" in lines[2], lines
        assert len(_snapshot_rows(archive).get(battery, [])) == 1
        assert asked >= 1 and _snapshot_requests(sim, battery) == asked
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.wait(60).returncode == 0
    finally:
        proc.kill()  # only when the test failed before its SIGTERM (a no-op once the process ended)


def test_without_archive_it_is_a_usage_error(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    result = run_cli(["watch", "--snapshot-on-motion"], cli_env(cloud_env, rv_home), tmp_path, "watch", 60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("add --archive DIR"), result.describe()
