"""The sync engine against the real simulator: full sync, no-change re-sync, not-ready recordings, faults, CLI."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ringvault.archive.store import ArchiveStore, MediaStatus
from ringvault.archive.store.models import Media
from ringvault.archive.sync import ArchiveDiskError
from ringvault.archive.sync.download import Limiter, fetch_atomically
from ringvault.archive.validate import validate_mp4
from ringvault.cloud.errors import DeviceNotFoundError
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from ringvault.transport import DownloadResult
from tests.archive.sync_helpers import (
    count_matching,
    fast_sync_options,
    media_events,
    sim_json,
    stats_endpoints,
    sync_once,
)
from tests.cli_fixtures import Invoke
from tests.disk_helpers import small_disk

S3 = "s3.amazonaws.com"
HISTORY = "doorbots/{device_id}/history"  # the cameras' history (not rs/history, the alarm's)


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(seed=7, locations=2, events_per_device=6, recording_seconds=1.0, media_cache_dir=media_cache)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "archive"


def _assert_complete(sim: SimServer, archive: Path) -> None:
    expected = media_events(sim)
    with ArchiveStore.open(archive) as store:
        total = 0
        for device_id, events in expected.items():
            for sim_event in events:
                stored = store.get_event(str(sim_event["id_str"]))
                assert stored is not None, sim_event
                assert stored.media_status is MediaStatus.DONE, (stored.id, stored.media_last_error)
                media = store.media_for_event(stored.id)
                assert len(media) == 1
                path = archive / media[0].path
                assert validate_mp4(path).ok, path
                sidecar = json.loads(path.with_suffix(".json").read_text())
                assert sidecar["ringId"] == stored.id
                assert sidecar["deviceId"] == device_id
                total += 1
        with store.engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(Media)).scalar_one()
            distinct = conn.execute(select(func.count(func.distinct(Media.event_id)))).scalar_one()
        assert rows == distinct == total
    mp4s = [p for p in archive.rglob("*.mp4")]
    assert len(mp4s) == total
    assert not [p for p in archive.rglob("*") if ".part-" in p.name]


def test_full_sync_then_no_change_resync(sim: SimServer, tmp_path: Path, archive: Path) -> None:
    summary = asyncio.run(sync_once(sim, tmp_path, archive))
    expected = sum(len(events) for events in media_events(sim).values())
    assert expected > 0
    assert summary.downloaded == expected
    assert summary.failed == 0 and summary.pending == 0
    assert summary.bytes > 0 and summary.requests > 0
    world = sim_json(sim, "GET", "/_sim/world")
    onvif = [d["name"] for d in world["devices"] if d["kind"] == "onvif_camera"]
    assert onvif and all(f"{name}: Ring keeps no event history for third-party (ONVIF) cameras" in summary.errors
                         for name in onvif)  # fmt: skip
    _assert_complete(sim, archive)

    sim_json(sim, "DELETE", "/_sim/stats")
    again = asyncio.run(sync_once(sim, tmp_path, archive))
    endpoints = stats_endpoints(sim)
    assert count_matching(endpoints, HISTORY) <= summary.devices
    assert count_matching(endpoints, S3) == 0
    assert again.new == 0 and again.downloaded == 0
    _assert_complete(sim, archive)


def test_not_ready_recording_stays_pending_then_fetched(sim: SimServer, tmp_path: Path, archive: Path) -> None:
    asyncio.run(sync_once(sim, tmp_path, archive))
    device_id = next(iter(media_events(sim)))
    sim_json(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 3600})
    created = sim_json(sim, "POST", "/_sim/events", {"device_id": int(device_id)})
    ding = str(created.get("id_str") or created["id"])

    summary = asyncio.run(sync_once(sim, tmp_path, archive))
    assert summary.new == 1 and summary.pending == 1 and summary.downloaded == 0
    with ArchiveStore.open(archive) as store:
        stored = store.get_event(ding)
        assert stored is not None
        assert stored.media_status is MediaStatus.PENDING
        assert store.media_for_event(ding) == []

    sim_json(sim, "POST", "/_sim/clock", {"advance_s": 4000})
    summary = asyncio.run(sync_once(sim, tmp_path, archive))
    assert summary.downloaded == 1 and summary.pending == 0
    _assert_complete(sim, archive)


def test_sync_with_faults_ends_complete(sim: SimServer, tmp_path: Path, archive: Path) -> None:
    sim_json(sim, "PATCH", "/_sim/faults", {"error_rate": 0.05, "drop_rate": 0.2})
    summary = asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(max_attempts=5)))
    assert summary.failed == 0, summary.errors
    _assert_complete(sim, archive)


def test_metadata_only_and_dry_run(sim: SimServer, tmp_path: Path, archive: Path) -> None:
    dry = asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(dry_run=True)))
    expected = sum(len(events) for events in media_events(sim).values())
    assert dry.would_download == expected and dry.new >= expected
    assert dry.downloaded == 0
    assert not list(archive.rglob("*.mp4"))
    with ArchiveStore.open(archive) as store:
        assert store.counts().events == 0

    meta = asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(metadata_only=True)))
    assert meta.new == dry.new and meta.downloaded == 0
    assert not list(archive.rglob("*.mp4"))
    with ArchiveStore.open(archive) as store:
        assert store.counts().media_by_status.get("pending") == expected


@pytest.fixture
def cli(invoke: Invoke, logged_in: Path) -> Invoke:
    """``ringvault`` in-process, logged in the scripted way (fixtures of ``tests/cli_fixtures.py``)."""
    return invoke


def test_cli_sync_prints_summary(
    cli: Invoke, cloud_env: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke = cli
    archive = tmp_path / "cli-archive"
    monkeypatch.setenv("RINGVAULT_ARCHIVE", str(archive))
    result = invoke("sync", "--concurrency", "2")
    assert result.exit_code == 0, result.output
    expected = sum(len(events) for events in media_events(cloud_env).values())
    assert f"{expected} downloaded" in result.output
    assert "0 failed" in result.output
    assert str(archive) in result.output and "archive.sqlite3" in result.output
    assert len(list(archive.rglob("*.mp4"))) == expected

    again = invoke("sync", "--dry-run")
    assert again.exit_code == 0, again.output
    assert "0 new events, 0 recordings would be downloaded" in again.output


def test_cli_sync_bad_date_is_usage_error(cli: Invoke, tmp_path: Path) -> None:
    invoke = cli
    result = invoke("sync", "--archive", str(tmp_path / "a"), "--since", "yesterday-ish")
    assert result.exit_code == 2
    assert "--since 'yesterday-ish' is not a date" in result.output
    assert not (tmp_path / "a").exists()


def test_device_and_kind_filters(sim: SimServer, tmp_path: Path, archive: Path) -> None:
    events = media_events(sim)
    device_id, device_events = next(iter(events.items()))
    kind = str(device_events[0]["kind"])
    wanted = sum(1 for e in device_events if e["kind"] == kind)
    options = fast_sync_options(devices=[device_id], kinds=[kind])
    summary = asyncio.run(sync_once(sim, tmp_path, archive, options))
    assert summary.devices == 1
    assert summary.downloaded == wanted
    assert summary.pending == len(device_events) - wanted  # filtered out: still to fetch by a later run
    assert len(list(archive.rglob("*.mp4"))) == wanted


def test_unknown_device_is_refused(sim: SimServer, tmp_path: Path, archive: Path) -> None:
    with pytest.raises(DeviceNotFoundError):
        asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(devices=["no such camera"])))


def test_limiter_halves_but_never_below_one() -> None:
    limiter = Limiter(4)
    limiter.halve()
    assert limiter.limit == 2
    limiter.halve()
    limiter.halve()
    assert limiter.limit == 1

    async def busy() -> int:
        peak = active = 0

        async def worker() -> None:
            nonlocal peak, active
            async with limiter:
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.01)
                active -= 1

        await asyncio.gather(*(worker() for _ in range(5)))
        return peak

    assert asyncio.run(busy()) == 1


def test_a_second_sync_of_the_same_archive_waits_for_the_first(sim: SimServer, tmp_path: Path, archive: Path) -> None:
    """Another process holding the archive's sync lock (a cron job while `serve` syncs) makes this run wait, not
    clean up the other run's temporary files under its feet."""
    from filelock import FileLock

    from ringvault.archive.sync import LOCK_FILENAME, SyncProgress, run_sync
    from ringvault.cloud.api import RingApi
    from tests.cloud.http_helpers import fast_options, logged_in_auth

    archive.mkdir(parents=True, exist_ok=True)

    async def scenario() -> None:
        auth, _ = await logged_in_auth(sim, tmp_path)
        other = FileLock(archive / LOCK_FILENAME, thread_local=False)
        other.acquire()
        phases: list[str] = []
        with ArchiveStore.open(archive) as store:
            async with RingApi(auth, fast_options(sim)) as api:
                waiting = asyncio.Event()

                def progress(event: SyncProgress) -> None:
                    phases.append(event.phase)
                    if event.phase == "wait":
                        waiting.set()

                task = asyncio.create_task(run_sync(api, store, archive, fast_sync_options(), progress=progress))
                await asyncio.wait_for(waiting.wait(), timeout=60)  # a safety net: the wait starts at once
                assert phases == ["wait"]
                await asyncio.sleep(0.3)
                assert not task.done() and phases == ["wait"]  # nothing happened while the other run held it
                other.release()
                summary = await asyncio.wait_for(task, timeout=60)
        assert summary.failed == 0 and summary.downloaded > 0
        assert "history" in phases and "media" in phases

    asyncio.run(scenario())
    _assert_complete(sim, archive)


