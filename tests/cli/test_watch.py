"""``ringvault watch`` as a real subprocess against the simulator: a ding pushed through the simulator's FCM stand-in
reaches its output (plain and ``--json``), filters hold back what was not asked for, ``--archive`` archives the
recording, SIGTERM stops it with exit 0, and with push refused the polling fallback still delivers."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import pytest

from ringvault.sim.server import SimServer
from tests.cli.watch_helpers import (
    archived,
    ding,
    doorbells,
    errors,
    json_lines,
    media_files,
    output,
    partial_files,
    set_faults,
    set_push_faults,
    start_watch,
    wait_for,
)

log = logging.getLogger(__name__)

pytestmark = pytest.mark.timeout(240)


def test_a_ding_reaches_the_output_and_sigterm_exits_0(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    sim = cloud_env
    [camera] = doorbells(sim, 1)
    proc = start_watch(sim, rv_home, tmp_path, "watch")
    wait_for(lambda: "watching: events arrive by push notifications" in output(proc), "start line", proc)
    ding_id = ding(sim, camera)
    took = wait_for(lambda: f"ding {ding_id}" in output(proc), "ding line", proc)
    log.info("ding -> watch line: %.2f s", took)
    line = next(line for line in output(proc).splitlines() if ding_id in line)
    assert "  ding ding " in line or " ding ding " in line
    proc.popen.send_signal(signal.SIGTERM)
    done = proc.wait(60)
    assert done.returncode == 0, done.describe()
    assert "watch stopped" in done.stderr


def test_json_lines_and_filters(cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path) -> None:
    """``--json``: one object per event with stable fields, ding ids as strings; ``--device`` keeps one camera's events
    and ``--kind`` one kind: a ding of another doorbell and a motion of the watched one are not printed."""
    sim = cloud_env
    watched, other = doorbells(sim, 2)
    proc = start_watch(sim, rv_home, tmp_path, "watch", "--json", "--device", str(watched), "--kind", "ding")
    wait_for(lambda: "watching:" in errors(proc), "start line", proc)
    ding(sim, other)
    import httpx

    httpx.post(f"{sim.url}/_sim/devices/{watched}/motion", json={"detection": "person"}, timeout=10).raise_for_status()
    ding_id = ding(sim, watched)
    wait_for(lambda: any(item["ding_id"] == ding_id for item in json_lines(proc)), "ding object", proc)
    items = json_lines(proc)
    assert len(items) == 1, items  # the other doorbell's ding and the motion were filtered out (both pushed before)
    [item] = items
    assert set(item) == {
        "time", "local_time", "kind", "device_id", "device_name", "location_id", "ding_id", "detection",
        "alarm_kind", "source",
    }  # fmt: skip
    assert item["kind"] == "ding" and item["device_id"] == str(watched) and item["source"] == "push"
    assert isinstance(item["ding_id"], str) and item["ding_id"] == ding_id
    proc.popen.send_signal(signal.SIGINT)
    assert proc.wait(60).returncode == 0


def test_bad_kind_is_one_line_exit_2(cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path) -> None:
    proc = start_watch(cloud_env, rv_home, tmp_path, "watch", "--kind", "knock")
    done = proc.wait(60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --kind 'knock' is not an event kind watch knows; kinds: ding, motion, intercom_ding, "
        "intercom_unlock, alarm"
    ]


def test_push_refused_polling_still_delivers(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    sim = cloud_env
    set_push_faults(sim, ring_patch_status=500)
    [camera] = doorbells(sim, 1)
    proc = start_watch(sim, rv_home, tmp_path, "watch")
    wait_for(lambda: "watching: events arrive by polling" in output(proc), "polling start line", proc)
    ding_id = ding(sim, camera)
    took = wait_for(lambda: f"ding {ding_id}" in output(proc), "polled ding line", proc, timeout=120)
    log.info("ding -> watch line by polling: %.2f s", took)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.wait(60).returncode == 0


def test_archive_downloads_the_recording_once_ready(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    """With the simulator's recording delay, the recording is fetched once Ring has it (the watch waits with
    backoff), validated and recorded as ``done``."""
    sim = cloud_env
    archive = tmp_path / "archive"
    [camera] = doorbells(sim, 1)
    proc = start_watch(sim, rv_home, tmp_path, "watch", "--archive", str(archive), "--device", str(camera))
    wait_for(lambda: "archive: " in output(proc), "catch-up pass", proc)
    set_faults(sim, recording_delay_s=3)
    ding_id = ding(sim, camera)
    took = wait_for(lambda: archived(archive).get(ding_id) == "done", "archived recording", proc)
    log.info("ding -> archived recording (3 s recording delay): %.2f s", took)
    assert len(media_files(archive)[ding_id]) == 1
    assert partial_files(archive) == []
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.wait(60).returncode == 0


def _push_logins(sim: SimServer) -> int:
    import httpx

    return int(httpx.get(f"{sim.url}/_sim/push", timeout=10).json()["stats"]["logins"])


def test_catch_up_at_start_and_after_the_listener_restarts(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    """A ding just before ``watch`` starts, and a ding whose push is lost, come from history: the first at start,
    the second once the listener was restarted (three drops in a row make firebase-messaging give up; ringvault's
    watchdog starts it again). Each is printed once."""
    import httpx

    sim = cloud_env
    [camera] = doorbells(sim, 1)
    early = ding(sim, camera)
    proc = start_watch(sim, rv_home, tmp_path, "watch", "--json")
    wait_for(lambda: any(item["ding_id"] == early for item in json_lines(proc)), "the early ding", proc)
    assert [item["source"] for item in json_lines(proc) if item["ding_id"] == early] == ["poll"]
    set_push_faults(sim, lose_next=1)
    lost = ding(sim, camera)
    time.sleep(1.0)
    assert all(item["ding_id"] != lost for item in json_lines(proc))  # its push was lost
    for _ in range(3):
        logins = _push_logins(sim)
        httpx.post(f"{sim.url}/_sim/push/drop", timeout=10).raise_for_status()
        wait_for(lambda logins=logins: _push_logins(sim) > logins, "a new MCS login", proc)  # type: ignore[misc]
    took = wait_for(lambda: any(item["ding_id"] == lost for item in json_lines(proc)), "the lost ding", proc)
    log.info("restart -> lost ding caught up: %.2f s", took)
    after = ding(sim, camera)
    wait_for(lambda: any(item["ding_id"] == after for item in json_lines(proc)), "a ding after the restart", proc)
    ids = [item["ding_id"] for item in json_lines(proc)]
    assert ids.count(early) == 1 and ids.count(lost) == 1 and ids.count(after) == 1, ids
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.wait(60).returncode == 0
