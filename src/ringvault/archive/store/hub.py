"""The Ring Alarm and Smart Lighting part of the archive: the devices a location's hubs list (``hub_devices``), the
items of its ``rs/history`` (``hub_history``) and how far a sync has read them (``hub_sync_state``).

Writes are idempotent like the rest of the store: devices are upserted by (location, ``zid``), history items
inserted with ``ON CONFLICT DO NOTHING`` on (location, item key), so a re-read page (``rs/history`` pages by offset,
and a page shifts when new items arrive) never duplicates an item. Devices the hubs no longer list stay, marked
``removed_at``. Reads page by keyset like ``query_events``: newest first by (``event_ms``, ``id``) for the history,
by ``id`` for the devices.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select, update

from ringvault.archive.store.hub_records import (
    HubDeviceChanges,
    HubDevicePage,
    HubDeviceRecord,
    HubHistoryPage,
    HubHistoryRecord,
    HubSyncState,
    StoredHubDevice,
    StoredHubHistory,
    decode_hub_cursor,
    encode_hub_cursor,
    storable,
    storable_json,
)
from ringvault.archive.store.models import HubDevice, HubHistoryItem, HubSyncStateRow

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = ["HubStore"]

_DEVICES: Table = HubDevice.__table__  # type: ignore[assignment]
_HISTORY: Table = HubHistoryItem.__table__  # type: ignore[assignment]
_STATE: Table = HubSyncStateRow.__table__  # type: ignore[assignment]
#: rows per statement (bound parameters stay far below SQLite's and PostgreSQL's limits)
_CHUNK = 500


def _device_out(row: Any) -> StoredHubDevice:
    return StoredHubDevice(
        id=row.id, location_id=row.location_id, zid=row.zid, asset_uuid=row.asset_uuid, name=row.name,
        device_type=row.device_type, kind=row.kind, type_label=row.type_label, category_id=row.category_id,
        data=row.data, first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at, removed_at=row.removed_at,
    )  # fmt: skip


def _history_out(row: Any) -> StoredHubHistory:
    return StoredHubHistory(
        id=row.id, location_id=row.location_id, category=row.category, item_key=row.item_key,
        event_ms=row.event_ms, time_source=row.time_source, datatype=row.datatype, zid=row.zid,
        impulse_types=row.impulse_types, raw=row.raw, first_seen_at=row.first_seen_at,
    )  # fmt: skip


def _state_out(row: Any) -> HubSyncState:
    return HubSyncState(
        location_id=row.location_id, category=row.category, complete_at=row.complete_at, through_ms=row.through_ms,
        last_sync_at=row.last_sync_at, last_error=row.last_error,
    )  # fmt: skip


def _device_values(location_id: str, record: HubDeviceRecord, now: datetime) -> dict[str, Any]:
    def text(value: str | None) -> str | None:
        return storable(value) if value is not None else None

    category = record.category_id if record.category_id is not None and -(2**63) <= record.category_id < 2**63 else None
    return {
        "location_id": location_id, "zid": storable(record.zid), "asset_uuid": text(record.asset_uuid),
        "name": text(record.name), "device_type": text(record.device_type), "kind": text(record.kind),
        "type_label": text(record.type_label), "category_id": category,
        "data": storable_json(record.data) if record.data is not None else None,
        "first_seen_at": now, "last_seen_at": now, "removed_at": None,
    }  # fmt: skip


class HubStore:
    """Typed access to the hub tables of an :class:`ArchiveStore` (``store.hub``)."""

    def __init__(self, store: ArchiveStore) -> None:
        self._store = store

    # -- devices ---------------------------------------------------------------------------------------------

    def upsert_devices(
        self, location_id: str, records: Sequence[HubDeviceRecord], *, complete: bool = True
    ) -> HubDeviceChanges:
        """Store a location's device list: new devices inserted, known ones refreshed (``last_seen_at`` now, a
        ``removed_at`` cleared). With ``complete`` (every hub of the location answered) the location's devices
        missing from ``records`` are marked ``removed_at`` now (kept, never deleted). One transaction."""
        now = self._store.now()
        by_zid = {storable(record.zid): record for record in records}  # one statement touches a row once
        rows = [_device_values(location_id, record, now) for record in by_zid.values()]
        with self._store._writing() as conn:
            existing = {
                row.zid: row
                for row in conn.execute(
                    select(_DEVICES.c.id, _DEVICES.c.zid, _DEVICES.c.removed_at).where(
                        _DEVICES.c.location_id == location_id
                    )
                )
            }
            for start in range(0, len(rows), _CHUNK):
                stmt = self._store._insert(_DEVICES)
                replaced = ("asset_uuid", "name", "device_type", "kind", "type_label", "category_id", "data")
                set_: dict[str, Any] = {name: func.coalesce(stmt.excluded[name], _DEVICES.c[name]) for name in replaced}
                set_.update(last_seen_at=stmt.excluded.last_seen_at, removed_at=None)
                conn.execute(
                    stmt.on_conflict_do_update(index_elements=[_DEVICES.c.location_id, _DEVICES.c.zid], set_=set_),
                    rows[start : start + _CHUNK],
                )
            gone = [row.id for zid, row in existing.items() if zid not in by_zid and row.removed_at is None]
            if complete:
                for start in range(0, len(gone), _CHUNK):
                    conn.execute(
                        update(_DEVICES).where(_DEVICES.c.id.in_(gone[start : start + _CHUNK])).values(removed_at=now)
                    )
        known = [zid for zid in by_zid if zid in existing]
        return HubDeviceChanges(
            new=len(by_zid) - len(known),
            seen=len(known),
            removed=len(gone) if complete else 0,
            returned=sum(1 for zid in known if existing[zid].removed_at is not None),
        )

    def list_devices(
        self,
        location_id: str | None = None,
        *,
        removed: bool | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> HubDevicePage:
        """A page of devices in the order they were first stored (keyset on ``id``). ``removed``: only devices no
        longer listed (True), only listed ones (False), both (None). Raises ``InvalidCursorError``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        conditions: list[ColumnElement[bool]] = []
        if location_id is not None:
            conditions.append(_DEVICES.c.location_id == location_id)
        if removed is not None:
            conditions.append(_DEVICES.c.removed_at.is_not(None) if removed else _DEVICES.c.removed_at.is_(None))
        if cursor is not None:
            (after,) = decode_hub_cursor(cursor, (int,))
            conditions.append(_DEVICES.c.id > after)
        query = select(_DEVICES).where(*conditions).order_by(_DEVICES.c.id).limit(limit + 1)
        with self._store._reading() as conn:
            rows = conn.execute(query).all()
        devices = [_device_out(row) for row in rows[:limit]]
        next_cursor = encode_hub_cursor(devices[-1].id) if len(rows) > limit else None
        return HubDevicePage(devices=devices, next_cursor=next_cursor)

    def device_count(self, *, removed: bool = False) -> int:
        """How many devices are listed now (``removed=True``: how many are marked removed)."""
        condition = _DEVICES.c.removed_at.is_not(None) if removed else _DEVICES.c.removed_at.is_(None)
        with self._store._reading() as conn:
            return int(conn.execute(select(func.count()).select_from(_DEVICES).where(condition)).scalar_one())

    # -- history ---------------------------------------------------------------------------------------------

    def known_keys(self, location_id: str, keys: Collection[str]) -> set[str]:
        """Which of ``keys`` the location's history holds already."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        with self._store._reading() as conn:
            for start in range(0, len(wanted), _CHUNK):
                found.update(
                    conn.scalars(
                        select(_HISTORY.c.item_key).where(
                            _HISTORY.c.location_id == location_id,
                            _HISTORY.c.item_key.in_(wanted[start : start + _CHUNK]),
                        )
                    )
                )
        return found

    def add_history(self, location_id: str, records: Sequence[HubHistoryRecord]) -> int:
        """Store the history items not held yet (by item key; a key held already is left as it is, its first sight
        kept); returns how many were new. One transaction."""
        now = self._store.now()
        by_key = {record.item_key: record for record in records}
        if not by_key:
            return 0
        rows = [
            {
                "location_id": location_id, "category": r.category, "item_key": r.item_key, "event_ms": r.event_ms,
                "time_source": r.time_source, "datatype": r.datatype, "zid": r.zid,
                "impulse_types": r.impulse_types, "raw": r.raw, "first_seen_at": now,
            }
            for r in by_key.values()
        ]  # fmt: skip
        keys = list(by_key)
        new = 0
        with self._store._writing() as conn:
            for start in range(0, len(rows), _CHUNK):
                chunk_keys = keys[start : start + _CHUNK]
                held = set(
                    conn.scalars(
                        select(_HISTORY.c.item_key).where(
                            _HISTORY.c.location_id == location_id, _HISTORY.c.item_key.in_(chunk_keys)
                        )
                    )
                )
                fresh = [row for row in rows[start : start + _CHUNK] if row["item_key"] not in held]
                if fresh:
                    stmt = self._store._insert(_HISTORY).on_conflict_do_nothing(
                        index_elements=[_HISTORY.c.location_id, _HISTORY.c.item_key]
                    )
                    conn.execute(stmt, fresh)
                new += len(fresh)
        return new

    def query_history(
        self,
        location_id: str | None = None,
        *,
        category: str | None = None,
        zid: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> HubHistoryPage:
        """A page of history items, newest first (``since_ms`` inclusive, ``until_ms`` exclusive). Keyset pagination
        over (``event_ms``, ``id``): items stored meanwhile never shift a page. Raises ``InvalidCursorError``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        c = _HISTORY.c
        conditions: list[ColumnElement[bool]] = []
        if location_id is not None:
            conditions.append(c.location_id == location_id)
        if category is not None:
            conditions.append(c.category == category)
        if zid is not None:
            conditions.append(c.zid == zid)
        if since_ms is not None:
            conditions.append(c.event_ms >= since_ms)
        if until_ms is not None:
            conditions.append(c.event_ms < until_ms)
        if cursor is not None:
            at, last_id = decode_hub_cursor(cursor, (int, int))
            conditions.append(or_(c.event_ms < at, and_(c.event_ms == at, c.id < last_id)))
        query = select(_HISTORY).where(*conditions).order_by(c.event_ms.desc(), c.id.desc()).limit(limit + 1)
        with self._store._reading() as conn:
            rows = conn.execute(query).all()
        items = [_history_out(row) for row in rows[:limit]]
        next_cursor = encode_hub_cursor(items[-1].event_ms, items[-1].id) if len(rows) > limit else None
        return HubHistoryPage(items=items, next_cursor=next_cursor)

    def history_count(self, location_id: str | None = None) -> int:
        query = select(func.count()).select_from(_HISTORY)
        if location_id is not None:
            query = query.where(_HISTORY.c.location_id == location_id)
        with self._store._reading() as conn:
            return int(conn.execute(query).scalar_one())

    def has_location(self, location_id: str) -> bool:
        """Whether the archive knows the location (stored by a sync, or holding hub rows)."""
        from ringvault.archive.store.models import Location

        with self._store._reading() as conn:
            for query in (
                select(Location.id).where(Location.id == location_id),
                select(_DEVICES.c.id).where(_DEVICES.c.location_id == location_id),
                select(_HISTORY.c.id).where(_HISTORY.c.location_id == location_id),
            ):
                if conn.execute(query.limit(1)).first() is not None:
                    return True
        return False

    # -- sync state ------------------------------------------------------------------------------------------

    def state(self, location_id: str, category: str) -> HubSyncState | None:
        """How far the location's ``category`` history (or its device list, ``devices``) was read; None: never."""
        with self._store._reading() as conn:
            row = conn.execute(
                select(_STATE).where(_STATE.c.location_id == location_id, _STATE.c.category == category)
            ).one_or_none()
        return None if row is None else _state_out(row)

    def states(self) -> list[HubSyncState]:
        with self._store._reading() as conn:
            rows = conn.execute(select(_STATE).order_by(_STATE.c.location_id, _STATE.c.category)).all()
        return [_state_out(row) for row in rows]

    def note_run(
        self,
        location_id: str,
        category: str,
        *,
        finished: bool = False,
        through_ms: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record a run's read of the location's ``category``: ``last_sync_at`` now and ``last_error`` (None: it
        worked). ``finished`` (the read went through: the end, the bound, or items held before): ``complete_at``
        now and ``through_ms`` moved forward to ``through_ms``; else (cut short, failed) ``complete_at`` cleared and
        ``through_ms`` kept, so the next run reads on to it."""
        now = self._store.now()
        finished = finished and error is None
        stmt = self._store._insert(_STATE).values(
            location_id=location_id, category=category, complete_at=now if finished else None,
            through_ms=through_ms if finished else None, last_sync_at=now,
            last_error=storable(error) if error is not None else None,
        )  # fmt: skip
        kept = _STATE.c.through_ms
        forward = case(
            (kept.is_(None), stmt.excluded.through_ms),
            (stmt.excluded.through_ms.is_(None), kept),
            (stmt.excluded.through_ms > kept, stmt.excluded.through_ms),
            else_=kept,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[_STATE.c.location_id, _STATE.c.category],
            set_={
                "complete_at": stmt.excluded.complete_at,
                "through_ms": forward,
                "last_sync_at": stmt.excluded.last_sync_at,
                "last_error": stmt.excluded.last_error,
            },
        )
        with self._store._writing() as conn:
            conn.execute(stmt)
