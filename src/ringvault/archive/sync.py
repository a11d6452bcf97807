"""The incremental, resumable sync engine behind ``ringvault sync``.

One run:

1. removes partial files a killed run left under ``media/`` and stores the account, locations and devices;
2. per camera, doorbell and intercom pages its history newest first and stops once a page reaches the stored
   watermark plus ``overlap`` older events (a no-change re-run costs about one history request per device); the
   first run walks to the end. Every event seen is stored (ids as strings); the watermark then moves forward;
3. downloads the recordings still pending (kind/since/until filters apply here), oldest first, with bounded and
   adaptive concurrency: temp file -> validate (MP4) -> rename -> JSON sidecar -> ``media`` row + event ``done``.
   A recording Ring has not prepared yet is retried until ``not_ready_deadline_s`` and otherwise left ``pending``
   for a later run; cameras without a Protect plan end as ``no_media``; other errors end as ``failed``.

Kind/since/until filters choose what is downloaded; every event's metadata is stored regardless, so the watermark
stays correct and a later unfiltered run fetches the rest. A naive ``since``/``until`` is a wall-clock time in the
zone the layout files each device's recordings under (``SyncOptions.layout``), so "the recordings of 1 May" are the
ones filed under ``2024/05/01``.

Progress: ``progress`` gets phase-level reports (history per device, recordings done of total); ``file_progress``
gets the bytes of each download in flight and a final report when that recording is settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringvault.archive.files import (
    AtomicFile,
    MediaValidationError,
    ValidateOption,
    WriteResult,
    cleanup_partials,
    disk_refusal,
    write_sidecar,
)
from ringvault.archive.ids import fits_archive, unstorable_device_line
from ringvault.archive.layout import DeviceRef, MediaLayout, ensure_inside, slugify
from ringvault.archive.sidecar import SidecarEvent, build_sidecar
from ringvault.archive.store import (
    AccountRecord,
    ArchiveStore,
    DeviceRecord,
    EventRecord,
    LocationRecord,
    MediaKind,
    MediaRecord,
    MediaStatus,
    StoredEvent,
)
from ringvault.archive.validate import validate_mp4
from ringvault.cloud.errors import (
    DeviceNotFoundError,
    NotFoundError,
    RateLimitedError,
    RecordingNotReadyError,
    ResponseFormatError,
    RingError,
)

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.models.events import HistoryItem

__all__ = [
    "ArchiveDiskError",
    "FileProgress",
    "FileProgressCallback",
    "SyncOptions",
    "SyncProgress",
    "SyncSummary",
    "run_sync",
]

HISTORY_PAGE = 100


class ArchiveDiskError(RingError):
    """The archive's disk refuses new files (full, over quota, read-only): the sync stops; nothing is marked failed."""

    hint = "Free space (or fix the mount) and run `ringvault sync` again: it continues with what is still pending."


@dataclass
class SyncOptions:
    """What a sync does. ``devices``: ids or names (``None`` = every camera, doorbell and intercom)."""

    devices: list[str] | None = None
    kinds: list[str] | None = None
    since: datetime | None = None
    """Download recordings from this time on. Aware: that instant. Naive: that wall-clock time in the zone
    ``layout`` uses for each device (UTC with the default layout)."""
    until: datetime | None = None
    """Download recordings before this time (exclusive); naive or aware as ``since``."""
    oldest_first: bool = True
    metadata_only: bool = False
    dry_run: bool = False
    concurrency: int = 8
    """Recordings downloaded at once (halved whenever Ring answers 429)."""
    not_ready_deadline_s: float = 60.0
    """How long one run keeps retrying a recording Ring has not prepared yet before leaving it ``pending``."""
    not_ready_backoff_s: float = 2.0
    """First wait between not-ready retries (doubles, at most 30 s)."""
    pending_retry_s: float = 900.0
    """A recording left ``pending`` is due again this long after the run (``0``: on the next run)."""
    overlap: int = 5
    """Events older than the watermark re-read on each run (catches late edits and ties)."""
    max_attempts: int = 3
    """Attempts per recording in one run for transient errors (truncated/invalid files, HTTP errors)."""
    layout: MediaLayout = field(default_factory=MediaLayout)
    exclude_ids: frozenset[str] = frozenset()
    """Ding ids whose recordings this run does not download (the seed-001 connector's "already held" list); their
    events are still stored and stay ``pending`` for a later run."""


