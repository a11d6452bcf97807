"""``ringvault watch --archive`` under load and under SIGKILL (real subprocess, real simulator, real SQLite and MP4s):
20 dings across 4 doorbells are each archived exactly once (one row, one verified file), and a watch killed during
downloads, with dings happening while it is down, catches up from history when started again — no duplicate row or
file, no partial file, a recording Ring never prepares left ``pending`` for ``sync``."""

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
    media_files,
    media_rows,
    output,
    partial_files,
    set_faults,
    start_watch,
    wait_for,
)

log = logging.getLogger(__name__)

pytestmark = pytest.mark.timeout(400)


def _exactly_once(archive: Path, dings: list[str]) -> None:
    states = archived(archive)
    files = media_files(archive)
    rows = media_rows(archive)
    for ding_id in dings:
        assert states.get(ding_id) == "done", (ding_id, states.get(ding_id))
        assert len(files.get(ding_id, [])) == 1, (ding_id, files.get(ding_id))
        assert rows.get(ding_id) == 1, (ding_id, rows.get(ding_id))
        assert files[ding_id][0].read_bytes()[4:8] == b"ftyp"  # a whole MP4 (the sync validated it)
    assert partial_files(archive) == []


def test_twenty_dings_across_four_cameras_archived_exactly_once(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    sim = cloud_env
    cameras = doorbells(sim, 4)
    archive = tmp_path / "archive"
    args = ["--archive", str(archive)] + [arg for cam in cameras for arg in ("--device", str(cam))]
    proc = start_watch(sim, rv_home, tmp_path, "watch", *args)
    wait_for(lambda: "archive: " in output(proc), "catch-up pass", proc, timeout=120)
    started = time.monotonic()
    dings = [ding(sim, cameras[n % 4]) for n in range(20)]
    wait_for(lambda: all(f"ding {d}" in output(proc) for d in dings), "20 ding lines", proc)
    wait_for(lambda: all(archived(archive).get(d) == "done" for d in dings), "20 archived recordings", proc)
    log.info("20 dings across 4 cameras archived in %.2f s", time.monotonic() - started)
    _exactly_once(archive, dings)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.wait(60).returncode == 0


def test_sigkill_during_downloads_then_restart_catches_up(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    sim = cloud_env
    cameras = doorbells(sim, 4)
    archive = tmp_path / "archive"
    args = ["--archive", str(archive)] + [arg for cam in cameras for arg in ("--device", str(cam))]
    first = start_watch(sim, rv_home, tmp_path, "first", *args)
    wait_for(lambda: "archive: " in output(first), "catch-up pass", first, timeout=120)
    set_faults(sim, bandwidth_kbps=2)  # a few seconds per recording: the kill lands during downloads
    before = [ding(sim, cameras[n % 4]) for n in range(8)]
    wait_for(lambda: bool(partial_files(archive)), "a download in flight", first)
    first.kill()
    states = archived(archive)
    log.info("killed with %d of 8 archived", sum(states.get(d) == "done" for d in before))
    assert any(states.get(d) != "done" for d in before), "everything was archived before the kill"
    # while nothing watches
    set_faults(sim, bandwidth_kbps=0)
    during = [ding(sim, cameras[n % 4]) for n in range(4)]
    second = start_watch(sim, rv_home, tmp_path, "second", *args)
    took = wait_for(
        lambda: all(archived(archive).get(d) == "done" for d in before + during), "caught-up recordings", second
    )
    log.info("restart -> 12 recordings archived: %.2f s", took)
    _exactly_once(archive, before + during)
    second.popen.send_signal(signal.SIGTERM)
    assert second.wait(60).returncode == 0


def test_recording_never_ready_stays_pending_for_sync(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    """A recording Ring does not prepare within ``--recording-wait`` is left ``pending``; ``ringvault sync`` gets it
    once Ring has it."""
    sim = cloud_env
    [camera] = doorbells(sim, 1)
    archive = tmp_path / "archive"
    args = ["--archive", str(archive), "--device", str(camera), "--recording-wait", "2"]
    proc = start_watch(sim, rv_home, tmp_path, "watch", *args)
    wait_for(lambda: "archive: " in output(proc), "catch-up pass", proc, timeout=120)
    set_faults(sim, recording_delay_s=3600)
    ding_id = ding(sim, camera)
    wait_for(lambda: "1 pending" in output(proc) or " pending" in output(proc).split(ding_id)[-1], "pass", proc)
    wait_for(lambda: archived(archive).get(ding_id) == "pending", "pending event", proc)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.wait(60).returncode == 0
    assert archived(archive)[ding_id] == "pending" and ding_id not in media_files(archive)
    set_faults(sim, recording_delay_s=0)
    from tests.cli_process import cli_env, run_cli

    done = run_cli(["sync", "--archive", str(archive), "--device", str(camera), "--no-hub"],
                   cli_env(sim, rv_home), tmp_path, "sync", 120)  # fmt: skip
    assert done.returncode == 0, done.describe()
    _exactly_once(archive, [ding_id])


def test_sigterm_during_a_download_exits_0_and_leaves_it_pending(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    """SIGTERM while a recording is being downloaded: exit 0, the temporary file removed, the event ``pending``;
    the next watch archives it."""
    sim = cloud_env
    [camera] = doorbells(sim, 1)
    archive = tmp_path / "archive"
    args = ["--archive", str(archive), "--device", str(camera)]
    first = start_watch(sim, rv_home, tmp_path, "first", *args)
    wait_for(lambda: "archive: " in output(first), "catch-up pass", first, timeout=120)
    set_faults(sim, bandwidth_kbps=1)
    ding_id = ding(sim, camera)
    wait_for(lambda: bool(partial_files(archive)), "a download in flight", first)
    first.popen.send_signal(signal.SIGTERM)
    done = first.wait(60)
    assert done.returncode == 0, done.describe()
    assert partial_files(archive) == []
    assert archived(archive)[ding_id] == "pending" and ding_id not in media_files(archive)
    set_faults(sim, bandwidth_kbps=0)
    second = start_watch(sim, rv_home, tmp_path, "second", *args)
    wait_for(lambda: archived(archive).get(ding_id) == "done", "the recording archived by the next watch", second)
    _exactly_once(archive, [ding_id])
    second.popen.send_signal(signal.SIGTERM)
    assert second.wait(60).returncode == 0


def test_kind_filter_downloads_only_those_recordings(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    """``--kind ding --archive``: a motion of the watched doorbell is stored (as ``sync --kind`` stores every event)
    but its recording is not downloaded; the ding's is."""
    import httpx

    sim = cloud_env
    [camera] = doorbells(sim, 1)
    archive = tmp_path / "archive"
    proc = start_watch(sim, rv_home, tmp_path, "watch", "--archive", str(archive), "--device", str(camera),
                       "--kind", "ding")  # fmt: skip
    wait_for(lambda: "archive: " in output(proc), "catch-up pass", proc, timeout=120)
    answer = httpx.post(f"{sim.url}/_sim/devices/{camera}/motion", json={}, timeout=10)
    answer.raise_for_status()
    motion_id = answer.json()["event"]["id_str"]
    ding_id = ding(sim, camera)
    wait_for(lambda: archived(archive).get(ding_id) == "done", "the ding's recording", proc)
    assert archived(archive)[motion_id] == "pending" and motion_id not in media_files(archive)
    assert f"ding {ding_id}" in output(proc) and motion_id not in output(proc)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.wait(60).returncode == 0
