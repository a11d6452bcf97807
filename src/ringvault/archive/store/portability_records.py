"""Imported Data Portability records and their versions: set-based writes, current rows, history, change feed.

A record is identified by (grant, data set, key); the key is computed by the importer (the data set's natural key
and the record's occurrence number within its export). Each batch of records is written in one transaction:

- a key with no current row: inserted as version 1 (``INSERT ... ON CONFLICT DO NOTHING`` on the partial unique
  index of current rows, so a batch written twice stores it once);
- a current row with the same ``content_hash``: the same record; only ``last_seen_at``/``last_query_id`` move;
- the same ``fingerprint`` (documented fields) but another content: ``same(old_data, record)`` decides — True when
  the new record only adds fields (Ring added a field): the current row takes the new data in place, no new version;
- anything else: the current row becomes history (``is_current`` false, ``superseded_at`` set) and the record is
  inserted as the next version.

Rows are never deleted. Row ids grow with every insert, so a new version comes after every page already read: the
``list_records`` cursor is a change feed of new and changed records (a field merged in place is not news).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Table,
    TextClause,
    Update,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.sql.dml import ReturningInsert

from ringvault.archive.store.models import PortabilityGrant, PortabilityRecord

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

    from ringvault.archive.store.store import ArchiveStore

__all__ = [
    "BATCH_SIZE",
    "ImportRecord",
    "InvalidRecordCursorError",
    "RecordChanges",
    "RecordPage",
    "RecordRow",
    "RecordVersion",
    "RecordsStore",
    "RekeyedRow",
    "SameRecord",
    "StoredRow",
    "adds_fields_only",
    "changed_fields",
    "content_digest",
    "current_rows_query",
    "insert_new",
    "mark_seen",
    "merge_fields",
    "supersede",
]

#: records per committed transaction
BATCH_SIZE: Final = 500
_TABLE = PortabilityRecord.__table__
assert isinstance(_TABLE, Table)
_T: Final[Table] = _TABLE
_CURRENT = text("is_current")


@dataclass(frozen=True)
class ImportRecord:
    """One record to import: its data set, key, date (if it has one) and the record as received.

    ``fingerprint`` hashes the record's documented fields in normal form and ``content_hash`` the whole record;
    both default to a hash of ``data`` as it is (for callers that know nothing of the data set)."""

    dataset: str
    key: str
    event_date: datetime | None
    data: dict[str, Any]
    fingerprint: str | None = None
    content_hash: str | None = None


#: ``same(old_data, record)``: whether ``record`` is the stored version ``old_data`` with fields added (no new version)
SameRecord = Callable[[dict[str, Any], ImportRecord], bool]


@dataclass
class RecordChanges:
    """What a write did: records never seen before, new versions of changed ones, the same ones seen again, and
    ones that only gained fields (merged into their current row)."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    merged: int = 0

    def add(self, other: RecordChanges) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.merged += other.merged


@dataclass(frozen=True)
class RecordRow:
    """One stored version of a record: ``data`` is the record as Ring exported it. ``query_id``/``imported_at``: the
    export that brought this version and when; ``last_query_id``/``last_seen_at``: the last export that contained
    it; ``superseded_at``: when a newer version replaced it (None for the current one)."""

    id: int
    grant_id: int
    dataset: str
    key: str
    event_date: datetime | None
    data: dict[str, Any]
    query_id: str | None
    imported_at: datetime
    version: int = 1
    current: bool = True
    last_seen_at: datetime | None = None
    last_query_id: str | None = None
    superseded_at: datetime | None = None


@dataclass(frozen=True)
class RecordVersion:
    """A version in a record's history and the top-level fields in which it differs from the version before it."""

    row: RecordRow
    changed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordPage:
    records: list[RecordRow]
    #: the cursor of the next page; None on the last one
    next_cursor: str | None
    #: the position this page reached (keep it to ask later for what is new)
    cursor: str


class InvalidRecordCursorError(ValueError):
    """A cursor that ``list_records`` did not produce."""


@dataclass(frozen=True)
class _Current:
    """The current row of a key, as a write compares it."""

    id: int
    version: int
    fingerprint: str | None
    content_hash: str | None


@dataclass(frozen=True)
class StoredRow:
    """A stored row as the re-keying pass reads it."""

    id: int
    dataset: str
    key: str
    data: dict[str, Any]
    query_id: str | None
    imported_at: datetime
    key_scheme: int


@dataclass(frozen=True)
class RekeyedRow:
    """A row's new key (computed by the importer's current key scheme) and hashes."""

    id: int
    dataset: str
    key: str
    fingerprint: str
    content_hash: str
    imported_at: datetime


