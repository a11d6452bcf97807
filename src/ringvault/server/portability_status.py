"""What ``GET /portability/customers`` and ``GET /portability/queries/{id}`` show (part of the hub): per customer the
step running or due next and **why it waits** — read from the schedule in the database, so every process of the app
shows the same.

Reasons (``waiting.reason``; ``waiting.message`` says it in a sentence, ``waiting.until`` when it ends):

==================  ============================================================================================
``queued``          customers who asked earlier go first (createDataQuery is first come, first served)
``imports_first``   completed exports of other customers are listed first (their listing window runs)
``create_window``   the app's 20-per-20-minutes createDataQuery window is full until ``until``
``create_rate``     the app's createDataQuery rate (5/s, burst 5) allows this export at ``until``
``conflict``        Ring answered 409: an open query of the customer this archive does not know; asked again later
``throttled``       Ring answered 429 beyond the client's retries; tried again at ``until``
``daily_quota``     the app's 100,000 list calls of the UTC day are used up until ``until``
``notification``    waiting for Ring's notification; the query is checked at ``until`` at the latest
``notified``        Ring said COMPLETED; a records call is confirming it
``listing``         Ring completed the query: it is being listed (the listing window ends one hour after)
``retry``           a failure (``last_error``); tried again at ``until``
``recurring``       imported; the next recurring export is at ``until``
``done``            imported; no recurring export (off, or the authorization is not active)
``authorization``   Ring refuses the authorization: nothing more until the customer connects again
==================  ============================================================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ringvault.archive.store.portability import QueryRow
from ringvault.archive.store.portability_schedule import CustomerOverview, ScheduleRow
from ringvault.server.portability_core import HubCore, UnknownQueryError

__all__ = ["StatusMixin", "query_summary"]

_CREATE_WAITS = frozenset({"create_window", "create_rate"})


class StatusMixin(HubCore):
    """The status endpoints."""

    def customers(self) -> list[dict[str, Any]]:
        """Every customer of this app: grant, the step running or due and why it waits, recurring exports, latest
        query, records per data set. A fixed number of database queries, whatever the number of customers."""
        rows = self.schedule.overview(self.client_id)
        every = self.settings.recur_every_s
        effective = None
        if every is not None:
            recurring = sum(1 for row in rows if row.grant.status == "active")
            capacity = self.settings.rate_limits.creates_per_day()
            effective = max(every, recurring / capacity * 86400.0)
        return [self._customer(row, every, effective) for row in rows]

    def _customer(self, row: CustomerOverview, every: float | None, effective: float | None) -> dict[str, Any]:
        grant, schedule = row.grant, row.schedule
        return {
            "customer": grant.customer,
            "grant_id": grant.id,
            "brand": grant.brand,
            "region": grant.region,
            "status": grant.status,
            "connected_at": grant.created_at,
            "authorized": self.tokens.path_for(grant.brand, grant.customer).exists(),
            "step": schedule.step,
            "working": _working(schedule),
            "waiting": _waiting(schedule),
            "last_error": schedule.last_error,
            "recurring": None
            if every is None or grant.status != "active"
            else {"every_s": every, "effective_every_s": effective, "next_at": schedule.recur_at},
            "latest_query": None if row.latest_query is None else query_summary(row.latest_query),
            "queries": row.queries,
            "records": sum(row.datasets.values()),
            "datasets": row.datasets,
        }

    def query_detail(self, query_id: str) -> dict[str, Any]:
        portability = self.store.portability
        query = portability.get_query(query_id)
        grant = portability.get_grant(query.grant_id) if query is not None else None
        if query is None or grant is None or not self.ours(grant):
            raise UnknownQueryError(query_id)
        schedule = self.schedule.get(grant.id)
        return {
            **query_summary(query),
            "customer": grant.customer,
            "scope_id": query.scope_id,
            "running": schedule.running_since is not None and schedule.arg == query.id,
            "files": [
                {
                    "ordinal": f.ordinal,
                    "dataset": f.dataset,
                    "state": f.state,
                    "records": f.records,
                    "bytes": f.bytes,
                    "error": f.error,
                }
                for f in portability.list_files(query_id)
            ],
        }


def _working(schedule: ScheduleRow) -> dict[str, Any] | None:
    if schedule.running_since is None or schedule.step is None:
        return None
    query_id = None if schedule.step == "export" else schedule.arg
    return {"phase": schedule.step, "query_id": query_id, "since": schedule.running_since}


def _waiting(schedule: ScheduleRow) -> dict[str, Any] | None:
    if schedule.running_since is not None or schedule.reason is None:
        return None
    until: datetime | None = schedule.due_at if schedule.step is not None else None
    if schedule.reason in _CREATE_WAITS and schedule.permit_at is not None:
        until = schedule.permit_at
    return {"reason": schedule.reason, "message": schedule.detail, "until": until}


def query_summary(query: QueryRow) -> dict[str, Any]:
    return {
        "id": query.id,
        "state": query.state,
        "status": query.status,
        "error": query.error,
        "records_imported": query.records_imported,
        "datasets": query.datasets,
        "created_at": query.created_at,
        "notified_at": query.notified_at,
        "listed_at": query.listed_at,
        "imported_at": query.imported_at,
    }
