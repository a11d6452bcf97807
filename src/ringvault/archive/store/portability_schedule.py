"""The Data Portability schedule of an app with many customers: its API budgets and each customer's next step.

Everything here is shared by every process of the app through the database, never held in one process's memory:

- ``portability_limits``: the app's rate buckets, create window and daily list quota. :meth:`ScheduleStore.
  update_budgets` changes them in one short write transaction that locks the rows first (``SELECT ... FOR UPDATE``
  on PostgreSQL; SQLite's write transactions take the database's write lock up front, ``BEGIN IMMEDIATE``), so two
  processes never both take the last call of a budget.
- ``portability_schedule``: one row per customer (grant) with the next step, when it is due, why it waits. Steps
  move it on with conditional updates (:meth:`ScheduleStore.claim`).
- :meth:`ScheduleStore.customer_lock`: one step at a time per customer. On PostgreSQL a session advisory lock
  (``pg_try_advisory_lock``, so every process of every machine agrees); on SQLite, whose ``serve`` is one process, a
  lock of this process (threads and event loops included).
- :meth:`ScheduleStore.overview`: what ``GET /portability/customers`` shows, in a fixed number of queries whatever
  the number of customers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.engine import Connection

from ringvault.archive.store.models import (
    PortabilityGrant,
    PortabilityLimit,
    PortabilityQuery,
    PortabilityRecord,
    PortabilitySchedule,
)
from ringvault.archive.store.portability import GrantRow, QueryRow, _query_out

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = [
    "BudgetRow",
    "CustomerOverview",
    "ScheduleRow",
    "ScheduleStore",
]

T = TypeVar("T")

_LIMITS: Table = PortabilityLimit.__table__  # type: ignore[assignment]
_SCHEDULE: Table = PortabilitySchedule.__table__  # type: ignore[assignment]
#: ``pg_advisory_lock(key1, key2)``: the first key names ringvault's per-customer locks ("rvdp" in ASCII)
_ADVISORY_NAMESPACE = 0x72766470
_LOCK_POLL_S = (0.01, 0.02, 0.05, 0.1, 0.2)
_SCHEDULE_FIELDS = frozenset(
    {
        "step", "arg", "due_at", "running_since", "reason", "detail", "failures", "last_error", "permit_at",
        "queued_at", "recur_at",
    }
)  # fmt: skip


@dataclass
class BudgetRow:
    """The counters of one budget (see ``PortabilityLimit``); changed in place by ``update_budgets``'s callback."""

    client_id: str
    operation: str
    budget: str
    rate_tat: float = 0.0
    recent: list[float] = field(default_factory=list)
    day: str | None = None
    used: int = 0


@dataclass(frozen=True)
class ScheduleRow:
    grant_id: int
    step: str | None = None
    arg: str | None = None
    due_at: datetime | None = None
    running_since: datetime | None = None
    reason: str | None = None
    detail: str | None = None
    failures: int = 0
    last_error: str | None = None
    permit_at: datetime | None = None
    queued_at: datetime | None = None
    recur_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CustomerOverview:
    """One customer of an app as the status endpoint shows it."""

    grant: GrantRow
    schedule: ScheduleRow
    latest_query: QueryRow | None
    queries: int
    datasets: dict[str, int]


