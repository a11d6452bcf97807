"""The documented request limits, on the simulated clock (so tests move past a 20-minute window by advancing it).

- ``TokenBucket``: a base rate with a burst (5 rps / burst 5 for createDataQuery, 10 rps / burst 5 for
  listDataQueryRecords);
- ``SlidingWindow``: at most N calls in any window of W seconds (20 createDataQuery calls per 20 minutes);
- ``DailyQuota``: N calls per UTC day (100,000 listDataQueryRecords).

Each returns how long to wait when it refuses, for an optional ``Retry-After``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

DAY_S = 86400.0


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float) -> float:
        """0.0 when a token was taken; else the seconds until one is available."""
        if self.tokens < 0:
            self.tokens, self.updated = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class SlidingWindow:
    limit: int
    window_s: float
    calls: deque[float] = field(default_factory=deque)

    def wait(self, now: float) -> float:
        """0.0 when a call fits in the window now; else the seconds until the oldest call leaves it."""
        while self.calls and now - self.calls[0] >= self.window_s:
            self.calls.popleft()
        if len(self.calls) >= self.limit:
            return self.calls[0] + self.window_s - now
        return 0.0

    def add(self, now: float) -> None:
        self.calls.append(now)


@dataclass
class DailyQuota:
    limit: int
    day: int = -1
    used: int = 0

    def wait(self, now: float) -> float:
        """0.0 while the UTC day's quota lasts; else the seconds until the next day."""
        day = int(now // DAY_S)
        if day != self.day:
            self.day, self.used = day, 0
        if self.used >= self.limit:
            return (day + 1) * DAY_S - now
        return 0.0

    def add(self) -> None:
        self.used += 1


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