@dataclass
class SyncSummary:
    """What a run did. ``new``: events seen for the first time; ``skipped``: recordings already archived or
    filtered out; ``pending``: recordings not ready yet; ``would_download``: in a dry run, what would be fetched."""

    new: int = 0
    skipped: int = 0
    pending: int = 0
    failed: int = 0
    downloaded: int = 0
    no_media: int = 0
    would_download: int = 0
    bytes: int = 0
    seconds: float = 0.0
    requests: int = 0
    devices: int = 0
    events_seen: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SyncProgress:
    """A progress report: ``phase`` is ``history``, ``media`` or ``wait`` (another sync holds the archive);
    ``done`` of ``total`` (``total`` 0 = unknown)."""

    phase: str
    done: int
    total: int
    message: str = ""


ProgressCallback = Callable[[SyncProgress], None]


@dataclass(frozen=True)
class FileProgress:
    """The bytes of one recording download: ``done`` of ``total`` (None = not known yet). A download that starts
    over reports ``done=0`` again. ``finished`` comes once per recording and run when it is settled (archived, left
    pending, failed); ``ok`` says whether it was archived."""

    event_id: str
    name: str
    done: int = 0
    total: int | None = None
    finished: bool = False
    ok: bool = False


FileProgressCallback = Callable[[FileProgress], None]


