"""Dead queries: a query whose listing hour has run out is closed as expired and replaced; nothing resumes it.

Ring lets an app list a query's records "for at most 1 hour after the response notification has been sent", then
answers ``403 ACCESS_TIME_ELAPSED`` ("Create a new query"). A query still ``created`` in the archive when that happens
(its notification lost or never confirmed, the app down for an hour, a killed export re-run later) would otherwise be
adopted again by every run: every new export would be refused with 409 while ringvault waits on a query that can never
be listed. So:

- ``errors.is_query_dead(exc)`` decides (the CLI and ``ringvault serve`` ask the same function);
- ``expire_query(store, query_id, exc)`` closes it: state ``failed`` (no importer, CLI or server resumes a failed
  query), status ``EXPIRED``, the reason in ``error``. The query states are a CHECK-constrained list in the archive
  schema, so "expired" is this state/status pair rather than a new state (``is_expired`` tells it apart);
- a new query is created in its place. Ring allows one query in progress per customer and scope; an expired query is
  COMPLETED (its hour started with the COMPLETED notification), so the new create is accepted at once. A 409 then
  means another query of this customer is in progress (one created by a process that died before storing its id):
  ``ConflictBudget`` waits for it with a bounded schedule, saying why, and gives up with ``StillConflictingError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ringvault.portability.errors import RequestConflictError, is_query_dead

if TYPE_CHECKING:
    from ringvault.archive.store.portability import PortabilityStore, QueryRow

__all__ = [
    "CONFLICT_DELAYS",
    "EXPIRED_STATUS",
    "ConflictBudget",
    "StillConflictingError",
    "expire_query",
    "is_expired",
    "is_query_dead",
]

#: ``portability_queries.status`` of a query closed because its listing window ran out (its state is ``failed``).
EXPIRED_STATUS: Final = "EXPIRED"
#: waits between two createDataQuery calls answered 409 (the last repeats). Each call costs one of the app's 20
#: creates per 20 minutes, so they are spaced out: Ring says to wait for the query in progress to reach its final
#: state, which takes minutes.
CONFLICT_DELAYS: tuple[float, ...] = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)
_FINISHED_STATES: Final = frozenset({"imported", "canceled"})
_EXPIRED_REASON: Final = (
    "expired: Ring's hour for listing this export ran out before it was imported (ACCESS_TIME_ELAPSED); it can "
    "never be listed again, so a new export replaces it"
)


def is_expired(query: QueryRow) -> bool:
    """Whether ``query`` was closed by ``expire_query``."""
    return query.state == "failed" and query.status == EXPIRED_STATUS


def expire_query(store: PortabilityStore, query_id: str, exc: BaseException | None = None) -> QueryRow | None:
    """Close ``query_id`` as expired (see the module docstring); None when the archive does not know it.

    Idempotent. A query already imported or canceled is left as it is; one the importer already failed for the same
    reason keeps its message (which says what was imported before the window closed)."""
    query = store.get_query(query_id)
    if query is None or query.state in _FINISHED_STATES or is_expired(query):
        return query
    if exc is not None and not is_query_dead(exc):
        raise ValueError(f"{type(exc).__name__} does not mean that export {query_id} is dead")
    error = query.error if query.state == "failed" and query.error else _EXPIRED_REASON
    return store.update_query(query_id, state="failed", status=EXPIRED_STATUS, error=error)


class StillConflictingError(RequestConflictError):
    """createDataQuery kept answering 409 for longer than the caller was willing to wait (wait reason
    ``conflict``)."""

    hint = (
        "Ring has another export of this customer in progress; run `ringvault portability export` again later (it "
        "asks for a new export once that one has finished)."
    )


class ConflictBudget:
    """A ``sleep`` for the waits between 409 answers that refuses to wait past ``budget_s`` in total: it raises
    ``StillConflictingError`` instead (the wait is bounded; the create loop that calls it ends there).

    Give it to ``PollPolicy(sleep=...)`` of the importer that runs ``start()``; ``on_wait(seconds)`` is told each wait
    (the importer also reports it as progress)."""

    def __init__(
        self,
        budget_s: float,
        *,
        customer: str,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.budget_s = max(0.0, budget_s)
        self.customer = customer
        self._clock = clock
        self._sleep = sleep
        self._deadline = clock() + self.budget_s
        self.waits: list[float] = []

    async def __call__(self, delay: float) -> None:
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise StillConflictingError(
                f"another export of this customer was still in progress at Ring after waiting {self.budget_s:.0f} s",
                context=f"new export of customer {self.customer!r}",
            )
        wait = min(delay, remaining)
        self.waits.append(wait)
        result = self._sleep(wait)
        if asyncio.iscoroutine(result):
            await result
