"""The Data Portability part of the archive: grants, the query lifecycle, listed files and imported records.

A query moves ``created → notified → listed → downloaded → imported`` (or ends ``failed`` / ``canceled``); every
step is committed before the next starts, so an importer killed at any point resumes from the stored state. Records
and their versions are written by ``portability_records.RecordsStore`` (importing the same file twice, or two
overlapping queries, stores each record once; a changed record gets a new version, the old one stays as history).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select, update

from ringvault.archive.store.models import (
    PORTABILITY_FILE_STATES,
    PORTABILITY_QUERY_STATES,
    PortabilityFile,
    PortabilityGrant,
    PortabilityQuery,
)
from ringvault.archive.store.portability_records import (
    ImportRecord,
    InvalidRecordCursorError,
    RecordChanges,
    RecordPage,
    RecordRow,
    RecordsStore,
    RecordVersion,
    SameRecord,
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
    "RecordChanges",
    "RecordPage",
    "RecordRow",
    "RecordVersion",
]

#: States after which nothing more happens to a query (``failed`` can still be resumed explicitly).
FINAL_QUERY_STATES = frozenset({"imported", "canceled"})


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
    #: how this grant's record keys are computed (``models.RECORD_KEY_SCHEME``; lower: re-keyed at the next import)
    key_scheme: int = 2


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
    #: the object key Ring gave the data file (from its URL)
    name: str | None = None
    #: how its data set was told (``title``, ``name``, ``fields``, ``records``); None: not recognised
    recognised_by: str | None = None


class PortabilityStore:
    """Typed access to the ``portability_*`` tables of an :class:`ArchiveStore` (use ``store.portability``)."""

    def __init__(self, store: ArchiveStore) -> None:
        self._store = store
        #: the records and their versions (``portability_records``)
        self.records = RecordsStore(store)

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

    def set_grant_status(self, grant_id: int, status: str, *, unless_changed_after: datetime | None = None) -> bool:
        """Mark a grant ``active``, ``revoked``, ``expired`` or ``refused`` (Ring said so: 403 or a CANCELED query).

        ``unless_changed_after`` (the ``updated_at`` of the grant as a step read it): leave a grant that changed since
        alone — the customer connected again while the step ran with the old authorization, and Ring's answer to
        that one says nothing about the new login. Returns whether the status was written."""
        stmt = update(PortabilityGrant).where(PortabilityGrant.id == grant_id)
        if unless_changed_after is not None:
            stmt = stmt.where(PortabilityGrant.updated_at <= unless_changed_after)
        with self._store._write() as session:
            result = session.execute(stmt.values(status=status, updated_at=self._store._clock()))
            return bool(getattr(result, "rowcount", 0))

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
        """Set ``dataset``, ``path``, ``bytes``, ``sha256``, ``records``, ``error``, ``name``, ``recognised_by`` and/or
        the ``state`` of a file."""
        allowed = {"dataset", "path", "bytes", "sha256", "records", "error", "name", "recognised_by"}
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
        """Write records in committed batches (``apply_records``); how many were never seen before."""
        return self.records.apply(grant_id, query_id, records).new

    def apply_records(
        self,
        grant_id: int,
        query_id: str | None,
        records: Iterable[ImportRecord],
        *,
        same: SameRecord | None = None,
    ) -> RecordChanges:
        """Write records in committed batches, keeping the latest version of each current and earlier ones as
        history (see ``portability_records``); what changed. Killed half-way, a re-run writes only the rest."""
        return self.records.apply(grant_id, query_id, records, same=same)

    def list_records(
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
        """A page of records, current versions (``history``: every version), as a change feed; see
        ``RecordsStore.list``."""
        return self.records.page(
            grant_ids=grant_ids, dataset=dataset, since=since, until=until, limit=limit, cursor=cursor,
            history=history, key=key,
        )  # fmt: skip

    def record_history(self, grant_id: int, dataset: str, key: str) -> list[RecordVersion]:
        """Every version of one record, oldest first, with the fields each changed."""
        return self.records.history(grant_id, dataset, key)

    def dataset_counts(self, grant_id: int | None = None, *, history: bool = False) -> dict[str, int]:
        """Records stored per data set, current versions (``history``: every version), for one grant or all."""
        return self.records.counts(grant_id, history=history)

    def unrecognised_files(self, query_id: str, *, known: Collection[str] = ()) -> list[QueryFileRow]:
        """Files of a query kept on disk whose data set was not recognised (``recognised_by`` NULL); ``known``: data
        set names that count as recognised anyway (files an older ringvault recorded without ``recognised_by``)."""
        kept = ("downloaded", "imported", "failed")
        return [
            f
            for f in self.list_files(query_id)
            if f.recognised_by is None and f.state in kept and f.dataset not in known
        ]


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _grant_out(row: PortabilityGrant) -> GrantRow:
    return GrantRow(
        id=row.id, brand=row.brand, region=row.region, client_id=row.client_id, customer=row.customer,
        status=row.status, created_at=row.created_at, updated_at=row.updated_at, key_scheme=row.key_scheme,
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
        sha256=row.sha256, state=row.state, records=row.records, error=row.error, name=row.name,
        recognised_by=row.recognised_by,
    )  # fmt: skip
