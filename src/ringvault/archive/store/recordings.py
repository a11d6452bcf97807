"""What a sync fetches, and where the recordings stand: the due recordings in one indexed query, counts per
state, failed and given-up recordings, and making them due again. A mixin of :class:`ArchiveStore`."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ringvault.archive.store.models import Event
from ringvault.archive.store.records import DueRecording, MediaStatus, PendingMedia
from ringvault.archive.store.rows import DUE_COLUMNS, DUE_STATUSES, due_out


class RecordingQueue:
    """The recording queue of :class:`ArchiveStore` (the methods use its sessions and clock)."""

    if TYPE_CHECKING:
        _clock: Callable[[], datetime]

        def _reading(self) -> AbstractContextManager[Connection]: ...
        def _read(self) -> AbstractContextManager[Session]: ...
        def _write(self) -> AbstractContextManager[Session]: ...

    # -- what a sync fetches, and where the recordings stand -------------------------------------------------

    def _due_query(
        self,
        columns: Sequence[Any],
        device_ids: Collection[int] | None,
        now: datetime,
        kinds: Collection[str] | None,
        windows: Mapping[int, tuple[datetime | None, datetime | None]] | None,
    ) -> Select[Any]:
        """``SELECT columns`` of the events whose recording is due at ``now`` (``pending`` or ``failed``, next
        attempt passed or unset), of ``device_ids``, of ``kinds``, inside each device's ``windows`` [since,
        until) (a device missing from ``windows`` is left out). The conditions run in the database on the
        ``media_status`` indexes: the cost follows the number of recordings not archived yet (in the window),
        never the archive's size."""
        due = Event.media_status.in_(DUE_STATUSES)
        stmt = select(*columns).where(or_(Event.media_next_attempt_at.is_(None), Event.media_next_attempt_at <= now))
        if kinds is not None:
            stmt = stmt.where(Event.kind.in_(list(kinds)))
        if not windows:
            stmt = stmt.where(due)
            if device_ids is not None:
                stmt = stmt.where(Event.device_id.in_(list(device_ids)))
            return stmt
        # One arm per device, each a range on the (device_id, media_status, created_at) index.
        arms: list[ColumnElement[bool]] = []
        for device, (since, until) in windows.items():
            if device_ids is not None and device not in device_ids:
                continue
            bounds: list[ColumnElement[bool]] = [Event.device_id == device, due]
            if since is not None:
                bounds.append(Event.created_at >= since)
            if until is not None:
                bounds.append(Event.created_at < until)
            arms.append(and_(*bounds))
        return stmt.where(or_(*arms) if arms else false())

    def due_recordings(
        self,
        device_ids: Collection[int] | None = None,
        *,
        now: datetime | None = None,
        kinds: Collection[str] | None = None,
        windows: Mapping[int, tuple[datetime | None, datetime | None]] | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[DueRecording]:
        """The recordings a sync should fetch now, in one query (see :meth:`_due_query`), oldest first (or newest
        first), with what the download, its file name and its sidecar need."""
        stmt = self._due_query(DUE_COLUMNS, device_ids, now or self._clock(), kinds, windows)
        order = (Event.created_at.desc(), Event.id.desc()) if newest_first else (Event.created_at, Event.id)
        stmt = stmt.order_by(*order)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._reading() as connection:
            return [due_out(row) for row in connection.execute(stmt)]

    def count_due(
        self,
        device_ids: Collection[int] | None = None,
        *,
        now: datetime | None = None,
        kinds: Collection[str] | None = None,
        windows: Mapping[int, tuple[datetime | None, datetime | None]] | None = None,
    ) -> int:
        """How many recordings :meth:`due_recordings` would return (one ``COUNT``)."""
        stmt = self._due_query((func.count(),), device_ids, now or self._clock(), kinds, windows)
        with self._reading() as connection:
            return int(connection.execute(stmt).scalar_one())

    def media_state_counts(self, device_ids: Collection[int] | None = None) -> dict[MediaStatus, int]:
        """Events per ``media_status`` (of ``device_ids``, or all): one grouped count on the (device,
        media_status) index."""
        stmt = select(Event.media_status, func.count()).group_by(Event.media_status)
        if device_ids is not None:
            stmt = stmt.where(Event.device_id.in_(list(device_ids)))
        counts = dict.fromkeys(MediaStatus, 0)
        with self._reading() as connection:
            for status, count in connection.execute(stmt):
                counts[MediaStatus(status)] = int(count)
        return counts

    def failed_recordings(
        self,
        device_ids: Collection[int] | None = None,
        *,
        statuses: Collection[MediaStatus] = (MediaStatus.GIVEN_UP,),
        limit: int = 10,
    ) -> list[DueRecording]:
        """Recordings in ``statuses`` (default: given up), oldest first, with their last error (``limit`` rows)."""
        stmt = select(*DUE_COLUMNS).where(Event.media_status.in_([MediaStatus(s).value for s in statuses]))
        if device_ids is not None:
            stmt = stmt.where(Event.device_id.in_(list(device_ids)))
        stmt = stmt.order_by(Event.created_at, Event.id).limit(limit)
        with self._reading() as connection:
            return [due_out(row) for row in connection.execute(stmt)]

    def retry_failed(self, device_ids: Collection[int] | None = None) -> int:
        """Make every ``given_up`` or ``failed`` recording (of ``device_ids``, or all) due now, with its failure
        count reset (``ringvault sync --retry-failed``); returns how many."""
        stmt = update(Event).where(Event.media_status.in_((MediaStatus.GIVEN_UP.value, MediaStatus.FAILED.value)))
        if device_ids is not None:
            stmt = stmt.where(Event.device_id.in_(list(device_ids)))
        stmt = stmt.values(
            media_status=MediaStatus.PENDING.value, media_failures=0, media_next_attempt_at=None,
            updated_at=self._clock(),
        ).execution_options(synchronize_session=False)  # fmt: skip
        with self._write() as session:
            return int(getattr(session.execute(stmt), "rowcount", 0) or 0)

    def events_needing_media(
        self, device_id: int | None = None, now: datetime | None = None, limit: int | None = None
    ) -> list[PendingMedia]:
        """Events whose recording is due at ``now`` (default: the clock): ``pending`` or ``failed`` with the next
        attempt passed or unset, oldest first."""
        now = now or self._clock()
        stmt = self._due_query(
            (
                Event.id, Event.device_id, Event.created_at, Event.media_attempts, Event.media_next_attempt_at,
                Event.media_last_error,
            ),
            None if device_id is None else [device_id], now, None, None,
        )  # fmt: skip
        stmt = stmt.order_by(Event.created_at, Event.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as session:
            return [
                PendingMedia(
                    event_id=row.id,
                    device_id=row.device_id,
                    created_at=row.created_at,
                    attempts=row.media_attempts,
                    next_attempt_at=row.media_next_attempt_at,
                    last_error=row.media_last_error,
                )
                for row in session.execute(stmt)
            ]
