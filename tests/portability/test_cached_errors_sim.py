"""Ring may cache a ``QUERY_NOT_COMPLETED`` for five minutes like any answer (seed: "During the five-minute period,
the API will return the same response for the same parameters"). With the simulator's ``cache_not_completed`` knob
on, a COMPLETED query keeps answering the poll's call with ``QUERY_NOT_COMPLETED``: a notification confirmed with
that same call would be ignored. ``confirm_completed`` is not fooled: it sends parameters no poll sends, and when its
own earlier answer is what is cached, it asks again once the cache has expired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ringvault.portability import errors as e
from ringvault.portability.client import POLL_MAX_RESULTS, RESPONSE_TTL_S, PortabilityClient
from ringvault.portability.config import PortabilityConfig
from ringvault.portability.limits import NoRateLimit
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.portability.flow import CREDENTIALS, advance, authorize, control, import_sim_config, operation_count


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    # queries stay IN_PROGRESS until the test completes them
    return import_sim_config(sim_config, cache_not_completed=True, completion_delay_s=3600, rate_limits=False)


@pytest.fixture
async def client(sim: SimServer, tmp_path: Path) -> AsyncIterator[PortabilityClient]:
    config = PortabilityConfig(credentials=CREDENTIALS, cloud_url=sim.url, token_dir=tmp_path / "tokens")
    auth = await authorize(sim, config)
    async with PortabilityClient(auth, limiter=NoRateLimit()) as opened:
        yield opened


async def never_sleep(seconds: float) -> None:
    raise AssertionError(f"no wait expected, asked for {seconds} s")


async def test_the_knob_caches_query_not_completed_for_the_same_call_until_it_expires(
    sim: SimServer, client: PortabilityClient
) -> None:
    query_id = await client.create_query()
    assert not await client.is_listable(query_id)
    control(sim, "POST", f"/_sim/portability/queries/{query_id}/complete")
    for _ in range(2):  # the same call: the cached answer, also for a COMPLETED query
        with pytest.raises(e.QueryNotCompletedError):
            await client.list_page(query_id, max_results=POLL_MAX_RESULTS)
    assert (await client.list_page(query_id, max_results=3)).records  # other parameters: the real answer
    advance(sim, RESPONSE_TTL_S + 1)
    assert await client.is_listable(query_id)  # the cached answer expired


async def test_a_notification_after_a_cached_poll_is_confirmed_at_once(
    sim: SimServer, client: PortabilityClient
) -> None:
    query_id = await client.create_query()
    assert not await client.is_listable(query_id)  # a poll: QUERY_NOT_COMPLETED, cached for 5 minutes
    control(sim, "POST", f"/_sim/portability/queries/{query_id}/complete")  # Ring completes it and notifies
    with pytest.raises(e.QueryNotCompletedError):  # confirming with the poll's call would ignore the notification
        await client.list_page(query_id, max_results=POLL_MAX_RESULTS)
    before = operation_count(sim, "listDataQueryRecords")
    assert await client.confirm_completed(query_id, sleep=never_sleep)
    assert operation_count(sim, "listDataQueryRecords") == before + 1


async def test_a_confirmation_answered_from_the_cache_is_checked_again_after_it_expired(
    sim: SimServer, client: PortabilityClient
) -> None:
    query_id = await client.create_query()
    # a premature (or forged) COMPLETED notification: its confirmation hears QUERY_NOT_COMPLETED, now cached
    assert not await client.confirm_completed(query_id, rechecks=0)
    control(sim, "POST", f"/_sim/portability/queries/{query_id}/complete")  # the genuine notification follows
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the simulator's clock moves instead of the test sleeping
        waits.append(seconds)
        advance(sim, seconds)

    assert await client.confirm_completed(query_id, sleep=sleep)
    assert waits == [RESPONSE_TTL_S + 5.0]


async def test_a_query_that_really_is_not_completed_is_not_confirmed(sim: SimServer, client: PortabilityClient) -> None:
    query_id = await client.create_query()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        advance(sim, seconds)

    assert not await client.confirm_completed(query_id, sleep=sleep)
    assert waits == [RESPONSE_TTL_S + 5.0]
    control(sim, "POST", f"/_sim/portability/queries/{query_id}/cancel")  # CANCELED looks the same
    assert not await client.confirm_completed(query_id, sleep=sleep)
