"""A controllable clock for the simulator.

Everything time-dependent in the simulator (token expiry, session expiry, 2FA throttling windows, recording
readiness, retention, snapshot capture times) reads ``SimClock.now()`` so tests can move time with
``advance()`` (or ``POST /_sim/clock``) instead of sleeping.
"""

from __future__ import annotations

import threading
import time


class SimClock:
    """Wall-clock time plus an offset that only ever grows."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> float:
        """Epoch seconds, as the simulated Ring cloud sees them."""
        return time.time() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move simulated time forward; returns the new ``now()``."""
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()
