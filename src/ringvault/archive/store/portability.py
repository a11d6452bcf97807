"""The Data Portability part of the archive: grants, the query lifecycle, listed files and imported records.

A query moves ``created → notified → listed → downloaded → imported`` (or ends ``failed`` / ``canceled``); every
step is committed before the next starts, so an importer killed at any point resumes from the stored state. Records
are inserted with ``ON CONFLICT DO NOTHING`` on ``(grant_id, dataset, record_key)``: importing the same file twice,
or two overlapping queries, stores each record once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, func, select, update

from ringvault.archive.store.models import (
    PORTABILITY_FILE_STATES,
    PORTABILITY_QUERY_STATES,
    PortabilityFile,
    PortabilityGrant,
    PortabilityQuery,
    PortabilityRecord,
)

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = [
    "FINAL_QUERY_STATES",
    "GrantRow",
    "ImportRecord",
    "InvalidRecordCursorError",
    "PortabilityStore",
    "QueryFileRow",
    "QueryRow",
    "RecordPage",
    "RecordRow",
]

#: States after which nothing more happens to a query (``failed`` can still be resumed explicitly).
FINAL_QUERY_STATES = frozenset({"imported", "canceled"})
_BATCH = 500


@dataclass(frozen=True)
class GrantRow:
    id: int
    brand: str
    region: str
    client_id: str
    customer: str
    status: str
    created_at: datetime
    #: when the grant last changed (its status, or a new login)
    updated_at: datetime


@dataclass(frozen=True)
class RecordRow:
    """One imported record: ``data`` is the record as Ring exported it."""

    id: int
    grant_id: int
    dataset: str
    key: str
    event_date: datetime | None
    data: dict[str, Any]
    query_id: str | None
    imported_at: datetime


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
class QueryRow:
    id: str
    grant_id: int
    scope_id: str
    state: str
    status: str | None
    datasets: list[str] | None
    error: str | None
    records_imported: int
    created_at: datetime
    notified_at: datetime | None
    listed_at: datetime | None
    imported_at: datetime | None

    @property
    def final(self) -> bool:
        return self.state in FINAL_QUERY_STATES


@dataclass(frozen=True)
class QueryFileRow:
    id: int
    query_id: str
    ordinal: int
    dataset: str | None
    path: str | None
    bytes: int | None
    sha256: str | None
    state: str
    records: int
    error: str | None


@dataclass(frozen=True)
class ImportRecord:
    """One record to import: its data set, natural key, date (if it has one) and the record as received."""

    dataset: str
    key: str
    event_date: datetime | None
    data: dict[str, Any]


class PortabilityStore:
    """Typed access to the ``portability_*`` tables of an :class:`ArchiveStore` (use ``store.portability``)."""

    def __init__(self, store: ArchiveStore) -> None:
        self._store = store

    # -- grants ----------------------------------------------------------------------------------------------

    def upsert_grant(self, *, brand: str, region: str, client_id: str, customer: str) -> GrantRow:
        """The grant of ``customer`` to app ``client_id`` of ``brand``, created if new (region and status refreshed:
        a new login re-activates a revoked grant)."""
        table = _table(PortabilityGrant)
        now = self._store._clock()
        stmt = self._store._insert(table).values(
            brand=brand, region=region, client_id=client_id, customer=customer, status="active",
            created_at=now, updated_at=now,
        )  # fmt: skip
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.brand, table.c.client_id, table.c.customer],
            set_={"region": stmt.excluded.region, "status": "active", "updated_at": stmt.excluded.updated_at},
        )
        with self._store._write() as session:
            session.execute(stmt)
            row = session.scalars(
                select(PortabilityGrant).where(
                    PortabilityGrant.brand == brand,
                    PortabilityGrant.client_id == client_id,
                    PortabilityGrant.customer == customer,
                )
            ).one()
            return _grant_out(row)

    def get_grant(self, grant_id: int) -> GrantRow | None:
        with self._store._read() as session:
            row = session.get(PortabilityGrant, grant_id)
            return _grant_out(row) if row is not None else None

    def list_grants(self) -> list[GrantRow]:
        with self._store._read() as session:
            rows = session.scalars(select(PortabilityGrant).order_by(PortabilityGrant.id)).all()
            return [_grant_out(row) for row in rows]

    def set_grant_status(self, grant_id: int, status: str) -> None:
        """Mark a grant ``active``, ``revoked`` or ``expired`` (Ring said so: 403 or a CANCELED query)."""
        with self._store._write() as session:
            session.execute(
                update(PortabilityGrant)
                .where(PortabilityGrant.id == grant_id)
                .values(status=status, updated_at=self._store._clock())
            )

    # -- queries ---------------------------------------------------------------------------------------------

    def add_query(self, query_id: str, *, grant_id: int, scope_id: str, datasets: list[str] | None = None) -> QueryRow:
        """Record a query Ring just created (idempotent: a known id is returned as stored)."""
        table = _table(PortabilityQuery)
        now = self._store._clock()
        stmt = self._store._insert(table).values(
            id=query_id, grant_id=grant_id, scope_id=scope_id, state="created",
            datasets={"only": sorted(datasets)} if datasets else None, records_imported=0,
            created_at=now, updated_at=now,
        )  # fmt: skip
        with self._store._write() as session:
            session.execute(stmt.on_conflict_do_nothing(index_elements=[table.c.id]))
            return _query_out(session.get_one(PortabilityQuery, query_id))

    def get_query(self, query_id: str) -> QueryRow | None:
        with self._store._read() as session:
            row = session.get(PortabilityQuery, query_id)
            return _query_out(row) if row is not None else None

    def list_queries(self, *, grant_id: int | None = None, open_only: bool = False) -> list[QueryRow]:
        """Queries, oldest first; ``open_only``: those an importer still has work for (not imported/canceled)."""
        stmt = select(PortabilityQuery).order_by(PortabilityQuery.created_at, PortabilityQuery.id)
        if grant_id is not None:
            stmt = stmt.where(PortabilityQuery.grant_id == grant_id)
        if open_only:
            stmt = stmt.where(PortabilityQuery.state.not_in(FINAL_QUERY_STATES))
        with self._store._read() as session:
            return [_query_out(row) for row in session.scalars(stmt).all()]

    def update_query(self, query_id: str, *, state: str | None = None, **fields: Any) -> QueryRow:
        """Move a query along its lifecycle and/or set ``status``, ``error``, ``notified_at``, ``listed_at``,
        ``imported_at``, ``records_imported``. Unknown states or fields are programming errors (ValueError)."""
        allowed = {"status", "error", "notified_at", "listed_at", "imported_at", "records_imported"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown query fields: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = dict(fields)
        if state is not None:
            if state not in PORTABILITY_QUERY_STATES:
                raise ValueError(f"unknown query state {state!r}; one of {', '.join(PORTABILITY_QUERY_STATES)}")
            values["state"] = state
        values["updated_at"] = self._store._clock()
        with self._store._write() as session:
            row = session.get(PortabilityQuery, query_id)
            if row is None:
                raise KeyError(f"unknown data query {query_id}")
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            return _query_out(row)

    # -- files -----------------------------------------------------------------------------------------------

    def list_files(self, query_id: str) -> list[QueryFileRow]:
        with self._store._read() as session:
            rows = session.scalars(
                select(PortabilityFile).where(PortabilityFile.query_id == query_id).order_by(PortabilityFile.ordinal)
            ).all()
            return [_file_out(row) for row in rows]

    def ensure_files(self, query_id: str, count: int) -> list[QueryFileRow]:
        """Make sure files ``0 .. count-1`` of a query exist (``listed``); known ones keep their state."""
        table = _table(PortabilityFile)
        now = self._store._clock()
        rows = [
            {"query_id": query_id, "ordinal": n, "state": "listed", "records": 0, "updated_at": now}
            for n in range(count)
        ]
        with self._store._write() as session:
            if rows:
                stmt = self._store._insert(table).on_conflict_do_nothing(
                    index_elements=[table.c.query_id, table.c.ordinal]
                )
                session.execute(stmt, rows)
        return self.list_files(query_id)

    def update_file(self, query_id: str, ordinal: int, *, state: str | None = None, **fields: Any) -> None:
        """Set ``dataset``, ``path``, ``bytes``, ``sha256``, ``records``, ``error`` and/or the ``state`` of a file."""
        allowed = {"dataset", "path", "bytes", "sha256", "records", "error"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown file fields: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = dict(fields)
        if state is not None:
            if state not in PORTABILITY_FILE_STATES:
                raise ValueError(f"unknown file state {state!r}; one of {', '.join(PORTABILITY_FILE_STATES)}")
            values["state"] = state
        values["updated_at"] = self._store._clock()
        with self._store._write() as session:
            result = session.execute(
                update(PortabilityFile)
                .where(PortabilityFile.query_id == query_id, PortabilityFile.ordinal == ordinal)
                .values(**values)
            )
            if getattr(result, "rowcount", 1) == 0:
                raise KeyError(f"unknown file {ordinal} of data query {query_id}")

    # -- records ---------------------------------------------------------------------------------------------

    def import_records(self, grant_id: int, query_id: str | None, records: Iterable[ImportRecord]) -> int:
        """Insert records not stored yet for this grant, in committed batches; returns how many were new.

        Killed half-way, a re-run of the same file inserts only what the first run did not commit."""
        table = _table(PortabilityRecord)
        inserted = 0
        for batch in _batches(records, _BATCH):
            now = self._store._clock()
            rows = {
                (r.dataset, r.key): {
                    "grant_id": grant_id, "dataset": r.dataset, "record_key": r.key, "event_date": r.event_date,
                    "data": r.data, "query_id": query_id, "imported_at": now,
                }
                for r in batch
            }  # fmt: skip
            with self._store._write() as session:
                stmt = self._store._insert(table).on_conflict_do_nothing(
                    index_elements=[table.c.grant_id, table.c.dataset, table.c.record_key]
                )
                inserted += len(session.execute(stmt.returning(table.c.id), list(rows.values())).all())
        return inserted

    def list_records(
        self,
        *,
        grant_ids: Iterable[int] | None = None,
        dataset: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RecordPage:
        """A page of imported records in the order they were stored (``since`` inclusive and ``until`` exclusive
        on the record's own date; records without one are left out when either is given).

        Keyset pagination on the row id: pass ``next_cursor`` for the next page. Records imported later always come
        after every page already read, so keeping the last cursor and asking again returns exactly what is new —
        a change feed. ``next_cursor`` is ``None`` on the last page; ``cursor`` (the position reached) is set on
        every page, also an empty one."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        after = _decode_record_cursor(cursor) if cursor else 0
        conditions = [PortabilityRecord.id > after]
        if grant_ids is not None:
            conditions.append(PortabilityRecord.grant_id.in_(list(grant_ids)))
        if dataset is not None:
            conditions.append(PortabilityRecord.dataset == dataset)
        if since is not None:
            conditions.append(PortabilityRecord.event_date >= since)
        if until is not None:
            conditions.append(PortabilityRecord.event_date < until)
        stmt = select(PortabilityRecord).where(*conditions).order_by(PortabilityRecord.id).limit(limit + 1)
        with self._store._read() as session:
            rows = session.scalars(stmt).all()
            records = [_record_out(row) for row in rows[:limit]]
        last = records[-1].id if records else after
        return RecordPage(
            records=records,
            next_cursor=_encode_record_cursor(last) if len(rows) > limit else None,
            cursor=_encode_record_cursor(last),
        )

    def dataset_counts(self, grant_id: int | None = None) -> dict[str, int]:
        """Records stored per data set (for one grant, or all)."""
        stmt = select(PortabilityRecord.dataset, func.count()).group_by(PortabilityRecord.dataset)
        if grant_id is not None:
            stmt = stmt.where(PortabilityRecord.grant_id == grant_id)
        with self._store._read() as session:
            return {str(name): int(count) for name, count in session.execute(stmt).all()}


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _batches(items: Iterable[ImportRecord], size: int) -> Iterator[list[ImportRecord]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _grant_out(row: PortabilityGrant) -> GrantRow:
    return GrantRow(
        id=row.id, brand=row.brand, region=row.region, client_id=row.client_id, customer=row.customer,
        status=row.status, created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def _query_out(row: PortabilityQuery) -> QueryRow:
    only = (row.datasets or {}).get("only")
    return QueryRow(
        id=row.id, grant_id=row.grant_id, scope_id=row.scope_id, state=row.state, status=row.status,
        datasets=list(only) if isinstance(only, list) else None, error=row.error,
        records_imported=row.records_imported, created_at=row.created_at, notified_at=row.notified_at,
        listed_at=row.listed_at, imported_at=row.imported_at,
    )  # fmt: skip


def _file_out(row: PortabilityFile) -> QueryFileRow:
    return QueryFileRow(
        id=row.id, query_id=row.query_id, ordinal=row.ordinal, dataset=row.dataset, path=row.path, bytes=row.bytes,
        sha256=row.sha256, state=row.state, records=row.records, error=row.error,
    )  # fmt: skip


def _record_out(row: PortabilityRecord) -> RecordRow:
    return RecordRow(
        id=row.id, grant_id=row.grant_id, dataset=row.dataset, key=row.record_key, event_date=row.event_date,
        data=row.data, query_id=row.query_id, imported_at=row.imported_at,
    )  # fmt: skip


def _encode_record_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"r{row_id}".encode()).decode().rstrip("=")


def _decode_record_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise InvalidRecordCursorError(f"invalid cursor {cursor!r}") from exc
    if not (text.startswith("r") and text[1:].isdigit()):
        raise InvalidRecordCursorError(f"invalid cursor {cursor!r}")
    return int(text[1:])