class _Limiter:
    """A semaphore whose limit can shrink while in use (halved on rate limiting).

    A release wakes one waiter, not all: a sync queues every due recording at once (hundreds of waiters), and
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


@dataclass
class _Device:
    device: Any  # RingCamera | RingIntercom
    ref: DeviceRef
    has_media: bool


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _event_record(item: HistoryItem, location_id: str | None, media_status: MediaStatus) -> EventRecord | None:
    if item.id_str is None or item.created_at is None:
        return None
    cv = item.cv_properties
    return EventRecord(
        id=item.id_str,
        created_at=_utc(item.created_at),
        kind=item.kind,
        location_id=location_id,
        duration_s=item.duration,
        answered=item.answered,
        favorite=item.favorite,
        person_detected=cv.person_detected if cv is not None else None,
        detection_type=cv.detection_type if cv is not None else None,
        cv_properties=cv.raw if cv is not None else None,
        recording_status=item.recording.status if item.recording is not None else None,
        raw=item.raw,
        media_status=media_status,
    )


def _wanted(event: StoredEvent | EventRecord, options: SyncOptions, device: DeviceRef) -> bool:
    if event.id in options.exclude_ids:
        return False
    if options.kinds and (event.kind or "") not in options.kinds:
        return False
    created = _utc(event.created_at)
    if options.since is not None and created < options.layout.wall_clock_to_utc(device, options.since):
        return False
    return not (options.until is not None and created >= options.layout.wall_clock_to_utc(device, options.until))


def _select(devices: list[_Device], wanted: Sequence[str] | None) -> list[_Device]:
    if not wanted:
        return devices
    chosen: dict[int, _Device] = {}
    for spec in wanted:
        text = spec.strip()
        by_id = [d for d in devices if str(d.device.id) == text]
        matches = by_id or [d for d in devices if (d.device.name or "").lower() == text.lower()]
        if not matches:
            raise DeviceNotFoundError(f"no camera, doorbell or intercom matches {spec!r}")
        if len(matches) > 1:
            raise DeviceNotFoundError(f"{len(matches)} devices are named {spec!r}", hint="Use the numeric device id.")
        chosen[matches[0].device.id] = matches[0]
    return list(chosen.values())


async def _collect_devices(
    api: RingApi, store: ArchiveStore, options: SyncOptions, notes: list[str] | None = None
) -> list[_Device]:
    """Store the account, locations and devices; the devices whose events are synced. A device whose id the archive
    cannot hold (beyond signed 64-bit) is skipped with one line in ``notes``, and the rest proceeds."""
    locations = await api.get_locations()
    account_id: int | None = None
    if not options.dry_run:
        profile = await api.get_profile()
        if profile.email:
            profile_id = profile.id if fits_archive(profile.id) else None
            account_id = store.upsert_account(AccountRecord(email=profile.email, profile_id=profile_id))
    result: list[_Device] = []
    for location in locations:
        zone: str | None = None
        for device in location.all_devices:
            zone = zone or getattr(device.data, "time_zone", None)
        if not options.dry_run:
            store.upsert_location(
                LocationRecord(id=location.id, account_id=account_id, name=location.name, time_zone=zone)
            )
        for device in location.all_devices:
            if not fits_archive(device.id):
                if notes is not None:
                    notes.append(unstorable_device_line(device.name, device.id))
                continue
            if not options.dry_run:
                store.upsert_device(
                    DeviceRecord(
                        id=device.id, family=device.family, kind=device.kind, name=device.name,
                        location_id=device.location_id or location.id, account_id=account_id, model=device.model,
                        slug=slugify(device.name, fallback="device"), raw=device.raw,
                    )
                )  # fmt: skip
        media_devices: list[Any] = [*location.cameras, *location.intercoms]
        for media_device in (d for d in media_devices if fits_archive(d.id)):
            ref = DeviceRef(
                device_id=media_device.id,
                name=media_device.name,
                location_id=media_device.location_id or location.id,
                location_name=location.name,
                time_zone=getattr(media_device.data, "time_zone", None),
            )
            has_media = bool(getattr(media_device, "has_subscription", False))
            result.append(_Device(device=media_device, ref=ref, has_media=has_media))
    return result


async def _sync_history(dev: _Device, store: ArchiveStore, options: SyncOptions, summary: SyncSummary) -> None:
    """Page history newest first down to the watermark (+ overlap) and store what was seen."""
    state = store.get_sync_state(dev.device.id)
    mark = (
        (_utc(state.newest_created_at), state.newest_event_id)
        if state is not None and state.newest_created_at is not None and state.newest_event_id is not None
        else None
    )
    status = MediaStatus.PENDING if dev.has_media else MediaStatus.NO_MEDIA
    records: list[EventRecord] = []
    below_mark = 0
    cursor: str | None = None
    reached_end = False
    while True:
        page = await dev.device.get_history(limit=HISTORY_PAGE, older_than=cursor)
        for item in page:
            record = _event_record(item, dev.ref.location_id, status)
            if record is None:
                continue
            records.append(record)
            if mark is not None and (record.created_at, record.id) <= mark:
                below_mark += 1
        last = page[-1].id_str if page else None
        if len(page) < HISTORY_PAGE or last is None or last == cursor:
            reached_end = True
            break
        if mark is not None and below_mark >= options.overlap:
            break
        cursor = last
    summary.events_seen += len(records)
    if options.dry_run:
        unseen = {r.id: r for r in records if store.get_event(r.id) is None}
        summary.new += len(unseen)
        if dev.has_media:
            summary.would_download += sum(1 for r in unseen.values() if _wanted(r, options, dev.ref))
        return
    if records:
        result = store.upsert_events(dev.device.id, records)
        summary.new += result.new
        summary.skipped += result.updated
        if not dev.has_media:
            summary.no_media += result.new
        newest = max(records, key=lambda r: (r.created_at, r.id))
        oldest = min(records, key=lambda r: (r.created_at, r.id))
        store.set_watermark(
            dev.device.id,
            newest_event_id=newest.id,
            newest_created_at=newest.created_at,
            oldest_event_id=oldest.id if reached_end or mark is None else None,
            oldest_created_at=oldest.created_at if reached_end or mark is None else None,
            full_scan=reached_end and mark is None,
        )
    else:
        store.set_watermark(dev.device.id, full_scan=reached_end and mark is None)


async def _fetch_atomically(
    dest: Path, fetch: Callable[[Path], Awaitable[object]], *, validate: ValidateOption = "auto"
) -> WriteResult:
    """:class:`AtomicFile` around ``fetch(temporary path)``, with its blocking end (fsync, validation, hash, rename,
    directory fsync) in a worker thread: on a slow disk one file's flush would otherwise stall every other
    download's network I/O, since they all share this event loop."""
    part = AtomicFile(dest, validate=validate)
    part.__enter__()
    try:
        await fetch(part.path)
    except BaseException:
        part.abort()
        raise
    # A thread cannot be stopped: when this task is cancelled (another download met a full disk, Ctrl-C), wait for
    # the commit to settle (renamed into place, or removed) so that no temporary file outlives the task.
    commit = asyncio.ensure_future(asyncio.to_thread(part.commit))
    try:
        return await asyncio.shield(commit)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await commit
        raise


