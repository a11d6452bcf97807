"""The client-side rate limiter keeps bursts within the documented limits (checked on a virtual clock)."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest

from ringvault.portability import errors as e
from ringvault.portability.client import PortabilityClient
from ringvault.portability.limits import (
    Budget,
    MemoryLimitState,
    Operation,
    PermitLaterError,
    PortabilityRateLimiter,
    RateLimits,
    reserve_call,
)
from ringvault.portability.oauth import PortabilityAuth
from tests.portability.helpers import CREDENTIALS, FakeService, run_virtual, valid_token

# The documented limits, written here independently of RateLimits' defaults.
CREATE_RATE, CREATE_BURST, CREATE_WINDOW_CALLS, CREATE_WINDOW_S = 5.0, 5, 20, 1200.0
LIST_RATE, LIST_BURST = 10.0, 5


def assert_token_bucket(times: list[float], rate: float, burst: int) -> None:
    """No interval holds more calls than a token bucket of ``rate``/s and capacity ``burst`` admits."""
    ordered = sorted(times)
    for i in range(len(ordered)):
        for j in range(i, len(ordered)):
            assert j - i + 1 <= burst + rate * (ordered[j] - ordered[i]) + 1e-9, (i, j, ordered[i], ordered[j])


def assert_window(times: list[float], calls: int, window_s: float) -> None:
    """No ``window_s``-second window holds more than ``calls`` calls."""
    ordered = sorted(times)
    for i in range(len(ordered) - calls):
        assert ordered[i + calls] - ordered[i] >= window_s, (i, ordered[i], ordered[i + calls])


async def _burst(limiter: PortabilityRateLimiter, operation: Operation, customers: list[str]) -> list[float]:
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def one(customer: str) -> None:
        async with limiter.slot(operation, customer):
            times.append(loop.time())

    await asyncio.gather(*(one(customer) for customer in customers))
    return times


def test_the_virtual_clock_moves_only_by_waiting() -> None:
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return loop.time() - start

    assert run_virtual(scenario) == pytest.approx(3600)


def test_a_burst_of_creates_stays_within_5_per_second_and_20_per_20_minutes() -> None:
    times = run_virtual(lambda: _burst(PortabilityRateLimiter(), "create", ["alice"] * 45))
    assert len(times) == 45
    assert_token_bucket(times, CREATE_RATE, CREATE_BURST)
    assert_window(times, CREATE_WINDOW_CALLS, CREATE_WINDOW_S)
    # and the limiter does not crawl: the first 20 go out within seconds, the rest in the next windows
    ordered = sorted(times)
    assert ordered[19] - ordered[0] < 10
    assert ordered[44] - ordered[0] < 2 * CREATE_WINDOW_S + 60


def test_a_burst_of_lists_stays_within_10_per_second_burst_5() -> None:
    times = run_virtual(lambda: _burst(PortabilityRateLimiter(), "list", ["alice"] * 200))
    assert_token_bucket(times, LIST_RATE, LIST_BURST)
    ordered = sorted(times)
    assert ordered[-1] - ordered[0] < 200 / LIST_RATE * 1.5  # close to the allowed rate


def test_without_headroom_the_limiter_uses_exactly_the_documented_limits() -> None:
    limits = RateLimits(headroom=1.0, window_margin_s=0.0)
    times = run_virtual(lambda: _burst(PortabilityRateLimiter(limits), "create", ["alice"] * 21))
    assert_token_bucket(times, CREATE_RATE, CREATE_BURST)
    assert_window(times, CREATE_WINDOW_CALLS, CREATE_WINDOW_S)
    ordered = sorted(times)
    assert ordered[4] - ordered[0] == pytest.approx(0.0, abs=1e-6)  # the full burst of 5 at once
    assert ordered[20] - ordered[0] == pytest.approx(CREATE_WINDOW_S, abs=1e-6)


def test_the_limits_are_the_applications_by_default() -> None:
    """Seed 003: "Your Application's rate limits": every customer of the app draws on one budget."""
    customers = ["alice"] * 20 + ["bob"] * 20
    times = run_virtual(lambda: _burst(PortabilityRateLimiter(), "create", customers))
    assert_token_bucket(times, CREATE_RATE, CREATE_BURST)
    assert_window(times, CREATE_WINDOW_CALLS, CREATE_WINDOW_S)
    assert max(times) - min(times) >= CREATE_WINDOW_S  # the 21st create waits for the window


def test_customers_can_have_their_own_limits() -> None:
    customers = ["alice"] * 20 + ["bob"] * 20
    times = run_virtual(lambda: _burst(PortabilityRateLimiter(per_customer=True), "create", customers))
    assert max(times) - min(times) < 60  # nobody waits for the 20-minute window


def test_creates_are_served_in_the_order_they_asked() -> None:
    """First come, first served: a customer who asked earlier is never sent after one who asked later."""

    async def scenario() -> list[str]:
        limiter = PortabilityRateLimiter()
        order: list[str] = []

        async def one(customer: str) -> None:
            async with limiter.slot("create", customer):
                order.append(customer)

        names = [f"c{n:02d}" for n in range(45)]
        await asyncio.gather(*(one(name) for name in names))
        return order

    assert run_virtual(scenario) == [f"c{n:02d}" for n in range(45)]


def test_a_caller_that_must_not_wait_gets_its_reserved_slot_and_uses_it_later() -> None:
    async def scenario() -> tuple[float, float, int]:
        limiter = PortabilityRateLimiter(max_create_wait_s=5.0)
        loop = asyncio.get_running_loop()
        for n in range(20):
            async with limiter.slot("create", f"c{n}"):
                pass
        with pytest.raises(PermitLaterError) as caught:
            async with limiter.slot("create", "late"):
                pass
        permit = caught.value.permit
        assert permit.limit == "window"
        # the slot stays reserved: a customer asking after it comes after it
        after = await limiter.reserve("create", "later still")
        await asyncio.sleep(permit.at - loop.time())
        with limiter.prepaid(permit.at):
            async with limiter.slot("create", "late"):
                sent = loop.time()
        return sent - permit.at, after.at - permit.at, len(caught.value.one_line)

    lag, after, message = run_virtual(scenario)
    assert lag == pytest.approx(0.0, abs=1e-6)
    assert after > 0
    assert message > 0


def test_at_most_five_calls_are_in_flight() -> None:
    async def scenario() -> int:
        limiter = PortabilityRateLimiter()
        in_flight = peak = 0

        async def one() -> None:
            nonlocal in_flight, peak
            async with limiter.slot("list", "alice"):
                in_flight += 1
                peak = max(peak, in_flight)
                await asyncio.sleep(5)  # a slow request
                in_flight -= 1

        await asyncio.gather(*(one() for _ in range(30)))
        return peak

    assert run_virtual(scenario) == 5


def test_the_sliding_window_waits_for_the_oldest_call_to_leave() -> None:
    limits = RateLimits(create_per_window=3, create_window_s=100.0, window_margin_s=0.0, create_per_second=1000.0)
    budget, times = Budget(), []
    for _ in range(7):
        times.append(reserve_call(limits, "create", budget, budget, now=0.0, day=date(2025, 6, 1)).at)
    assert times == pytest.approx([0, 0, 0, 100, 100, 100, 200], abs=1e-6)


def test_the_daily_quota_counts_per_utc_day() -> None:
    limits = RateLimits(list_per_day=3)
    quota = Budget()
    for n in range(3):
        reserve_call(limits, "list", quota, quota, now=float(n), day=date(2025, 6, 1))
    with pytest.raises(e.DailyQuotaReachedError, match="2025-06-01") as caught:
        reserve_call(limits, "list", quota, quota, now=10.0, day=date(2025, 6, 1))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert quota.used == 3  # the refused call counted nothing
    reserve_call(limits, "list", quota, quota, now=11.0, day=date(2025, 6, 2))
    assert (quota.day, quota.used) == ("2025-06-02", 1)


def test_checks_leave_the_end_of_the_quota_and_of_the_bucket_to_imports() -> None:
    limits = RateLimits(list_per_day=100, check_reserve_share=0.1, headroom=1.0)
    quota = Budget()
    day = date(2025, 6, 1)
    for n in range(90):
        reserve_call(limits, "list", quota, quota, now=float(n), day=day, priority="check")
    with pytest.raises(e.DailyQuotaReachedError, match="kept for imports"):
        reserve_call(limits, "list", quota, quota, now=100.0, day=day, priority="check")
    assert reserve_call(limits, "list", quota, quota, now=100.0, day=day).wait_s == 0.0  # an import still goes
    # the bucket: checks get 4 of the 5 tokens of a burst, imports all 5
    bucket = Budget()
    waits = [
        reserve_call(limits, "list", bucket, Budget(), now=0.0, day=day, priority="check").wait_s for _ in range(5)
    ]
    assert waits[:4] == [0.0] * 4 and waits[4] > 0
    bucket = Budget()
    assert [reserve_call(limits, "list", bucket, Budget(), now=0.0, day=day).wait_s for _ in range(5)] == [0.0] * 5


def test_the_daily_quota_is_kept_by_the_state() -> None:
    state = MemoryLimitState(today=lambda: date(2025, 6, 1))

    async def scenario() -> int:
        limiter = PortabilityRateLimiter(RateLimits(list_per_day=10), state=state)
        for customer in ("alice", "bob"):
            async with limiter.slot("list", customer):
                pass
        return state.used_today()

    assert run_virtual(scenario) == 2


def test_the_daily_list_quota_is_shared_by_all_customers_and_refuses_without_sending() -> None:
    async def scenario() -> tuple[int, FakeService]:
        service = FakeService(pages=[{"records": []}])
        limiter = PortabilityRateLimiter(RateLimits(list_per_day=4))
        done = 0
        for customer in ("alice", "bob", "carol"):
            auth = PortabilityAuth(CREDENTIALS, customer=customer, token=valid_token(service, customer))
            async with PortabilityClient(auth, transport=service.transport(), limiter=limiter) as client:
                for _ in range(2):
                    try:
                        await client.list_page("q-1")
                        done += 1
                    except e.DailyQuotaReachedError:
                        pass
        return done, service

    done, service = run_virtual(scenario)
    assert done == 4
    assert len(service.routed("list")) == 4


def test_retries_pass_through_the_limiter_too() -> None:
    async def scenario() -> list[float]:
        service = FakeService()
        body = b'{"category": "THROTTLED", "type": "TOO_MANY_REQUESTS", "message": "m"}'
        service.script("create", *[httpx.Response(429, content=body) for _ in range(5)])
        limiter = PortabilityRateLimiter(RateLimits(create_per_window=3, window_margin_s=0.0))
        auth = PortabilityAuth(CREDENTIALS, token=valid_token(service))
        loop = asyncio.get_running_loop()
        times: list[float] = []
        original = service.handle

        def record(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/data-queries"):
                times.append(loop.time())
            return original(request)

        transport = httpx.MockTransport(record)
        async with PortabilityClient(auth, transport=transport, limiter=limiter) as client:
            await client.create_query()
        return times

    times = run_virtual(scenario)
    # 6 attempts (5 throttled + 1 success) counted against a window of 3 per 20 minutes
    assert len(times) == 6
    assert_window(times, 3, 1200.0)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        RateLimits(headroom=0)
    with pytest.raises(ValueError):
        RateLimits(list_burst=0)
