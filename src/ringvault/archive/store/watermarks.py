"""Where each device's sync stands: the newest and oldest events reached, the last run and full scan, whether the
device has a Ring Protect plan. A mixin of :class:`ArchiveStore`."""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from ringvault.archive.store.models import SyncStateRow
from ringvault.archive.store.records import SyncState
from ringvault.archive.store.rows import aware_utc, sync_out


class SyncStates:
    """The per-device sync state of :class:`ArchiveStore` (the methods use its sessions, clock and inserts)."""

    if TYPE_CHECKING:
        _clock: Callable[[], datetime]

        def _read(self) -> AbstractContextManager[Session]: ...
        def _write(self) -> AbstractContextManager[Session]: ...
        def _insert(self, table: Table) -> Any: ...

    # -- sync state per device -----------------------------------------------------------------------------------------

    def get_sync_state(self, device_id: int) -> SyncState | None:
        """The sync progress of a device (``None`` before its first sync)."""
        with self._read() as session:
            row = session.get(SyncStateRow, device_id)
            return None if row is None else sync_out(row)

    def sync_states(self, device_ids: Collection[int]) -> dict[int, SyncState]:
        """The sync progress of several devices in one query (devices never synced are left out)."""
        with self._read() as session:
            rows = session.scalars(select(SyncStateRow).where(SyncStateRow.device_id.in_(list(device_ids))))
            return {row.device_id: sync_out(row) for row in rows}

    def set_watermark(
        self,
        device_id: int,
        *,
        newest_event_id: str | None = None,
        newest_created_at: datetime | None = None,
        oldest_event_id: str | None = None,
        oldest_created_at: datetime | None = None,
        synced_at: datetime | None = None,
        full_scan: bool = False,
        has_recordings: bool | None = None,
    ) -> SyncState:
        """Advance a device's sync state: the newest event only moves forward in time, the oldest reached only
        backward (a stale or partial run never loses progress). ``last_sync_at`` becomes ``synced_at`` (default
        now), and ``last_full_scan_at`` too when ``full_scan``; ``has_recordings`` (when given) notes whether the
        device has a Ring Protect plan. Returns the new state."""
        if (newest_event_id is None) != (newest_created_at is None):
            raise ValueError("newest_event_id and newest_created_at go together")
        if (oldest_event_id is None) != (oldest_created_at is None):
            raise ValueError("oldest_event_id and oldest_created_at go together")
        at = aware_utc(synced_at or self._clock())
        newest_created_at = aware_utc(newest_created_at) if newest_created_at is not None else None
        oldest_created_at = aware_utc(oldest_created_at) if oldest_created_at is not None else None
        table = SyncStateRow.__table__
        assert isinstance(table, Table)
        with self._write() as session:
            # The row first (a no-op when it exists), then lock it: two first syncs of a device at once (two
            # processes on PostgreSQL, where nothing serialises writers) must not both insert it.
            session.execute(self._insert(table).values(device_id=device_id).on_conflict_do_nothing())
            row = session.get(SyncStateRow, device_id, with_for_update=True)
            assert row is not None
            if newest_event_id is not None and newest_created_at is not None:
                current = (row.newest_created_at, row.newest_event_id or "")
                if row.newest_created_at is None or (newest_created_at, newest_event_id) > current:
                    row.newest_event_id, row.newest_created_at = newest_event_id, newest_created_at
            if oldest_event_id is not None and oldest_created_at is not None:
                current = (row.oldest_created_at, row.oldest_event_id or "")
                if row.oldest_created_at is None or (oldest_created_at, oldest_event_id) < current:
                    row.oldest_event_id, row.oldest_created_at = oldest_event_id, oldest_created_at
            row.last_sync_at = at
            if full_scan:
                row.last_full_scan_at = at
            if has_recordings is not None:
                row.has_recordings = has_recordings
            session.flush()
            return sync_out(row)
