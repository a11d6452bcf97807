"""The recordings a sync left behind — ``pending``, ``failed``, ``given_up`` — for the web UI's Sync page: how many
of each (one grouped count) and a keyset page of one state with the reason, newest first.

Functions over an :class:`~ringvault.archive.store.ArchiveStore` (a module of its own rather than more methods of
``store.py``, so that pages of the UI add queries without touching the store every other part uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select

from ringvault.archive.store.models import Device, Event
from ringvault.archive.store.records import MediaStatus
from ringvault.archive.store.rows import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = ["LEFT_BEHIND", "LeftBehind", "LeftBehindPage", "left_behind_counts", "left_behind_page"]

#: the states of a recording that is not in the archive but could still be (or was once expected to be)
LEFT_BEHIND: tuple[MediaStatus, ...] = (MediaStatus.PENDING, MediaStatus.FAILED, MediaStatus.GIVEN_UP)


@dataclass(frozen=True, slots=True)
class LeftBehind:
    """One event whose recording is not archived: where it stands and why (``last_error``), how often it was tried
    (``attempts``; ``failures``: failed runs in a row) and when the next run may try it (``next_attempt_at``;
    ``None``: the next run)."""

    event_id: str
    device_id: int
    device_name: str | None
    kind: str | None
    created_at: datetime
    status: MediaStatus
    attempts: int
    failures: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class LeftBehindPage:
    items: list[LeftBehind]
    #: the cursor of the next page (None on the last one)
    next_cursor: str | None


def left_behind_counts(store: ArchiveStore) -> dict[MediaStatus, int]:
    """Events per left-behind state, counted in SQL (one ``GROUP BY`` on the ``media_status`` index); every state
    present, 0 when none."""
    stmt = (
        select(Event.media_status, func.count())
        .where(Event.media_status.in_([s.value for s in LEFT_BEHIND]))
        .group_by(Event.media_status)
    )
    counts = dict.fromkeys(LEFT_BEHIND, 0)
    with store._reading() as connection:
        for status, count in connection.execute(stmt):
            counts[MediaStatus(status)] = int(count)
    return counts


def left_behind_page(
    store: ArchiveStore, status: MediaStatus | str, *, limit: int = 50, cursor: str | None = None
) -> LeftBehindPage:
    """The events whose recording is in ``status``, newest first, ``limit`` at a time (keyset on (created_at, id):
    a page never shifts while a sync adds events). Raises ``InvalidCursorError`` for a cursor it did not make, and
    ``ValueError`` for a status that is not left behind."""
    state = MediaStatus(status)
    if state not in LEFT_BEHIND:
        raise ValueError(f"{state.value!r} recordings are not left behind")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    stmt = (
        select(
            Event.id, Event.device_id, Device.name, Event.kind, Event.created_at, Event.media_status,
            Event.media_attempts, Event.media_failures, Event.media_next_attempt_at, Event.media_last_error,
        )
        .join(Device, Device.id == Event.device_id, isouter=True)
        .where(Event.media_status == state.value)
    )  # fmt: skip
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Event.created_at < at, and_(Event.created_at == at, Event.id < last_id)))
    stmt = stmt.order_by(Event.created_at.desc(), Event.id.desc()).limit(limit + 1)
    with store._reading() as connection:
        rows = connection.execute(stmt).all()
    items = [
        LeftBehind(
            event_id=row.id, device_id=row.device_id, device_name=row.name, kind=row.kind,
            created_at=row.created_at, status=MediaStatus(row.media_status), attempts=int(row.media_attempts or 0),
            failures=int(row.media_failures or 0), next_attempt_at=row.media_next_attempt_at,
            last_error=row.media_last_error,
        )
        for row in rows[:limit]
    ]  # fmt: skip
    next_cursor = encode_cursor(items[-1].created_at, items[-1].event_id) if len(rows) > limit else None
    return LeftBehindPage(items=items, next_cursor=next_cursor)
