"""The transport's retry rules on their own: waits, budgets, and what a failure becomes when the retries end."""

from __future__ import annotations

import logging

import httpx
import pytest

from ringvault.transport import (
    BodyBrokeOff,
    CutOffError,
    ExponentialBackoff,
    RetryPolicy,
    ScheduledBackoff,
    Tally,
    TransportStats,
    UnreachableError,
    retryable_failure,
)
from ringvault.transport.retry import retry

LOG = logging.getLogger("ringvault.transport.test")


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_exponential_backoff_grows_to_its_cap_and_yields_to_retry_after() -> None:
    backoff = ExponentialBackoff(initial_s=1.0, max_s=5.0, max_retry_after_s=60.0, jitter_s=0.0)
    assert [backoff.wait(n, None) for n in (1, 2, 3, 4, 100)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert 7.0 <= backoff.wait(1, 7.0) <= 7.0 * 1.25  # Retry-After, spread by up to a quarter
    assert 60.0 <= backoff.wait(1, 3600.0) <= 75.0  # capped


def test_scheduled_backoff_keeps_its_schedule_unless_retry_after_asks_for_more() -> None:
    backoff = ScheduledBackoff((1.0, 2.0, 4.0), max_retry_after_s=300.0)
    assert [backoff.wait(n, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 4.0]
    assert backoff.wait(1, 7.0) == 7.0 and backoff.wait(2, 1.0) == 2.0 and backoff.wait(1, 1e6) == 300.0


@pytest.mark.parametrize(("max_retries", "cap"), [(0, 1), (2, 9), (5, 21)])
def test_the_attempt_cap_follows_max_retries(max_retries: int, cap: int) -> None:
    assert RetryPolicy(ExponentialBackoff(), max_retries=max_retries).attempt_cap == cap


def test_what_is_worth_another_attempt() -> None:
    request = httpx.Request("POST", "https://api.ring.com/x")
    refused = httpx.ConnectError("refused", request=request)
    timeout = httpx.ReadTimeout("slow", request=request)
    cut = BodyBrokeOff("api.ring.com", "RemoteProtocolError")
    assert retryable_failure(refused, idempotent=False)  # nothing was sent
    assert not retryable_failure(timeout, idempotent=False) and not retryable_failure(cut, idempotent=False)
    assert retryable_failure(timeout, idempotent=True) and retryable_failure(cut, idempotent=True)
    assert not retryable_failure(ValueError("x"), idempotent=True)


async def test_failures_that_gain_nothing_use_up_the_budget_and_name_the_cut_off() -> None:
    sleeps, stats, tally = Sleeps(), TransportStats(), Tally()

    async def attempt() -> None:
        raise BodyBrokeOff("media.example", "peer closed", received=0, total=100)

    slow = ExponentialBackoff(initial_s=30.0, max_s=300.0)  # waits a host that answered does not need
    policy = RetryPolicy(slow, max_retries=2, cut_off_max_wait_s=1.5, sleep=sleeps)
    with pytest.raises(CutOffError) as info:
        await retry(attempt, policy=policy, retryable=lambda e: True, what="GET x", stats=stats, log=LOG, tally=tally)
    assert tally.attempts == 3 and info.value.times == 3 and sleeps.waits == [1.5, 1.5] == list(stats.waits)
    assert str(info.value) == "GET x: media.example cut the body off 3 times (0 of 100 bytes; peer closed)"


async def test_failures_that_move_forward_resume_at_once_until_the_attempt_cap() -> None:
    sleeps, stats, tally = Sleeps(), TransportStats(), Tally()
    done = [0]

    async def attempt() -> None:
        done[0] += 10
        raise BodyBrokeOff("media.example", "peer closed", received=done[0], total=1000)

    policy = RetryPolicy(ExponentialBackoff(initial_s=5.0), max_retries=1, sleep=sleeps)
    with pytest.raises(CutOffError):
        await retry(
            attempt, policy=policy, retryable=lambda e: True, what="x", stats=stats, log=LOG, progress=lambda: done[0],
            tally=tally,
        )  # fmt: skip
    assert tally.attempts == policy.attempt_cap == 5 and sleeps.waits == [0.0] * 4


async def test_a_host_that_never_answers_is_unreachable_after_its_connect_retries() -> None:
    sleeps, tally = Sleeps(), Tally()
    request = httpx.Request("GET", "https://api.ring.com/x")

    async def attempt() -> None:
        raise httpx.ConnectError("connection refused", request=request)

    policy = RetryPolicy(
        ExponentialBackoff(initial_s=0.0, jitter_s=0.0), max_retries=5, connect_retries=2, sleep=sleeps
    )
    with pytest.raises(UnreachableError) as info:
        await retry(
            attempt, policy=policy, retryable=lambda e: retryable_failure(e, idempotent=True), what="GET x",
            stats=TransportStats(), log=LOG, tally=tally,
        )  # fmt: skip
    assert tally.attempts == 3 and info.value.kind == "ConnectError" and "connection refused" in str(info.value)
