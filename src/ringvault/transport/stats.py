"""Counters of one HTTP client, for tests, benchmarks and progress output."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: How many of the latest waits ``TransportStats.waits`` keeps (a long-running server retries for days).
KEPT_WAITS = 1000


@dataclass
class TransportStats:
    """What one client sent and received."""

    requests: int = 0
    retries: int = 0
    waits: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT_WAITS))
    """the latest waits before a retry, in seconds"""
    statuses: dict[int, int] = field(default_factory=dict)
    """answers by HTTP status"""
    rate_limited: int = 0
    """answers 429 received; callers watch it to slow down"""
    bytes_downloaded: int = 0
    resumes: int = 0
    """downloads continued with ``Range`` after a break"""
    restarts: int = 0
    """downloads started over (the server ignored ``Range``, or answered an unusable ``Content-Range``)"""

    def count_status(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 429:
            self.rate_limited += 1