def test_limiter_with_many_waiters_keeps_its_limit_and_finishes_all_after_halving() -> None:
    """A release wakes one waiter; halving while hundreds wait must neither exceed the new limit nor strand anyone."""
    limiter = Limiter(8)

    async def crowd() -> tuple[int, int, int, int]:
        peak_before = peak_after = active = finished = over_limit = 0
        halved = False

        async def worker(index: int) -> None:
            nonlocal peak_before, peak_after, active, finished, over_limit, halved
            async with limiter:
                active += 1
                over_limit += active > limiter.limit  # an entry happens only below the limit of that moment
                if halved:
                    peak_after = max(peak_after, active)
                else:
                    peak_before = max(peak_before, active)
                await asyncio.sleep(0)
                if index == 20:
                    limiter.halve()
                    halved = True
                active -= 1
                finished += 1

        await asyncio.gather(*(worker(i) for i in range(300)))
        return peak_before, peak_after, finished, over_limit

    peak_before, peak_after, finished, over_limit = asyncio.run(crowd())
    assert finished == 300
    assert (peak_before, peak_after) == (8, 4)
    assert over_limit == 0
    assert limiter.limit == 4


async def test_fetch_atomically_leaves_nothing_when_the_fetch_fails(tmp_path: Path) -> None:
    dest = tmp_path / "media" / "clip.mp4"

    async def broken(part: Path) -> DownloadResult:
        await asyncio.to_thread(part.write_bytes, b"half a clip")
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        await fetch_atomically(dest, broken)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_a_full_disk_stops_the_sync_in_one_line_and_the_next_run_completes(
    sim: SimServer, tmp_path: Path, archive: Path
) -> None:
    """The recordings' disk fills up mid-sync (a real 160 KiB tmpfs under ``media/``): the run stops at once with
    one error saying so, marks nothing failed and leaves no partial file; once there is room, the next run archives
    everything."""
    expected = sum(len(events) for events in media_events(sim).values())
    with small_disk(archive / "media", "160k") as grow:
        with pytest.raises(ArchiveDiskError) as stopped:
            asyncio.run(sync_once(sim, tmp_path, archive))
        line = stopped.value.one_line
        assert "No space left on device" in line and "run `ringvault sync` again" in line
        with ArchiveStore.open(archive) as store:
            states = [store.get_event(str(e["id_str"])) for events in media_events(sim).values() for e in events]
        done = sum(1 for s in states if s is not None and s.media_status is MediaStatus.DONE)
        assert 0 < done < expected
        assert all(s is not None and s.media_status in (MediaStatus.DONE, MediaStatus.PENDING) for s in states)
        assert f"archiving {done} recording(s)" in line
        assert not [p for p in archive.rglob("*") if ".part-" in p.name]

        grow("64m")
        summary = asyncio.run(sync_once(sim, tmp_path, archive))
        assert (summary.downloaded, summary.failed) == (expected - done, 0)
        _assert_complete(sim, archive)


