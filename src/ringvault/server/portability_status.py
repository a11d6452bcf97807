"""What ``GET /portability/customers``, ``GET /portability/queries/{id}`` and ``GET /portability/subscriptions`` show
(part of the hub): per customer the step running or due next and **why it waits** — read from the schedule in the
database, so every process of the app shows the same — and whether Ring's notifications can arrive at all.

Reasons (``waiting.reason``; ``waiting.text`` says what it means, ``waiting.message`` the moment's particulars,
``waiting.until`` when it ends; the sentences are in ``ringvault.portability.waiting``):

==================  ============================================================================================
``queued``          customers who asked earlier go first (createDataQuery is first come, first served)
``imports_first``   completed exports of other customers are listed first (their listing window runs)
``create_window``   the app's 20-per-20-minutes createDataQuery window is full until ``until``
``create_rate``     the app's createDataQuery rate (5/s, burst 5) allows this export at ``until``
``conflict``        Ring answered 409: an open query of the customer this archive does not know; asked again later
``throttled``       Ring answered 429 beyond the client's retries; tried again at ``until``
``ring_failing``    Ring kept answering 5xx (or an unknown error) beyond the client's retries; tried again later
``daily_quota``     the app's 100,000 list calls of the UTC day are used up until ``until``
``listing_window``  a query's hour of listing ran out: it was closed as expired and a new export is queued
``notification``    waiting for Ring's notification; the query is checked at ``until`` at the latest
``notified``        Ring said COMPLETED; a records call is confirming it
``confirming``      Ring said COMPLETED but the records call answered QUERY_NOT_COMPLETED (perhaps an answer Ring
                    repeats for 5 minutes): asked again at ``until``, after that answer has expired
``listing``         Ring completed the query: it is being listed (the listing window ends one hour after)
``retry``           a failure (``last_error``); tried again at ``until``
``recurring``       imported; the next recurring export is at ``until``
``done``            imported; no recurring export (off, or the authorization is not active)
``authorization``   Ring refuses the authorization: nothing more until the customer connects again
==================  ============================================================================================

``notifications`` (in the customers' and the subscriptions' answers): ``code`` ``confirmed``, ``partial``,
``unconfirmed`` or ``none`` and a sentence (``portability.notifications.subscription_status``), from the SNS
confirmations and notifications kept in the archive.
"""

from __future__ import annotations

from typing import Any

from ringvault.archive.store.portability import QueryRow
from ringvault.archive.store.portability_schedule import CustomerOverview
from ringvault.portability.notifications import SubscriptionStatus
from ringvault.portability.waiting import notification_status, waiting, working
from ringvault.server.portability_core import HubCore, UnknownQueryError

__all__ = ["StatusMixin", "query_summary"]


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
            "working": working(schedule),
            "waiting": waiting(schedule),
            "last_error": schedule.last_error,
            "recurring": None
            if every is None or grant.status != "active"
            else {"every_s": every, "effective_every_s": effective, "next_at": schedule.recur_at},
            "latest_query": None if row.latest_query is None else query_summary(row.latest_query),
            "queries": row.queries,
            "records": sum(row.datasets.values()),
            "datasets": row.datasets,
        }

    def notifications(self) -> SubscriptionStatus:
        """Whether Ring's notifications can arrive: from the SNS confirmations and notifications in the archive."""
        return notification_status(self.sns.rows(self.client_id), self.settings.sns_regions)

    def subscriptions(self) -> list[dict[str, Any]]:
        """The SNS SubscriptionConfirmations received (newest last), with their SubscribeURL and outcome."""
        return [
            {
                "received_at": row.received_at,
                "topic_arn": row.topic_arn,
                "region": row.region,
                "subscribe_url": row.subscribe_url,
                "confirmed": row.confirmed_at is not None,
                "confirmed_at": row.confirmed_at,
                "status": row.http_status,
                "error": row.error,
            }
            for row in self.sns.rows(self.client_id, "confirmation")
        ]

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
