"""One sync run from start to end: the archive's lock, leftovers of a killed run, the history, the downloads, the
final counts and the check that the database is still the one it opened."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ringvault.archive.layout import MediaLayout
from ringvault.archive.store import ArchiveFileChangedError, ArchiveStore, DueRecording, MediaStatus
from ringvault.archive.sync.download import Downloader, Inflight
from ringvault.archive.sync.history import SyncDevice, collect_devices, read_histories, select_devices
from ringvault.archive.sync.hub import sync_hubs
from ringvault.archive.sync.options import (
    ArchiveDiskError,
    ArchiveReplacedError,
    FileProgressCallback,
    ProgressCallback,
    SyncOptions,
    SyncProgress,
    SyncSummary,
    download_window,
    utc,
)

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi

#: At most this many recording tasks exist at once (the download limiter caps those actually downloading; the rest
#: wait for a turn or for Ring to prepare their recording): a sync of 50,000 recordings does not build 50,000 tasks.
ADMITTED_TASKS = 256


def media_roots(archive_dir: Path, layout: MediaLayout) -> list[Path]:
    """Where a killed run may have left temporary files: ``media/`` and the fixed leading directories of the
    layout's recording template (a custom template may file recordings elsewhere in the archive)."""
    fixed: list[str] = []
    for component in layout.template.split("/")[:-1]:
        if "{" in component:
            break
        fixed.append(component)
    custom = archive_dir.joinpath(*fixed)
    media = archive_dir / "media"
    if media.is_relative_to(custom):
        return [custom]
    return [media] if custom.is_relative_to(media) else [media, custom]


#: Held by a sync (not a dry run) for its whole run: two syncs of one archive (a cron job and ``ringvault serve``)
#: would otherwise remove each other's in-flight temporary files at start-up and race on the same recordings.
LOCK_FILENAME = ".sync.lock"


async def run_sync(
    api: RingApi,
    store: ArchiveStore,
    archive_dir: Path,
    options: SyncOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    file_progress: FileProgressCallback | None = None,
) -> SyncSummary:
    """Sync the account behind ``api`` into ``store`` / ``archive_dir`` (see the module docstring).

    A second sync of the same archive (another process, or another task) waits for the first to finish.
    Raises :class:`ArchiveReplacedError` when the database file was deleted or replaced during the run."""
    options = options or SyncOptions()
    if options.dry_run:
        return await _run_sync(api, store, archive_dir, options, progress=progress, file_progress=file_progress)

    def waiting() -> None:
        if progress is not None:
            progress(SyncProgress(phase="wait", done=0, total=0, message="another sync of this archive is running"))

    async with archive_lock(archive_dir, on_wait=waiting):
        return await _run_sync(api, store, archive_dir, options, progress=progress, file_progress=file_progress)


