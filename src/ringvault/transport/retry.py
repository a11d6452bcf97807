"""Retries: how long to wait (backoff, ``Retry-After``), what is worth another attempt, and when to stop.

``retry`` runs one request's attempts with tenacity. Its budget counts **failures that moved nothing forward**
(``RetryPolicy.max_retries``); a download that failed after receiving more bytes resumes at once and does not use the
budget up, but every attempt counts against ``RetryPolicy.attempt_cap`` so a body that keeps breaking off stops after
a bounded number of attempts. Errors that come back from ``retry``: the caller's own (a status it mapped), or the
transport's ``UnreachableError`` (no answer) and ``CutOffError`` (an answer whose body broke off).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from ringvault.transport._httpx import httpx
from ringvault.transport.errors import CutOffError, UnreachableError
from ringvault.transport.stats import TransportStats

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

#: Attempts a download may make per retry of its budget when each of them moved forward (see ``RetryPolicy``).
RESUMES_PER_RETRY = 4


class BodyBrokeOff(Exception):
    """Raised by one attempt: the response started, then its body broke off (``retry`` turns it into
    ``CutOffError`` when the retries run out). ``received``/``total``: bytes kept/announced, when known."""

    def __init__(self, host: str, reason: str, *, received: int | None = None, total: int | None = None) -> None:
        super().__init__(reason)
        self.host = host
        self.reason = reason
        self.received = received
        self.total = total


# -- waits ---------------------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or invalid."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def spread(wait: float) -> float:
    """A ``Retry-After`` wait plus up to a quarter more: requests limited together must not all come back in the
    same instant (they would meet the limit again, together)."""
    return wait * random.uniform(1.0, 1.25)


class Backoff(Protocol):
    """How long to wait before the next attempt after ``failures`` failures in a row (1-based) that moved nothing
    forward, given the ``Retry-After`` of the last answer (None without one)."""

    def wait(self, failures: int, retry_after: float | None) -> float: ...


@dataclass(frozen=True)
class ExponentialBackoff:
    """``initial * 2^(n-1)`` plus up to ``jitter`` (default ``initial``), at most ``max_s``; a ``Retry-After``
    replaces it (capped at ``max_retry_after_s``, spread by up to a quarter)."""

    initial_s: float = 1.0
    max_s: float = 30.0
    max_retry_after_s: float = 300.0
    jitter_s: float | None = None

    def wait(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return spread(min(retry_after, self.max_retry_after_s))
        jitter = self.initial_s if self.jitter_s is None else self.jitter_s
        exponent = min(max(0, failures - 1), 60)
        return float(max(0.0, min(self.initial_s * 2**exponent + random.uniform(0, jitter), self.max_s)))


@dataclass(frozen=True)
class ScheduledBackoff:
    """Fixed waits: ``delays[n-1]`` after the n-th failure (the last one repeats). A ``Retry-After`` larger than the
    scheduled wait wins, capped at ``max_retry_after_s`` (or the scheduled wait, if that is longer)."""

    delays: tuple[float, ...]
    max_retry_after_s: float = 300.0

    def wait(self, failures: int, retry_after: float | None) -> float:
        if not self.delays:
            return 0.0
        scheduled = self.delays[min(max(failures, 1), len(self.delays)) - 1]
        if retry_after is not None and retry_after > scheduled:
            return min(retry_after, max(self.max_retry_after_s, scheduled))
        return scheduled


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again and how long to wait.

    - ``max_retries``: further attempts after failures in a row that moved nothing forward.
    - ``max_attempts``: every attempt counts here, also those that moved a download forward; default
      ``1 + max_retries * RESUMES_PER_RETRY`` (so ``max_retries`` 0 means one attempt, whatever happens).
    - ``connect_retries``: a refused connection or failed DNS lookup rarely heals in seconds; it gets at most this
      many retries (None: ``max_retries``).
    - ``cut_off_max_wait_s``: the longest wait after a body broke off with nothing gained (the host answered, so
      the long waits meant for an overloaded or unreachable host do not apply); None: the backoff's own wait.
    """

    backoff: Backoff
    max_retries: int = 5
    max_attempts: int | None = None
    connect_retries: int | None = None
    cut_off_max_wait_s: float | None = None
    sleep: Sleep = asyncio.sleep

    @property
    def attempt_cap(self) -> int:
        if self.max_attempts is not None:
            return max(1, self.max_attempts)
        return 1 + max(0, self.max_retries) * RESUMES_PER_RETRY