class ScheduleStore:
    """Typed access to ``portability_limits`` and ``portability_schedule`` of an :class:`ArchiveStore`."""

    def __init__(self, store: ArchiveStore) -> None:
        self._store = store
        self.dialect = store.engine.dialect.name

    # -- budgets ---------------------------------------------------------------------------------------------

    def update_budgets(
        self, client_id: str, keys: Sequence[tuple[str, str]], change: Callable[[dict[tuple[str, str], BudgetRow]], T]
    ) -> T:
        """Run ``change`` on the budgets ``keys`` (``(operation, budget)``; created empty when new) inside one write
        transaction holding their rows, then store what it left in them. Whatever ``change`` raises rolls back."""
        now = self._store.now()
        with self._store._writing() as conn:
            insert = self._store._insert(_LIMITS).on_conflict_do_nothing()
            conn.execute(
                insert,
                [
                    {"client_id": client_id, "operation": op, "budget": budget, "rate_tat": 0.0, "recent": [],
                     "used": 0, "updated_at": now}
                    for op, budget in keys
                ],
            )  # fmt: skip
            rows: dict[tuple[str, str], BudgetRow] = {}
            for op, budget in keys:
                stored = conn.execute(
                    select(_LIMITS)
                    .where(_LIMITS.c.client_id == client_id, _LIMITS.c.operation == op, _LIMITS.c.budget == budget)
                    .with_for_update()
                ).one()
                rows[(op, budget)] = BudgetRow(
                    client_id, op, budget, float(stored.rate_tat), [float(t) for t in stored.recent or []],
                    stored.day, int(stored.used),
                )  # fmt: skip
            before = {key: replace(row, recent=list(row.recent)) for key, row in rows.items()}
            result = change(rows)
            for key, budget_row in rows.items():
                if budget_row == before[key]:
                    continue
                conn.execute(
                    update(_LIMITS)
                    .where(_LIMITS.c.client_id == client_id, _LIMITS.c.operation == key[0], _LIMITS.c.budget == key[1])
                    .values(
                        rate_tat=budget_row.rate_tat,
                        recent=budget_row.recent,
                        day=budget_row.day,
                        used=budget_row.used,
                        updated_at=now,
                    )
                )
            return result

    def budgets(self, client_id: str) -> list[BudgetRow]:
        """Every budget of an app (status, tests)."""
        with self._store._reading() as conn:
            rows = conn.execute(select(_LIMITS).where(_LIMITS.c.client_id == client_id)).all()
        return [
            BudgetRow(r.client_id, r.operation, r.budget, float(r.rate_tat), list(r.recent or []), r.day, int(r.used))
            for r in rows
        ]

    # -- the schedule ------------------------------------------------------------------------------------------

    def get(self, grant_id: int) -> ScheduleRow:
        """The schedule of a grant (an empty one when it has none yet)."""
        with self._store._reading() as conn:
            row = conn.execute(select(_SCHEDULE).where(_SCHEDULE.c.grant_id == grant_id)).one_or_none()
        return _schedule_out(row) if row is not None else ScheduleRow(grant_id)

    def rows(self, grant_ids: Iterable[int] | None = None) -> list[ScheduleRow]:
        stmt = select(_SCHEDULE).order_by(_SCHEDULE.c.grant_id)
        if grant_ids is not None:
            stmt = stmt.where(_SCHEDULE.c.grant_id.in_(list(grant_ids)))
        with self._store._reading() as conn:
            return [_schedule_out(row) for row in conn.execute(stmt).all()]

    def set(self, grant_id: int, **fields: Any) -> ScheduleRow:
        """Set schedule fields of a grant (the row is created when new); returns the row as stored."""
        _check_fields(fields)
        now = self._store.now()
        with self._store._writing() as conn:
            self._ensure(conn, grant_id, now)
            conn.execute(update(_SCHEDULE).where(_SCHEDULE.c.grant_id == grant_id).values(**fields, updated_at=now))
            return _schedule_out(conn.execute(select(_SCHEDULE).where(_SCHEDULE.c.grant_id == grant_id)).one())

    def claim(self, grant_id: int, expect: dict[str, Any], **fields: Any) -> ScheduleRow | None:
        """Set ``fields`` only while the row still holds ``expect`` (column → value; None matches NULL): the
        conditional update that keeps two processes from both acting on one state. None when it did not hold."""
        _check_fields(fields)
        _check_fields(expect)
        now = self._store.now()
        conditions = [_SCHEDULE.c.grant_id == grant_id]
        for name, value in expect.items():
            column = _SCHEDULE.c[name]
            conditions.append(column.is_(None) if value is None else column == value)
        with self._store._writing() as conn:
            self._ensure(conn, grant_id, now)
            result = conn.execute(update(_SCHEDULE).where(*conditions).values(**fields, updated_at=now))
            if getattr(result, "rowcount", 0) == 0:
                return None
            return _schedule_out(conn.execute(select(_SCHEDULE).where(_SCHEDULE.c.grant_id == grant_id)).one())

    def _ensure(self, conn: Connection, grant_id: int, now: datetime) -> None:
        conn.execute(
            self._store._insert(_SCHEDULE).on_conflict_do_nothing(),
            {"grant_id": grant_id, "failures": 0, "updated_at": now},
        )

    def queued_before(
        self, client_id: str, grant_id: int, queued_at: datetime, *, since: datetime, until: datetime
    ) -> int:
        """Customers of the app who asked for an export before ``queued_at`` and are still waiting in line: no create
        slot reserved yet, not running, due between ``since`` (a step nobody ran for that long is not waited for) and
        ``until`` (a retry or a recurring export due later is not in line)."""
        grants = _table(PortabilityGrant)
        stmt = (
            select(func.count())
            .select_from(_SCHEDULE.join(grants, grants.c.id == _SCHEDULE.c.grant_id))
            .where(
                grants.c.client_id == client_id,
                _SCHEDULE.c.grant_id != grant_id,
                _SCHEDULE.c.step == "export",
                _SCHEDULE.c.permit_at.is_(None),
                _SCHEDULE.c.running_since.is_(None),
                _SCHEDULE.c.queued_at < queued_at,
                _SCHEDULE.c.due_at >= since,
                _SCHEDULE.c.due_at <= until,
            )
        )
        with self._store._reading() as conn:
            return int(conn.execute(stmt).scalar_one())

    def waiting_imports(self, client_id: str) -> int:
        """Queries of the app Ring completed that are not listed yet: the imports a new export would queue behind."""
        grants, queries = _table(PortabilityGrant), _table(PortabilityQuery)
        stmt = (
            select(func.count())
            .select_from(queries.join(grants, grants.c.id == queries.c.grant_id))
            .where(grants.c.client_id == client_id, queries.c.state == "notified")
        )
        with self._store._reading() as conn:
            return int(conn.execute(stmt).scalar_one())

    def exporting_since(self, client_id: str, since: datetime) -> bool:
        """Whether a createDataQuery of the app may be in flight (an export step started after ``since``)."""
        grants = _table(PortabilityGrant)
        stmt = (
            select(func.count())
            .select_from(_SCHEDULE.join(grants, grants.c.id == _SCHEDULE.c.grant_id))
            .where(
                grants.c.client_id == client_id,
                _SCHEDULE.c.step == "export",
                _SCHEDULE.c.running_since >= since,
            )
        )
        with self._store._reading() as conn:
            return int(conn.execute(stmt).scalar_one()) > 0

    # -- status ----------------------------------------------------------------------------------------------

    def overview(self, client_id: str) -> list[CustomerOverview]:
        """Every customer of the app with their schedule, latest query, number of queries and records per data set:
        three queries in all, whatever the number of customers."""
        grants, queries, records = _table(PortabilityGrant), _table(PortabilityQuery), _table(PortabilityRecord)
        ranked = select(
            queries,
            func.row_number()
            .over(partition_by=queries.c.grant_id, order_by=(queries.c.created_at.desc(), queries.c.id.desc()))
            .label("rank"),
            func.count().over(partition_by=queries.c.grant_id).label("total"),
        ).subquery()
        with self._store._reading() as conn:
            rows = conn.execute(
                select(grants, _SCHEDULE)
                .select_from(grants.outerjoin(_SCHEDULE, _SCHEDULE.c.grant_id == grants.c.id))
                .where(grants.c.client_id == client_id)
                .order_by(grants.c.id)
            ).all()
            latest = conn.execute(
                select(ranked)
                .join(grants, grants.c.id == ranked.c.grant_id)
                .where(ranked.c.rank == 1, grants.c.client_id == client_id)
            ).all()
            counts = conn.execute(
                select(records.c.grant_id, records.c.dataset, func.count())
                .join(grants, grants.c.id == records.c.grant_id)
                .where(grants.c.client_id == client_id)
                .group_by(records.c.grant_id, records.c.dataset)
            ).all()
        latest_by_grant = {row.grant_id: (_query_row(row), int(row.total)) for row in latest}
        datasets: dict[int, dict[str, int]] = {}
        for grant_id, dataset, count in counts:
            datasets.setdefault(int(grant_id), {})[str(dataset)] = int(count)
        out: list[CustomerOverview] = []
        for row in rows:
            mapping = row._mapping
            grant = GrantRow(
                id=mapping[grants.c.id], brand=mapping[grants.c.brand], region=mapping[grants.c.region],
                client_id=mapping[grants.c.client_id], customer=mapping[grants.c.customer],
                status=mapping[grants.c.status], created_at=mapping[grants.c.created_at],
                updated_at=mapping[grants.c.updated_at],
            )  # fmt: skip
            schedule = (
                ScheduleRow(grant.id)
                if mapping[_SCHEDULE.c.grant_id] is None
                else ScheduleRow(**{name: mapping[_SCHEDULE.c[name]] for name in _ROW_FIELDS})
            )
            query, total = latest_by_grant.get(grant.id, (None, 0))
            out.append(CustomerOverview(grant, schedule, query, total, datasets.get(grant.id, {})))
        return out

    # -- one step at a time per customer -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def customer_lock(self, grant_id: int) -> AsyncIterator[None]:
        """Hold the customer's lock for the ``async with`` block: one step at a time per customer, in every process
        of the app (PostgreSQL) or in this process (SQLite). Waiting is asynchronous and may be cancelled."""
        local = _local_lock(self._store.engine.url.render_as_string(hide_password=True), grant_id)
        await _acquire(lambda: local.acquire(blocking=False))
        try:
            if self.dialect != "postgresql":
                yield
                return
            async with self._advisory_lock(grant_id):
                yield
        finally:
            local.release()

    @contextlib.asynccontextmanager
    async def _advisory_lock(self, grant_id: int) -> AsyncIterator[None]:
        """``pg_try_advisory_lock`` on a connection of its own, in autocommit (no transaction stays open while the
        step runs), released and returned to the pool afterwards."""
        engine = self._store.engine.execution_options(isolation_level="AUTOCOMMIT")
        conn = await asyncio.to_thread(engine.connect)
        try:
            statement = text("SELECT pg_try_advisory_lock(:ns, :key)")
            params = {"ns": _ADVISORY_NAMESPACE, "key": grant_id}
            await _acquire_async(lambda: asyncio.to_thread(lambda: bool(conn.execute(statement, params).scalar())))
            try:
                yield
            finally:
                unlock = text("SELECT pg_advisory_unlock(:ns, :key)")
                await asyncio.to_thread(conn.execute, unlock, params)
        finally:
            await asyncio.to_thread(conn.close)