class _Downloader:
    def __init__(
        self,
        store: ArchiveStore,
        archive_dir: Path,
        options: SyncOptions,
        summary: SyncSummary,
        file_progress: FileProgressCallback | None = None,
    ) -> None:
        self.store = store
        self.archive_dir = archive_dir
        self.options = options
        self.summary = summary
        self.limiter = _Limiter(options.concurrency)
        self.file_progress = file_progress

    async def fetch(self, dev: _Device, event: StoredEvent) -> None:
        if not dev.has_media:
            self.store.mark_event_media(event.id, MediaStatus.NO_MEDIA, "no Ring Protect plan on this device")
            self.summary.no_media += 1
            return
        ok = False
        try:
            ok = await self._fetch(dev, event)
        finally:
            if self.file_progress is not None:
                self.file_progress(FileProgress(event_id=event.id, name=self._name(dev, event), finished=True, ok=ok))

    def _name(self, dev: _Device, event: StoredEvent) -> str:
        """What a progress display calls a recording: the device and the event's time as the file name shows it."""
        stamp = self.options.layout.local_time(dev.ref, event.created_at).strftime("%Y-%m-%d %H:%M:%S")
        return f"{dev.ref.name or dev.ref.device_id} {stamp}"

    async def _fetch(self, dev: _Device, event: StoredEvent) -> bool:
        """Download one recording with retries; True once archived."""
        deadline = time.monotonic() + self.options.not_ready_deadline_s
        wait = self.options.not_ready_backoff_s
        attempts = 0
        while True:
            try:
                async with self.limiter:
                    await self._download(dev, event)
                return True
            except RecordingNotReadyError as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    retry_at = datetime.now(UTC) + timedelta(seconds=self.options.pending_retry_s)
                    self.store.mark_event_media(event.id, MediaStatus.PENDING, str(exc), next_attempt_at=retry_at)
                    self.summary.pending += 1
                    return False
                await asyncio.sleep(min(wait, remaining))
                wait = min(wait * 2, 30.0)
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
                    message = f"{type(exc).__name__}: {exc}"
                    self.store.mark_event_media(event.id, MediaStatus.FAILED, message)
                    self.summary.failed += 1
                    self.summary.errors.append(f"{event.id}: {message}")
                    return False
                await asyncio.sleep(min(0.2 * 2**attempts, 5.0))

    async def _download(self, dev: _Device, event: StoredEvent) -> None:
        layout = self.options.layout
        rel = layout.recording_path(dev.ref, created_at=event.created_at, kind=event.kind or "event", ding_id=event.id)
        dest = ensure_inside(self.archive_dir, rel)
        on_bytes = None
        if self.file_progress is not None:
            report, name = self.file_progress, self._name(dev, event)

            def on_bytes(done: int, total: int | None) -> None:
                report(FileProgress(event_id=event.id, name=name, done=done, total=total))

        # Validated as MP4 whatever the template calls the file (a template without ``.{ext}`` still gets checked).
        written = await _fetch_atomically(
            dest, lambda part: dev.device.download_recording(event.id, part, progress=on_bytes), validate=validate_mp4
        )
        # The sidecar goes in place before the database row: a run killed in between leaves the event pending, so
        # the next run downloads it again and rewrites both; a row therefore always has its file and its sidecar.
        sidecar = build_sidecar(
            SidecarEvent(
                ding_id=event.id, created_at=event.created_at, kind=event.kind or "unknown", answered=event.answered,
                duration=event.duration_s, person_detected=event.person_detected, detection_type=event.detection_type,
            ),
            device_id=dev.ref.device_id, device_name=dev.ref.name, location_id=dev.ref.location_id,
            location_name=dev.ref.location_name, video_file_name=dest.name, status="done", sha256=written.sha256,
            size=written.bytes, zone=layout.zone_for(dev.ref),
        )  # fmt: skip
        await asyncio.to_thread(write_sidecar, MediaLayout.sidecar_path(dest), sidecar)
        self.store.add_media(
            MediaRecord(
                kind=MediaKind.RECORDING, path=rel.as_posix(), bytes=written.bytes, sha256=written.sha256,
                device_id=dev.device.id, event_id=event.id, content_type="video/mp4", validated=True,
                captured_at=event.created_at,
            ),
            mark_event_done=True,
        )  # fmt: skip
        self.summary.downloaded += 1
        self.summary.bytes += written.bytes


