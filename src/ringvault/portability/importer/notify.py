"""Notifications meeting importers: the in-process hub, and what a notification changes in the archive."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import QueryRow
    from ringvault.portability.notifications import QueryNotification

__all__ = ["CANCELED_MESSAGE", "OPEN_STATES", "NotificationHub", "record_notification"]

#: states of a query an importer still has work for (``failed`` is resumed only explicitly)
OPEN_STATES: Final = frozenset({"created", "notified", "listed", "downloaded"})
CANCELED_MESSAGE: Final = "Ring canceled the export (authorization revoked or expired, or the account is on hold)"


class NotificationHub:
    """Where notifications meet waiting importers of the same process: ``deliver()`` wakes ``wait_for()``."""

    def __init__(self) -> None:
        self._status: dict[str, str] = {}
        self._events: dict[str, asyncio.Event] = {}

    def deliver(self, query_id: str, status: str) -> None:
        self._status[query_id] = status
        event = self._events.get(query_id)
        if event is not None:
            event.set()

    def status(self, query_id: str) -> str | None:
        return self._status.get(query_id)

    async def wait_for(self, query_id: str, timeout_s: float) -> str | None:
        """The delivered status of ``query_id``, waiting at most ``timeout_s`` for one."""
        if query_id in self._status:
            return self._status[query_id]
        event = self._events.setdefault(query_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
        return self._status.get(query_id)


def record_notification(
    store: ArchiveStore, notification: QueryNotification, hub: NotificationHub | None = None
) -> QueryRow | None:
    """Store a notification's news about a known query and wake a waiting importer; None for an unknown query id.

    COMPLETED moves a ``created`` query to ``notified`` (later states are kept); CANCELED ends an open query as
    ``canceled`` (``PortabilityImporter.check_grant()`` then tells whether the authorization was revoked or has
    expired). The notification time starts the 1-hour listing window."""
    dp = store.portability
    query = dp.get_query(notification.query_id)
    if query is None:
        return None
    if hub is not None:
        hub.deliver(notification.query_id, notification.status)
    now = datetime.now(UTC)
    if notification.status == "COMPLETED":
        if query.state == "created":
            return dp.update_query(query.id, state="notified", status="COMPLETED", notified_at=now)
        if query.status is None:
            return dp.update_query(query.id, status="COMPLETED", notified_at=query.notified_at or now)
        return query
    if query.state in OPEN_STATES:
        return dp.update_query(query.id, state="canceled", status="CANCELED", notified_at=now, error=CANCELED_MESSAGE)
    return query