_ROW_FIELDS = ("grant_id", *sorted(_SCHEDULE_FIELDS), "updated_at")
_LOCKS: dict[tuple[str, int], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _local_lock(database: str, grant_id: int) -> threading.Lock:
    """The lock of one customer of one database in this process (shared by every event loop and thread)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((database, grant_id), threading.Lock())


async def _acquire(try_once: Callable[[], bool]) -> None:
    attempt = 0
    while not try_once():
        await asyncio.sleep(_LOCK_POLL_S[min(attempt, len(_LOCK_POLL_S) - 1)])
        attempt += 1


async def _acquire_async(try_once: Callable[[], Any]) -> None:
    attempt = 0
    while not await try_once():
        await asyncio.sleep(_LOCK_POLL_S[min(attempt, len(_LOCK_POLL_S) - 1)])
        attempt += 1


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - _SCHEDULE_FIELDS
    if unknown:
        raise ValueError(f"unknown schedule fields: {', '.join(sorted(unknown))}")


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _schedule_out(row: Any) -> ScheduleRow:
    return ScheduleRow(**{name: getattr(row, name) for name in _ROW_FIELDS})


def _query_row(row: Any) -> QueryRow:
    """A ``portability_queries`` row read with Core (same attribute names as the ORM row)."""
    return _query_out(row)
