"""Following events into the archive (``ringvault watch --archive``): each event a camera reports is archived by the
sync engine itself, limited to that camera, so a watched event ends up as exactly the rows and files ``sync`` writes.

Why through ``run_sync`` and not a download of its own: the sync already stores history items as event rows (ids as
strings, upserted, so a second delivery is no second row), downloads through a temporary file that is validated and
renamed (a SIGKILL leaves no partial file, and the next run removes the temporary one), waits with backoff while Ring
prepares a recording (``not_ready_deadline_s``) and leaves it ``pending`` for the next sync when it never comes, and
holds the archive's lock so a cron ``sync`` and ``watch`` never race on one recording. A pushed event only says which
camera to read: its history (down to the archive's watermark, one request when little is new) brings the event.

The same run is the catch-up: at start it reads every camera's history since the newest event the archive holds, so
what happened while nothing was watching is archived too; ``catch_up()`` does it again (after a reconnect).
``ringvault.archive.follow.EventWatch`` wires it to the notifications.

``changed`` hears of each recording a pass settled (``RecordingChange``: archived, left pending, or failed), read
back from the archive after the pass, so it says what the archive now holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ringvault.archive.sync import FileProgress, SyncOptions, SyncSummary, run_sync

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.cloud.api import RingApi

log = logging.getLogger(__name__)

#: How long one pass waits for Ring to prepare a recording before leaving it ``pending`` for the next ``sync``.
WATCH_NOT_READY_DEADLINE_S = 120.0
#: First wait between "not ready yet" retries (doubles, at most ``WATCH_NOT_READY_BACKOFF_MAX_S``).
WATCH_NOT_READY_BACKOFF_S = 1.0
#: Longest wait between those retries: a recording is archived at most this long after Ring has it (issue 12: within
#: the recording delay plus 5 s). The sync's 30 s fetched a recording ready at 20 s only at 31 s (bench/push_watch.py).
WATCH_NOT_READY_BACKOFF_MAX_S = 4.0
#: After a failed pass, wait this long before the next (an outage does not become a tight loop of requests); the
#: pause doubles with each failure in a row, up to ``RETRY_PAUSE_MAX_S``.
RETRY_PAUSE_S = 5.0
RETRY_PAUSE_MAX_S = 120.0


def watch_options(
    not_ready_deadline_s: float = WATCH_NOT_READY_DEADLINE_S, kinds: list[str] | None = None
) -> SyncOptions:
    """The sync options of a watch pass: the cameras only (no hubs), quick first retries while Ring prepares a
    recording, and ``not_ready_deadline_s`` before it is left ``pending``. ``kinds``: download only the recordings
    of these history kinds (every event is still stored, as ``sync --kind`` does)."""
    return SyncOptions(
        hub=False,
        not_ready_deadline_s=not_ready_deadline_s,
        not_ready_backoff_s=WATCH_NOT_READY_BACKOFF_S,
        not_ready_backoff_max_s=WATCH_NOT_READY_BACKOFF_MAX_S,
        kinds=kinds or None,
    )


@dataclass
class FollowReport:
    """What one pass did: the devices it read (None: all) and the sync's summary (None when it failed: ``error``)."""

    devices: list[str] | None
    summary: SyncSummary | None
    error: str | None = None


@dataclass(frozen=True)
class RecordingChange:
    """A recording a pass settled: its event, camera and kind, and the archive's ``media_status`` after the pass
    (``done``: archived and verified; ``pending``: Ring has not prepared it yet, ``sync`` gets it later; ``failed``:
    retried later)."""

    event_id: str
    device_id: int | None
    kind: str | None
    status: str
    created_at: datetime | None


@dataclass
class ArchiveFollower:
    """Archives the events of the cameras it is told about, one sync pass at a time.

    ``notify(device_id)`` marks a camera as having news; the running ``run()`` loop then syncs the cameras marked
    since its last pass (events that arrive during a pass are gathered for the next one, so 20 dings across 4
    cameras cost a few passes, not 20). ``catch_up()`` asks for a pass over every watched camera."""

    api: RingApi
    store: ArchiveStore
    archive_dir: Path
    options: SyncOptions = field(default_factory=lambda: watch_options())
    devices: list[str] | None = None
    """The watched cameras (ids as strings; None: every camera, doorbell and intercom)."""
    report: Callable[[FollowReport], None] | None = None
    changed: Callable[[RecordingChange], None] | None = None
    """Called with each recording a pass settled (see ``RecordingChange``)."""
    _failures: int = 0
    _dirty: set[str] = field(default_factory=set)
    _all: bool = True
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.options = replace(self.options, hub=False)
        self._wake.set()  # the first pass is the catch-up

    def notify(self, device_id: int | str) -> None:
        key = str(device_id)
        if self.devices is not None and key not in self.devices:
            return
        self._dirty.add(key)
        self._wake.set()

    def catch_up(self) -> None:
        self._all = True
        self._wake.set()

    async def run(self) -> None:
        """Pass after pass until cancelled. A cancellation during a pass leaves its unfinished recordings
        ``pending`` (the sync's temporary files are removed, or by the next run)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            chosen = self.devices if self._all else sorted(self._dirty)
            self._all = False
            self._dirty.clear()
            if chosen is not None and not chosen:
                continue
            await self._pass(chosen)

    async def _pass(self, devices: list[str] | None) -> None:
        options = replace(self.options, devices=list(devices) if devices is not None else None)
        settled: list[str] = []

        def progress(file: FileProgress) -> None:
            if file.finished:
                settled.append(file.event_id)

        try:
            summary = await run_sync(self.api, self.store, self.archive_dir, options, file_progress=progress)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one pass failing (Ring down, a 5xx) must not end the watch
            pause = min(RETRY_PAUSE_S * 2**self._failures, RETRY_PAUSE_MAX_S)
            self._failures += 1
            if self._failures == 1:  # said once; the next success says it works again
                log.warning("archiving failed (%s); trying again in %.0f s", type(exc).__name__, pause)
            self._tell(settled)
            if self.report is not None:
                self.report(FollowReport(devices, None, f"{type(exc).__name__}: {exc}"))
            # mark the same cameras again, and retry after a pause
            if devices is None:
                self._all = True
            else:
                self._dirty.update(devices)
            await asyncio.sleep(pause)
            self._wake.set()
            return
        if self._failures:
            log.info("archiving works again after %d failed pass(es)", self._failures)
            self._failures = 0
        self._tell(settled)
        if self.report is not None:
            self.report(FollowReport(devices, summary))

    def _tell(self, event_ids: list[str]) -> None:
        """Hand each settled recording, as the archive now has it, to ``changed``."""
        if self.changed is None:
            return
        for event_id in dict.fromkeys(event_ids):
            try:
                stored = self.store.get_event(event_id)
                if stored is None:
                    continue
                self.changed(
                    RecordingChange(
                        event_id=stored.id, device_id=stored.device_id, kind=stored.kind,
                        status=str(stored.media_status),
                        created_at=stored.created_at,
                    )
                )  # fmt: skip
            except Exception:  # a listener's failure is not the archive's
                log.exception("reporting the recording of event %s failed", event_id)
