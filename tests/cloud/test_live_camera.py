"""``camera.start_live_view()`` with the simulator for the REST side (login, devices, the signalling ticket) and the
test's own answerer for the socket: the ticket path of §9.1, the Modes guards of §9.7 and §4.10, and the archive."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from ringvault.archive.live import ding_id_of_session, record_into_archive
from ringvault.archive.store import DB_FILENAME, ArchiveStore
from ringvault.archive.validate import validate_mp4
from ringvault.cloud.camera import RingCamera
from ringvault.cloud.live import LiveViewBlockedError, LiveViewOptions
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, sim_patch, world
from tests.cloud.live_answerer import running_answerer
from tests.cloud.live_helpers import decode, jpeg_image, leftovers, live_tasks, shows_pattern

pytestmark = pytest.mark.timeout(90)


async def _cameras(sim: SimServer, api: object) -> list[RingCamera]:
    from ringvault.cloud.api import RingApi

    assert isinstance(api, RingApi)
    return [c for c in await api.get_cameras() if c.kind != "onvif_camera"]


async def test_a_ticket_from_ring_opens_the_socket_under_the_cloud_url(sim: SimServer, rv_home: Path) -> None:
    async with running_answerer() as answerer, open_api(sim, rv_home) as api:
        camera = (await _cameras(sim, api))[0]
        options = LiveViewOptions(signalling_url=answerer.socket_base)
        async with await camera.start_live_view(options) as session:
            assert shows_pattern(jpeg_image(await session.frame()))
        assert live_tasks() == []
    seen = answerer.sessions[0]
    assert seen.doorbot_id == camera.id
    assert seen.query["token"]  # the simulator's one-time ticket
    assert answerer.all_closed()


async def test_modes_block_live_view_before_connecting_and_a_refused_ticket_says_so(
    sim: SimServer, rv_home: Path
) -> None:
    async with running_answerer() as answerer, open_api(sim, rv_home) as api:
        first, second = (await _cameras(sim, api))[:2]
        sim_patch(sim, f"/_sim/devices/{first.id}", {"live_view_disabled": True})
        await api.refresh_devices()
        refreshed = await api.find_device(first.id)
        assert isinstance(refreshed, RingCamera)
        options = LiveViewOptions(signalling_url=answerer.socket_base)
        # the camera's own setting: refused before any ticket or socket (rca 14.3.0)
        sim_patch(sim, f"/_sim/devices/{first.id}", {"live_view_disabled": False})
        with pytest.raises(LiveViewBlockedError, match="live_view_disabled"):
            await refreshed.start_live_view(options)
        # Ring refusing the ticket (HTTP 403: the simulator refuses while any camera is blocked)
        sim_patch(sim, f"/_sim/devices/{first.id}", {"live_view_disabled": True})
        other = await api.find_device(second.id)
        assert isinstance(other, RingCamera)
        with pytest.raises(LiveViewBlockedError, match="blocked by Modes") as caught:
            await other.start_live_view(options)
        assert "\n" not in caught.value.one_line
    assert answerer.sessions == []  # no socket was ever opened


async def test_a_live_view_lands_in_the_archive_as_an_on_demand_event(
    sim: SimServer, rv_home: Path, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    async with running_answerer() as answerer, open_api(sim, rv_home) as api:
        camera = (await _cameras(sim, api))[0]
        names = {loc.id: loc.name for loc in await api.get_locations()}
        store = ArchiveStore.open(root)
        try:
            async with await camera.start_live_view(LiveViewOptions(signalling_url=answerer.socket_base)) as session:
                kept = await record_into_archive(
                    session, camera, store, root, duration=3.0, location_name=names.get(camera.location_id or "")
                )
        finally:
            store.close()
    assert kept.path.is_file() and validate_mp4(kept.path).ok
    assert kept.path.with_suffix(".json").is_file()
    assert "-on_demand-" in kept.path.name and kept.relative_path.startswith("media/")
    assert leftovers(kept.path.parent) == sorted([kept.path.name, kept.path.with_suffix(".json").name])
    decoded = decode(kept.path)
    assert 2.7 <= decoded.duration_s <= 3.3
    with contextlib.closing(sqlite3.connect(root / DB_FILENAME)) as db:
        event = db.execute("SELECT kind, device_id, media_status FROM events WHERE id = ?", (kept.event_id,)).fetchone()
        media = db.execute(
            "SELECT kind, path, sha256, bytes, validated FROM media WHERE event_id = ?", (kept.event_id,)
        ).fetchone()
    assert event == ("on_demand", camera.id, "done")
    assert media == ("recording", kept.relative_path, kept.sha256, kept.path.stat().st_size, 1)
    assert world(sim)  # the simulator is still fine


async def test_a_live_recording_into_the_archive_waits_for_a_sync_and_notes_its_folder_for_the_next(
    sim: SimServer, rv_home: Path, tmp_path: Path
) -> None:
    """``live --archive`` writes temporary files into the archive as a sync does: it holds the archive's writer lock
    (a sync under way makes it wait; it says so once) and notes its folder in the sync's in-flight list before its
    ``.part`` file exists, so a recording killed midway is cleaned by the next sync, and no sync cleaning up after a
    killed run removes the temporary file of a recording under way."""
    import asyncio

    from filelock import FileLock

    from ringvault.archive.sync.download import INFLIGHT_FILENAME
    from ringvault.archive.sync.run import LOCK_FILENAME

    root = tmp_path / "archive"
    root.mkdir()
    sync_lock = FileLock(root / LOCK_FILENAME, thread_local=False)
    sync_lock.acquire()  # a sync of this archive is running
    waits: list[bool] = []
    async with running_answerer() as answerer, open_api(sim, rv_home) as api:
        camera = (await _cameras(sim, api))[0]
        store = ArchiveStore.open(root)
        try:
            async with await camera.start_live_view(LiveViewOptions(signalling_url=answerer.socket_base)) as session:
                recording = asyncio.create_task(
                    record_into_archive(session, camera, store, root, duration=1.0, on_wait=lambda: waits.append(True))
                )
                for _ in range(100):
                    if waits:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                assert waits == [True] and not recording.done()
                assert not list(root.glob("media/**/*.mp4"))  # nothing written while the sync holds the archive
                sync_lock.release()
                kept = await recording
        finally:
            store.close()
            if sync_lock.is_locked:
                sync_lock.release()
    listed = (root / INFLIGHT_FILENAME).read_text().splitlines()
    assert kept.path.parent.relative_to(root.resolve()).as_posix() in listed
    assert validate_mp4(kept.path).ok
    probe = FileLock(root / LOCK_FILENAME, thread_local=False)
    probe.acquire(timeout=0)  # released once the recording is kept (a Timeout here otherwise)
    probe.release()


def test_a_ding_id_is_read_from_a_session_jwt_when_there_is_one() -> None:
    import base64
    import json

    def jwt(claims: dict[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJIUzI1NiJ9.{body}.sig"

    assert ding_id_of_session(jwt({"ding_id": "7407512345678901234", "doorbot_id": 1})) == "7407512345678901234"
    assert ding_id_of_session(jwt({"ding_id": 12345})) == "12345"
    assert ding_id_of_session(jwt({"ding_id": "../etc"})) is None
    assert ding_id_of_session("not-a-jwt") is None
    assert ding_id_of_session(None) is None


async def test_live_views_per_camera_are_bounded_and_counted_until_closed(sim: SimServer, rv_home: Path) -> None:
    from ringvault.cloud.live import LiveViewLimitError
    from ringvault.cloud.live.start import MAX_SESSIONS_PER_CAMERA, open_sessions

    async with running_answerer() as answerer, open_api(sim, rv_home) as api:
        camera = (await _cameras(sim, api))[0]
        options = LiveViewOptions(signalling_url=answerer.socket_base)
        sessions = [await camera.start_live_view(options) for _ in range(MAX_SESSIONS_PER_CAMERA)]
        assert open_sessions(camera.id) == MAX_SESSIONS_PER_CAMERA
        with pytest.raises(LiveViewLimitError, match="already has"):
            await camera.start_live_view(options)
        await sessions.pop().close()
        sessions.append(await camera.start_live_view(options))  # room again
        for session in sessions:
            await session.close()
        assert open_sessions() == 0 and live_tasks() == []
    assert len(answerer.sessions) == MAX_SESSIONS_PER_CAMERA + 1 and answerer.all_closed()
