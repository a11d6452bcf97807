"""The many-customers side of ``ringvault serve``: Login with Ring for new customers, and their imports.

One :class:`PortabilityHub` per process of the app. Its state is in the archive database, never only in its memory,
so a restart resumes where it stopped and several processes (``ringvault worker``\\ s on PostgreSQL) share the work:

- **customers**: one token file per customer (``{token_dir}/{brand}/{customer}.json``, 0600) and one grant row
  (``portability_grants``); no pending login is kept (``portability_logins``);
- **queries**: the lifecycle of each export in ``portability_queries`` (the importer's), at most one open per
  customer (Ring's rule for one scope, and ours until it is imported);
- **the schedule**: per customer the next step, when it is due and why it waits (``portability_schedule``); the
  app's API budgets — creates 5/s, burst 5, 20 per 20 minutes; lists 10/s, burst 5, 100,000 a day — counted per
  Application as seed 003 says (``portability_limits``), each call in a short database transaction.

The work is **steps** (``export``, ``check``, ``import``: ``portability_steps``) run by :meth:`run_step` and put in
a :class:`~ringvault.server.portability_work.WorkQueue` (asyncio tasks of this process for SQLite ``serve``;
procrastinate jobs for workers). Creates are queued fairly (first come, first served, one in flight per customer),
wait for their slot without holding anything, and give way to imports: completed queries are listed first, long
before their hour runs out. Nothing is dropped: a 429 is retried, a failed export or import is tried again with
backoff, an expired query is replaced by a new export, and status says why and until when a customer waits
(``portability_status``). Ring's notifications make a query's check due (``portability_notify``); without one, the
check polls at doubling waits, never more than a third of the listing window apart.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from ringvault.archive.store.portability import GrantRow, QueryRow
from ringvault.archive.store.portability_schedule import ScheduleRow
from ringvault.server.portability_core import (
    IMPORTING_STATES,
    OPEN_QUERY_STATES,
    LoginError,
    QueryRunner,
    UnknownQueryError,
)
from ringvault.server.portability_logins import LoginsMixin
from ringvault.server.portability_notify import NotificationsMixin
from ringvault.server.portability_status import StatusMixin, query_summary
from ringvault.server.portability_steps import StepsMixin, when
from ringvault.server.portability_work import check_step

__all__ = ["LoginError", "PortabilityHub", "QueryRunner", "UnknownQueryError", "query_summary"]

log = logging.getLogger("ringvault.server.portability")

#: a query found ``created`` at start-up is checked this soon (its notification may have come while we were down)
_RESUME_CHECK_S = 5.0


class PortabilityHub(LoginsMixin, StepsMixin, NotificationsMixin, StatusMixin):
    """See the module docstring; the constructor is ``HubCore``'s (settings, store, runner, ``http=``, ``queue=``,
    ``clock=``)."""

    async def start(self) -> None:
        """Put every customer's next step back in the queue (called when the server starts): open queries are
        checked or imported, queued and recurring exports are due at their stored time, and an active customer with
        nothing scheduled (connected before this version, or whose export an older one dropped) gets an export."""
        grants = [g for g in await self.db(self.store.portability.list_grants) if self.ours(g)]
        schedules = {row.grant_id: row for row in await self.db(self.schedule.rows, [g.id for g in grants])}
        open_queries: dict[int, QueryRow] = {}
        for query in await self.db(self.store.portability.list_queries, open_only=True):
            if query.state in OPEN_QUERY_STATES:
                open_queries.setdefault(query.grant_id, query)
        for grant in grants:
            schedule = schedules.get(grant.id) or ScheduleRow(grant.id)
            if schedule.running_since is not None:  # a step cut short by the stop: it runs again
                schedule = await self.db(self.schedule.set, grant.id, running_since=None)
            current = open_queries.get(grant.id)
            if current is not None:
                await self._resume_query(grant, current, schedule)
            elif schedule.step is not None and schedule.arg is not None:
                await self._defer_due(check_step(schedule.step), schedule.arg, schedule)
            elif grant.status == "active":
                await self._resume_idle(grant, schedule)

    async def _resume_query(self, grant: GrantRow, query: QueryRow, schedule: ScheduleRow) -> None:
        if query.state in IMPORTING_STATES:
            log.info("resuming the import of query %s (%s)", query.id, query.state)
            await self._due_now(grant.id, "import", query.id, "listing", f"resuming the import of query {query.id}")
            return
        mine = schedule.step == "check" and schedule.arg == query.id
        if mine and schedule.reason in ("notified", "confirming"):  # confirming a notification: it goes on so
            await self._defer_due("check", query.id, schedule)
            return
        delay = min(_RESUME_CHECK_S, self.settings.poll_max_s)
        if mine and schedule.due_at is not None:
            delay = min(delay, max(0.0, (schedule.due_at - self.now()).total_seconds()))
        await self._wait(
            grant, "check", query.id, delay, "notification",
            f"query {query.id} was waiting for Ring's notification when the server stopped; checking it",
            failures=schedule.failures if schedule.arg == query.id else 0,
        )  # fmt: skip

    async def _resume_idle(self, grant: GrantRow, schedule: ScheduleRow) -> None:
        """An active customer with no open query and nothing due."""
        latest = (await self.db(self.store.portability.list_queries, grant_id=grant.id))[-1:]
        if not latest:
            await self.request_export(grant, detail="connected; waiting for a createDataQuery slot")
            return
        query = latest[0]
        every = self.settings.recur_every_s
        if query.state == "imported":
            if every is None:
                return
            at = (query.imported_at or self.now()) + timedelta(seconds=every)
            delay = max(0.0, (at - self.now()).total_seconds())
            await self._wait(
                grant, "export", str(grant.id), delay, "recurring", f"the next export at {when(max(at, self.now()))}",
                queued_at=at, recur_at=at, failures=0,
            )  # fmt: skip
            return
        # failed or canceled, and nothing retried it (an older version): a new export, with backoff
        await self._new_export_later(grant, schedule, f"query {query.id} is {query.state}")

    async def aclose(self) -> None:
        """Stop the work (every step is committed as it ends, so the next start resumes it)."""
        self._closed = True
        await self.queue.aclose()
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