# -- what is worth another attempt ---------------------------------------------------------------------------------


def retryable_failure(exc: BaseException, *, idempotent: bool) -> bool:
    """Transport failures worth another attempt: a connection that was never made always; a timeout, a broken
    connection or a body cut off only when repeating the request can do no harm (``idempotent``)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if not idempotent:
        return False
    return isinstance(exc, BodyBrokeOff | httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


def describe_failure(exc: BaseException | None) -> str:
    """A few words for a retry log line."""
    if exc is None:
        return "?"
    if isinstance(exc, BodyBrokeOff):
        kept = f" after {exc.received} bytes" if exc.received else ""
        return f"body cut off{kept} ({exc.reason})"
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return f"HTTP {status}"
    return type(exc).__name__


# -- the loop ------------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one ``retry`` call did (read it after the call, also when it raised)."""

    attempts: int = 0
    stalled: int = 0
    """failures in a row that moved nothing forward"""
    advanced: bool = False
    """whether the last failure moved forward"""
    cut_offs: int = 0


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retryable: Callable[[BaseException], bool],
    what: str,
    stats: TransportStats,
    log: logging.Logger,
    progress: Callable[[], int] | None = None,
    tally: Tally | None = None,
    describe: Callable[[BaseException | None], str] = describe_failure,
    level: int = logging.WARNING,
) -> T:
    """Run ``attempt`` until it succeeds, raises something not ``retryable``, or the policy's budget is used up.

    ``progress`` (downloads: bytes kept so far) tells a failure that moved forward from one that did not: it is
    retried at once and does not count against ``max_retries``. On the way out, httpx's transport errors become
    ``UnreachableError`` and a body that broke off ``CutOffError``; everything else is re-raised as it is.
    """
    count = tally if tally is not None else Tally()

    async def counted() -> T:
        count.attempts += 1
        before = progress() if progress is not None else 0
        try:
            return await attempt()
        except BaseException as exc:
            count.advanced = progress is not None and progress() > before
            count.stalled = 0 if count.advanced else count.stalled + 1
            if isinstance(exc, BodyBrokeOff):
                count.cut_offs += 1
            raise

    def failure(state: RetryCallState) -> BaseException | None:
        outcome = state.outcome
        return outcome.exception() if outcome is not None and outcome.failed else None

    def stop(state: RetryCallState) -> bool:
        if count.stalled > policy.max_retries or state.attempt_number >= policy.attempt_cap:
            return True
        connect_retries = policy.connect_retries
        refused = isinstance(failure(state), httpx.ConnectError)
        return connect_retries is not None and refused and count.stalled > connect_retries

    def wait(state: RetryCallState) -> float:
        exc = failure(state)
        if count.advanced:
            seconds = 0.0
        else:
            retry_after = getattr(exc, "retry_after", None)
            asked = float(retry_after) if isinstance(retry_after, int | float) else None
            seconds = policy.backoff.wait(count.stalled, asked)
            if isinstance(exc, BodyBrokeOff) and policy.cut_off_max_wait_s is not None:
                seconds = min(seconds, policy.cut_off_max_wait_s)
        return seconds

    def before_sleep(state: RetryCallState) -> None:  # (tenacity computes a wait before deciding to stop)
        stats.retries += 1
        stats.waits.append(state.next_action.sleep if state.next_action else 0.0)
        log.log(
            level,
            "%s: %s; %s in %.2f s (attempt %d)",
            what,
            describe(failure(state)),
            "resuming" if count.advanced else "retrying",
            state.next_action.sleep if state.next_action else 0.0,
            state.attempt_number + 1,
        )

    retrying = AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(retryable),
        before_sleep=before_sleep,
        sleep=policy.sleep,
        reraise=True,
    )
    try:
        return await retrying(counted)
    except BodyBrokeOff as exc:
        raise CutOffError(
            what, exc.host, times=count.cut_offs, received=exc.received, total=exc.total, reason=exc.reason
        ) from exc
    except httpx.TransportError as exc:
        raise UnreachableError(what, exc, attempts=count.attempts) from exc
