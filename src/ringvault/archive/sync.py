"""The incremental, resumable sync engine behind ``ringvault sync``.

One run:

1. removes partial files a killed run left under ``media/`` and stores the account, locations and devices;
2. per camera, doorbell and intercom (a few at a time) pages its history newest first and stops once a page reaches
   the stored watermark plus ``overlap`` older events (a no-change re-run costs about one history request per
   device); the first run walks to the end, and so does the first run after a device gained a Ring Protect plan.
   Every event seen is stored (ids as strings, in batches); the watermark then moves forward;
3. asks the database, in one query, for the recordings due now (``pending``, or ``failed`` and due for a retry;
   kind/since/until filters apply in that query) and downloads them, oldest first, with bounded and adaptive
   concurrency: temp file -> validate (MP4) -> rename -> JSON sidecar -> ``media`` row + event ``done``. The
   recording URLs come from ``video_search/history`` (one request per batch of due recordings of a device,
   ``recording_urls``) while they are fresh; a missing, stale or refused one falls back to
   ``dings/{id}/share/play`` (one more request);
4. counts where the recordings of the synced devices stand (one grouped count) and checks that the database file
   is still the one it opened.

Outcomes of a recording: archived (``done``); not ready at Ring yet, retried until ``not_ready_deadline_s`` and then
left ``pending`` for the next run (``pending_retry_s``); failed (``max_attempts`` tries in this run) -> ``failed``,
retried on the next runs and later with a growing delay (``RetryPolicy``), and ``given_up`` after
``RetryPolicy.give_up_after`` failed runs (``retry_failed`` makes them due again); cameras without a Protect plan
-> ``no_media`` (they come back as ``pending`` when a later history read shows a recording).

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
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

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
from ringvault.archive.ids import fits_archive, unstorable_device_line
from ringvault.archive.layout import DeviceRef, MediaLayout, ensure_inside, slugify
from ringvault.archive.recording_urls import SearchUrls, SignedUrl, is_refusal
from ringvault.archive.sidecar import SidecarEvent, build_sidecar
from ringvault.archive.store import (
    AccountRecord,
    ArchiveFileChangedError,
    ArchiveStore,
    DeviceRecord,
    DueRecording,
    EventRecord,
    LocationRecord,
    MediaKind,
    MediaRecord,
    MediaStatus,
    SyncState,
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
from ringvault.transport.files import fsync_dir

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.models.events import HistoryItem
    from ringvault.transport import DownloadResult

__all__ = [
    "RING_EVENT_KINDS",
    "ArchiveDiskError",
    "ArchiveReplacedError",
    "FileProgress",
    "FileProgressCallback",
    "RetryPolicy",
    "SyncOptions",
    "SyncProgress",
    "SyncSummary",
    "run_sync",
]

log = logging.getLogger("ringvault.sync")

HISTORY_PAGE = 100
#: Archived recordings written to the database together (see ``_Recorder``), or after this many seconds.
RECORD_BATCH = 32
RECORD_DELAY_S = 1.0
#: The first history page of a device read before: a run with little new stops after it (fewer items to parse).
RESYNC_PAGE = 20
#: Events written to the database at once while a history is read (bounds memory on a first sync).
UPSERT_BATCH = 1000
#: At most this many recording tasks exist at once (the download limiter caps those actually downloading; the rest
#: wait for a turn or for Ring to prepare their recording): a sync of 50,000 recordings does not build 50,000 tasks.
ADMITTED_TASKS = 256
#: ``Ring``'s event kinds (ring-client-api's ``DingKind``; reference §5.2), spelled as Ring spells them.
RING_EVENT_KINDS = (
    "motion", "ding", "on_demand", "alarm", "on_demand_link", "door_activity", "key_access",
    "DELETED_FOOTAGE", "OFFLINE_FOOTAGE", "OFFLINE_MOTION",
)  # fmt: skip


class ArchiveDiskError(RingError):
    """The archive's disk refuses new files (full, over quota, read-only): the sync stops; nothing is marked failed."""

    hint = "Free space (or fix the mount) and run `ringvault sync` again: it continues with what is still pending."


class ArchiveReplacedError(RingError):
    """The archive database was deleted or replaced during the run: what the run stored went into the old file."""

    hint = (
        "Nothing this run stored is in the archive database now; run `ringvault sync` again (one sync per archive "
        "at a time, and do not move the database while it runs)."
    )