def _media_roots(archive_dir: Path, layout: MediaLayout) -> list[Path]:
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

    A second sync of the same archive (another process, or another task) waits for the first to finish."""
    options = options or SyncOptions()
    if options.dry_run:
        return await _run_sync(api, store, archive_dir, options, progress=progress, file_progress=file_progress)
    from filelock import FileLock, Timeout

    await asyncio.to_thread(archive_dir.mkdir, parents=True, exist_ok=True)
    lock = FileLock(archive_dir / LOCK_FILENAME, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if progress is not None:
            progress(SyncProgress(phase="wait", done=0, total=0, message="another sync of this archive is running"))
        # Wait in a thread, polling, so the event loop (and a cancellation) stays responsive.
        while True:
            try:
                await asyncio.to_thread(lock.acquire, timeout=1.0)
                break
            except Timeout:
                continue
    try:
        return await _run_sync(api, store, archive_dir, options, progress=progress, file_progress=file_progress)
    finally:
        lock.release()


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
        if not options.dry_run:
            for root in _media_roots(archive_dir, options.layout):
                cleanup_partials(root)
        devices = _select(await _collect_devices(api, store, options, summary.errors), options.devices)
        summary.devices = len(devices)
        for index, dev in enumerate(devices):
            report("history", index, len(devices), dev.device.name or str(dev.device.id))
            try:
                await _sync_history(dev, store, options, summary)
            except (NotFoundError, ResponseFormatError) as exc:
                # A device without a history endpoint (e.g. an ONVIF camera): note it and go on with the others.
                name = dev.device.name or dev.device.id
                if isinstance(exc, NotFoundError) and dev.device.kind == "onvif_camera":
                    summary.errors.append(f"{name}: Ring keeps no event history for third-party (ONVIF) cameras")
                else:
                    summary.errors.append(f"history of {name}: {exc}")
        report("history", len(devices), len(devices))

        by_id = {dev.device.id: dev for dev in devices}
        due: list[tuple[_Device, StoredEvent]] = []
        for pending in store.events_needing_media():
            owner = by_id.get(pending.device_id)
            event = store.get_event(pending.event_id) if owner is not None else None
            if owner is None or event is None:
                continue
            if not _wanted(event, options, owner.ref):
                summary.skipped += 1
                continue
            due.append((owner, event))
        due.sort(key=lambda pair: (_utc(pair[1].created_at), pair[1].id), reverse=not options.oldest_first)
        if options.dry_run:
            summary.would_download += sum(1 for owner, _ in due if owner.has_media)
            return summary
        if options.metadata_only:
            summary.skipped += len(due)
            return summary

        downloader = _Downloader(store, archive_dir, options, summary, file_progress)
        done = 0
        report("media", 0, len(due))

        async def one(dev: _Device, event: StoredEvent) -> None:
            nonlocal done
            await downloader.fetch(dev, event)
            done += 1
            report("media", done, len(due), event.id)

        # Bounded fan-out: the limiter caps concurrent downloads; oldest-first order is kept by task creation order.
        # A full disk stops them all (the task group cancels the others; their events stay pending).
        try:
            async with asyncio.TaskGroup() as group:
                for dev, event in due:
                    group.create_task(one(dev, event))
        except BaseExceptionGroup as failed:
            disk = failed.subgroup(ArchiveDiskError)
            if disk is None:
                raise failed.exceptions[0] from None
            first = disk.exceptions[0]
            raise ArchiveDiskError(  # counted now that every download in flight has settled
                f"{first}; the sync stopped after archiving {summary.downloaded} recording(s) in this run, the rest "
                "stay pending"
            ) from first.__cause__
        return summary
    finally:
        summary.seconds = time.monotonic() - started
        summary.requests = api.http.stats.requests - requests_before
