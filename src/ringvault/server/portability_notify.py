"""Ring's notifications to ``ringvault serve`` (part of the hub): a query's COMPLETED or CANCELED, and SNS
subscription confirmations.

A notification is acted on only for a query this server created, and only through the query's ``check`` step: a
COMPLETED makes the check due now, and Ring's records call then decides (a forged or premature notification changes
nothing); a CANCELED is stored, and the check then asks whether the authorization still works. Duplicates (Ring
retries; SNS delivers at least once) change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from ringvault import __version__
from ringvault.archive.store.portability import QueryRow
from ringvault.portability.notifications import QueryNotification, SubscriptionConfirmation
from ringvault.server.portability_core import HubCore, UnknownQueryError
from ringvault.transport import redact

__all__ = ["NotificationsMixin"]

log = logging.getLogger("ringvault.server.portability")

#: how long a notification for an id not stored yet waits for creates in flight (Ring may notify that fast)
_CREATE_RACE_S = 5.0
#: an export step that started this long ago is no longer a create in flight
_CREATE_IN_FLIGHT_S = 120.0


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
        if query.state != "created":
            return {"query_id": query.id, "state": query.state, "accepted": False, "reason": "already notified"}
        schedule = await self.db(self.schedule.get, grant.id)
        if schedule.step == "check" and schedule.arg == query.id and schedule.reason == "notified":
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
        """Log an SNS SubscriptionConfirmation; confirm it only when allowed and the URL is Amazon SNS's own."""
        url = confirmation.subscribe_url
        entry: dict[str, Any] = {
            "received_at": self.now().isoformat(),
            "topic_arn": confirmation.topic_arn,
            "subscribe_url": url,
            "confirmed": False,
        }
        self.subscriptions = [*self.subscriptions[-49:], entry]
        log.warning(
            "Data Portability: SNS SubscriptionConfirmation for topic %s, SubscribeURL %s (the full URL, with its "
            "token, is at GET /portability/subscriptions)",
            confirmation.topic_arn,
            redact(url),
        )
        target = self._sns_url(url)
        if not self.settings.confirm_subscriptions or target is None:
            if self.settings.confirm_subscriptions:
                entry["error"] = "not confirmed: the SubscribeURL is not an Amazon SNS ConfirmSubscription URL"
                log.warning("not confirming it automatically: %s", entry["error"])
            return {"subscription": "logged", "confirmed": False}
        from ringvault.transport import ExponentialBackoff, HttpClient, RetryPolicy, TransportError, display_url

        display = f"GET {display_url(target)}"
        try:
            # One attempt through the shared transport (redacted logs, no redirects; its failures come back as
            # TransportError): the SubscribeURL carries a token.
            async with HttpClient(timeout_s=10.0, user_agent=f"ringvault/{__version__}", logger=log) as browser:
                answer = await browser.retry(
                    lambda: browser.send(browser.build_request("GET", target), display=display),
                    policy=RetryPolicy(backoff=ExponentialBackoff(), max_retries=0),
                    retryable=lambda _exc: False,
                    what=display,
                )
        except TransportError as exc:  # one line, no traceback: the operator can still confirm by hand
            entry["error"] = f"{type(exc).__name__}"
            log.warning("confirming the SNS subscription failed: %s", entry["error"])
            return {"subscription": "logged", "confirmed": False}
        entry["confirmed"] = answer.is_success
        entry["status"] = answer.status_code
        log.info("SNS subscription confirmation answered HTTP %d", answer.status_code)
        return {"subscription": "logged", "confirmed": answer.is_success}

    def _sns_url(self, url: str) -> str | None:
        """``url`` (resolved through the cloud URL) when it is ``https://sns.<region>.amazonaws.com/?Action=
        ConfirmSubscription...`` — the only URL an unauthenticated request may make this server fetch."""
        from urllib.parse import parse_qs, urlsplit

        from ringvault.cloud.endpoints import resolve

        cloud = self.config.cloud_url
        text = url
        if cloud and url.startswith(cloud.rstrip("/") + "/"):
            text = "https://" + url[len(cloud.rstrip("/")) + 1 :]
        parts = urlsplit(text)
        host = parts.hostname or ""
        region = host.removeprefix("sns.").removesuffix(".amazonaws.com")
        if parts.scheme != "https" or parts.port is not None or host != f"sns.{region}.amazonaws.com":
            return None
        if not region or not all(c.isalnum() or c == "-" for c in region):
            return None
        if parse_qs(parts.query).get("Action") != ["ConfirmSubscription"]:
            return None
        return resolve(text, cloud)
