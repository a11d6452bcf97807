"""What a sync is asked to do and what it reports: options, the retry policy of failed recordings, the summary,
progress reports, Ring's event kinds and the errors that end a run."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ringvault.archive.layout import DeviceRef, MediaLayout
from ringvault.archive.store import ArchiveStore, EventRecord, MediaStatus
from ringvault.cloud.errors import RingError

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
    """First wait between not-ready retries (doubles, at most ``not_ready_backoff_max_s``)."""
    not_ready_backoff_max_s: float = 30.0
    """Longest wait between not-ready retries: how late, at most, a recording is fetched after Ring has it."""
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
    hub: bool = True
    """Also keep, for every location with an alarm base station or a lighting bridge, the device list of its hubs
    and its ``rs/history`` (``ringvault sync --no-hub`` turns it off). A run limited to some ``devices`` leaves it
    out: it syncs those cameras only."""
    hub_history_days: float | None = 90.0
    """How far back the first read of a location's ``rs/history`` goes, in days (None: all Ring keeps). Later runs
    read what is new since."""
    hub_timeout_s: float = 20.0
    """How long a location's hubs have to answer the device list before the run notes the hub as failed."""
    hub_page_size: int = 50
    """Items of ``rs/history`` per request (ring-client-api's default)."""
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
    hub_locations: int = 0
    """Locations with an alarm base station or a lighting bridge (their hubs were read unless ``hub_failures``)."""
    hub_devices: int = 0
    """Devices the hubs listed in this run; ``hub_devices_new`` of them new to the archive."""
    hub_devices_new: int = 0
    hub_devices_removed: int = 0
    """Devices stored before that the hubs no longer list (kept, marked ``removed_at``)."""
    hub_history_new: int = 0
    """``rs/history`` items stored for the first time (``hub_history_seen``: items read, held ones included)."""
    hub_history_seen: int = 0
    hub_failures: list[str] = field(default_factory=list)
    """One line per hub device list or history that could not be read (the next run catches up)."""

    @property
    def incomplete(self) -> bool:
        """Whether the run leaves recordings failed (to be retried), gave any up, or could not read a hub: a script
        should hear of it."""
        return self.failed > 0 or self.given_up_now > 0 or bool(self.hub_failures)


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


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def download_window(options: SyncOptions, device: DeviceRef) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` as UTC instants for ``device`` (naive ones are wall-clock times in its layout zone)."""
    since = options.layout.wall_clock_to_utc(device, options.since) if options.since is not None else None
    until = options.layout.wall_clock_to_utc(device, options.until) if options.until is not None else None
    return since, until


def wanted(record: EventRecord, options: SyncOptions, device: DeviceRef) -> bool:
    """Whether a new event's recording would be downloaded by this run (the dry run's count)."""
    if record.id in options.exclude_ids or record.media_status is not MediaStatus.PENDING:
        return False
    if options.kinds and (record.kind or "") not in options.kinds:
        return False
    since, until = download_window(options, device)
    created = utc(record.created_at)
    return (since is None or created >= since) and (until is None or created < until)


def unknown_kinds(kinds: Iterable[str], store: ArchiveStore | None = None) -> list[str]:
    """The kinds in ``kinds`` that are neither Ring's (:data:`RING_EVENT_KINDS`, case as Ring spells them) nor
    already in the archive (a kind Ring added since); the archive is only asked when a kind is not Ring's."""
    unknown = [kind for kind in kinds if kind not in RING_EVENT_KINDS]
    if unknown and store is not None:
        present = store.event_kinds()
        unknown = [kind for kind in unknown if kind not in present]
    return unknown
