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

The package, by concern: ``options`` (what is asked and reported), ``history`` (devices and their histories),
``download`` (recordings, files and rows), ``run`` (one run from start to end).
"""

from ringvault.archive.sync.download import INFLIGHT_FILENAME
from ringvault.archive.sync.options import (
    RING_EVENT_KINDS,
    ArchiveDiskError,
    ArchiveReplacedError,
    FileProgress,
    FileProgressCallback,
    ProgressCallback,
    RetryPolicy,
    SyncOptions,
    SyncProgress,
    SyncSummary,
    unknown_kinds,
)
from ringvault.archive.sync.run import LOCK_FILENAME, run_sync

__all__ = [
    "INFLIGHT_FILENAME",
    "LOCK_FILENAME",
    "RING_EVENT_KINDS",
    "ArchiveDiskError",
    "ArchiveReplacedError",
    "FileProgress",
    "FileProgressCallback",
    "ProgressCallback",
    "RetryPolicy",
    "SyncOptions",
    "SyncProgress",
    "SyncSummary",
    "run_sync",
    "unknown_kinds",
]
