"""Client-side rate limiting that keeps every call within the service's documented limits.

The seed documents, for createDataQuery: 5 requests per second, bursts of up to 5, and no more than 20 requests within
a 20-minute interval; for listDataQueryRecords: 10 per second, bursts of up to 5, and 100,000 per day. Exceeding them
earns a 429, so the client waits *before* sending instead:

- the per-second rate and the burst are a token bucket (``aiolimiter.AsyncLimiter`` with capacity = burst and a drain
  of rate/s, the shape API gateways enforce);
- the 20-per-20-minutes rule is a sliding window (a leaky bucket of 20 would let 40 through in 20 minutes);
- at most ``max_concurrent`` calls of one kind are in flight at once ("up to 5 concurrent requests");
- the 100,000-per-day list quota is a counter per UTC day; when it is used up the client raises
  ``DailyQuotaReachedError`` without sending.

Limits apply per customer by default (``per_customer=True``); an app whose limits are counted per app shares one set
across all its customers with ``per_customer=False``. The daily quota is the app's, so it is always shared. Every
attempt counts, retries included. ``headroom`` (default 0.9) keeps the rates a little under the documented ones, and
``window_margin_s`` pads the 20-minute window, so network jitter cannot push a burst over the server's count.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from aiolimiter import AsyncLimiter

from ringvault.portability.errors import DailyQuotaReachedError

Operation = Literal["create", "list"]


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

    def __post_init__(self) -> None:
        if not 0 < self.headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        for name in ("create_per_second", "list_per_second", "create_window_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("create_burst", "list_burst", "create_per_window", "list_per_day", "max_concurrent"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def bucket(self, operation: Operation) -> tuple[float, float]:
        """``(capacity, time_period)`` of the token bucket of ``operation`` with the headroom applied."""
        rate, burst = (
            (self.create_per_second, self.create_burst)
            if operation == "create"
            else (self.list_per_second, self.list_burst)
        )
        capacity = max(1.0, math.floor(burst * self.headroom))
        return capacity, capacity / (rate * self.headroom)


class SlidingWindowLimiter:
    """At most ``max_calls`` acquisitions within any ``window_s`` seconds (event-loop time), in FIFO order."""

    def __init__(self, max_calls: int, window_s: float) -> None:
        self.max_calls = max_calls
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    def _prune(self, now: float) -> None:
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()

    async def acquire(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                self._prune(now)
                if len(self._times) < self.max_calls:
                    self._times.append(now)
                    return
                await asyncio.sleep(self._times[0] + self.window_s - now)

    @property
    def in_window(self) -> int:
        return len(self._times)


class DailyQuota:
    """Counts calls per UTC day; ``take()`` raises ``DailyQuotaReachedError`` once ``limit`` calls were made today."""

    def __init__(self, limit: int, *, today: Callable[[], date] | None = None) -> None:
        self.limit = limit
        self._today = today or (lambda: datetime.now(UTC).date())
        self._day = self._today()
        self._used = 0

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day, self._used = day, 0

    @property
    def used(self) -> int:
        self._roll()
        return self._used

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def take(self) -> None:
        self._roll()
        if self._used >= self.limit:
            raise DailyQuotaReachedError(
                f"the app's daily quota of {self.limit} list calls is used up for {self._day.isoformat()} (UTC)"
            )
        self._used += 1


class _OperationLimiter:
    def __init__(self, limits: RateLimits, operation: Operation) -> None:
        capacity, period = limits.bucket(operation)
        self.bucket = AsyncLimiter(capacity, period)
        self.window = (
            SlidingWindowLimiter(limits.create_per_window, limits.create_window_s + limits.window_margin_s)
            if operation == "create"
            else None
        )
        self.in_flight = asyncio.Semaphore(limits.max_concurrent)


class PortabilityRateLimiter:
    """The limits of one app: per-customer (default) or shared token buckets and windows, one daily list counter.

    Share one instance between all the ``PortabilityClient`` objects of an app (one per customer).
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        per_customer: bool = True,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.limits = limits or RateLimits()
        self.per_customer = per_customer
        self.daily = DailyQuota(self.limits.list_per_day, today=today)
        self._limiters: dict[tuple[str, Operation], _OperationLimiter] = {}

    def _limiter(self, operation: Operation, customer: str) -> _OperationLimiter:
        key = (customer if self.per_customer else "*", operation)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = _OperationLimiter(self.limits, operation)
        return limiter

    @contextlib.asynccontextmanager
    async def slot(self, operation: Operation, customer: str) -> AsyncIterator[None]:
        """Wait until one more ``operation`` call of ``customer`` is within the limits; hold a concurrency slot for
        the duration of the ``async with`` block (the request)."""
        limiter = self._limiter(operation, customer)
        if operation == "list":
            self.daily.take()
        if limiter.window is not None:
            await limiter.window.acquire()
        await limiter.bucket.acquire()
        async with limiter.in_flight:
            yield


class NoRateLimit(PortabilityRateLimiter):
    """No client-side limiting (tests of other behaviour; a caller that limits by itself)."""

    @contextlib.asynccontextmanager
    async def slot(self, operation: Operation, customer: str) -> AsyncIterator[None]:
        yield
