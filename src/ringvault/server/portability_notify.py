"""Ring's notifications to ``ringvault serve`` (part of the hub): a query's COMPLETED or CANCELED, and SNS
subscription confirmations.

A notification is acted on only for a query this server created, and only through the query's ``check`` step: a
COMPLETED makes the check due now, and Ring's records call then decides (a forged or premature notification changes
nothing; the check confirms with parameters no poll sends, so a poll's cached ``QUERY_NOT_COMPLETED`` cannot answer
it); a CANCELED is stored, and the check then asks whether the authorization still works. Duplicates (Ring retries;
SNS delivers at least once) change nothing.

SubscriptionConfirmations are confirmed by ``portability.notifications.confirm_subscription`` (its allow-list is the
only rule: Amazon SNS's own URL for a topic of ``RINGVAULT_PORTABILITY_SNS_REGIONS``) and kept in the archive with
their outcome, like the regions notifications came from: status says whether notifications can arrive at all.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from ringvault.archive.store.portability import QueryRow
from ringvault.portability.notifications import (
    QueryNotification,
    SubscriptionConfirmation,
    SubscriptionOutcome,
    confirm_subscription,
    topic_region,
)
from ringvault.server.portability_core import HubCore, UnknownQueryError
from ringvault.transport import redact

__all__ = ["NotificationsMixin"]

log = logging.getLogger("ringvault.server.portability")

#: how long a notification for an id not stored yet waits for creates in flight (Ring may notify that fast)
_CREATE_RACE_S = 5.0
#: an export step that started this long ago is no longer a create in flight
_CREATE_IN_FLIGHT_S = 120.0
#: why a confirmation was not confirmed when confirming is turned off
_NOT_ASKED = (
    "not confirmed automatically (RINGVAULT_PORTABILITY_CONFIRM_SUBSCRIPTIONS=0): open its SubscribeURL to confirm it"
)
#: the schedule reasons of a check that is confirming a COMPLETED notification (a new one is a duplicate then)
_CONFIRMING = frozenset({"notified", "confirming"})


class NotificationsMixin(HubCore):
    """Notifications and subscription confirmations."""

    async def on_notification(self, notification: QueryNotification) -> dict[str, Any]:
        """A notification for one of our queries: COMPLETED makes its check due now (the import follows once Ring's
        records call agrees); CANCELED ends it, then the grant is checked with Ring. Raises ``UnknownQueryError``
        for a query this server did not create."""
        query = await self._known_query(notification.query_id)
        grant = None if query is None else await self.db(self.store.portability.get_grant, query.grant_id)
        if query is None or grant is None or not self.ours(grant):
            raise UnknownQueryError(notification.query_id)
        await self._note_topic(notification)
        if query.state != "created":
            return {"query_id": query.id, "state": query.state, "accepted": False, "reason": "already notified"}
        schedule = await self.db(self.schedule.get, grant.id)
        if schedule.step == "check" and schedule.arg == query.id and schedule.reason in _CONFIRMING:
            return {"query_id": query.id, "state": query.state, "accepted": False, "reason": "already notified"}
        if notification.completed:
            await self.db(
                self.schedule.set, grant.id, step="check", arg=query.id, due_at=self.now(), reason="notified",
                detail=f"Ring says query {query.id} is COMPLETED; confirming with a records call",
            )  # fmt: skip
            await self.queue.defer("check", query.id)
            return {"query_id": query.id, "state": query.state, "accepted": True}
        stored = await self.db(self.runner.record, notification)
        if stored is None:
            raise UnknownQueryError(notification.query_id)
        log.info("query %s of customer %s was CANCELED by Ring; checking the authorization", stored.id, grant.customer)
        await self.db(
            self.schedule.set, grant.id, step="check", arg=query.id, due_at=self.now(), reason="notified",
            detail=f"Ring canceled query {query.id}; checking the authorization",
        )  # fmt: skip
        await self.queue.defer("check", query.id)
        return {"query_id": stored.id, "state": stored.state, "accepted": True}

    async def _known_query(self, query_id: str) -> QueryRow | None:
        """The stored query; Ring can notify before createDataQuery's answer was stored, so an unknown id waits a
        little while an export of this app is in flight (in any process: the schedule says so)."""
        query = await self.db(self.store.portability.get_query, query_id)
        if query is not None:
            return query
        deadline = self._monotonic() + _CREATE_RACE_S
        since = self.now() - timedelta(seconds=_CREATE_IN_FLIGHT_S)
        while query is None and self._monotonic() < deadline:
            if not await self.db(self.schedule.exporting_since, self.client_id, since):
                return None
            await asyncio.sleep(0.1)
            query = await self.db(self.store.portability.get_query, query_id)
        return query

    async def on_subscription(self, confirmation: SubscriptionConfirmation) -> dict[str, Any]:
        """An SNS SubscriptionConfirmation: confirmed when ``confirm_subscriptions`` is on (the default) and the
        policy of ``notifications.confirm_subscription`` allows it (Amazon SNS's own ConfirmSubscription URL for a
        topic of the configured regions; nothing else is ever fetched), and kept in the archive with its outcome."""
        log.warning(
            "Data Portability: SNS SubscriptionConfirmation for topic %s, SubscribeURL %s (the full URL, with its "
            "token, is at GET /portability/subscriptions)",
            confirmation.topic_arn,
            redact(confirmation.subscribe_url),
        )
        if self.settings.confirm_subscriptions:
            outcome = await confirm_subscription(
                confirmation, regions=self.settings.sns_regions, cloud_url=self.config.cloud_url
            )
        else:
            outcome = SubscriptionOutcome(
                False, confirmation.topic_arn, topic_region(confirmation.topic_arn), error=_NOT_ASKED
            )
        await self.db(
            self.sns.add_confirmation, self.client_id, topic_arn=outcome.topic_arn or confirmation.topic_arn,
            region=outcome.region, subscribe_url=confirmation.subscribe_url, confirmed=outcome.confirmed,
            http_status=outcome.status, error=outcome.error,
        )  # fmt: skip
        return {"subscription": "logged", "confirmed": outcome.confirmed}

    async def _note_topic(self, notification: QueryNotification) -> None:
        """A notification about one of our queries came through SNS: its topic's region has a working subscription
        (only Ring and this server know the query ids, so this is not something a stranger can claim)."""
        region = topic_region(notification.topic_arn)
        if region is None or region not in self.settings.sns_regions:
            return
        await self.db(self.sns.note_notification, self.client_id, topic_arn=notification.topic_arn, region=region)
