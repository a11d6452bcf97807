"""The many-customers side of ``ringvault serve``: Login with Ring for new customers, and their imports.

One :class:`PortabilityHub` per server. It keeps

- **no pending logins**: a login's state is sealed into Ring's ``state`` parameter and its PKCE verifier is derived
  from the server secret (``server/portability_login.py``, which also says who may choose or replace a customer);
- **one token file per customer** (``{token_dir}/{brand}/{customer}.json``, 0600) and one grant row per customer in
  the archive (``portability_grants``); the query lifecycle is in ``portability_queries`` (the importer's);
- **the work**: every customer's export (createDataQuery) and import (list → download → import) runs as a
  background task. A customer has at most ONE open query (one query per customer and scope: Ring's rule, and ours
  even after Ring completed it, until it is imported); work for one customer is serialized by a per-customer lock;
  at most ``max_concurrent`` customers are being worked on at once (a semaphore); every API call passes ONE
  :class:`PortabilityRateLimiter` shared by all customers (per-customer budgets, or one per-app budget when Ring
  counts the limits per app), so the server stays inside Ring's limits however many customers it imports.

A query's import starts when Ring's COMPLETED notification arrives (``on_notification``) and one records call confirms
it (so a forged or premature notification changes nothing). If none arrives within ``poll_after_s`` of the creation
(a lost notification, or the server was down when Ring sent it), the records call is polled instead. A failed import
(network, 5xx after the client's retries) is tried again after 30 s, 1, 2, 4 and 8 minutes, from its stored state;
at start-up every unfinished query is resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from ringvault import __version__
from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability import GrantRow, QueryRow
from ringvault.portability.client import PortabilityClient
from ringvault.portability.endpoints import SCOPE_ID, Brand, PortabilityEndpoints, Region, endpoints_for
from ringvault.portability.errors import (
    AccessDeniedError,
    InvalidGrantError,
    NotAuthorizedError,
    PortabilityError,
    PortabilityTokenFileError,
    QueryNotCompletedError,
)
from ringvault.portability.http import PortabilityHttp
from ringvault.portability.importer import ExportCanceledError
from ringvault.portability.limits import PortabilityRateLimiter
from ringvault.portability.notifications import QueryNotification, SubscriptionConfirmation
from ringvault.portability.oauth import AuthorizationRequest, PortabilityAuth
from ringvault.portability.tokens import PortabilityTokenStore, check_customer
from ringvault.server.portability_login import (
    Invite,
    LoginKind,
    LoginSeal,
    SealError,
    invite_url,
    load_server_secret,
    new_customer_key,
)
from ringvault.server.portability_settings import PortabilityServerSettings
from ringvault.server.portability_work import LocalWorkQueue, Step, WorkQueue
from ringvault.transport import redact, register_secret

__all__ = ["LoginError", "PortabilityHub", "QueryRunner", "UnknownQueryError", "query_summary"]

log = logging.getLogger("ringvault.server.portability")

#: query states in which the import still has work to do once Ring completed the query
_IMPORTING_STATES = frozenset({"notified", "listed", "downloaded"})
#: how long a notification for an id not stored yet waits for creates in flight (Ring may notify that fast)
_CREATE_RACE_S = 5.0
_POLL_BACKOFF_MAX_S = 3600.0
_RESUME_POLL_S = 5.0
#: longest authorization code accepted on a callback (Ring's are ~40 characters; ours to log-mask, so bounded)
_MAX_CODE_CHARS = 2048


class LoginError(Exception):
    """A Login with Ring redirect that cannot be completed; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class UnknownQueryError(LookupError):
    """A notification or a lookup for a query this server did not create."""


class QueryRunner(Protocol):
    """The importer's steps the hub schedules (``server/portability_runner.py`` over ``portability.importer``)."""

    async def create(self, client: PortabilityClient, grant: GrantRow) -> str:
        """createDataQuery for the grant's customer (or adopt its open query); stored as ``created`` first."""
        ...

    async def run(self, client: PortabilityClient, grant: GrantRow, query_id: str) -> None:
        """list → download → import a COMPLETED query, resuming from its stored state."""
        ...

    def record(self, notification: QueryNotification) -> QueryRow | None:
        """Store a notification about a known query (None: unknown id)."""
        ...

    async def check_grant(self, client: PortabilityClient, grant: GrantRow) -> str:
        """Ask Ring whether the grant's authorization still works; marks it revoked/expired when refused."""
        ...


