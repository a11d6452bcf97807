"""Downloading the recordings due: bounded, adaptive concurrency, the video-search URL or ``share/play``, the atomic
write and its commit (on the loop or in a worker thread), the sidecar, and the database rows in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ringvault.archive.files import (
    AtomicFile,
    MediaValidationError,
    ValidateOption,
    WriteResult,
    cleanup_partials,
    disk_refusal,
    is_partial_name,
    write_sidecar,
)
from ringvault.archive.layout import MediaLayout, ensure_inside
from ringvault.archive.recording_urls import SearchUrls, SignedUrl, is_refusal
from ringvault.archive.sidecar import SidecarEvent, build_sidecar
from ringvault.archive.store import ArchiveStore, DueRecording, MediaKind, MediaRecord, MediaStatus
from ringvault.archive.sync.history import SyncDevice
from ringvault.archive.sync.options import (
    ArchiveDiskError,
    FileProgress,
    FileProgressCallback,
    SyncOptions,
    SyncSummary,
    utc,
)
from ringvault.archive.validate import validate_mp4
from ringvault.cloud.errors import RateLimitedError, RecordingNotReadyError, RingError
from ringvault.transport.files import fsync_dir

if TYPE_CHECKING:
    from ringvault.transport import DownloadResult

log = logging.getLogger("ringvault.sync")

#: Archived recordings written to the database together (see ``Recorder``), or after this many seconds.
RECORD_BATCH = 32
RECORD_DELAY_S = 1.0


class Limiter:
    """A semaphore whose limit can shrink while in use (halved on rate limiting).

    A release wakes one waiter, not all: a sync queues many due recordings at once (hundreds of waiters), and
    waking them all on each release cost O(waiters) loop work per download (a third of the CPU of an 800-clip run).
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._active = 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._active < self.limit)
            self._active += 1

    async def __aexit__(self, *_exc: object) -> None:
        async with self._cond:
            self._active -= 1
            self._cond.notify(1)

    def halve(self) -> None:
        self.limit = max(1, self.limit // 2)


class Committer:
    """Ends each finished download — the one fsync, validation, rename, directory fsync, then the sidecar — on the
    event loop while such commits are quick, in a worker thread while they are slow.

    A worker thread is what keeps a slow disk (an SD card, a busy NAS: tens of ms per fsync) from stalling every other
    download, since they all share this loop. But a thread hop is not free when the loop is busy: the two threads
    hand the GIL back and forth at every system call of the commit. Measured on 800 small recordings from a local
    simulator (2 cores): 61,000 context switches and 7.3 s of CPU with every commit in a thread, 11,700 and 5.0 s
    with every commit inline, which also finished sooner. So the place follows the disk: a moving average of the
    commit time (measured in either place) above ``SLOW_S`` sends commits to a thread until it drops again: a
    commit costs two fsyncs (the recording, its sidecar), about 1-2 ms on an SSD, tens of ms on an SD card.

    The directory is not fsynced here: ``then`` (the sidecar) runs right after the recording's rename in the same
    directory, and :class:`Recorder` fsyncs the directories of a batch once, before its rows are written."""

    SLOW_S = 0.010

    def __init__(self) -> None:
        self.average_s = 0.0

    def _timed(self, part: AtomicFile, sha256: str, then: Callable[[WriteResult], object] | None) -> WriteResult:
        started = time.perf_counter()
        try:
            written = part.commit(sha256=sha256, sync_dir=False)
            if then is not None:
                then(written)
            return written
        finally:
            self.average_s = 0.8 * self.average_s + 0.2 * (time.perf_counter() - started)

    async def commit(self, part: AtomicFile, sha256: str, then: Callable[[WriteResult], object] | None) -> WriteResult:
        if self.average_s < self.SLOW_S:
            return self._timed(part, sha256, then)
        # A thread cannot be stopped: when this task is cancelled (another download met a full disk, Ctrl-C), wait
        # for the commit to settle (renamed into place, or removed) so that no temporary file outlives the task.
        future = asyncio.ensure_future(asyncio.to_thread(self._timed, part, sha256, then))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await future
            raise


async def fetch_atomically(
    dest: Path,
    fetch: Callable[[Path], Awaitable[DownloadResult]],
    *,
    validate: ValidateOption = "auto",
    then: Callable[[WriteResult], object] | None = None,
    committer: Committer | None = None,
) -> WriteResult:
    """:class:`AtomicFile` around ``fetch(temporary path)`` — a download that leaves the fsync to us and hashes the
    bytes on the way — ended by ``committer`` (the one fsync, validation, rename, then ``then(result)``: the sidecar
    in the same directory), on the loop or in a worker thread as the disk's speed asks. The directory itself is not
    fsynced: whoever records the file does that before relying on its name (:class:`Recorder`)."""
    part = AtomicFile(dest, validate=validate)
    part.__enter__()
    try:
        downloaded = await fetch(part.path)
    except BaseException:
        part.abort()
        raise
    return await (committer or Committer()).commit(part, downloaded.sha256, then)


class Recorder:
    """Writes archived recordings to the database in batches: one transaction per ``RECORD_BATCH`` recordings or
    ``RECORD_DELAY_S`` seconds (a transaction per recording cost as much CPU as the rest of the bookkeeping). A
    recording is on disk with its sidecar before it is queued here (both fsynced, renamed into ``directory``); the
    batch's directories are fsynced once each before its rows are written, so a row never outlives its files' names
    on a power cut. A run killed before its batch is written leaves it ``pending``, and the next run downloads it
    again (the same as a kill between the file and its row)."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store
        self.queued: list[MediaRecord] = []
        self.directories: set[Path] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._error: BaseException | None = None

    def add(self, record: MediaRecord, directory: Path) -> None:
        self._raise_pending_error()
        self.queued.append(record)
        self.directories.add(directory)
        if len(self.queued) >= RECORD_BATCH:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(RECORD_DELAY_S, self._flush_later)

    def _flush_later(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception as exc:  # raised by the next add() or flush(): a loop callback cannot raise
            self._error = exc

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._raise_pending_error()
        if self.queued:
            for directory in sorted(self.directories):
                fsync_dir(directory)
            self.directories.clear()
            self.store.add_media_many(self.queued, mark_events_done=True)
            self.queued = []


class Downloader:
    def __init__(
        self,
        store: ArchiveStore,
        archive_dir: Path,
        options: SyncOptions,
        summary: SyncSummary,
        file_progress: FileProgressCallback | None = None,
        inflight: Inflight | None = None,
    ) -> None:
        self.store = store
        self.archive_dir = archive_dir
        self.inflight = inflight
        self.options = options
        self.summary = summary
        self.limiter = Limiter(options.concurrency)
        self.file_progress = file_progress
        self.urls = SearchUrls(options.search_batch)
        self.recorder = Recorder(store)
        self.committer = Committer()
        self._dirs: dict[PurePosixPath, Path] = {}

    async def fetch(self, dev: SyncDevice, event: DueRecording) -> None:
        if not dev.has_media:
            self.store.mark_event_media(event.id, MediaStatus.NO_MEDIA, "no Ring Protect plan on this device")
            return
        ok = False
        try:
            ok = await self._fetch(dev, event)
        finally:
            if self.file_progress is not None:
                self.file_progress(FileProgress(event_id=event.id, name=self._name(dev, event), finished=True, ok=ok))

    def _destination(self, rel: PurePosixPath) -> Path:
        """``rel`` inside the archive, its directory checked once per run (``ensure_inside`` resolves every path
        component): the file name itself cannot lead out, since a symlink there is replaced, not followed."""
        parent = self._dirs.get(rel.parent)
        if parent is None:
            parent = self._dirs[rel.parent] = ensure_inside(self.archive_dir, rel.parent)
            if self.inflight is not None:
                self.inflight.note(parent)
        return parent / rel.name

    def _name(self, dev: SyncDevice, event: DueRecording) -> str:
        """What a progress display calls a recording: the device and the event's time as the file name shows it."""
        stamp = self.options.layout.local_time(dev.ref, event.created_at).strftime("%Y-%m-%d %H:%M:%S")
        return f"{dev.ref.name or dev.ref.device_id} {stamp}"

    async def _fetch(self, dev: SyncDevice, event: DueRecording) -> bool:
        """Download one recording with retries; True once archived."""
        deadline = time.monotonic() + self.options.not_ready_deadline_s
        wait = self.options.not_ready_backoff_s
        attempts = 0
        ask_search = self.options.video_search
        url: SignedUrl | None = None
        while True:
            try:
                async with self.limiter:
                    if ask_search:  # once a download slot is ours, so the URL is as fresh as can be
                        ask_search, url = False, await self.urls.url_for(event.id)
                    await self._download(dev, event, url if url is not None and url.usable else None)
                return True
            except RecordingNotReadyError as exc:
                url = None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._not_ready(event, exc)
                    return False
                await asyncio.sleep(min(wait, remaining))
                wait = min(wait * 2, self.options.not_ready_backoff_max_s)
            except (RateLimitedError, MediaValidationError, RingError, OSError) as exc:
                disk = disk_refusal(exc)
                if disk is not None:
                    raise ArchiveDiskError(
                        f"cannot write to the archive {self.archive_dir}: {disk.strerror or disk}"
                    ) from exc
                if isinstance(exc, RateLimitedError):
                    self.limiter.halve()
                attempts += 1
                if attempts >= self.options.max_attempts:
                    self._failed(event, f"{type(exc).__name__}: {exc}")
                    return False
                await asyncio.sleep(min(0.2 * 2**attempts, 5.0))

    def _not_ready(self, event: DueRecording, exc: RecordingNotReadyError) -> None:
        """Not ready at the end of this run's wait: pending for the next run, or a failed run if Ring should have
        prepared it long ago."""
        age = (self.store.now() - utc(event.created_at)).total_seconds()
        if age > self.options.not_ready_grace_s:
            self._failed(event, f"Ring still has no recording {age / 3600:.0f} h after the event ({exc})")
            return
        retry_at = self.store.now() + timedelta(seconds=self.options.pending_retry_s)
        self.store.mark_event_media(event.id, MediaStatus.PENDING, str(exc), next_attempt_at=retry_at)

    def _failed(self, event: DueRecording, message: str) -> None:
        failures = event.media_failures + 1
        status, retry_at = self.options.retry.after_failure(failures, self.store.now())
        self.store.mark_event_media(event.id, status, message, next_attempt_at=retry_at, failures=failures)
        if status is MediaStatus.GIVEN_UP:
            self.summary.given_up_now += 1
            self.summary.errors.append(f"{event.id}: given up after {failures} failed runs: {message}")
        else:
            self.summary.failed_now += 1
            self.summary.errors.append(f"{event.id}: {message}")

    async def _download(self, dev: SyncDevice, event: DueRecording, url: SignedUrl | None) -> None:
        layout = self.options.layout
        rel = layout.recording_path(dev.ref, created_at=event.created_at, kind=event.kind or "event", ding_id=event.id)
        dest = self._destination(rel)
        on_bytes = None
        if self.file_progress is not None:
            report, name = self.file_progress, self._name(dev, event)

            def on_bytes(done: int, total: int | None) -> None:
                report(FileProgress(event_id=event.id, name=name, done=done, total=total))

        def sidecar(written: WriteResult) -> None:
            """The JSON sidecar, written right after the recording in the same worker thread. It goes in place before
            the database row: a run killed in between leaves the event pending, so the next run downloads it again
            and rewrites both; a row therefore always has its file and its sidecar."""
            document = build_sidecar(
                SidecarEvent(
                    ding_id=event.id, created_at=event.created_at, kind=event.kind or "unknown",
                    answered=event.answered, duration=event.duration_s, person_detected=event.person_detected,
                    detection_type=event.detection_type,
                ),
                device_id=dev.ref.device_id, device_name=dev.ref.name, location_id=dev.ref.location_id,
                location_name=dev.ref.location_name, video_file_name=dest.name, status="done",
                sha256=written.sha256, size=written.bytes, zone=layout.zone_for(dev.ref),
            )  # fmt: skip
            write_sidecar(MediaLayout.sidecar_path(dest), document, sync_dir=False)  # the recorder fsyncs the folder

        # Validated as MP4 whatever the template calls the file (a template without ``.{ext}`` still gets checked).
        written: WriteResult | None = None
        if url is not None:
            signed = url.url
            try:
                written = await fetch_atomically(
                    dest,
                    lambda part: dev.device.download_recording_from(
                        signed, part, ding_id=event.id, progress=on_bytes, fsync=False
                    ),
                    validate=validate_mp4,
                    then=sidecar,
                    committer=self.committer,
                )
                self.summary.from_search += 1
            except (RingError, MediaValidationError, OSError) as exc:
                if not is_refusal(exc):
                    raise
                url.refused = True
                log.info("recording %s: the video search URL failed (%s); asking share/play", event.id, exc)
        if written is None:
            written = await fetch_atomically(
                dest,
                lambda part: dev.device.download_recording(event.id, part, progress=on_bytes, fsync=False),
                validate=validate_mp4,
                then=sidecar,
                committer=self.committer,
            )
        self.recorder.add(
            MediaRecord(
                kind=MediaKind.RECORDING, path=rel.as_posix(), bytes=written.bytes, sha256=written.sha256,
                device_id=dev.device.id, event_id=event.id, content_type="video/mp4", validated=True,
                captured_at=event.created_at, downloaded_at=self.store.now(),
            ),
            dest.parent,
        )  # fmt: skip
        self.summary.downloaded += 1
        self.summary.bytes += written.bytes


#: The directories the current (or a killed) run writes temporary files into; empty after a run that ended.
INFLIGHT_FILENAME = ".sync.inflight"


class Inflight:
    """Where a run may leave temporary files, so that the next run removes them without walking the whole archive
    (a walk of 100,000 archived files would make every re-sync cost O(archive)).

    Each directory is noted (appended, fsynced) before the first temporary file is created in it; a run that ends,
    however it ends short of being killed, empties the list. The next run cleans the directories listed. An archive
    without the file (made by an older ringvault) gets one full walk of its media roots instead."""

    def __init__(self, archive_dir: Path) -> None:
        self.archive_dir = archive_dir
        self.path = archive_dir / INFLIGHT_FILENAME
        self.noted: set[Path] = set()

    def clean_up(self, roots: Sequence[Path]) -> int:
        """Remove the temporary files a killed run left; returns how many."""
        try:
            listed = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            removed = sum(cleanup_partials(root) for root in roots)
        else:
            removed = sum(self._clean_directory(line) for line in dict.fromkeys(listed) if line.strip())
        self.reset()
        return removed

    def _clean_directory(self, relative: str) -> int:
        try:
            directory = ensure_inside(self.archive_dir, relative)
            entries = list(os.scandir(directory))
        except (ValueError, OSError):  # not ours, or gone
            return 0
        removed = 0
        for entry in entries:
            if is_partial_name(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def note(self, directory: Path) -> None:
        """Record ``directory`` (inside the archive) before a temporary file is created in it."""
        if directory in self.noted:
            return
        self.noted.add(directory)
        relative = directory.relative_to(self.archive_dir.resolve()).as_posix()
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{relative or '.'}\n")
            handle.flush()
            os.fsync(handle.fileno())

    def reset(self) -> None:
        """Empty the list: nothing of this run is in flight any more."""
        with open(self.path, "w", encoding="utf-8") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        self.noted.clear()
