"""What every part of the Data Portability hub shares: its settings, the archive, the API clients, the app's limits,
the schedule and the work queue (``HubCore``), and the hub's errors and importer protocol.

``PortabilityHub`` (``portability_hub.py``) is ``HubCore`` plus one part per concern: Login with Ring and invitations
(``portability_logins``), the steps of the work (``portability_steps``), Ring's notifications
(``portability_notify``) and the status (``portability_status``).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability_schedule import ScheduleStore
from ringvault.archive.store.portability_subscriptions import SubscriptionStore
from ringvault.portability.client import PortabilityClient
from ringvault.portability.endpoints import (
    Brand,
    PortabilityEndpoints,
    Region,
    check_brand,
    check_region,
    endpoints_for,
)
from ringvault.portability.http import PortabilityHttp, RetryPolicy
from ringvault.portability.limits import DatabaseLimitState, PortabilityRateLimiter
from ringvault.portability.oauth import PortabilityAuth
from ringvault.portability.tokens import PortabilityTokenStore
from ringvault.server.portability_login import LoginSeal, load_server_secret
from ringvault.server.portability_settings import PortabilityServerSettings
from ringvault.server.portability_work import LocalWorkQueue, Step, WorkQueue
from ringvault.transport import register_secret

if TYPE_CHECKING:
    from ringvault.archive.store.portability import GrantRow, QueryRow
    from ringvault.portability.notifications import QueryNotification

__all__ = ["IMPORTING_STATES", "OPEN_QUERY_STATES", "HubCore", "LoginError", "QueryRunner", "UnknownQueryError"]

#: states of a query that still has work to do (``failed`` is closed: only an explicit resume reopens it)
OPEN_QUERY_STATES = frozenset({"created", "notified", "listed", "downloaded"})
#: states of a COMPLETED query whose import still has work to do
IMPORTING_STATES = frozenset({"notified", "listed", "downloaded"})

P = ParamSpec("P")
R = TypeVar("R")


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
        """createDataQuery for the grant's customer (or adopt its open query); stored as ``created`` first. Raises
        ``RequestConflictError`` for a 409 (never waits for it: the hub reschedules)."""
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


class HubCore(ABC):
    """The state and plumbing of the hub. ``runner`` is the importer; ``http`` may be given by tests; ``queue`` is
    where steps go (default: a :class:`LocalWorkQueue` of this process); ``clock`` (epoch seconds) drives the
    schedule, the app's limits and the login seals."""

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
        self.config = settings.config
        self.store = store
        self.runner = runner
        self.client_id = self.config.credentials.client_id
        self.tokens = PortabilityTokenStore(self.config.token_dir)
        self.schedule = ScheduleStore(store)
        self.limiter = PortabilityRateLimiter(
            settings.rate_limits,
            per_customer=settings.rate_limit_per == "customer",
            state=DatabaseLimitState(store, self.client_id, clock=clock),
            max_create_wait_s=settings.max_create_wait_s,
        )
        self._http = http
        self._monotonic = monotonic
        self._clock = clock
        self.seal = LoginSeal(load_server_secret(self.config.token_dir), ttl_s=settings.login_ttl_s, clock=clock)
        self._login_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        #: import slots of this process: only imports take one (a create never waits holding one)
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self.queue: WorkQueue = queue if queue is not None else LocalWorkQueue(self.run_step)
        #: the SNS subscription confirmations received and the regions notifications came from (in the database:
        #: a restart still knows whether notifications can arrive)
        self.sns = SubscriptionStore(store)
        self._closed = False
        register_secret(settings.notification_secret)  # it appears in request paths: keep it out of logs

    # -- implemented by the steps part (``portability_steps.StepsMixin``); the other parts call them -------------

    @abstractmethod
    async def run_step(self, step: Step, arg: str) -> None:
        """Run one step of the work to completion (see ``PortabilityHub.run_step``)."""

    @abstractmethod
    async def request_export(self, grant: GrantRow, *, reason: str = "queued", detail: str | None = None) -> bool:
        """Queue an export of ``grant`` (see ``StepsMixin.request_export``)."""

    # -- plumbing ------------------------------------------------------------------------------------------------

    @property
    def http(self) -> PortabilityHttp:
        """One HTTP client (connection pool) for every customer."""
        if self._http is None:
            delays = self.config.retry_delays  # RINGVAULT_PORTABILITY_RETRY_DELAYS, as the CLI honours it
            self._http = PortabilityHttp(retry=RetryPolicy(delays=delays) if delays is not None else None)
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
        """The API client of a grant's customer: shared HTTP pool and the app's shared limits."""
        brand, region = check_brand(grant.brand), check_region(grant.region)
        return PortabilityClient(
            self.auth(brand, region, grant.customer), region=region, limiter=self.limiter, http=self.http
        )

    def now(self) -> datetime:
        """The hub's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self._clock(), UTC)

    def ours(self, grant: GrantRow | None) -> bool:
        """Whether ``grant`` is a customer of this app."""
        return grant is not None and grant.client_id == self.client_id

    def grant_of(self, customer: str, brand: str | None = None) -> GrantRow | None:
        """The grant of ``customer`` to this app (of ``brand``, when given)."""
        for grant in self.store.portability.list_grants():
            if self.ours(grant) and grant.customer == customer and brand in (None, grant.brand):
                return grant
        return None

    def open_query(self, grant_id: int) -> QueryRow | None:
        """The grant's query still being worked on (created, notified, listed or downloaded), if any."""
        for query in self.store.portability.list_queries(grant_id=grant_id, open_only=True):
            if query.state in OPEN_QUERY_STATES:
                return query
        return None

    @staticmethod
    async def db(call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """A database call off the event loop."""
        return await asyncio.to_thread(call, *args, **kwargs)
