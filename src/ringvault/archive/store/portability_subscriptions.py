"""What an app's server heard from Amazon SNS (``portability_subscriptions``): the subscription confirmations it
received and what became of them, and the regions it accepted notifications from.

Without a confirmed SNS subscription Ring's notifications never arrive and every export is found by polling; status
must say so, also after a restart and in every process of the app, so this lives in the database rather than in one
process's memory. The endpoint that receives confirmations is unauthenticated, so the table is bounded: the newest
``KEEP_CONFIRMATIONS`` confirmations of an app are kept, plus the newest *confirmed* one of each region (a flood of
forged confirmations cannot push out the proof that a region's subscription works), and one ``notification`` row
per region.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Table, delete, insert, select, update

from ringvault.archive.store.models import PortabilitySubscription

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = ["KEEP_CONFIRMATIONS", "SubscriptionRow", "SubscriptionStore"]

_TABLE: Table = PortabilitySubscription.__table__  # type: ignore[assignment]
#: confirmations of an app kept (besides the newest confirmed one of each region)
KEEP_CONFIRMATIONS: Final = 50


@dataclass(frozen=True)
class SubscriptionRow:
    """One row of ``portability_subscriptions`` (see the model)."""

    id: int
    client_id: str
    kind: str
    topic_arn: str | None
    region: str | None
    subscribe_url: str | None
    received_at: datetime
    confirmed_at: datetime | None
    http_status: int | None
    error: str | None


class SubscriptionStore:
    """Typed access to ``portability_subscriptions`` of an :class:`ArchiveStore`."""

    def __init__(self, store: ArchiveStore) -> None:
        self._store = store

    def add_confirmation(
        self,
        client_id: str,
        *,
        topic_arn: str | None,
        region: str | None,
        subscribe_url: str | None,
        confirmed: bool,
        http_status: int | None = None,
        error: str | None = None,
    ) -> SubscriptionRow:
        """Keep one SubscriptionConfirmation and its outcome (``confirmed``: SNS accepted the server's confirmation
        now); older confirmations beyond the bound are deleted in the same transaction."""
        now = self._store.now()
        values: dict[str, Any] = {
            "client_id": client_id, "kind": "confirmation", "topic_arn": topic_arn, "region": region,
            "subscribe_url": subscribe_url, "received_at": now, "confirmed_at": now if confirmed else None,
            "http_status": http_status, "error": error,
        }  # fmt: skip
        with self._store._writing() as conn:
            new_id = conn.execute(insert(_TABLE).values(**values).returning(_TABLE.c.id)).scalar_one()
            rows = conn.execute(
                select(_TABLE.c.id, _TABLE.c.region, _TABLE.c.confirmed_at)
                .where(_TABLE.c.client_id == client_id, _TABLE.c.kind == "confirmation")
                .order_by(_TABLE.c.received_at.desc(), _TABLE.c.id.desc())
            ).all()
            keep: set[int] = {int(row.id) for row in rows[:KEEP_CONFIRMATIONS]}
            confirmed_regions: set[str | None] = set()
            for row in rows:  # newest first: the newest confirmed one of each region stays
                if row.confirmed_at is not None and row.region not in confirmed_regions:
                    confirmed_regions.add(row.region)
                    keep.add(int(row.id))
            gone = [int(row.id) for row in rows if int(row.id) not in keep]
            if gone:
                conn.execute(delete(_TABLE).where(_TABLE.c.id.in_(gone)))
            return _row(conn.execute(select(_TABLE).where(_TABLE.c.id == new_id)).one())

    def note_notification(self, client_id: str, *, topic_arn: str | None, region: str) -> None:
        """Remember that a notification about one of the app's queries came from a topic in ``region`` (one row per
        region: the newest)."""
        now = self._store.now()
        where = (_TABLE.c.client_id == client_id, _TABLE.c.kind == "notification", _TABLE.c.region == region)
        with self._store._writing() as conn:
            changed = conn.execute(update(_TABLE).where(*where).values(topic_arn=topic_arn, received_at=now))
            if getattr(changed, "rowcount", 0) == 0:
                conn.execute(
                    insert(_TABLE).values(
                        client_id=client_id, kind="notification", topic_arn=topic_arn, region=region,
                        received_at=now, confirmed_at=now,
                    )
                )  # fmt: skip

    def rows(self, client_id: str, kind: str | None = None) -> list[SubscriptionRow]:
        """The app's rows (of ``kind``, when given), oldest first."""
        stmt = select(_TABLE).where(_TABLE.c.client_id == client_id)
        if kind is not None:
            stmt = stmt.where(_TABLE.c.kind == kind)
        with self._store._reading() as conn:
            return [_row(row) for row in conn.execute(stmt.order_by(_TABLE.c.received_at, _TABLE.c.id)).all()]


def _row(row: Any) -> SubscriptionRow:
    return SubscriptionRow(
        id=int(row.id), client_id=row.client_id, kind=row.kind, topic_arn=row.topic_arn, region=row.region,
        subscribe_url=row.subscribe_url, received_at=row.received_at, confirmed_at=row.confirmed_at,
        http_status=row.http_status, error=row.error,
    )  # fmt: skip