def test_many_new_events_after_the_short_first_page_are_all_stored(
    sim: SimServer, tmp_path: Path, archive: Path
) -> None:
    """A re-sync asks a short first history page (most runs find a handful of new events); with more new events
    than that it goes on with full pages until the watermark, and nothing is missed."""
    asyncio.run(sync_once(sim, tmp_path, archive))
    device_id = next(iter(media_events(sim)))
    created = [sim_json(sim, "POST", "/_sim/events", {"device_id": int(device_id)}) for _ in range(45)]
    sim_json(sim, "DELETE", "/_sim/stats")
    summary = asyncio.run(sync_once(sim, tmp_path, archive))
    assert (summary.new, summary.downloaded, summary.failed) == (45, 45, 0)
    requests = sim_json(sim, "GET", "/_sim/requests?limit=10000")["requests"]
    pages = [r for r in requests if f"doorbots/{device_id}/history" in str(r.get("path"))]
    assert len(pages) == 2  # 20, then 100 (down to the watermark)
    with ArchiveStore.open(archive) as store:
        for event in created:
            stored = store.get_event(str(event.get("id_str") or event["id"]))
            assert stored is not None and stored.media_status is MediaStatus.DONE
    _assert_complete(sim, archive)


def test_a_dry_run_of_a_metadata_only_archive_counts_what_is_due(sim: SimServer, tmp_path: Path, archive: Path) -> None:
    asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(metadata_only=True)))
    expected = sum(len(events) for events in media_events(sim).values())
    dry = asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(dry_run=True)))
    assert (dry.new, dry.would_download) == (0, expected)
    kind = str(next(iter(media_events(sim).values()))[0]["kind"])
    wanted = sum(1 for events in media_events(sim).values() for e in events if e["kind"] == kind)
    dry_kind = asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(dry_run=True, kinds=[kind])))
    assert dry_kind.would_download == wanted