@contextlib.asynccontextmanager
async def archive_lock(archive_dir: Path, *, on_wait: Callable[[], None] | None = None) -> AsyncIterator[None]:
    """Hold the archive's writer lock (``.sync.lock``, an OS lock freed even by SIGKILL): one sync — or one
    ``live --archive`` recording — writes temporary files into the archive at a time. ``on_wait`` is told once when
    another holder makes this one wait; the wait polls in a thread, so the event loop (and a cancellation) stays
    responsive."""
    from filelock import FileLock, Timeout

    await asyncio.to_thread(archive_dir.mkdir, parents=True, exist_ok=True)
    lock = FileLock(archive_dir / LOCK_FILENAME, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait()
        while True:
            try:
                await asyncio.to_thread(lock.acquire, timeout=1.0)
                break
            except Timeout:
                continue
    try:
        yield
    finally:
        lock.release()


def _verify_database(store: ArchiveStore) -> None:
    try:
        store.verify_file()
    except ArchiveFileChangedError as exc:
        raise ArchiveReplacedError(str(exc)) from None


async def _download_all(
    due: list[tuple[SyncDevice, DueRecording]],
    downloader: Downloader,
    summary: SyncSummary,
    report: Callable[[str, int, int, str], None],
) -> None:
    """Download ``due`` in order: tasks are admitted ``ADMITTED_TASKS`` at a time, the limiter caps the downloads."""
    done = 0
    report("media", 0, len(due), "")
    downloader.urls.plan((dev.device, event) for dev, event in due if dev.has_media)
    admitted = asyncio.Semaphore(ADMITTED_TASKS)

    async def one(dev: SyncDevice, event: DueRecording) -> None:
        nonlocal done
        try:
            await downloader.fetch(dev, event)
        finally:
            admitted.release()
        done += 1
        report("media", done, len(due), event.id)

    # A full disk stops them all (the task group cancels the others; their events stay pending). What was archived
    # until then is recorded either way.
    try:
        try:
            async with asyncio.TaskGroup() as group:
                for dev, event in due:
                    await admitted.acquire()
                    group.create_task(one(dev, event))
        finally:
            downloader.recorder.flush()
    except BaseExceptionGroup as failed:
        disk = failed.subgroup(ArchiveDiskError)
        if disk is None:
            raise failed.exceptions[0] from None
        first = disk.exceptions[0]
        raise ArchiveDiskError(  # counted now that every download in flight has settled
            f"{first}; the sync stopped after archiving {summary.downloaded} recording(s) in this run, the rest "
            "stay pending"
        ) from first.__cause__


def _tally(store: ArchiveStore, devices: list[SyncDevice], summary: SyncSummary) -> None:
    """Where the recordings of the synced devices stand now (one grouped count), and the given-up ones named."""
    ids = [dev.device.id for dev in devices]
    counts = store.media_state_counts(ids)
    summary.already_archived = counts[MediaStatus.DONE] - summary.downloaded
    summary.pending = counts[MediaStatus.PENDING]
    summary.failed = counts[MediaStatus.FAILED]
    summary.given_up = counts[MediaStatus.GIVEN_UP]
    summary.no_media = counts[MediaStatus.NO_MEDIA]
    if summary.given_up:
        names = {dev.device.id: dev.device.name or str(dev.device.id) for dev in devices}
        for record in store.failed_recordings(ids, limit=10):
            summary.given_up_notes.append(
                f"{record.id} ({names.get(record.device_id, record.device_id)}, "
                f"{utc(record.created_at):%Y-%m-%d %H:%M} UTC, {record.kind or 'event'}): {record.media_last_error}"
            )


async def _run_sync(
    api: RingApi,
    store: ArchiveStore,
    archive_dir: Path,
    options: SyncOptions,
    *,
    progress: ProgressCallback | None = None,
    file_progress: FileProgressCallback | None = None,
) -> SyncSummary:
    summary = SyncSummary()
    started = time.monotonic()
    requests_before = api.http.stats.requests

    def report(phase: str, done: int, total: int, message: str = "") -> None:
        if progress is not None:
            progress(SyncProgress(phase=phase, done=done, total=total, message=message))

    try:
        inflight = Inflight(archive_dir)
        if not options.dry_run:
            inflight.clean_up(media_roots(archive_dir, options.layout))
        devices = select_devices(await collect_devices(api, store, options, summary.errors), options.devices)
        summary.devices = len(devices)
        ids = [dev.device.id for dev in devices]
        if options.retry_failed and not options.dry_run:
            summary.retried = store.retry_failed(ids)
        await read_histories(devices, store, options, summary, report)

        windows = (
            {dev.device.id: download_window(options, dev.ref) for dev in devices}
            if options.since or options.until
            else None
        )
        kinds = options.kinds or None
        if options.dry_run:
            media_ids = [dev.device.id for dev in devices if dev.has_media]
            summary.would_download += store.count_due(media_ids, kinds=kinds, windows=windows)
            if options.hub and not options.devices:
                await sync_hubs(api, store, options, summary, report)
            return summary
        _verify_database(store)
        if not options.metadata_only:
            by_id = {dev.device.id: dev for dev in devices}
            due = [
                (by_id[record.device_id], record)
                for record in store.due_recordings(
                    ids, kinds=kinds, windows=windows, newest_first=not options.oldest_first
                )
                if record.id not in options.exclude_ids
            ]
            downloader = Downloader(store, archive_dir, options, summary, file_progress, inflight)
            try:
                await _download_all(due, downloader, summary, report)
            finally:  # every download has settled: its temporary files are renamed or removed
                with contextlib.suppress(OSError):  # (a disk that refuses this too: the next run cleans again)
                    inflight.reset()
        if options.hub and not options.devices:
            # after the recordings: a hub that hangs until its time-out costs the camera archive nothing
            await sync_hubs(api, store, options, summary, report)
        _verify_database(store)
        _tally(store, devices, summary)
        return summary
    finally:
        summary.seconds = time.monotonic() - started
        summary.requests = api.http.stats.requests - requests_before
