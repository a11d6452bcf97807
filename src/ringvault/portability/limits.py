"""Client-side rate limiting that keeps every call of an app within the service's documented limits.

The seed documents, for createDataQuery: 5 requests per second, bursts of up to 5, and no more than 20 requests within
a 20-minute interval; for listDataQueryRecords: 10 per second, bursts of up to 5, and 100,000 per day. Its THROTTLED
and QUOTA_EXCEEDED rows say whose limits these are: "Your Application's rate limits", "Your Application's daily
quota". So by default one budget is shared by every customer of the app (``per_customer=True`` gives each customer
a budget of their own, for a service that counts that way; the daily quota stays the app's).

Exceeding a limit earns a 429, so the client waits *before* sending. Each call **reserves** the earliest time it may
be sent, in the order calls ask (first come, first served), and the counters move as if it was sent then:

- the per-second rate and the burst are a token bucket, kept as its theoretical arrival time (GCRA: the bucket is
  full again at ``rate_tat``; capacity = burst, one token per 1/rate seconds);
- the 20-per-20-minutes rule is a sliding window over the send times of the last 20 creates (a leaky bucket of 20
  would let 40 through in 20 minutes), reserved times included, so a reservation never lands in a full window;
- the 100,000-per-day list quota is a counter per UTC day; when it is used up the client raises
  ``DailyQuotaReachedError`` without sending;
- at most ``max_concurrent`` calls of one kind are in flight at once in this process ("up to 5 concurrent").

Where the counters live is the ``LimitState``: :class:`MemoryLimitState` (one process, the default) or
:class:`DatabaseLimitState`, the archive database's ``portability_limits`` table, changed in one short write
transaction per call, so every process of the app (``ringvault serve``, its workers, the CLI) shares one budget and
none of them is the authority on its own.

Priorities: a list call made only to learn whether a query is completed (``checking()``) leaves
``check_reserve_tokens`` of the list bucket and ``check_reserve_share`` of the daily quota to the calls that import
completed queries, whose listing window is running. A caller that must not wait long in line (``ringvault serve``:
it reschedules instead of holding anything) sets ``max_create_wait_s``: a create whose slot is further away raises
:class:`PermitLaterError` carrying its reserved time, and later sends with ``prepaid(at)`` using that reservation.

Every attempt counts, retries included. ``headroom`` (default 0.9) keeps the rates a little under the documented
ones, and ``window_margin_s`` pads the 20-minute window, so network jitter cannot push a burst over the server's count.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from ringvault.portability.errors import DailyQuotaReachedError, PortabilityError

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore

__all__ = [
    "APP_BUDGET",
    "Budget",
    "DatabaseLimitState",
    "LimitState",
    "MemoryLimitState",
    "NoRateLimit",
    "Operation",
    "Permit",
    "PermitLaterError",
    "PortabilityRateLimiter",
    "Priority",
    "RateLimits",
    "reserve_call",
]

Operation = Literal["create", "list"]
#: ``import``: a call for a completed query (its listing window runs); ``check``: is a query completed yet?
Priority = Literal["import", "check"]
#: the budget key of the app's own (shared) budget
APP_BUDGET = "*"
T = TypeVar("T")


@dataclass(frozen=True)
class RateLimits:
    """The documented limits (defaults) and the safety margins the client applies to them."""

    create_per_second: float = 5.0
    create_burst: int = 5
    create_per_window: int = 20
    create_window_s: float = 20 * 60.0
    list_per_second: float = 10.0
    list_burst: int = 5
    list_per_day: int = 100_000
    max_concurrent: int = 5
    headroom: float = 0.9
    window_margin_s: float = 2.0
    #: list bucket tokens a ``check`` call leaves to imports
    check_reserve_tokens: int = 1
    #: share of the daily list quota ``check`` calls leave to imports
    check_reserve_share: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        for name in ("create_per_second", "list_per_second", "create_window_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("create_burst", "list_burst", "create_per_window", "list_per_day", "max_concurrent"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.window_margin_s < 0 or self.check_reserve_tokens < 0 or not 0 <= self.check_reserve_share < 1:
            raise ValueError("window_margin_s and check_reserve_tokens must not be negative, check_reserve_share < 1")

    def bucket(self, operation: Operation) -> tuple[float, float]:
        """``(capacity, time_period)`` of the token bucket of ``operation`` with the headroom applied: ``capacity``
        calls at once, then one every ``time_period / capacity`` seconds."""
        capacity = self.capacity(operation)
        return float(capacity), capacity * self.interval(operation)

    def capacity(self, operation: Operation) -> int:
        burst = self.create_burst if operation == "create" else self.list_burst
        return max(1, math.floor(burst * self.headroom))

    def interval(self, operation: Operation) -> float:
        """Seconds per call at the sustained rate (headroom applied)."""
        rate = self.create_per_second if operation == "create" else self.list_per_second
        return 1.0 / (rate * self.headroom)

    @property
    def window_s(self) -> float:
        """The create window as the client counts it (padded)."""
        return self.create_window_s + self.window_margin_s

    def creates_per_day(self) -> float:
        """The most createDataQuery calls a day holds (the window is the binding limit)."""
        return self.create_per_window * 86400.0 / self.window_s


@dataclass(frozen=True)
class Permit:
    """A reserved call: send it at ``at`` (the limit state's clock), ``wait_s`` after it was reserved. ``limit``
    says what made it wait: ``rate`` (the per-second bucket), ``window`` (the create window), None (no wait)."""

    at: float
    wait_s: float
    limit: Literal["rate", "window"] | None = None


class PermitLaterError(PortabilityError):
    """The app's budget lets this call out only at ``permit.at``, later than the caller wants to wait in line; the
    slot is reserved: send the call then, inside ``limiter.prepaid(permit.at)``. Never sent to Ring, never retried
    by the HTTP layer."""

    hint = "Nothing is lost: the call is due when the app's budget allows it."

    def __init__(self, permit: Permit) -> None:
        what = "the app's 20-minute create window is full" if permit.limit == "window" else "the app's rate limit"
        super().__init__(f"{what}: the next createDataQuery slot is in {permit.wait_s:.0f} s")
        self.permit = permit


class BudgetCounters(Protocol):
    """The counters of one budget (``Budget`` in memory, a ``portability_limits`` row in the database)."""

    rate_tat: float
    recent: list[float]
    day: str | None
    used: int


@dataclass
class Budget:
    rate_tat: float = 0.0
    recent: list[float] = field(default_factory=list)
    day: str | None = None
    used: int = 0


def reserve_call(
    limits: RateLimits,
    operation: Operation,
    budget: BudgetCounters,
    quota: BudgetCounters,
    *,
    now: float,
    day: date,
    priority: Priority = "import",
) -> Permit:
    """Reserve the next ``operation`` call in ``budget`` (and, for a list call, in the app's daily ``quota``): the
    earliest time it may be sent, at ``now`` or later, after every call reserved before. Changes the counters in
    place; raises ``DailyQuotaReachedError`` (counting nothing) when the day's quota is used up."""
    if operation == "list":
        today = day.isoformat()
        if quota.day != today:
            quota.day, quota.used = today, 0
        allowed = limits.list_per_day
        if priority == "check":
            allowed = math.floor(allowed * (1 - limits.check_reserve_share))
        if quota.used >= allowed:
            error = DailyQuotaReachedError(
                f"the app's daily quota of {limits.list_per_day} list calls is used up for {today} (UTC)"
                + (" (the rest is kept for imports)" if allowed < limits.list_per_day else "")
            )
            midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
            error.retry_after = max(1.0, (midnight - datetime.now(UTC)).total_seconds())
            raise error
        quota.used += 1
    step = limits.interval(operation)
    capacity = limits.capacity(operation)
    if operation == "list" and priority == "check":
        capacity = max(1, capacity - limits.check_reserve_tokens)
    at = max(now, budget.rate_tat - (capacity - 1) * step)
    limit: Literal["rate", "window"] | None = "rate" if at > now else None
    if operation == "create":
        recent = budget.recent
        if recent and recent[-1] > at:  # first come, first served: never before a call reserved earlier
            at = recent[-1]
        count = limits.create_per_window
        if len(recent) >= count and recent[-count] + limits.window_s > at:
            at, limit = recent[-count] + limits.window_s, "window"
        recent.append(at)
        del recent[:-count]
    budget.rate_tat = max(budget.rate_tat, at) + step
    return Permit(at, at - now, limit)


class LimitState(Protocol):
    """Where an app's counters live, and its clock."""

    def now(self) -> float:
        """The clock permits are expressed in (seconds)."""
        ...

    def today(self) -> date:
        """The UTC day the daily quota counts."""
        ...

    async def update(
        self, keys: Sequence[tuple[Operation, str]], change: Callable[[Mapping[tuple[str, str], BudgetCounters]], T]
    ) -> T:
        """Run ``change`` on the budgets ``keys`` atomically (no other caller in between) and keep what it did."""
        ...


class MemoryLimitState:
    """Counters in this process's memory, on the event loop's clock (virtual in tests)."""

    def __init__(self, *, today: Callable[[], date] | None = None) -> None:
        self._today = today or (lambda: datetime.now(UTC).date())
        self._budgets: dict[tuple[str, str], Budget] = {}

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def today(self) -> date:
        return self._today()

    async def update(
        self, keys: Sequence[tuple[Operation, str]], change: Callable[[Mapping[tuple[str, str], BudgetCounters]], T]
    ) -> T:
        budgets: dict[tuple[str, str], BudgetCounters] = {key: self._budgets.setdefault(key, Budget()) for key in keys}
        return change(budgets)  # synchronous: nothing else runs on the loop meanwhile

    def used_today(self) -> int:
        quota = self._budgets.get(("list", APP_BUDGET))
        return quota.used if quota is not None and quota.day == self.today().isoformat() else 0


class DatabaseLimitState:
    """Counters in the archive database (``portability_limits``), shared by every process of the app ``client_id``;
    the clock is the wall clock (epoch seconds), which every machine of the app shares."""

    def __init__(self, store: ArchiveStore, client_id: str, *, clock: Callable[[], float] = time.time) -> None:
        from ringvault.archive.store.portability_schedule import ScheduleStore

        self.schedule = ScheduleStore(store)
        self.client_id = client_id
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    async def update(
        self, keys: Sequence[tuple[Operation, str]], change: Callable[[Mapping[tuple[str, str], BudgetCounters]], T]
    ) -> T:
        return await asyncio.to_thread(self.schedule.update_budgets, self.client_id, keys, change)

    def used_today(self) -> int:
        for row in self.schedule.budgets(self.client_id):
            if (row.operation, row.budget) == ("list", APP_BUDGET) and row.day == self.today().isoformat():
                return row.used
        return 0


@dataclass
class _Prepaid:
    at: float
    spent: bool = False


_PRIORITY: ContextVar[Priority] = ContextVar("ringvault_portability_priority", default="import")
_PREPAID: ContextVar[_Prepaid | None] = ContextVar("ringvault_portability_prepaid", default=None)


class PortabilityRateLimiter:
    """The limits of one app. Share one instance between all the ``PortabilityClient`` objects of an app (one per
    customer); give every process of the app a ``DatabaseLimitState`` on the same database to share them further.
    ``today`` (for the in-memory state) tells the UTC day of the daily quota."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        per_customer: bool = False,
        today: Callable[[], date] | None = None,
        state: LimitState | None = None,
        max_create_wait_s: float | None = None,
    ) -> None:
        self.limits = limits or RateLimits()
        self.per_customer = per_customer
        self.state: LimitState = state if state is not None else MemoryLimitState(today=today)
        self.max_create_wait_s = max_create_wait_s
        self._in_flight: dict[tuple[str, str], asyncio.Semaphore] = {}

    def _budget(self, customer: str) -> str:
        return customer if self.per_customer else APP_BUDGET

    async def reserve(self, operation: Operation, customer: str, *, priority: Priority | None = None) -> Permit:
        """Reserve the next ``operation`` call of ``customer`` (see :func:`reserve_call`)."""
        level = priority or _PRIORITY.get()
        key = (operation, self._budget(customer))
        quota_key: tuple[Operation, str] = ("list", APP_BUDGET)
        keys: list[tuple[Operation, str]] = [key]
        if operation == "list" and key != quota_key:
            keys.append(quota_key)
        state = self.state

        def change(budgets: Mapping[tuple[str, str], BudgetCounters]) -> Permit:
            quota = budgets.get(quota_key, budgets[key])
            return reserve_call(
                self.limits, operation, budgets[key], quota, now=state.now(), day=state.today(), priority=level
            )

        return await state.update(keys, change)

    @contextlib.contextmanager
    def checking(self) -> Iterator[None]:
        """List calls inside this block only check whether a query is completed: they yield to imports."""
        token = _PRIORITY.set("check")
        try:
            yield
        finally:
            _PRIORITY.reset(token)

    @contextlib.contextmanager
    def prepaid(self, at: float) -> Iterator[None]:
        """The first create inside this block uses the slot reserved for ``at`` (a ``PermitLaterError``'s)."""
        token = _PREPAID.set(_Prepaid(at))
        try:
            yield
        finally:
            _PREPAID.reset(token)

    @contextlib.asynccontextmanager
    async def slot(self, operation: Operation, customer: str) -> AsyncIterator[None]:
        """Wait until one more ``operation`` call of ``customer`` is within the limits; hold a concurrency slot for
        the duration of the ``async with`` block (the request)."""
        prepaid = _PREPAID.get()
        if operation == "create" and prepaid is not None and not prepaid.spent:
            prepaid.spent = True
            at = prepaid.at
        else:
            permit = await self.reserve(operation, customer)
            if operation == "create" and self.max_create_wait_s is not None and permit.wait_s > self.max_create_wait_s:
                raise PermitLaterError(permit)
            at = permit.at
        wait = at - self.state.now()
        if wait > 0:
            await asyncio.sleep(wait)
        key = (operation, self._budget(customer))
        semaphore = self._in_flight.get(key)
        if semaphore is None:
            semaphore = self._in_flight[key] = asyncio.Semaphore(self.limits.max_concurrent)
        async with semaphore:
            yield


class NoRateLimit(PortabilityRateLimiter):
    """No client-side limiting (tests of other behaviour; a caller that limits by itself)."""

    async def reserve(self, operation: Operation, customer: str, *, priority: Priority | None = None) -> Permit:
        return Permit(self.state.now(), 0.0)

    @contextlib.asynccontextmanager
    async def slot(self, operation: Operation, customer: str) -> AsyncIterator[None]:
        yield