@dataclass(frozen=True)
class RetryPolicy:
    """When a recording that failed is tried again. The first ``immediate_runs`` failed runs in a row make it due on
    the very next run (the schedule of the runs already spaces them); after that it waits ``backoff_s``, doubling
    with every further failed run, at most ``backoff_max_s``; after ``give_up_after`` failed runs it is
    ``given_up``: reported by every run, no longer tried until ``SyncOptions.retry_failed``."""

    immediate_runs: int = 3
    backoff_s: float = 3600.0
    backoff_max_s: float = 86400.0
    give_up_after: int = 10

    def after_failure(self, failures: int, now: datetime) -> tuple[MediaStatus, datetime | None]:
        """The state and the next attempt of a recording that has now failed on ``failures`` runs in a row."""
        if failures >= self.give_up_after:
            return MediaStatus.GIVEN_UP, None
        if failures <= self.immediate_runs:
            return MediaStatus.FAILED, None
        delay = min(self.backoff_s * 2 ** (failures - self.immediate_runs - 1), self.backoff_max_s)
        return MediaStatus.FAILED, now + timedelta(seconds=delay)


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
    pending_retry_s: float = 0.0
    """A recording left ``pending`` is due again this long after the run (default ``0``: on the next run)."""
    not_ready_grace_s: float = 6 * 3600.0
    """A recording Ring still has not prepared this long after its event (Ring needs up to ~30 minutes) counts as
    a failed run (so a recording that never comes is eventually given up, not retried forever)."""
    overlap: int = 5
    """Events older than the watermark re-read on each run (catches late edits and ties)."""
    max_attempts: int = 3
    """Attempts per recording in one run for transient errors (truncated/invalid files, HTTP errors)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """When recordings that failed are tried again, and when they are given up."""
    retry_failed: bool = False
    """Before the run, make every ``given_up`` and ``failed`` recording of the chosen devices due now, with its
    failure count reset (``ringvault sync --retry-failed``)."""
    video_search: bool = True
    """Take recording URLs from ``video_search/history`` (one request per ``search_batch`` due recordings of a
    device) instead of one ``share/play`` request per recording; ``share/play`` stays the fallback."""
    search_batch: int = 100
    """Due recordings (consecutive in time, one device) covered by one ``video_search`` request."""
    history_concurrency: int = 4
    """Devices whose history is read at the same time."""
    layout: MediaLayout = field(default_factory=MediaLayout)
    exclude_ids: frozenset[str] = frozenset()
    """Ding ids whose recordings this run does not download (the seed-001 connector's "already held" list); their
    events are still stored and stay ``pending`` for a later run."""


@dataclass
class SyncSummary:
    """What a run did, and where the recordings of the synced devices stand after it.

    This run: ``new`` events seen for the first time, ``downloaded`` recordings (``bytes``; ``from_search`` of them
    through ``video_search`` URLs), ``failed_now`` recordings that failed in it (and will be retried),
    ``given_up_now`` that failed for the last time in it, ``retried`` given-up or failed recordings made due again
    by ``retry_failed``; in a dry run ``would_download``.

    After the run (the devices synced): ``already_archived`` recordings archived by earlier runs, ``pending`` not
    archived yet (not ready at Ring, not due yet, filtered out, ``metadata_only``), ``failed`` failed on their last
    attempt (in this run, or earlier and waiting for their retry: ``failed - failed_now``), ``given_up`` no longer
    retried (``given_up_notes`` lists them with their last error), ``no_media`` events without a recording (no
    Ring Protect plan)."""

    new: int = 0
    downloaded: int = 0
    already_archived: int = 0
    pending: int = 0
    failed: int = 0
    failed_now: int = 0
    given_up: int = 0
    given_up_now: int = 0
    retried: int = 0
    no_media: int = 0
    would_download: int = 0
    from_search: int = 0
    bytes: int = 0
    seconds: float = 0.0
    requests: int = 0
    devices: int = 0
    events_seen: int = 0
    errors: list[str] = field(default_factory=list)
    given_up_notes: list[str] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        """Whether the run leaves recordings failed (to be retried) or gave any up: a script should hear of it."""
        return self.failed > 0 or self.given_up_now > 0


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


@dataclass
class _Device:
    device: Any  # RingCamera | RingIntercom
    ref: DeviceRef
    has_media: bool


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _event_record(item: HistoryItem, location_id: str | None, has_media: bool) -> EventRecord | None:
    if item.id_str is None or item.created_at is None:
        return None
    cv = item.cv_properties
    # No plan now, or Ring says this event was not recorded under one: there is no recording to fetch.
    recorded = has_media and item.had_subscription is not False
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
        media_status=MediaStatus.PENDING if recorded else MediaStatus.NO_MEDIA,
    )


def _window(options: SyncOptions, device: DeviceRef) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` as UTC instants for ``device`` (naive ones are wall-clock times in its layout zone)."""
    since = options.layout.wall_clock_to_utc(device, options.since) if options.since is not None else None
    until = options.layout.wall_clock_to_utc(device, options.until) if options.until is not None else None
    return since, until


def _wanted(record: EventRecord, options: SyncOptions, device: DeviceRef) -> bool:
    """Whether a new event's recording would be downloaded by this run (the dry run's count)."""
    if record.id in options.exclude_ids or record.media_status is not MediaStatus.PENDING:
        return False
    if options.kinds and (record.kind or "") not in options.kinds:
        return False
    since, until = _window(options, device)
    created = _utc(record.created_at)
    return (since is None or created >= since) and (until is None or created < until)


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


def unknown_kinds(kinds: Iterable[str], store: ArchiveStore | None = None) -> list[str]:
    """The kinds in ``kinds`` that are neither Ring's (:data:`RING_EVENT_KINDS`, case as Ring spells them) nor
    already in the archive (a kind Ring added since); the archive is only asked when a kind is not Ring's."""
    unknown = [kind for kind in kinds if kind not in RING_EVENT_KINDS]
    if unknown and store is not None:
        present = store.event_kinds()
        unknown = [kind for kind in unknown if kind not in present]
    return unknown


def _device_record(device: Any, location_id: str, account_id: int | None) -> DeviceRecord:
    return DeviceRecord(
        id=device.id, family=device.family, kind=device.kind, name=device.name,
        location_id=device.location_id or location_id, account_id=account_id, model=device.model,
        slug=slugify(device.name, fallback="device"), raw=device.raw,
    )  # fmt: skip


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
    records: list[DeviceRecord] = []
    for location in locations:
        zone: str | None = None
        for device in location.all_devices:
            zone = zone or getattr(device.data, "time_zone", None)
        if not options.dry_run:
            store.upsert_location(
                LocationRecord(id=location.id, account_id=account_id, name=location.name, time_zone=zone)
            )
        for device in location.all_devices:
            if fits_archive(device.id):
                records.append(_device_record(device, location.id, account_id))
            elif notes is not None:
                notes.append(unstorable_device_line(device.name, device.id))
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
    if not options.dry_run:
        store.upsert_devices(records)
    return result


class _HistoryReader:
    """Reads one device's history newest first down to its watermark (+ ``overlap``), storing events in batches."""

    def __init__(
        self, dev: _Device, store: ArchiveStore, options: SyncOptions, summary: SyncSummary, state: SyncState | None
    ) -> None:
        self.dev, self.store, self.options, self.summary = dev, store, options, summary
        # A first run, or a device that gained a Protect plan since the last run: read everything (events stored as
        # no_media come back as pending where Ring now shows a recording).
        plan_appeared = dev.has_media and state is not None and state.has_recordings is False
        self.mark = (
            (_utc(state.newest_created_at), state.newest_event_id)
            if state is not None
            and state.newest_created_at is not None
            and state.newest_event_id is not None
            and not plan_appeared
            else None
        )
        self.batch: dict[str, EventRecord] = {}
        self.newest: EventRecord | None = None
        self.oldest: EventRecord | None = None

    async def read(self) -> None:
        dev, options = self.dev, self.options
        below_mark = 0
        cursor: str | None = None
        reached_end = False
        # With a watermark most runs find a handful of new events: a short first page, then full ones if needed.
        size = max(RESYNC_PAGE, options.overlap + 1) if self.mark is not None else HISTORY_PAGE
        while True:
            page = await dev.device.get_history(limit=size, older_than=cursor)
            for item in page:
                record = _event_record(item, dev.ref.location_id, dev.has_media)
                if record is None:
                    continue
                if self.mark is not None and (record.created_at, record.id) <= self.mark:
                    below_mark += 1
                    if below_mark > options.overlap:  # stored and refreshed by earlier runs already
                        continue
                self._add(record)
            if len(self.batch) >= UPSERT_BATCH:
                self._flush()
            last = page[-1].id_str if page else None
            if len(page) < size or last is None or last == cursor:
                reached_end = True
                break
            if self.mark is not None and below_mark >= options.overlap:
                break
            cursor, size = last, HISTORY_PAGE
        self._flush()
        if options.dry_run:
            return
        newest, oldest, whole = self.newest, self.oldest, reached_end or self.mark is None
        self.store.set_watermark(
            dev.device.id,
            newest_event_id=newest.id if newest is not None else None,
            newest_created_at=newest.created_at if newest is not None else None,
            oldest_event_id=oldest.id if oldest is not None and whole else None,
            oldest_created_at=oldest.created_at if oldest is not None and whole else None,
            full_scan=reached_end and self.mark is None,
            has_recordings=dev.has_media,
        )

    def _add(self, record: EventRecord) -> None:
        self.batch[record.id] = record
        self.summary.events_seen += 1
        key = (record.created_at, record.id)
        if self.newest is None or key > (self.newest.created_at, self.newest.id):
            self.newest = record
        if self.oldest is None or key < (self.oldest.created_at, self.oldest.id):
            self.oldest = record

    def _flush(self) -> None:
        records, self.batch = list(self.batch.values()), {}
        if not records:
            return
        if self.options.dry_run:
            known = self.store.existing_event_ids([r.id for r in records])
            unseen = [r for r in records if r.id not in known]
            self.summary.new += len(unseen)
            self.summary.would_download += sum(1 for r in unseen if _wanted(r, self.options, self.dev.ref))
            return
        self.summary.new += self.store.upsert_events(self.dev.device.id, records).new


async def _read_histories(
    devices: list[_Device],
    store: ArchiveStore,
    options: SyncOptions,
    summary: SyncSummary,
    report: Callable[[str, int, int, str], None],
) -> None:
    """Every device's history, ``history_concurrency`` devices at a time (one state query for all)."""
    states = store.sync_states([dev.device.id for dev in devices])
    slots = asyncio.Semaphore(max(1, options.history_concurrency))
    started = 0

    async def one(dev: _Device) -> None:
        nonlocal started
        async with slots:
            report("history", started, len(devices), dev.device.name or str(dev.device.id))
            started += 1
            try:
                await _HistoryReader(dev, store, options, summary, states.get(dev.device.id)).read()
            except (NotFoundError, ResponseFormatError) as exc:
                # A device without a history endpoint (e.g. an ONVIF camera): note it and go on with the others.
                name = dev.device.name or dev.device.id
                if isinstance(exc, NotFoundError) and dev.device.kind == "onvif_camera":
                    summary.errors.append(f"{name}: Ring keeps no event history for third-party (ONVIF) cameras")
                else:
                    summary.errors.append(f"history of {name}: {exc}")

    async with asyncio.TaskGroup() as group:
        for dev in devices:
            group.create_task(one(dev))
    report("history", len(devices), len(devices), "")


class _Committer:
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
    directory, and :class:`_Recorder` fsyncs the directories of a batch once, before its rows are written."""

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


async def _fetch_atomically(
    dest: Path,
    fetch: Callable[[Path], Awaitable[DownloadResult]],
    *,
    validate: ValidateOption = "auto",
    then: Callable[[WriteResult], object] | None = None,
    committer: _Committer | None = None,
) -> WriteResult:
    """:class:`AtomicFile` around ``fetch(temporary path)`` — a download that leaves the fsync to us and hashes the
    bytes on the way — ended by ``committer`` (the one fsync, validation, rename, then ``then(result)``: the sidecar
    in the same directory), on the loop or in a worker thread as the disk's speed asks. The directory itself is not
    fsynced: whoever records the file does that before relying on its name (:class:`_Recorder`)."""
    part = AtomicFile(dest, validate=validate)
    part.__enter__()
    try:
        downloaded = await fetch(part.path)
    except BaseException:
        part.abort()
        raise
    return await (committer or _Committer()).commit(part, downloaded.sha256, then)


class _Recorder:
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


class _Downloader:
    def __init__(
        self,
        store: ArchiveStore,
        archive_dir: Path,
        options: SyncOptions,
        summary: SyncSummary,
        file_progress: FileProgressCallback | None = None,
        inflight: _Inflight | None = None,
    ) -> None:
        self.store = store
        self.archive_dir = archive_dir
        self.inflight = inflight
        self.options = options
        self.summary = summary
        self.limiter = _Limiter(options.concurrency)
        self.file_progress = file_progress
        self.urls = SearchUrls(options.search_batch)
        self.recorder = _Recorder(store)
        self.committer = _Committer()
        self._dirs: dict[PurePosixPath, Path] = {}

    async def fetch(self, dev: _Device, event: DueRecording) -> None:
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

    def _name(self, dev: _Device, event: DueRecording) -> str:
        """What a progress display calls a recording: the device and the event's time as the file name shows it."""
        stamp = self.options.layout.local_time(dev.ref, event.created_at).strftime("%Y-%m-%d %H:%M:%S")
        return f"{dev.ref.name or dev.ref.device_id} {stamp}"

    async def _fetch(self, dev: _Device, event: DueRecording) -> bool:
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
                    self._failed(event, f"{type(exc).__name__}: {exc}")
                    return False
                await asyncio.sleep(min(0.2 * 2**attempts, 5.0))

    def _not_ready(self, event: DueRecording, exc: RecordingNotReadyError) -> None:
        """Not ready at the end of this run's wait: pending for the next run, or a failed run if Ring should have
        prepared it long ago."""
        age = (self.store.now() - _utc(event.created_at)).total_seconds()
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

    async def _download(self, dev: _Device, event: DueRecording, url: SignedUrl | None) -> None:
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
                written = await _fetch_atomically(
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
            written = await _fetch_atomically(
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
#: The directories the current (or a killed) run writes temporary files into; empty after a run that ended.
INFLIGHT_FILENAME = ".sync.inflight"


class _Inflight:
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


def _verify_database(store: ArchiveStore) -> None:
    try:
        store.verify_file()
    except ArchiveFileChangedError as exc:
        raise ArchiveReplacedError(str(exc)) from None


async def _download_all(
    due: list[tuple[_Device, DueRecording]],
    downloader: _Downloader,
    summary: SyncSummary,
    report: Callable[[str, int, int, str], None],
) -> None:
    """Download ``due`` in order: tasks are admitted ``ADMITTED_TASKS`` at a time, the limiter caps the downloads."""
    done = 0
    report("media", 0, len(due), "")
    downloader.urls.plan((dev.device, event) for dev, event in due if dev.has_media)
    admitted = asyncio.Semaphore(ADMITTED_TASKS)

    async def one(dev: _Device, event: DueRecording) -> None:
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


def _tally(store: ArchiveStore, devices: list[_Device], summary: SyncSummary) -> None:
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
                f"{_utc(record.created_at):%Y-%m-%d %H:%M} UTC, {record.kind or 'event'}): {record.media_last_error}"
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
        inflight = _Inflight(archive_dir)
        if not options.dry_run:
            inflight.clean_up(_media_roots(archive_dir, options.layout))
        devices = _select(await _collect_devices(api, store, options, summary.errors), options.devices)
        summary.devices = len(devices)
        ids = [dev.device.id for dev in devices]
        if options.retry_failed and not options.dry_run:
            summary.retried = store.retry_failed(ids)
        await _read_histories(devices, store, options, summary, report)

        windows = (
            {dev.device.id: _window(options, dev.ref) for dev in devices} if options.since or options.until else None
        )
        kinds = options.kinds or None
        if options.dry_run:
            media_ids = [dev.device.id for dev in devices if dev.has_media]
            summary.would_download += store.count_due(media_ids, kinds=kinds, windows=windows)
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
            downloader = _Downloader(store, archive_dir, options, summary, file_progress, inflight)
            try:
                await _download_all(due, downloader, summary, report)
            finally:  # every download has settled: its temporary files are renamed or removed
                with contextlib.suppress(OSError):  # (a disk that refuses this too: the next run cleans again)
                    inflight.reset()
        _verify_database(store)
        _tally(store, devices, summary)
        return summary
    finally:
        summary.seconds = time.monotonic() - started
        summary.requests = api.http.stats.requests - requests_before