@dataclass
class Work:
    """What the hub is doing for one customer right now (for the status endpoints)."""

    phase: str  # "export" | "import" | "poll"
    query_id: str | None
    started_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class PortabilityHub:
    """See the module docstring. ``runner`` is the importer; ``http`` may be given by tests."""

    def __init__(
        self,
        settings: PortabilityServerSettings,
        store: ArchiveStore,
        runner: QueryRunner,
        *,
        http: PortabilityHttp | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        queue: WorkQueue | None = None,
    ) -> None:
        self.settings = settings
        self.queue: WorkQueue = queue if queue is not None else LocalWorkQueue(self.run_step)
        self.config = settings.config
        self.store = store
        self.runner = runner
        self.tokens = PortabilityTokenStore(self.config.token_dir)
        self.limiter = PortabilityRateLimiter(per_customer=settings.rate_limit_per == "customer")
        self._http = http
        self._monotonic = monotonic
        self.seal = LoginSeal(load_server_secret(self.config.token_dir), ttl_s=settings.login_ttl_s, clock=clock)
        self._login_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._locks: dict[int, asyncio.Lock] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._confirming: set[str] = set()
        self._work: dict[int, Work] = {}
        self._creating = 0
        self._created = asyncio.Condition()
        self.subscriptions: list[dict[str, Any]] = []
        self._closed = False
        register_secret(settings.notification_secret)  # it appears in request paths: keep it out of logs

    # -- plumbing ------------------------------------------------------------------------------------------------

    @property
    def http(self) -> PortabilityHttp:
        """One HTTP client (connection pool) for every customer."""
        if self._http is None:
            self._http = PortabilityHttp()
        return self._http

    def endpoints(self, brand: Brand, region: Region) -> PortabilityEndpoints:
        return endpoints_for(brand, region, cloud_url=self.config.cloud_url, token_url=self.config.token_url)

    def auth(self, brand: Brand, region: Region, customer: str) -> PortabilityAuth:
        return PortabilityAuth(
            self.config.credentials,
            brand=brand,
            customer=customer,
            store=self.tokens,
            endpoints=self.endpoints(brand, region),
            http=self.http,
        )

    def client(self, grant: GrantRow) -> PortabilityClient:
        """The API client of a grant's customer: shared HTTP pool and shared rate limiter."""
        brand, region = _brand(grant.brand), _region(grant.region)
        return PortabilityClient(
            self.auth(brand, region, grant.customer), region=region, limiter=self.limiter, http=self.http
        )

    def _lock(self, grant_id: int) -> asyncio.Lock:
        lock = self._locks.get(grant_id)
        if lock is None:
            lock = self._locks[grant_id] = asyncio.Lock()
        return lock

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:  # a customer's failure must never take the server down; it is logged and stored
                log.exception("Data Portability task %s failed", name)

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run_step(self, step: Step, arg: str) -> None:
        """Run one step (see ``portability_work``) to completion against the stored state."""
        if step == "export":
            grant = await asyncio.to_thread(self.store.portability.get_grant, int(arg))
            if grant is not None:
                await self._export(grant)
        elif step == "check":
            await self._confirm_and_import(arg, None)
        else:
            await self._import(arg)

    async def start(self) -> None:
        """Resume every unfinished query (called when the server starts)."""
        for query in await asyncio.to_thread(self.store.portability.list_queries, open_only=True):
            grant = await asyncio.to_thread(self.store.portability.get_grant, query.grant_id)
            if grant is None or grant.client_id != self.config.credentials.client_id:
                continue
            if query.state in _IMPORTING_STATES:
                log.info("resuming the import of query %s (%s)", query.id, query.state)
                self._spawn(self._import(query.id), f"dp-import-{query.id}")
            elif query.state == "created":  # its notification may have come while the server was down
                self._poll_later(query.id, min(self.settings.poll_after_s, _RESUME_POLL_S))

    async def aclose(self) -> None:
        """Cancel the background work (every step is committed as it ends, so the next start resumes it)."""
        self._closed = True
        await self.queue.aclose()
        tasks = [*self._tasks, *self._pollers.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()

    # -- Login with Ring -----------------------------------------------------------------------------------------

    def start_login(
        self,
        brand: Brand,
        region: Region,
        kind: LoginKind,
        *,
        customer: str | None = None,
        replace: bool = False,
        invite: Invite | None = None,
    ) -> str:
        """The authorize URL of a new login (nothing is stored: see ``portability_login``). ``customer`` may be
        chosen only by the operator and by an invitation; an anonymous login gets a new key. Raises ``LoginError``
        when the login could not end well (the customer is connected and ``replace`` was not asked for, the
        invitation was used) and ``ValueError`` for a bad key."""
        if kind == "anonymous" and (customer is not None or replace):
            raise LoginError(
                "only the operator chooses a customer key or replaces an authorization: send the API key "
                "(Authorization: Bearer ...), or open the invitation link the operator sent you",
                403,
            )
        key = new_customer_key() if customer is None else customer
        state = self.seal.new_state(key, brand, region, kind, replace=replace, invite=invite)
        if kind != "anonymous":  # a new random key has nothing to check (its callback checks again anyway)
            self.check_login(state.customer, brand, kind=kind, replace=replace, used_after=state.invite_issued_at)
        credentials = self.config.credentials
        assert credentials.redirect_uri is not None  # PortabilityServerSettings requires it
        pkce = self.seal.pkce(state)
        # Built here rather than with oauth.authorization_url, which registers the state as a log secret: ours is
        # signed, not secret, and registering one per anonymous connect would rebuild the redaction regex on every
        # log line of a flood. The parameters are seed 003's.
        query = urlencode(
            {
                "client_id": credentials.client_id,
                "redirect_uri": credentials.redirect_uri,
                "response_type": "code",
                "scope": SCOPE_ID,
                "code_challenge": pkce.challenge,
                "code_challenge_method": pkce.method,
                "state": self.seal.seal(state),
            }
        )
        return f"{self.endpoints(brand, region).authorize_url}?{query}"

    def check_login(
        self, customer: str, brand: Brand, *, kind: LoginKind, replace: bool, used_after: float | None
    ) -> None:
        """Refuse (``LoginError`` 409/410) a login that must not store its tokens: one whose state or invitation
        (issued at ``used_after``) was already used by a completed login, an anonymous one whose key exists, and one
        that would replace an active authorization without ``replace``."""
        grant = self.grant_of(customer, brand)
        try:
            token = self.tokens.load(brand, customer)
            has_token = token is not None
            created = token.created_at if token is not None else None
        except PortabilityTokenFileError:
            has_token, created = True, None
        if used_after is not None and created is not None and created >= used_after:
            if kind == "invite":
                raise LoginError("this invitation was already used (each works once); ask for a new one", 410)
            raise LoginError(
                "this Login with Ring was already completed (each works once); start again at /portability/connect",
                409,
            )
        if kind == "anonymous" and (grant is not None or has_token):
            raise LoginError("this Login with Ring was already used; start again at /portability/connect", 409)
        if grant is not None and grant.status == "active" and not replace:
            raise LoginError(
                f"customer {customer!r} is already connected and their authorization works; replacing it needs the "
                "operator's explicit replace=true (or an invitation made with --replace)",
                409,
            )

    def invite(
        self,
        customer: str | None,
        *,
        replace: bool = False,
        ttl_s: float | None = None,
        brand: Brand | None = None,
        region: Region | None = None,
    ) -> dict[str, Any]:
        """A signed, single-use invitation link for ``customer`` (a new key when None); ``LoginError`` 409 when the
        customer is connected and ``replace`` is False, ``ValueError`` for a bad key or validity."""
        key = new_customer_key() if customer is None else check_customer(customer)
        grant = self.grant_of(key, brand or self.config.brand)
        if grant is not None and grant.status == "active" and not replace:
            raise LoginError(
                f"customer {key!r} is already connected and their authorization works; invite them with "
                "replace=true to let a new login replace it",
                409,
            )
        token, invite = self.seal.issue_invite(
            key, replace=replace, ttl_s=ttl_s or self.settings.invite_ttl_s, brand=brand, region=region
        )
        return {
            "customer": key,
            "url": invite_url(self.config, token),
            "expires_at": datetime.fromtimestamp(invite.expires_at, UTC).isoformat(),
            "replace": replace,
        }

    def read_invite(self, text: str) -> Invite:
        """The invitation behind an ``invite=`` link (``InviteError`` with its HTTP status when not valid)."""
        return self.seal.read_invite(text)

    def _login_lock(self, brand: str, customer: str) -> asyncio.Lock:
        """One callback at a time per customer (kept only while someone holds or waits for it)."""
        lock = self._login_locks.get((brand, customer))
        if lock is None:
            lock = asyncio.Lock()
            self._login_locks[(brand, customer)] = lock
        return lock

    async def finish_login(self, params: Mapping[str, str]) -> GrantRow:
        """The redirect back from Login with Ring: check the sealed state, refuse what ``check_login`` refuses,
        exchange the code, store the tokens, record the grant, start the customer's first export. Raises
        ``LoginError`` or the client's ``PortabilityError``."""
        raw_state = params.get("state", "")
        if len(params.get("code", "")) > _MAX_CODE_CHARS:
            raise LoginError("this redirect's code is not one Ring issues; start again at /portability/connect")
        try:
            state = self.seal.open(raw_state)
        except SealError:
            raise LoginError(
                "this Login with Ring is unknown or expired (it is valid for "
                f"{self.settings.login_ttl_s / 60:.0f} minutes, once) or was altered; start again at "
                "/portability/connect"
            ) from None
        credentials = self.config.credentials
        assert credentials.redirect_uri is not None
        lock = self._login_lock(state.brand, state.customer)
        async with lock:
            await asyncio.to_thread(
                self.check_login,
                state.customer,
                state.brand,
                kind=state.kind,
                replace=state.replace,
                used_after=state.used_after,
            )
            request = AuthorizationRequest(
                url="",
                state=raw_state,
                pkce=self.seal.pkce(state),
                client_id=credentials.client_id,
                redirect_uri=credentials.redirect_uri,
                brand=state.brand,
            )
            auth = self.auth(state.brand, state.region, state.customer)
            await auth.complete(request, dict(params))  # the state again (constant time), then error / code
            grant = await asyncio.to_thread(
                self.store.portability.upsert_grant,
                brand=state.brand,
                region=state.region,
                client_id=credentials.client_id,
                customer=state.customer,
            )
        log.info(
            "customer %s connected (%s, %s, %s login%s); starting an export",
            grant.customer, grant.brand, grant.region, state.kind, ", replacing" if state.replace else "",
        )  # fmt: skip
        self.export(grant)
        return grant

    # -- exports and imports -------------------------------------------------------------------------------------

    def export(self, grant: GrantRow) -> None:
        """Start a new export for ``grant`` in the background (nothing when one is still open)."""
        self._spawn(self._export(grant), f"dp-export-{grant.customer}")

    def open_query(self, grant_id: int) -> QueryRow | None:
        """The grant's query still being worked on (created, notified, listed or downloaded), if any."""
        for query in self.store.portability.list_queries(grant_id=grant_id, open_only=True):
            if query.state != "failed":
                return query
        return None

    async def _export(self, grant: GrantRow) -> None:
        async with self._lock(grant.id):
            current = await asyncio.to_thread(self.open_query, grant.id)
            if current is not None:
                log.info("customer %s already has query %s (%s)", grant.customer, current.id, current.state)
                return
            async with self._slots:
                self._work[grant.id] = Work("export", None, _now())
                self._creating += 1
                try:
                    async with self.client(grant) as client:
                        query_id = await self.runner.create(client, grant)
                except (InvalidGrantError, NotAuthorizedError, AccessDeniedError, ExportCanceledError) as exc:
                    await self._grant_lost(grant, exc)
                    return
                except PortabilityError as exc:
                    log.warning("export for customer %s failed: %s", grant.customer, exc.one_line)
                    return
                finally:
                    self._creating -= 1
                    self._work.pop(grant.id, None)
                    async with self._created:
                        self._created.notify_all()
        log.info("customer %s: query %s created; waiting for Ring's notification", grant.customer, query_id)
        self._poll_later(query_id, self.settings.poll_after_s)

    async def _import(self, query_id: str, attempt: int = 0) -> None:
        query = await asyncio.to_thread(self.store.portability.get_query, query_id)
        if query is None or query.final:
            return
        grant = await asyncio.to_thread(self.store.portability.get_grant, query.grant_id)
        assert grant is not None
        retry = False
        async with self._lock(grant.id), self._slots:
            query = await asyncio.to_thread(self.store.portability.get_query, query_id)
            if query is None or query.final:
                return  # a duplicate notification, imported meanwhile
            self._work[grant.id] = Work("import", query_id, _now())
            try:
                async with self.client(grant) as client:
                    await self.runner.run(client, grant, query_id)
            except (InvalidGrantError, NotAuthorizedError, AccessDeniedError, ExportCanceledError) as exc:
                await self._grant_lost(grant, exc)
            except PortabilityError as exc:
                delays = self.settings.import_retry_s
                retry = attempt < len(delays)
                later = f"; trying again in {delays[attempt]:g} s" if retry else ""
                log.warning(
                    "import of query %s (customer %s) failed: %s%s", query_id, grant.customer, exc.one_line, later
                )
            finally:
                self._work.pop(grant.id, None)
        if retry:  # the stored state is kept: the next run resumes where this one stopped
            delay = self.settings.import_retry_s[attempt]
            self._spawn(self._later(delay, self._import(query_id, attempt + 1)), f"dp-retry-{query_id}")
            return
        done = await asyncio.to_thread(self.store.portability.get_query, query_id)
        if done is not None:
            log.info(
                "customer %s: query %s %s (%d records)", grant.customer, query_id, done.state, done.records_imported
            )

    @staticmethod
    async def _later(delay_s: float, then: Awaitable[None]) -> None:
        try:
            await asyncio.sleep(delay_s)
        except asyncio.CancelledError:
            if inspect.iscoroutine(then):
                then.close()
            raise
        await then

    async def _confirm_and_import(
        self, query_id: str, notification: QueryNotification | None, *, checked: bool = False
    ) -> None:
        """Check with Ring that the query is COMPLETED (one records call; skipped when the caller just ``checked``)
        before trusting a notification that says so, then store it and import. A forged or premature COMPLETED
        thus changes nothing."""
        query = await asyncio.to_thread(self.store.portability.get_query, query_id)
        grant = None if query is None else await asyncio.to_thread(self.store.portability.get_grant, query.grant_id)
        if query is None or grant is None or query.state != "created":
            return
        try:
            if not checked:
                async with self._slots, self.client(grant) as client:
                    await client.list_page(query_id, max_results=1)
        except QueryNotCompletedError:
            log.warning(
                "a notification said query %s is COMPLETED but Ring answers QUERY_NOT_COMPLETED; ignored (the query "
                "is checked again later)",
                query_id,
            )
            if query_id not in self._pollers:
                self._poll_later(query_id, self.settings.poll_after_s)
            return
        except (InvalidGrantError, NotAuthorizedError, AccessDeniedError) as exc:
            await self._grant_lost(grant, exc)
            return
        except PortabilityError as exc:
            log.warning("checking query %s failed: %s; it is checked again later", query_id, exc.one_line)
            self._poll_later(query_id, min(self.settings.poll_after_s, 60.0))
            return
        poller = self._pollers.pop(query_id, None)
        if poller is not None:
            poller.cancel()
        if notification is not None:
            await asyncio.to_thread(self.runner.record, notification)
        else:
            log.info("query %s is COMPLETED although no notification came; importing it", query_id)
            await asyncio.to_thread(
                self.store.portability.update_query,
                query_id,
                state="notified",
                status="COMPLETED",
                notified_at=_now(),
            )
        await self._import(query_id)

    def resume(self, query: QueryRow) -> bool:
        """Resume an open query now (checked with Ring first when it is still ``created``); False when it is not
        open (imported, canceled, failed)."""
        if query.state == "created":
            self._spawn(self._confirm_and_import(query.id, None), f"dp-check-{query.id}")
            return True
        if query.state in _IMPORTING_STATES:
            self._spawn(self._import(query.id), f"dp-import-{query.id}")
            return True
        return False

    async def _grant_lost(self, grant: GrantRow, exc: PortabilityError) -> None:
        """Ring refused a call of this customer. A refused token (``invalid_grant``) means the authorization was
        revoked or has expired: the importer's check stores which. A 403 with a working token (account on hold, a
        one-time authorization already used) leaves the grant as it is; the importer already stored what it learned
        for ``ExportCanceledError``."""
        log.warning("customer %s: Ring refused the call: %s", grant.customer, exc.one_line)
        if isinstance(exc, NotAuthorizedError):
            await asyncio.to_thread(self.store.portability.set_grant_status, grant.id, "expired")
        elif isinstance(exc, InvalidGrantError):
            await self._check_grant(grant)

    async def _check_grant(self, grant: GrantRow) -> None:
        try:
            async with self.client(grant) as client:
                status = await self.runner.check_grant(client, grant)
        except PortabilityError as exc:
            log.warning("could not check the authorization of customer %s: %s", grant.customer, exc.one_line)
            return
        log.info("customer %s: the authorization is %s", grant.customer, status)

    def _poll_later(self, query_id: str, delay_s: float) -> None:
        """Fallback for a notification that never comes: check the records call after ``delay_s``, then after
        doubling waits (at most an hour apart), until the query is COMPLETED (then import it) or no longer waits."""
        old = self._pollers.pop(query_id, None)
        if old is not None:
            old.cancel()

        async def poll() -> None:
            wait = delay_s
            while not self._closed:
                await asyncio.sleep(wait)
                query = await asyncio.to_thread(self.store.portability.get_query, query_id)
                if query is None or query.state != "created":
                    return  # notified (or canceled) meanwhile
                grant = await asyncio.to_thread(self.store.portability.get_grant, query.grant_id)
                if grant is None or grant.status != "active":
                    return
                try:
                    async with self._slots, self.client(grant) as client:
                        await client.list_page(query_id, max_results=1)
                except QueryNotCompletedError:
                    wait = min(wait * 2, _POLL_BACKOFF_MAX_S)
                    continue
                except (InvalidGrantError, NotAuthorizedError, AccessDeniedError) as exc:
                    await self._grant_lost(grant, exc)
                    return
                except PortabilityError as exc:
                    log.warning("polling query %s failed: %s", query_id, exc.one_line)
                    wait = min(wait * 2, _POLL_BACKOFF_MAX_S)
                    continue
                self._pollers.pop(query_id, None)
                self._spawn(self._confirm_and_import(query_id, None, checked=True), f"dp-check-{query_id}")
                return

        task = self._spawn(poll(), f"dp-poll-{query_id}")
        self._pollers[query_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._pollers.get(query_id) is done:
                del self._pollers[query_id]

        task.add_done_callback(forget)

    # -- notifications -------------------------------------------------------------------------------------------

    async def on_notification(self, notification: QueryNotification) -> dict[str, Any]:
        """A notification for one of our queries: COMPLETED (once Ring's records call agrees) starts its import in
        the background; CANCELED ends it, then the grant is checked with Ring (revoked or expired when its token is
        refused). Duplicates (Ring retries; SNS delivers at least once) change nothing. Raises
        ``UnknownQueryError`` for a query this server did not create."""
        query = await asyncio.to_thread(self.store.portability.get_query, notification.query_id)
        if query is None and self._creating:
            # Ring can notify before createDataQuery's answer has been stored: wait for the creates in flight.
            deadline = self._monotonic() + _CREATE_RACE_S
            async with self._created:
                while query is None and self._creating and self._monotonic() < deadline:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._created.wait(), max(0.0, deadline - self._monotonic()))
                    query = await asyncio.to_thread(self.store.portability.get_query, notification.query_id)
        grant = None if query is None else await asyncio.to_thread(self.store.portability.get_grant, query.grant_id)
        if query is None or grant is None or grant.client_id != self.config.credentials.client_id:
            raise UnknownQueryError(notification.query_id)
        if query.state != "created" or query.id in self._confirming:
            return {"query_id": query.id, "state": query.state, "accepted": False, "reason": "already notified"}
        if notification.completed:
            self._confirming.add(query.id)
            task = self._spawn(self._confirm_and_import(query.id, notification), f"dp-check-{query.id}")
            task.add_done_callback(lambda _t: self._confirming.discard(query.id))
            return {"query_id": query.id, "state": query.state, "accepted": True}
        poller = self._pollers.pop(query.id, None)
        if poller is not None:
            poller.cancel()
        stored = await asyncio.to_thread(self.runner.record, notification)
        if stored is None:
            raise UnknownQueryError(notification.query_id)
        log.info("query %s of customer %s was CANCELED by Ring; checking the authorization", stored.id, grant.customer)
        self._spawn(self._check_grant(grant), f"dp-grant-{grant.customer}")
        return {"query_id": stored.id, "state": stored.state, "accepted": True}

    async def on_subscription(self, confirmation: SubscriptionConfirmation) -> dict[str, Any]:
        """Log an SNS SubscriptionConfirmation; confirm it only when allowed and the URL is Amazon SNS's own."""
        url = confirmation.subscribe_url
        entry: dict[str, Any] = {
            "received_at": _now().isoformat(),
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

    # -- status --------------------------------------------------------------------------------------------------

    def work_of(self, grant_id: int) -> Work | None:
        return self._work.get(grant_id)

    def customers(self) -> list[dict[str, Any]]:
        """Every customer of this app with their grant, current work, queries and imported records."""
        client_id = self.config.credentials.client_id
        out: list[dict[str, Any]] = []
        portability = self.store.portability
        for grant in portability.list_grants():
            if grant.client_id != client_id:
                continue
            queries = portability.list_queries(grant_id=grant.id)
            counts = portability.dataset_counts(grant.id)
            work = self._work.get(grant.id)
            latest = queries[-1] if queries else None
            out.append(
                {
                    "customer": grant.customer,
                    "grant_id": grant.id,
                    "brand": grant.brand,
                    "region": grant.region,
                    "status": grant.status,
                    "connected_at": grant.created_at,
                    "authorized": self.tokens.path_for(grant.brand, grant.customer).exists(),
                    "working": None if work is None else {"phase": work.phase, "query_id": work.query_id},
                    "latest_query": None if latest is None else query_summary(latest),
                    "queries": len(queries),
                    "records": sum(counts.values()),
                    "datasets": counts,
                }
            )
        return out

    def grant_of(self, customer: str, brand: str | None = None) -> GrantRow | None:
        """The grant of ``customer`` to this app (of ``brand``, when given)."""
        client_id = self.config.credentials.client_id
        for grant in self.store.portability.list_grants():
            if grant.client_id == client_id and grant.customer == customer and brand in (None, grant.brand):
                return grant
        return None

    def query_detail(self, query_id: str) -> dict[str, Any]:
        portability = self.store.portability
        query = portability.get_query(query_id)
        grant = portability.get_grant(query.grant_id) if query is not None else None
        if query is None or grant is None or grant.client_id != self.config.credentials.client_id:
            raise UnknownQueryError(query_id)
        work = self._work.get(grant.id)
        return {
            **query_summary(query),
            "customer": grant.customer,
            "scope_id": query.scope_id,
            "running": work is not None and work.query_id == query.id,
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


def _brand(value: str) -> Brand:
    from ringvault.portability.endpoints import check_brand

    return check_brand(value)


def _region(value: str) -> Region:
    from ringvault.portability.endpoints import check_region

    return check_region(value)
