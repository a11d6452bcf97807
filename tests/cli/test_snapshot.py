"""``ringvault snapshot`` against the simulator: list, one camera into a folder, --all into the archive, loops."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from ringvault.archive.snapshots import FolderSink, take_snapshot
from ringvault.archive.store import ArchiveStore
from ringvault.cli.common import EXIT_ERROR, EXIT_PARTIAL
from ringvault.cloud.camera import Snapshot
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    """Forced captures complete in 0.2 s instead of 1 s: `--all` forces one per camera, one after the other, and
    still waits for each (the capture lands after the first answer either way)."""
    return sim_config.model_copy(update={"snapshot_capture_delay_s": 0.2})


CAMERA_FAMILIES = {"doorbots", "authorized_doorbots", "stickup_cams"}


def _cameras(sim: SimServer) -> list[dict[str, Any]]:
    world = httpx.get(f"{sim.url}/_sim/world", timeout=10).json()
    return [d for d in world["devices"] if d["family"] in CAMERA_FAMILIES]


def _patch(sim: SimServer, device_id: int, body: dict[str, Any]) -> None:
    response = httpx.patch(f"{sim.url}/_sim/devices/{device_id}", json=body, timeout=10)
    assert response.status_code < 300, response.text


def _wired(cameras: list[dict[str, Any]]) -> dict[str, Any]:
    for camera in cameras:
        if camera["family"] == "doorbots" and camera.get("battery_life") in (None, ""):
            return camera
    return cameras[0]


def test_list_shows_every_camera_grouped(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    result = invoke("snapshot", "--list")
    assert result.exit_code == 0, result.output
    for camera in _cameras(cloud_env):
        assert str(camera["id"]) in result.output
        assert camera["name"] in result.output
    assert "Doorbells (" in result.output
    assert "Shared doorbells (" in result.output
    assert "Cameras (" in result.output
    assert "wired" in result.output or "battery" in result.output


def test_one_camera_by_name_into_folder(invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path) -> None:
    camera = _wired(_cameras(cloud_env))
    out = tmp_path / "snaps"
    result = invoke("snapshot", camera["name"], "--out", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.jpg"))
    assert len(files) == 1, result.output
    match = re.fullmatch(rf"[a-z0-9-]+-{camera['id']}-(\d{{8}}-\d{{6}})\.jpg", files[0].name)
    assert match, files[0].name
    with Image.open(files[0]) as image:
        image.load()
        assert image.format == "JPEG"
    # named by the capture time Ring gave (x-time-millis), one the simulator recorded for this camera: normally the
    # forced capture, but on a loaded machine the forced capture can finish after the request's wait, and Ring then
    # answers with the image it held (named by that image's own time, which is right)
    world = cloud_env.state.world
    assert world.latest_capture(int(camera["id"])) is not None  # settles the captures due by now
    stamps = {
        datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y%m%d-%H%M%S")
        for ms in world.device(int(camera["id"])).captures
    }
    assert match.group(1) in stamps
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial files left


def test_all_into_archive_reports_cameras_that_cannot(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    cameras = _cameras(cloud_env)
    assert len(cameras) >= 3
    offline, motion_off = cameras[0], cameras[1]
    _patch(cloud_env, offline["id"], {"offline": True})
    _patch(cloud_env, motion_off["id"], {"motion_detection_enabled": False})
    archive = tmp_path / "archive"

    result = invoke("snapshot", "--all", "--archive", str(archive))
    assert result.exit_code == EXIT_PARTIAL, result.output  # two cameras failed, the others were kept
    assert (
        result.stderr.strip().splitlines()[-1] == f"error: 2 of {len(cameras)} snapshots failed; the others were kept"
    )
    assert f"{offline['name']}: failed:" in result.output
    assert "offline" in result.output
    assert f"{motion_off['name']}: failed:" in result.output
    assert "motion detection off" in result.output
    world = httpx.get(f"{cloud_env.url}/_sim/world", timeout=10).json()
    onvif = [d for d in world["devices"] if d["kind"] == "onvif_camera"]
    assert onvif, "the simulated world has a third-party camera"
    for camera in onvif:  # --all includes it and says why it has no snapshot; no failure that a re-run could fix
        assert f"{camera['name']}: skipped: Ring serves no snapshots for third-party (ONVIF) cameras" in result.output

    able = [c for c in cameras if c["id"] not in (offline["id"], motion_off["id"])]
    jpegs = sorted(archive.rglob("*.jpg"))
    assert len(jpegs) == len(able), result.output
    for path in jpegs:
        with Image.open(path) as image:
            image.load()
    with ArchiveStore.open(archive) as store:
        assert store.counts().media == len(able)
        assert {d.id for d in store.list_devices()} == {c["id"] for c in able}
    for camera in able:
        assert any(f"-{camera['id']}" in str(p) for p in jpegs), camera

    # A forced capture lands after the first answer, so the next run may keep one newer image per camera; a run after
    # that (no new capture) keeps nothing new: an unchanged capture time is never saved twice.
    assert invoke("snapshot", "--all", "--archive", str(archive), "--no-force").exit_code == EXIT_PARTIAL
    files_before = sorted(archive.rglob("*.jpg"))
    with ArchiveStore.open(archive) as store:
        media_before = store.counts().media
    assert media_before == len(files_before) <= 2 * len(able)
    again = invoke("snapshot", "--all", "--archive", str(archive), "--no-force")
    assert again.exit_code == EXIT_PARTIAL, again.output  # the offline and motion-off cameras still fail
    assert "unchanged" in again.output
    assert sorted(archive.rglob("*.jpg")) == files_before
    with ArchiveStore.open(archive) as store:
        assert store.counts().media == media_before


def test_every_camera_failing_exits_non_zero(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    camera = _wired(_cameras(cloud_env))
    _patch(cloud_env, camera["id"], {"offline": True})
    result = invoke("snapshot", str(camera["id"]), "--out", str(tmp_path / "o"))
    assert result.exit_code == EXIT_ERROR, result.output
    assert "offline" in result.output
    assert result.stderr.strip().splitlines()[-1] == "error: 1 snapshot failed; nothing was kept"
    assert not list((tmp_path / "o").glob("*.jpg")) if (tmp_path / "o").exists() else True


def test_a_third_party_camera_asked_for_by_name_is_a_failure(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    world = httpx.get(f"{cloud_env.url}/_sim/world", timeout=10).json()
    onvif = next(d for d in world["devices"] if d["kind"] == "onvif_camera")
    camera = _wired(_cameras(cloud_env))
    result = invoke("snapshot", str(onvif["id"]), str(camera["id"]), "--out", str(tmp_path / "o"))
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert f"{onvif['name']}: failed: Ring serves no snapshots for third-party (ONVIF) cameras" in result.stderr
    assert len(list((tmp_path / "o").glob("*.jpg"))) == 1


def test_every_does_not_save_an_unchanged_image_twice(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    camera = _wired(_cameras(cloud_env))
    out = tmp_path / "loop"
    result = invoke("snapshot", str(camera["id"]), "--out", str(out), "--every", "1", "--count", "2", "--no-force")
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.jpg"))) == 1, result.output
    assert "unchanged" in result.output


def test_unknown_device_exits_4(invoke: Invoke, logged_in: Path, tmp_path: Path) -> None:
    result = invoke("snapshot", "No Such Camera Anywhere", "--out", str(tmp_path))
    assert result.exit_code == 4, result.output
    assert "no device" in result.output


def test_usage_errors(invoke: Invoke, logged_in: Path) -> None:
    assert invoke("snapshot").exit_code == 2
    assert invoke("snapshot", "--all", "x").exit_code == 2
    assert invoke("snapshot", "--all", "--count", "2").exit_code == 2


def test_not_a_camera_is_reported_and_the_run_continues(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    world = httpx.get(f"{cloud_env.url}/_sim/world", timeout=10).json()
    chime = next(d for d in world["devices"] if d["family"] == "chimes")
    camera = _wired(_cameras(cloud_env))
    out = tmp_path / "mixed"
    result = invoke("snapshot", str(chime["id"]), str(camera["id"]), "--out", str(out))
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert f"{chime['name']}: failed:" in result.output
    assert "not a camera" in result.output
    assert result.stderr.strip().splitlines()[-1] == "error: 1 of 2 snapshots failed; the others were kept"
    assert len(list(out.glob("*.jpg"))) == 1


def test_battery_cameras_note_below_ten_minutes(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    result = invoke("snapshot", "--all", "--out", str(tmp_path / "b"), "--every", "1", "--count", "1")
    assert result.exit_code == 0, result.output
    assert result.output.count("note: battery cameras") == 1


class _FakeCamera:
    """Just enough of RingCamera for take_snapshot: Ring answers an error body instead of a JPEG."""

    id = 42
    name = "Fake Cam"
    location_id = "loc"

    def __init__(self) -> None:
        self.raw: dict[str, Any] = {}
        self.calls = 0

    async def get_snapshot(self, *, force: bool = True) -> Snapshot:
        self.calls += 1
        return Snapshot(
            image=b"<html><body>502 Bad Gateway</body></html>", captured_at=datetime.now(UTC), content_type="image/jpeg"
        )


def test_an_error_body_is_retried_and_never_saved(tmp_path: Path) -> None:
    camera = _FakeCamera()
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    for validate in (True, False):
        camera.calls, sleeps[:] = 0, []
        outcome = asyncio.run(
            take_snapshot(
                camera,  # type: ignore[arg-type]
                FolderSink(tmp_path),
                max_retries=3,
                validate=validate,
                sleep=fake_sleep,
            )
        )
        assert outcome.status == "failed"
        assert outcome.error and "HTML" in outcome.error.upper()
        assert camera.calls == 3
        assert sleeps == [1.0, 1.0]
    assert list(tmp_path.iterdir()) == []


def test_max_retries_bounds_the_http_attempts_too(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    """`--max-retries N` is the command's whole patience: each of its N attempts may retry over HTTP at most N times
    (before, every attempt retried up to the client's default of 5 on its own: 18 requests for `--max-retries 3`)."""
    camera = _wired(_cameras(cloud_env))
    faults = {"error_rate": 1.0, "path_pattern": "snapshots/next/", "retry_after_s": 0}
    assert httpx.patch(f"{cloud_env.url}/_sim/faults", json=faults, timeout=10).status_code < 300
    httpx.delete(f"{cloud_env.url}/_sim/stats", timeout=10)
    result = invoke("snapshot", camera["name"], "--out", str(tmp_path / "snaps"), "--max-retries", "2")
    assert result.exit_code == EXIT_ERROR, result.output
    endpoints = httpx.get(f"{cloud_env.url}/_sim/stats", timeout=10).json()["endpoints"]
    tries = sum(entry["count"] for key, entry in endpoints.items() if "/snapshots/next/" in key)
    assert 2 <= tries <= 2 * (1 + 2), endpoints