def content_digest(data: Any) -> str:
    """SHA-256 of a JSON value in a stable form (keys sorted)."""
    text_form = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text_form.encode("utf-8")).hexdigest()


def adds_fields_only(old: dict[str, Any], record: ImportRecord) -> bool:
    """The default ``SameRecord``: every field of ``old`` is in the new record with the same value."""
    new = record.data
    return all(name in new and new[name] == value for name, value in old.items())


class RecordsStore:
    """The ``portability_records`` table of an :class:`ArchiveStore` (through ``store.portability``)."""

    def __init__(self, store: ArchiveStore) -> None:
        self._store = store

    # -- writing ---------------------------------------------------------------------------------------------

    def apply(
        self,
        grant_id: int,
        query_id: str | None,
        records: Iterable[ImportRecord],
        *,
        same: SameRecord | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> RecordChanges:
        """Write ``records`` in committed batches of ``batch_size`` (see the module docstring); what changed.

        Killed half-way, a re-run of the same records finds the committed ones unchanged and writes the rest."""
        total = RecordChanges()
        for batch in _batches(records, batch_size):
            total.add(self._apply_batch(grant_id, query_id, batch, same or adds_fields_only))
        return total

    def _apply_batch(
        self, grant_id: int, query_id: str | None, batch: list[ImportRecord], same: SameRecord
    ) -> RecordChanges:
        incoming = {(r.dataset, r.key): r for r in batch}  # the same key twice in a batch: the last one wins
        now = self._store._clock()
        with self._store._writing() as conn:
            found = conn.execute(current_rows_query(grant_id, incoming)).all()
            current = {
                (row.dataset, row.record_key): _Current(row.id, row.version, row.fingerprint, row.content_hash)
                for row in found
            }
            plan = _Plan()
            to_check: list[tuple[_Current, ImportRecord]] = []
            for ident, record in incoming.items():
                old = current.get(ident)
                if old is None:
                    plan.fresh.append(record)
                elif old.content_hash is not None and old.content_hash == _content(record):
                    plan.seen_again.append(old.id)
                elif old.fingerprint is None or old.fingerprint == _fingerprint(record):
                    to_check.append((old, record))  # decided on the stored data
                else:
                    plan.versions.append((old, record))
            if to_check:
                ids = [old.id for old, _ in to_check]
                stored = {row.id: row.data for row in conn.execute(select(_T.c.id, _T.c.data).where(_T.c.id.in_(ids)))}
                for old, record in to_check:
                    plan.decide(old, record, stored[old.id], same)
            return self._write_plan(conn, plan, grant_id, query_id, now)

    def _write_plan(
        self, conn: Connection, plan: _Plan, grant_id: int, query_id: str | None, now: datetime
    ) -> RecordChanges:
        """The writes of one batch, each one set-based statement (or one executemany)."""
        changes = RecordChanges(unchanged=len(plan.seen_again), merged=len(plan.merges), changed=len(plan.versions))
        if plan.seen_again:
            conn.execute(mark_seen(plan.seen_again, now, query_id))
        if plan.merges:
            conn.execute(merge_fields(now, query_id), plan.merges)
        if plan.versions:
            conn.execute(supersede([old.id for old, _ in plan.versions], now))
            rows = [_values(grant_id, query_id, record, now, version=old.version + 1) for old, record in plan.versions]
            conn.execute(self._store._insert(_T), rows)
        if plan.fresh:
            rows = [_values(grant_id, query_id, record, now, version=1) for record in plan.fresh]
            changes.new = len(conn.execute(insert_new(self._store._insert(_T)), rows).all())
        return changes

    # -- re-keying rows of an older key scheme ---------------------------------------------------------------

    def rows_after(self, grant_id: int, after_id: int, limit: int) -> list[StoredRow]:
        """Rows of a grant (every version, every key scheme) with ids above ``after_id``, in id order."""
        stmt = (
            select(_T.c.id, _T.c.dataset, _T.c.record_key, _T.c.data, _T.c.query_id, _T.c.imported_at, _T.c.key_scheme)
            .where(_T.c.grant_id == grant_id, _T.c.id > after_id)
            .order_by(_T.c.id)
            .limit(limit)
        )
        with self._store._reading() as conn:
            rows = conn.execute(stmt).all()
        return [_stored_out(row) for row in rows]

    def rekey(self, grant_id: int, rows: list[RekeyedRow], scheme: int) -> None:
        """Give ``rows`` (in id order, one transaction) their keys of ``scheme``. A row whose new key is already the
        current key of an earlier row of this scheme becomes the next version of it (the earlier row its history):
        an older ringvault stored a record that changed between exports as two records."""
        with self._store._writing() as conn:
            for row in rows:
                earlier = conn.execute(
                    select(_T.c.id, _T.c.version).where(
                        _T.c.grant_id == grant_id,
                        _T.c.dataset == row.dataset,
                        _T.c.record_key == row.key,
                        _CURRENT,
                        _T.c.key_scheme == scheme,
                        _T.c.id != row.id,
                    )
                ).first()
                version = 1
                if earlier is not None:
                    version = earlier.version + 1
                    conn.execute(
                        update(_T).where(_T.c.id == earlier.id).values(is_current=False, superseded_at=row.imported_at)
                    )
                values = {
                    "record_key": row.key, "fingerprint": row.fingerprint, "content_hash": row.content_hash,
                    "version": version, "key_scheme": scheme,
                }  # fmt: skip
                conn.execute(update(_T).where(_T.c.id == row.id).values(values))

    def set_key_scheme(self, grant_id: int, scheme: int) -> None:
        with self._store._writing() as conn:
            conn.execute(update(PortabilityGrant).where(PortabilityGrant.id == grant_id).values(key_scheme=scheme))

    # -- reading ---------------------------------------------------------------------------------------------

    def page(
        self,
        *,
        grant_ids: Iterable[int] | None = None,
        dataset: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
        history: bool = False,
        key: str | None = None,
    ) -> RecordPage:
        """A page of records in the order they were stored: the current versions, or with ``history`` every
        version. ``since`` inclusive and ``until`` exclusive on the record's own date (records without one are left
        out when either is given); ``key`` one record.

        Keyset pagination on the row id: pass ``next_cursor`` for the next page. Records imported later — new ones
        and new versions of changed ones — always come after every page already read, so keeping the last cursor
        and asking again returns exactly what is new: a change feed. ``next_cursor`` is ``None`` on the last page;
        ``cursor`` (the position reached) is set on every page, also an empty one."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        after = _decode_record_cursor(cursor) if cursor else 0
        conditions: list[ColumnElement[bool] | TextClause] = [_T.c.id > after]
        if not history:
            conditions.append(_CURRENT)
        if grant_ids is not None:
            conditions.append(_T.c.grant_id.in_(list(grant_ids)))
        if dataset is not None:
            conditions.append(_T.c.dataset == dataset)
        if key is not None:
            conditions.append(_T.c.record_key == key)
        if since is not None:
            conditions.append(_T.c.event_date >= since)
        if until is not None:
            conditions.append(_T.c.event_date < until)
        stmt = select(_T).where(*conditions).order_by(_T.c.id).limit(limit + 1)
        with self._store._reading() as conn:
            rows = conn.execute(stmt).all()
        records = [_record_out(row) for row in rows[:limit]]
        last = records[-1].id if records else after
        return RecordPage(
            records=records,
            next_cursor=_encode_record_cursor(last) if len(rows) > limit else None,
            cursor=_encode_record_cursor(last),
        )

    def history(self, grant_id: int, dataset: str, key: str) -> list[RecordVersion]:
        """Every version of one record, oldest first, each with the fields it changed."""
        stmt = (
            select(_T)
            .where(_T.c.grant_id == grant_id, _T.c.dataset == dataset, _T.c.record_key == key)
            .order_by(_T.c.version, _T.c.id)
        )
        with self._store._reading() as conn:
            rows = [_record_out(row) for row in conn.execute(stmt).all()]
        out: list[RecordVersion] = []
        previous: dict[str, Any] | None = None
        for row in rows:
            out.append(RecordVersion(row=row, changed=[] if previous is None else changed_fields(previous, row.data)))
            previous = row.data
        return out

    def counts(self, grant_id: int | None = None, *, history: bool = False) -> dict[str, int]:
        """Records stored per data set (current versions; with ``history`` every version), for a grant or all."""
        stmt = select(_T.c.dataset, func.count()).group_by(_T.c.dataset)
        if not history:
            stmt = stmt.where(_CURRENT)
        if grant_id is not None:
            stmt = stmt.where(_T.c.grant_id == grant_id)
        with self._store._reading() as conn:
            return {str(name): int(count) for name, count in conn.execute(stmt).all()}


@dataclass
class _Plan:
    """What one batch does: insert (fresh), touch (seen again), merge added fields, add versions."""

    fresh: list[ImportRecord] = field(default_factory=list)
    seen_again: list[int] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)
    versions: list[tuple[_Current, ImportRecord]] = field(default_factory=list)

    def decide(self, old: _Current, record: ImportRecord, data: dict[str, Any], same: SameRecord) -> None:
        """A record whose fingerprint equals the current version's (or the version has none): the same record
        seen again, the same record with fields added, or a change."""
        if content_digest(data) == content_digest(record.data):
            self.seen_again.append(old.id)
        elif same(data, record):
            self.merges.append({"b_id": old.id, "b_data": record.data, "b_hash": _content(record)})
        else:
            self.versions.append((old, record))


# -- the statements (Core constructs that render for SQLite and PostgreSQL) -------------------------------------


def current_rows_query(grant_id: int, incoming: Iterable[tuple[str, str]]) -> Select[Any]:
    """The current rows of the (data set, key) pairs of a batch (the partial index of current rows serves it)."""
    pairs = list(incoming)
    return select(_T.c.id, _T.c.dataset, _T.c.record_key, _T.c.version, _T.c.fingerprint, _T.c.content_hash).where(
        _T.c.grant_id == grant_id,
        _T.c.dataset.in_(sorted({name for name, _ in pairs})),
        _T.c.record_key.in_(sorted({key for _, key in pairs})),
        _CURRENT,
    )


def mark_seen(ids: list[int], now: datetime, query_id: str | None) -> Update:
    """The same records seen again by an export."""
    return update(_T).where(_T.c.id.in_(ids)).values(last_seen_at=now, last_query_id=query_id)


def merge_fields(now: datetime, query_id: str | None) -> Update:
    """A record that only gained fields takes its new data in place (executemany: ``b_id``, ``b_data``, ``b_hash``)."""
    return (
        update(_T)
        .where(_T.c.id == bindparam("b_id"))
        .values(
            data=bindparam("b_data", type_=_T.c.data.type),
            content_hash=bindparam("b_hash"),
            last_seen_at=now,
            last_query_id=query_id,
        )
    )


def supersede(ids: list[int], now: datetime) -> Update:
    """Current versions that a changed record replaces become history."""
    return update(_T).where(_T.c.id.in_(ids)).values(is_current=False, superseded_at=now)


def insert_new(insert: sqlite.Insert | postgresql.Insert) -> ReturningInsert[tuple[int]]:
    """``insert`` (the dialect's ``INSERT``) of records never seen: ``ON CONFLICT DO NOTHING`` on the partial unique
    index of current rows, returning the ids actually inserted."""
    return insert.on_conflict_do_nothing(
        index_elements=[_T.c.grant_id, _T.c.dataset, _T.c.record_key], index_where=_CURRENT
    ).returning(_T.c.id)


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Top-level fields added, removed or changed between two versions of a record, sorted."""
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name, _MISSING) != after.get(name, _MISSING)
    )


