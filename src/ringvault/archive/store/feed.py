"""The live feed's messages (``event_feed``): what ``GET /api/events/stream`` sent, kept so that a client resumes.

Each message gets the next id of the table (``AUTOINCREMENT`` on SQLite, a sequence on PostgreSQL): ids only grow,
also across server restarts, so a client's ``Last-Event-ID`` means the same message after a restart. Retention is
bounded: the newest :data:`KEEP_MESSAGES` rows, none older than :data:`KEEP_AGE` — but the newest row is never
pruned, so the table always knows the last id it gave out and can tell an id it never gave from one it pruned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select

from ringvault.archive.store.models import EventFeedRow

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = ["KEEP_AGE", "KEEP_MESSAGES", "FeedMessage", "FeedResume", "FeedStore"]

KEEP_MESSAGES = 10_000
KEEP_AGE = timedelta(days=7)
#: prune once per this many appends (a delete per message would double the writes)
PRUNE_EVERY = 100


@dataclass(frozen=True)
class FeedMessage:
    """One message: its id (the stream's ``id:``), its SSE event name, its JSON text and when it was written."""

    id: int
    kind: str
    data: str
    created_at: datetime


@dataclass(frozen=True)
class FeedResume:
    """What a client that last saw ``last_id`` missed: ``messages`` (oldest first); ``known`` is False when the
    feed cannot say (an id it never gave out, or one whose followers were pruned): the client gets nothing old and
    is told so. ``newest``: the newest id now (0: none yet); ``after``: the id asked about."""

    messages: list[FeedMessage]
    known: bool
    newest: int
    after: int = 0


def _out(row: EventFeedRow) -> FeedMessage:
    return FeedMessage(id=row.id, kind=row.kind, data=row.data, created_at=row.created_at)


class FeedStore:
    """``store.feed``: append, read after an id, prune."""

    def __init__(self, store: ArchiveStore, *, keep: int = KEEP_MESSAGES, keep_age: timedelta = KEEP_AGE) -> None:
        self.store = store
        self.keep = keep
        self.keep_age = keep_age
        self._appends = 0

    def append(self, kind: str, data: str) -> FeedMessage:
        """Store one message; its id is the next of the table."""
        with self.store._write() as session:
            row = EventFeedRow(kind=kind, data=data, created_at=self.store.now())
            session.add(row)
            session.flush()
            message = _out(row)
        self._appends += 1
        if self._appends % PRUNE_EVERY == 0:
            self.prune()
        return message

    def bounds(self) -> tuple[int, int]:
        """The oldest and newest ids kept (0, 0 when nothing was ever written)."""
        with self.store._read() as session:
            oldest, newest = session.execute(select(func.min(EventFeedRow.id), func.max(EventFeedRow.id))).one()
        return int(oldest or 0), int(newest or 0)

    def after(self, last_id: int, limit: int = KEEP_MESSAGES) -> list[FeedMessage]:
        """The messages after ``last_id``, oldest first (at most ``limit``)."""
        with self.store._read() as session:
            rows = session.scalars(
                select(EventFeedRow).where(EventFeedRow.id > last_id).order_by(EventFeedRow.id).limit(limit)
            ).all()
            return [_out(row) for row in rows]

    def resume(self, last_id: int, limit: int = KEEP_MESSAGES) -> FeedResume:
        """What a client that last saw ``last_id`` missed (the first ``limit`` messages; ``after`` reads on), or
        ``known=False`` when that id is not one this feed can resume from: newer than anything it gave out (another
        archive's), or older than what it still keeps."""
        oldest, newest = self.bounds()
        if last_id > newest or (newest and last_id < oldest - 1) or last_id < 0:
            return FeedResume([], False, newest, last_id)
        return FeedResume(self.after(last_id, limit), True, newest, last_id)

    def prune(self) -> int:
        """Drop the rows beyond the newest ``keep`` or older than ``keep_age`` (never the newest row); how many."""
        _, newest = self.bounds()
        if not newest:
            return 0
        cutoff = self.store.now() - self.keep_age
        with self.store._write() as session:
            result = session.execute(
                delete(EventFeedRow).where(
                    EventFeedRow.id < newest,
                    or_(EventFeedRow.id <= newest - self.keep, EventFeedRow.created_at < cutoff),
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)