def test_temporary_files_are_found_through_the_inflight_list_not_a_walk(
    sim: SimServer, tmp_path: Path, archive: Path
) -> None:
    """A run notes every directory it writes temporary files into; the next run cleans those (a killed run's
    leftovers) and walks nothing else, so a re-sync does not cost a walk of every archived file. An archive from an
    older ringvault (no list yet) gets one full walk."""
    from ringvault.archive.sync import INFLIGHT_FILENAME

    old = archive / "media" / "some" / "deep" / "dir"
    old.mkdir(parents=True)
    (old / ".clip.mp4.part-0123456789ab").write_bytes(b"half")  # left by an older ringvault killed mid-download
    asyncio.run(sync_once(sim, tmp_path, archive))
    inflight = archive / INFLIGHT_FILENAME
    assert inflight.read_text() == ""  # the run ended: nothing in flight
    assert not (old / ".clip.mp4.part-0123456789ab").exists()

    clips = sorted(archive.rglob("*.mp4"))
    killed, elsewhere = clips[0].parent, clips[-1].parent
    assert killed != elsewhere
    (killed / ".x.mp4.part-aaaaaaaaaaaa").write_bytes(b"half")  # a run killed while writing here...
    inflight.write_text(killed.relative_to(archive.resolve()).as_posix() + "\n")  # ...had noted the directory
    (elsewhere / ".not-ours.part-bbbbbbbbbbbb").write_bytes(b"?")  # nothing noted this one: no walk finds it
    asyncio.run(sync_once(sim, tmp_path, archive))
    assert not (killed / ".x.mp4.part-aaaaaaaaaaaa").exists()
    assert (elsewhere / ".not-ours.part-bbbbbbbbbbbb").exists()
    assert inflight.read_text() == ""


async def test_commits_run_on_the_loop_while_quick_and_in_a_thread_while_the_disk_is_slow(tmp_path: Path) -> None:
    """Quick commits stay on the event loop (a thread hop costs GIL hand-offs); once commits get slow (a slow disk),
    they move to a worker thread so that no download waits on another one's fsync; quick again, they come back."""
    import threading

    from ringvault.archive.sync.download import Committer

    committer = Committer()
    threads: list[bool] = []
    delay = [0.0]

    async def one(index: int) -> None:
        async def fetch(part: Path) -> DownloadResult:
            data = b"clip %d" % index
            await asyncio.to_thread(part.write_bytes, data)
            return DownloadResult(part, len(data), hashlib.sha256(data).hexdigest(), "video/mp4")

        def then(_written: object) -> None:
            threads.append(threading.current_thread() is threading.main_thread())
            time.sleep(delay[0])  # the disk's speed, as the commit sees it

        await fetch_atomically(tmp_path / f"{index}.bin", fetch, validate=None, then=then, committer=committer)

    for index in range(3):
        await one(index)
    assert threads == [True, True, True]  # quick: on the loop
    delay[0] = 5 * Committer.SLOW_S
    for index in range(3, 10):
        await one(index)
    assert threads[3] is True and threads[-1] is False  # slow: the average crossed the line, then a thread
    delay[0] = 0.0
    for index in range(10, 40):
        await one(index)
    assert threads[-1] is True  # quick again: back on the loop
    names = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert names == sorted(f"{i}.bin" for i in range(40))


async def test_the_recorder_fsyncs_each_folder_of_a_batch_once_before_writing_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files and sidecars are renamed into their folder without a directory fsync each: the recorder makes the names
    durable, once per folder and batch, before the rows that point at them are committed."""
    import ringvault.archive.sync.download as sync_module
    from ringvault.archive.store import MediaKind, MediaRecord
    from ringvault.archive.sync.download import Recorder

    events: list[tuple[str, object]] = []
    monkeypatch.setattr(sync_module, "fsync_dir", lambda directory: events.append(("fsync", directory)))

    class Store:
        def add_media_many(self, records: list[MediaRecord], *, mark_events_done: bool) -> None:
            events.append(("rows", len(records)))

    recorder = Recorder(Store())  # type: ignore[arg-type]
    folders = [tmp_path / "a", tmp_path / "b"]
    for index in range(5):
        record = MediaRecord(
            kind=MediaKind.RECORDING, path=f"x/{index}.mp4", bytes=1, sha256="0" * 64, device_id=1,
            event_id=str(index), content_type="video/mp4", validated=True,
        )  # fmt: skip
        recorder.add(record, folders[index % 2])
    recorder.flush()
    assert events == [("fsync", folders[0]), ("fsync", folders[1]), ("rows", 5)]
    recorder.flush()  # nothing queued: nothing to do
    assert len(events) == 3
