"""The work of the hub as steps (``export``, ``check``, ``import``; see ``portability_work``), each run to completion
against the database state by ``run_step`` and rescheduled through the work queue — never waiting in memory for a
limit, never dropped.

**Export** (arg: grant id). Only while the customer's schedule asks for one (``step = 'export'``, due). In order:

1. an open query of the customer is followed instead (its check or import);
2. *imports first*: while ``backlog_limit`` completed queries of the app wait to be listed, no new query is created
   (each would start another one-hour listing window); the step waits a moment and looks again;
3. *first come, first served*: a customer waits while others asked earlier and have no create slot yet;
4. a createDataQuery slot is reserved in the app's budget (shared by every process through the database). A slot
   further away than ``max_create_wait_s`` is stored (``permit_at``) and the step is rescheduled for it: nothing is
   held meanwhile, least of all an import slot;
5. createDataQuery. A 409 (an open query this archive does not know), a 429 the client's retries did not get past, a
   refusal or a network failure reschedules the export with backoff (``export_retry_s``, the last wait repeating); a
   refused authorization stops the customer's schedule with the reason.

**Check** (arg: query id). One records call with the priority of a check (it leaves the end of the list budget to
imports). Without a notification it is a poll (``client.is_listable``); after a COMPLETED notification it confirms
it (``client.confirm_completed``, with parameters no poll sends: Ring may answer the same call with the same response
for five minutes, and the poll just before the notification may have been answered QUERY_NOT_COMPLETED). COMPLETED →
the query is ``notified`` and its import is due now; QUERY_NOT_COMPLETED → polled again after doubling waits, never
more than a third of the listing window apart, except that an unconfirmed notification is confirmed once more after
the cached answer has expired (``response_ttl_s`` + 5 s, a step deferred through the queue, never a wait inside
one); a query Ring says is dead (``errors.is_query_dead``: ACCESS_TIME_ELAPSED, its listing window is over) is closed
as expired by ``renewal.expire_query`` — the CLI's rule — and a new export queued. A notification only makes the check
due now (a forged or premature COMPLETED changes nothing: Ring's records call decides).

**Import** (arg: query id). Takes one of this process's import slots (only imports do), then list → download →
import. A failure is retried from the stored state (``import_retry_s``) until Ring says the query is dead (its
listing window is over); then it expires (``renewal.expire_query``) and a new export replaces it. Imported → the
next recurring export is scheduled (``recur_every_s``) until Ring refuses the authorization.

A failure waits under the error's own reason where it has one (``conflict``, ``throttled``, ``daily_quota``,
``ring_failing``: ``errors.WAIT_REASONS``), else ``retry``; ``ringvault.portability.waiting`` says each in a sentence.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from ringvault.archive.store.portability import GrantRow, QueryRow
from ringvault.archive.store.portability_schedule import ScheduleRow
from ringvault.portability.errors import (
    AccessDeniedError,
    DailyQuotaReachedError,
    InvalidGrantError,
    NotAuthorizedError,
    PortabilityError,
    RateLimitError,
    RequestConflictError,
    is_query_dead,
)
from ringvault.portability.importer import ExportCanceledError
from ringvault.portability.limits import PermitLaterError
from ringvault.portability.notifications import QueryNotification
from ringvault.portability.renewal import expire_query
from ringvault.server.portability_core import IMPORTING_STATES, HubCore
from ringvault.server.portability_work import Step, check_step

__all__ = ["StepsMixin", "when"]

log = logging.getLogger("ringvault.server.portability")

#: a step run this much before its due time runs anyway (clock jitter between processes)
_EARLY_S = 0.05
#: a customer who waits for earlier ones is not held up by a step nobody ran for this long (a dead process's)
_STALE_S = 60.0
#: how often the first export in line looks again while imports go first
_BACKLOG_WAIT_S = 0.5
#: exports due within this long are in line (a later customer waits for them); no "queued" wait is longer
_QUEUE_HORIZON_S = 10.0
#: a waiting step whose reason did not change rewrites its schedule row at most this often (its due time only has
#: to stay within the queue's horizon)
_QUIET_S = 5.0
#: a query found ``created`` at start-up is checked this soon (its notification may have come while we were down)
_RESUME_CHECK_S = 5.0
#: the schedule reasons of a check that confirms a COMPLETED notification (the first check; the re-check after the
#: response cache's TTL)
_CONFIRM_REASONS = frozenset({"notified", "confirming"})
#: the re-check of an unconfirmed COMPLETED notification comes this long after the cached answer expires
_RECHECK_MARGIN_S = 5.0
#: errors that mean Ring no longer accepts the customer's authorization (or the token is gone)
_GRANT_ERRORS = (InvalidGrantError, NotAuthorizedError, AccessDeniedError, ExportCanceledError)


def when(at: datetime) -> str:
    """A time for a status line: ``2026-12-10 10:00:05 UTC``."""
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def _epoch(at: datetime) -> float:
    return at.timestamp()


def _reason(exc: PortabilityError) -> str:
    """The wait reason of a failure: the error's own (``conflict``, ``throttled``, ``daily_quota``,
    ``ring_failing`` ...: ``errors.WAIT_REASONS``) or ``retry``."""
    reason = exc.wait_reason
    return reason.code if reason is not None else "retry"


class StepsMixin(HubCore):
    """The steps, their follow-ups and their failures."""

    # -- entry points --------------------------------------------------------------------------------------------

    async def run_step(self, step: Step, arg: str) -> None:
        """Run one step to completion against the stored state (see the module docstring): idempotent, safe to run
        twice or in two processes at once. Never raises for a customer's failure: it is stored and retried."""
        try:
            if step == "export":
                await self._export_step(int(arg))
            elif step == "check":
                await self._check_step(arg)
            elif step == "import":
                await self._import_step(arg)
            else:  # a step of a newer version in a shared job queue
                log.warning("unknown Data Portability step %r (%s) ignored", step, arg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or the database: stored, retried later, never the end of the customer
            log.exception("Data Portability step %s %s failed", step, arg)
            await self._step_crashed(step, arg, exc)

    async def request_export(self, grant: GrantRow, *, reason: str = "queued", detail: str | None = None) -> bool:
        """Queue an export for ``grant`` now (first come, first served): a recurring export or a retry due later is
        brought forward. False when one is already queued (it keeps its place and its reserved slot)."""
        current = await self.db(self.schedule.get, grant.id)
        now = self.now()
        later = current.due_at is not None and (current.due_at - now).total_seconds() > 1.0
        waiting = current.step == "export" and current.running_since is None
        if waiting and (current.permit_at is not None or not later):
            await self._defer_due("export", str(grant.id), current)  # queued already: it keeps its place and slot
            return False
        # An export that is *running* is not "queued already": it may be about to end the schedule. The export lost
        # that way (a rare CI hang): a step runs createDataQuery with a used one-time authorization; Ring refuses;
        # ``_grant_lost`` reads the grant (still ``refused``); the customer connects again, and this request found
        # the running export and returned "queued already"; then the step stored its stop (step None) and the
        # export queued here found nothing to do. Now the request is written over the running row (running_since
        # cleared), and the running step's endings leave a row changed under them alone (``_grant_lost``).
        await self.db(
            self.schedule.set, grant.id, step="export", arg=str(grant.id), due_at=now, running_since=None,
            reason=reason, detail=detail or "waiting for a createDataQuery slot", failures=0, last_error=None,
            permit_at=None, queued_at=now, recur_at=None,
        )  # fmt: skip
        await self.queue.defer("export", str(grant.id))
        return True

    async def export(self, grant: GrantRow) -> bool:
        """Another export for a connected customer, asked for by the operator (see ``request_export``)."""
        return await self.request_export(grant, detail="asked for by the operator; waiting for a createDataQuery slot")

    async def resume(self, query: QueryRow) -> bool:
        """Resume an open query now (checked with Ring first when it is still ``created``); False when it is not
        open (imported, canceled, failed)."""
        if query.state == "created":
            await self._due_now(query.grant_id, "check", query.id, "checking", "checking with Ring (asked for)")
            return True
        if query.state in IMPORTING_STATES:
            await self._due_now(query.grant_id, "import", query.id, "listing", "importing (asked for)")
            return True
        return False

    # -- export --------------------------------------------------------------------------------------------------

    async def _export_step(self, grant_id: int) -> None:
        grant = await self.db(self.store.portability.get_grant, grant_id)
        if grant is None or not self.ours(grant):
            return
        async with self.schedule.customer_lock(grant.id):
            schedule = await self.db(self.schedule.get, grant.id)
            if schedule.step != "export":
                await self._requeue_stored(schedule)  # a duplicate: the export was done (or stopped) meanwhile
                return
            if await self._early(schedule, "export", str(grant.id)):
                return
            if grant.status in ("revoked", "expired"):
                await self._stop(grant, f"the authorization is {grant.status}; the customer must connect again")
                return
            current = await self.db(self.open_query, grant.id)
            if current is not None:
                await self._follow(grant, current)
                return
            at = await self._create_slot(grant, schedule)
            if at is None:
                return
            claimed = await self.db(
                self.schedule.claim, grant.id, {"step": "export"}, running_since=self.now(), permit_at=None,
                reason="creating", detail="asking Ring for a new export (createDataQuery)",
            )  # fmt: skip
            if claimed is None:
                return
            await self._create(grant, claimed, at)

    async def _create_slot(self, grant: GrantRow, schedule: ScheduleRow) -> float | None:
        """When this customer's createDataQuery may be sent (within ``max_create_wait_s``), or None when the export
        was rescheduled: imports go first, earlier customers go first, the app's budget decides the rest."""
        now = self.now()
        if schedule.permit_at is not None:
            late = (now - schedule.permit_at).total_seconds()
            if late <= self.settings.rate_limits.window_margin_s:
                return _epoch(schedule.permit_at)  # the slot reserved for this step
            # far too late for its slot (the process was down or overloaded): that slot is spent, take a new one
        queued_at = schedule.queued_at or now
        earlier = await self.db(
            self.schedule.queued_before, self.client_id, grant.id, queued_at,
            since=now - timedelta(seconds=_STALE_S), until=now + timedelta(seconds=_QUEUE_HORIZON_S),
        )  # fmt: skip
        if earlier:  # only the first in line looks further (the others wait longer the further back they are)
            await self._wait(
                grant, "export", str(grant.id), min(_QUEUE_HORIZON_S / 2, 0.2 + 0.05 * earlier), "queued",
                f"{earlier} customer(s) asked for an export earlier and go first", permit_at=None, quiet=schedule,
            )  # fmt: skip
            return None
        waiting = await self.db(self.schedule.waiting_imports, self.client_id)
        if waiting >= self.settings.backlog_limit:
            await self._wait(
                grant, "export", str(grant.id), _BACKLOG_WAIT_S, "imports_first",
                f"{waiting} completed exports are listed first (their listing window runs); then this one",
                permit_at=None, quiet=schedule,
            )  # fmt: skip
            return None
        permit = await self.limiter.reserve("create", grant.customer)
        if permit.wait_s <= self.settings.max_create_wait_s:
            return permit.at
        at = datetime.fromtimestamp(permit.at, now.tzinfo)
        if permit.limit == "window":
            reason, detail = "create_window", f"the app's 20-per-20-minutes create window is full until {when(at)}"
        else:
            reason, detail = "create_rate", f"the app's create rate allows this export at {when(at)}"
        await self._wait(grant, "export", str(grant.id), permit.wait_s, reason, detail, permit_at=at)
        return None

    async def _create(self, grant: GrantRow, schedule: ScheduleRow, at: float) -> None:
        try:
            async with self.client(grant) as client:
                with self.limiter.prepaid(at):
                    query_id = await self.runner.create(client, grant)
        except PermitLaterError as exc:  # a retry after a 429 found the window full: wait for the slot it reserved
            slot = datetime.fromtimestamp(exc.permit.at, self.now().tzinfo)
            await self._wait(
                grant, "export", str(grant.id), exc.permit.wait_s, "create_window",
                f"Ring throttled the export; the app's next create slot is at {when(slot)}", permit_at=slot,
            )  # fmt: skip
            return
        except RequestConflictError as exc:
            await self._export_failed(
                grant, schedule, exc, "conflict",
                "Ring still has an open export of this customer that this archive does not know (409 "
                "REQUEST_CONFLICT); asking again",
            )  # fmt: skip
            return
        except _GRANT_ERRORS as exc:
            await self._grant_lost(grant, exc)
            return
        except RateLimitError as exc:
            await self._export_failed(grant, schedule, exc, "throttled", "Ring throttled the export (429)")
            return
        except PortabilityError as exc:
            await self._export_failed(grant, schedule, exc, _reason(exc), f"the export failed: {exc.one_line}")
            return
        delay = self._poll_delay(0)
        await self.db(
            self.schedule.set, grant.id, step="check", arg=query_id, due_at=self.now() + timedelta(seconds=delay),
            running_since=None, reason="notification", failures=0, last_error=None, permit_at=None, queued_at=None,
            detail=f"query {query_id} created; waiting for Ring's notification (checked at the latest at "
            f"{when(self.now() + timedelta(seconds=delay))})",
        )  # fmt: skip
        log.info("customer %s: query %s created; waiting for Ring's notification", grant.customer, query_id)
        await self.queue.defer("check", query_id, delay_s=delay)

    async def _export_failed(
        self, grant: GrantRow, schedule: ScheduleRow, exc: PortabilityError, reason: str, what: str
    ) -> None:
        """An export that did not get a query: tried again later (never dropped), the wait growing with failures."""
        delays = self.settings.export_retry_s
        delay = max(delays[min(schedule.failures, len(delays) - 1)], exc.retry_after or 0.0)
        at = self.now() + timedelta(seconds=delay)
        log.warning("customer %s: %s; trying again in %g s", grant.customer, what, delay)
        await self._wait(
            grant, "export", str(grant.id), delay, reason, f"{what}; trying again at {when(at)}",
            failures=schedule.failures + 1, last_error=exc.one_line, permit_at=None,
        )  # fmt: skip

    # -- check ---------------------------------------------------------------------------------------------------

    async def _check_step(self, query_id: str) -> None:
        query = await self.db(self.store.portability.get_query, query_id)
        grant = None if query is None else await self.db(self.store.portability.get_grant, query.grant_id)
        if query is None or grant is None or not self.ours(grant):
            return
        async with self.schedule.customer_lock(grant.id):
            query = await self.db(self.store.portability.get_query, query_id)
            assert query is not None
            schedule = await self.db(self.schedule.get, grant.id)
            if query.state == "canceled":
                if schedule.step == "check" and schedule.arg == query.id:
                    await self._after_canceled(grant, query)
                return
            if query.state != "created":
                if query.state in IMPORTING_STATES:
                    await self._follow(grant, query)
                return
            mine = schedule.step == "check" and schedule.arg == query.id
            if mine and await self._early(schedule, "check", query.id):
                return
            attempt = schedule.failures if mine else 0
            confirming = mine and schedule.reason in _CONFIRM_REASONS
            if confirming:  # the reason stays: a duplicate notification meanwhile is recognised as one
                await self.db(self.schedule.set, grant.id, running_since=self.now())
            else:
                await self.db(
                    self.schedule.set, grant.id, step="check", arg=query.id, running_since=self.now(),
                    reason="checking", detail=f"asking Ring whether query {query.id} is completed",
                )  # fmt: skip
            await self._check(grant, query, attempt, schedule.reason if confirming else None)

    async def _check(self, grant: GrantRow, query: QueryRow, attempt: int, confirming: str | None) -> None:
        """One records call. A poll (``confirming`` None) asks ``is_listable``; a check after a COMPLETED
        notification (``confirming``: ``notified``, or ``confirming`` for the re-check) asks ``confirm_completed``,
        whose parameters no poll sends: Ring answers the same parameters with the same response for five minutes,
        and the poll just before the notification may have been answered QUERY_NOT_COMPLETED. When the confirmation
        still hears QUERY_NOT_COMPLETED (its own earlier answer may be what is cached), it is asked once more after
        the cache has expired — a step deferred through the queue, never a wait inside one."""
        try:
            with self.limiter.checking():
                async with self.client(grant) as client:
                    if confirming is None:
                        completed = await client.is_listable(query.id)
                    else:
                        completed = await client.confirm_completed(query.id, rechecks=0)
        except PortabilityError as exc:
            await self._check_failed(grant, query, attempt, exc)
            return
        if completed:
            await self._completed(grant, query)
        elif confirming == "notified":
            await self._reconfirm_later(grant, query, attempt)
        else:
            await self._not_completed(grant, query, attempt, confirming is not None)

    async def _completed(self, grant: GrantRow, query: QueryRow) -> None:
        stored = await self.db(self.runner.record, QueryNotification(query.id, "COMPLETED", "1.0"))
        notified = stored.notified_at if stored is not None and stored.notified_at else self.now()
        ends = notified + timedelta(seconds=self.settings.listing_window_s)
        log.info("customer %s: query %s is COMPLETED; importing it", grant.customer, query.id)
        await self._due_now(grant.id, "import", query.id, "listing", f"Ring completed query {query.id}; "
                            f"importing it (its listing window ends at {when(ends)})")  # fmt: skip

    async def _reconfirm_later(self, grant: GrantRow, query: QueryRow, attempt: int) -> None:
        """A COMPLETED notification that the records call did not confirm: asked again once an answer Ring may
        repeat has expired (a premature notification and its confirmation may be what is cached)."""
        delay = self.settings.response_ttl_s + _RECHECK_MARGIN_S
        at = self.now() + timedelta(seconds=delay)
        log.info(
            "customer %s: Ring notified that query %s is COMPLETED but its records call says QUERY_NOT_COMPLETED "
            "(perhaps an answer repeated for 5 minutes); asking again in %g s", grant.customer, query.id, delay,
        )  # fmt: skip
        await self._wait(
            grant, "check", query.id, delay, "confirming",
            f"Ring notified that query {query.id} is COMPLETED but its records call still answers "
            f"QUERY_NOT_COMPLETED (Ring may repeat an answer for 5 minutes); asking again at {when(at)}",
            failures=attempt,
        )  # fmt: skip

    async def _not_completed(self, grant: GrantRow, query: QueryRow, attempt: int, was_notified: bool) -> None:
        """Ring is still preparing the query: polled again later. A notification that came while this check ran
        makes a confirmation due now (it must not be answered by this poll's cached QUERY_NOT_COMPLETED)."""
        now = await self.db(self.schedule.get, grant.id)
        if not was_notified and now.reason == "notified" and now.arg == query.id:
            await self._wait(
                grant, "check", query.id, 0.0, "notified",
                f"Ring says query {query.id} is COMPLETED; confirming with a records call", failures=attempt,
            )  # fmt: skip
            return
        if was_notified:
            log.warning(
                "customer %s: Ring's records call does not confirm the COMPLETED notification of query %s (premature, "
                "or not Ring's); it is ignored and the query polled", grant.customer, query.id,
            )  # fmt: skip
        delay = self._poll_delay(attempt + 1)
        at = self.now() + timedelta(seconds=delay)
        what = (
            f"Ring's records call did not confirm the COMPLETED notification of query {query.id} (premature, or not "
            "Ring's)"
            if was_notified
            else f"Ring is still preparing query {query.id}"
        )
        await self._wait(
            grant, "check", query.id, delay, "notification",
            f"{what}; waiting for its notification (checked again at {when(at)} at the latest)", failures=attempt + 1,
        )  # fmt: skip

    async def _check_failed(self, grant: GrantRow, query: QueryRow, attempt: int, exc: PortabilityError) -> None:
        if is_query_dead(exc):
            await self._expired(grant, query, exc)
        elif isinstance(exc, _GRANT_ERRORS):
            await self._grant_lost(grant, exc)
        elif isinstance(exc, DailyQuotaReachedError):
            await self._quota_wait(grant, "check", query.id, exc)
        else:
            delay = min(self._poll_delay(attempt + 1), self.settings.import_retry_s[0])
            at = self.now() + timedelta(seconds=delay)
            await self._wait(
                grant, "check", query.id, delay, _reason(exc),
                f"checking query {query.id} failed: {exc.one_line}; trying again at {when(at)}",
                failures=attempt + 1, last_error=exc.one_line,
            )  # fmt: skip

    def _poll_delay(self, attempt: int) -> float:
        """The wait before check number ``attempt + 1`` of a query not notified: ``poll_after_s``, then doubling,
        never longer than a third of the listing window (a lost notification costs at most that much of it)."""
        first = self.settings.poll_after_s
        return float(min(first * 2.0 ** min(attempt, 30), self.settings.poll_max_s))

    # -- import --------------------------------------------------------------------------------------------------

    async def _import_step(self, query_id: str) -> None:
        query = await self.db(self.store.portability.get_query, query_id)
        grant = None if query is None else await self.db(self.store.portability.get_grant, query.grant_id)
        if query is None or grant is None or not self.ours(grant):
            return
        if query.state == "created":
            await self._due_now(grant.id, "check", query.id, "checking", "checking with Ring before importing")
            return
        if query.state not in IMPORTING_STATES:
            async with self.schedule.customer_lock(grant.id):
                await self._after_import_ran(grant, query_id)
            return
        async with self._slots, self.schedule.customer_lock(grant.id):
            query = await self.db(self.store.portability.get_query, query_id)
            assert query is not None
            if query.state not in IMPORTING_STATES:
                await self._after_import_ran(grant, query_id)  # imported meanwhile (a duplicate)
                return
            schedule = await self.db(self.schedule.get, grant.id)
            mine = schedule.step == "import" and schedule.arg == query.id
            if mine and await self._early(schedule, "import", query.id):
                return
            attempt = schedule.failures if mine else 0
            await self.db(
                self.schedule.set, grant.id, step="import", arg=query.id, running_since=self.now(),
                reason="importing", detail=f"importing query {query.id}",
            )  # fmt: skip
            await self._import(grant, query, attempt)

    async def _after_import_ran(self, grant: GrantRow, query_id: str) -> None:
        """An import step found its query no longer importing: a duplicate, or the retry of a step whose worker died
        after the import was stored (the customer's lock held). What that run did not get to is done here, so the
        customer is never left with nothing queued.

        The loss this closes (a rare failure of the 100-customer PostgreSQL test: one customer imported, no
        recurring export job at the end): the importer stores the query ``imported``; the worker is SIGKILLed before
        ``_imported`` wrote the next export (or before it queued the job it wrote); procrastinate's sweeper retries
        the import job; the retry found the query imported and returned, so the next export was never queued."""
        query = await self.db(self.store.portability.get_query, query_id)
        schedule = await self.db(self.schedule.get, grant.id)
        if (schedule.step, schedule.arg) != ("import", query_id):
            await self._requeue_stored(schedule)
        elif query is not None and query.state in ("imported", "failed", "canceled"):
            log.info(
                "customer %s: query %s was %s by a step that stopped before its next step", grant.customer, query_id,
                query.state,
            )  # fmt: skip
            await self._after_run(grant, query)

    async def _import(self, grant: GrantRow, query: QueryRow, attempt: int) -> None:
        try:
            async with self.client(grant) as client:
                await self.runner.run(client, grant, query.id)
        except PortabilityError as exc:
            await self._import_failed(grant, query, attempt, exc)
            return
        done = await self.db(self.store.portability.get_query, query.id)
        assert done is not None
        log.info("customer %s: query %s %s (%d records)", grant.customer, done.id, done.state, done.records_imported)
        await self._after_run(grant, done)

    async def _after_run(self, grant: GrantRow, done: QueryRow) -> None:
        """The next step after an import run ended with ``done`` stored (imported, canceled or failed)."""
        if done.state == "imported":
            await self._imported(grant, done)
        elif done.state == "canceled":
            await self._after_canceled(grant, done)
        else:  # failed (the importer said why): a new export later
            schedule = await self.db(self.schedule.get, grant.id)
            await self._new_export_later(grant, schedule, f"query {done.id} failed: {done.error or done.state}")

    async def _import_failed(self, grant: GrantRow, query: QueryRow, attempt: int, exc: PortabilityError) -> None:
        if is_query_dead(exc):
            await self._expired(grant, query, exc)
        elif isinstance(exc, _GRANT_ERRORS):
            await self._grant_lost(grant, exc)
            done = await self.db(self.store.portability.get_query, query.id)
            if done is not None and done.state == "canceled":
                await self._after_canceled(grant, done)
        elif isinstance(exc, DailyQuotaReachedError):
            await self._quota_wait(grant, "import", query.id, exc)
        else:
            delays = self.settings.import_retry_s
            delay = delays[min(attempt, len(delays) - 1)]
            at = self.now() + timedelta(seconds=delay)
            log.warning(
                "import of query %s (customer %s) failed: %s; trying again in %g s",
                query.id, grant.customer, exc.one_line, delay,
            )  # fmt: skip
            await self._wait(
                grant, "import", query.id, delay, _reason(exc),
                f"importing query {query.id} failed: {exc.one_line}; trying again at {when(at)} (from where it "
                "stopped)",
                failures=attempt + 1, last_error=exc.one_line,
            )  # fmt: skip

    async def _imported(self, grant: GrantRow, query: QueryRow) -> None:
        """Done; the next recurring export is scheduled (until Ring refuses the authorization)."""
        every = self.settings.recur_every_s
        current = await self.db(self.store.portability.get_grant, grant.id)
        if every is None or current is None or current.status != "active":
            await self.db(
                self.schedule.set, grant.id, step=None, arg=None, due_at=None, running_since=None, reason="done",
                detail=f"query {query.id} imported"
                + ("; recurring exports are off" if every is None else f"; the authorization is {grant.status}"),
                failures=0, last_error=None, permit_at=None, queued_at=None, recur_at=None,
            )  # fmt: skip
            return
        at = self.now() + timedelta(seconds=every)
        await self.db(
            self.schedule.set, grant.id, step="export", arg=str(grant.id), due_at=at, running_since=None,
            reason="recurring", failures=0, last_error=None, permit_at=None, queued_at=at, recur_at=at,
            detail=f"query {query.id} imported; the next export at {when(at)} (every {_duration(every)}, until the "
            "authorization ends; only what is new is added)",
        )  # fmt: skip
        await self.queue.defer("export", str(grant.id), delay_s=every)

    # -- endings -------------------------------------------------------------------------------------------------

    async def _expired(self, grant: GrantRow, query: QueryRow, exc: PortabilityError) -> None:
        """Ring says ``query`` can never be listed again (``errors.is_query_dead``: its listing window is over): it is
        closed as expired (``renewal.expire_query``, the CLI's rule too) and a new export queued."""
        await self.db(expire_query, self.store.portability, query.id, exc)
        log.warning("customer %s: query %s expired (%s); queueing a new export", grant.customer, query.id, exc.one_line)
        await self.db(self.schedule.set, grant.id, step=None, running_since=None)
        await self.request_export(
            grant, reason="listing_window",
            detail=f"query {query.id} expired before it was imported (its hour of listing ran out); a new export is "
            "queued",
        )  # fmt: skip

    async def _after_canceled(self, grant: GrantRow, query: QueryRow) -> None:
        """Ring canceled ``query``: its authorization is checked; a working one gets a new export later."""
        await self._check_grant(grant)
        current = await self.db(self.store.portability.get_grant, grant.id)
        if current is None or current.status != "active":
            await self._stop(current or grant, _stopped(current or grant))
            return
        schedule = await self.db(self.schedule.get, grant.id)
        await self._new_export_later(grant, schedule, f"Ring canceled query {query.id}")

    async def _new_export_later(
        self, grant: GrantRow, schedule: ScheduleRow, what: str, *, expect: dict[str, object] | None = None
    ) -> None:
        delays = self.settings.export_retry_s
        failures = schedule.failures if schedule.step == "export" else 0
        delay = delays[min(failures, len(delays) - 1)]
        at = self.now() + timedelta(seconds=delay)
        await self._wait(
            grant, "export", str(grant.id), delay, "retry", f"{what}; a new export at {when(at)}",
            expect=expect, failures=failures + 1, last_error=what, permit_at=None, queued_at=at,
        )  # fmt: skip

    async def _grant_lost(self, grant: GrantRow, exc: PortabilityError) -> None:
        """Ring refused a call of this customer. A refused token (``invalid_grant``) means the authorization was
        revoked or has expired (the importer's check stores which); no token file means it must be given again; a
        refused export with a working token (a one-time authorization used, an account on hold) was stored as
        ``refused`` by the runner. The customer's schedule stops there, saying why; anything else is retried."""
        log.warning("customer %s: Ring refused the call: %s", grant.customer, exc.one_line)
        # The row as this running step left it: what is written below (a stop, a retry later) only replaces that.
        # A login (``request_export``) may write its export over it at any moment, even after the grant is read
        # below; then the login's export stands (it is queued already) and this step's ending is dropped.
        mine = await self.db(self.schedule.get, grant.id)
        if mine.running_since is None:
            log.info("customer %s: an export was asked for while this step ran; it goes ahead", grant.customer)
            return
        running: dict[str, object] = {"running_since": mine.running_since}
        current = await self.db(self.store.portability.get_grant, grant.id)
        if current is not None and current.status == "active" and current.updated_at > grant.updated_at:
            # The customer connected again while this step ran with the old authorization (whose refusal the runner
            # did not store over the new login). That login's export was taken for this running one: do it now.
            log.info("customer %s connected again meanwhile; exporting with the new authorization", grant.customer)
            await self._wait(
                current, "export", str(grant.id), 0.0, "queued", "connected again; waiting for a createDataQuery slot",
                failures=0, last_error=None, permit_at=None, queued_at=self.now(),
            )  # fmt: skip
            return
        if isinstance(exc, NotAuthorizedError):
            await self.db(
                self.store.portability.set_grant_status, grant.id, "expired", unless_changed_after=grant.updated_at
            )
        elif isinstance(exc, InvalidGrantError | AccessDeniedError) and current and current.status == "active":
            await self._check_grant(grant)
        current = await self.db(self.store.portability.get_grant, grant.id)
        if current is not None and current.status == "active":
            await self._new_export_later(grant, mine, f"Ring refused a call ({exc.one_line})", expect=running)
            return
        await self._stop(current or grant, _stopped(current or grant, exc), expect=running)

    async def _check_grant(self, grant: GrantRow) -> None:
        try:
            async with self.client(grant) as client:
                status = await self.runner.check_grant(client, grant)
        except PortabilityError as exc:
            log.warning("could not check the authorization of customer %s: %s", grant.customer, exc.one_line)
            return
        log.info("customer %s: the authorization is %s", grant.customer, status)

    async def _stop(self, grant: GrantRow, detail: str, *, expect: dict[str, object] | None = None) -> None:
        """Nothing more for this customer until they connect again (or the operator asks): the reason is kept.
        With ``expect``, only while the schedule row still holds it (a login meanwhile queued an export over it)."""
        fields: dict[str, object] = {
            "step": None, "arg": None, "due_at": None, "running_since": None, "reason": "authorization",
            "detail": detail, "permit_at": None, "queued_at": None, "recur_at": None,
        }  # fmt: skip
        if expect is None:
            await self.db(self.schedule.set, grant.id, **fields)
        elif await self.db(self.schedule.claim, grant.id, expect, **fields) is None:
            log.info("customer %s: not stopped: an export was asked for meanwhile", grant.customer)
            return
        # A login may have landed after ``grant`` was read and found an export still waiting ("queued already",
        # without writing) just before this stop: that export would find nothing to do. The grant is read again
        # after the stop is stored: a login before this read is seen here (and exported); one after it reads the
        # stop in ``request_export`` and queues its own.
        current = await self.db(self.store.portability.get_grant, grant.id)
        if current is not None and current.status == "active" and current.updated_at > grant.updated_at:
            log.info("customer %s connected again meanwhile; queueing an export", grant.customer)
            await self.request_export(current, detail="connected again; waiting for a createDataQuery slot")

    async def _quota_wait(self, grant: GrantRow, step: Step, arg: str, exc: DailyQuotaReachedError) -> None:
        delay = exc.retry_after or 3600.0
        at = self.now() + timedelta(seconds=delay)
        await self._wait(grant, step, arg, delay, "daily_quota", f"{exc.one_line}; continuing at {when(at)}")

    async def _step_crashed(self, step: Step, arg: str, exc: Exception) -> None:
        """An unexpected failure: stored and the step tried again later, so the customer is never left without a
        next step."""
        try:
            if step == "export":
                grant_id = int(arg)
            else:
                query = await self.db(self.store.portability.get_query, arg)
                if query is None:
                    return
                grant_id = query.grant_id
            grant = await self.db(self.store.portability.get_grant, grant_id)
            if grant is None:
                return
            schedule = await self.db(self.schedule.get, grant_id)
            if schedule.step not in (None, step) or (schedule.step is not None and schedule.arg != arg):
                return  # the customer moved on meanwhile
            delays = self.settings.export_retry_s
            delay = delays[min(schedule.failures, len(delays) - 1)]
            at = self.now() + timedelta(seconds=delay)
            text = f"{type(exc).__name__}: {exc}"[:300]
            await self._wait(
                grant, step, arg, delay, "retry", f"an unexpected error ({text}); trying again at {when(at)}",
                failures=schedule.failures + 1, last_error=text,
            )  # fmt: skip
        except Exception:  # the database itself: nothing more can be stored; the next start resumes
            log.exception("could not reschedule Data Portability step %s %s", step, arg)

    # -- helpers -------------------------------------------------------------------------------------------------

    async def _follow(self, grant: GrantRow, query: QueryRow) -> None:
        """Make the open ``query`` the customer's next step (its check, or its import)."""
        if query.state == "created":
            schedule = await self.db(self.schedule.get, grant.id)
            if schedule.step == "check" and schedule.arg == query.id and schedule.due_at is not None:
                await self._defer_due("check", query.id, schedule)
                return
            await self._due_now(grant.id, "check", query.id, "checking", f"checking query {query.id} with Ring")
        else:
            await self._due_now(grant.id, "import", query.id, "listing", f"importing query {query.id}")

    async def _wait(
        self,
        grant: GrantRow,
        step: Step,
        arg: str,
        delay_s: float,
        reason: str,
        detail: str,
        *,
        quiet: ScheduleRow | None = None,
        expect: dict[str, object] | None = None,
        **fields: object,
    ) -> None:
        """Store why ``step`` waits and until when, and put it back in the queue for then. With ``quiet`` (the row as
        read) a wait for the same reason written less than ``_QUIET_S`` ago is not written again. With ``expect``,
        only while the row still holds it (else what replaced it stands, and nothing is queued)."""
        if (
            quiet is not None
            and (quiet.step, quiet.arg, quiet.reason, quiet.running_since) == (step, arg, reason, None)
            and quiet.updated_at is not None
            and (self.now() - quiet.updated_at).total_seconds() < _QUIET_S
        ):
            await self.queue.defer(step, arg, delay_s=max(0.0, delay_s))
            return
        values = dict(
            step=step, arg=arg, due_at=self.now() + timedelta(seconds=delay_s), running_since=None, reason=reason,
            detail=detail, **fields,
        )  # fmt: skip
        if expect is None:
            await self.db(self.schedule.set, grant.id, **values)
        elif await self.db(self.schedule.claim, grant.id, expect, **values) is None:
            log.info("customer %s: %s %s not rescheduled: the schedule changed meanwhile", grant.customer, step, arg)
            return
        await self.queue.defer(step, arg, delay_s=max(0.0, delay_s))

    async def _due_now(self, grant_id: int, step: Step, arg: str, reason: str, detail: str) -> None:
        await self.db(
            self.schedule.set, grant_id, step=step, arg=arg, due_at=self.now(), running_since=None, reason=reason,
            detail=detail, failures=0,
        )  # fmt: skip
        await self.queue.defer(step, arg)

    async def _requeue_stored(self, schedule: ScheduleRow) -> None:
        """Queue the step the schedule holds, at its time (none when it holds none). A step that finds the customer
        moved on calls this: the step that moved it on may have stored its follow-up and died before queueing it
        (a SIGKILLed worker); the queue keeps one run per step, so when it did queue it this changes nothing."""
        if schedule.step is not None and schedule.arg is not None:
            await self._defer_due(check_step(schedule.step), schedule.arg, schedule)

    async def _defer_due(self, step: Step, arg: str, schedule: ScheduleRow) -> None:
        """Queue ``step`` for the time the schedule says (its reserved create slot for an export)."""
        due = schedule.permit_at or schedule.due_at
        delay = 0.0 if due is None else max(0.0, (due - self.now()).total_seconds())
        await self.queue.defer(step, arg, delay_s=delay)

    async def _early(self, schedule: ScheduleRow, step: Step, arg: str) -> bool:
        """A step run before its time (a duplicate, or the queue's clock): put back for its time; True if so."""
        due = schedule.permit_at if step == "export" and schedule.permit_at is not None else schedule.due_at
        if due is None or (due - self.now()).total_seconds() <= _EARLY_S:
            return False
        await self._defer_due(step, arg, schedule)
        return True


def _stopped(grant: GrantRow, exc: PortabilityError | None = None) -> str:
    status = grant.status
    if status == "refused":
        return (
            "Ring refused the export although the customer's token works (a one-time authorization already used, "
            "or the account is on hold); the customer must connect again"
        )
    if status in ("revoked", "expired"):
        return f"the authorization is {status}; the customer must connect again"
    return f"Ring refused the customer's calls ({exc.one_line if exc else status}); the customer must connect again"


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} s"