_MISSING = object()


def _content(record: ImportRecord) -> str:
    return record.content_hash or content_digest(record.data)


def _fingerprint(record: ImportRecord) -> str:
    return record.fingerprint or _content(record)


def _values(
    grant_id: int, query_id: str | None, record: ImportRecord, now: datetime, *, version: int
) -> dict[str, Any]:
    from ringvault.archive.store.models import RECORD_KEY_SCHEME

    return {
        "grant_id": grant_id, "dataset": record.dataset, "record_key": record.key, "event_date": record.event_date,
        "data": record.data, "query_id": query_id, "imported_at": now, "version": version, "is_current": True,
        "fingerprint": _fingerprint(record), "content_hash": _content(record), "last_seen_at": now,
        "last_query_id": query_id, "superseded_at": None, "key_scheme": RECORD_KEY_SCHEME,
    }  # fmt: skip


def _batches(items: Iterable[ImportRecord], size: int) -> Iterator[list[ImportRecord]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _stored_out(row: Any) -> StoredRow:
    return StoredRow(
        id=row.id, dataset=row.dataset, key=row.record_key, data=row.data, query_id=row.query_id,
        imported_at=row.imported_at, key_scheme=row.key_scheme,
    )  # fmt: skip


def _record_out(row: Row[Any]) -> RecordRow:
    return RecordRow(
        id=row.id, grant_id=row.grant_id, dataset=row.dataset, key=row.record_key, event_date=row.event_date,
        data=row.data, query_id=row.query_id, imported_at=row.imported_at, version=row.version,
        current=bool(row.is_current), last_seen_at=row.last_seen_at, last_query_id=row.last_query_id,
        superseded_at=row.superseded_at,
    )  # fmt: skip


def _encode_record_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"r{row_id}".encode()).decode().rstrip("=")


def _decode_record_cursor(cursor: str) -> int:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise InvalidRecordCursorError(f"invalid cursor {cursor!r}") from exc
    if not (decoded.startswith("r") and decoded[1:].isdigit()):
        raise InvalidRecordCursorError(f"invalid cursor {cursor!r}")
    return int(decoded[1:])
