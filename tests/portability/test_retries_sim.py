"""Ring's retry advice, against the simulator over HTTP: what is retried beyond the table's 429/500/504 — a 503,
``BLOCKED_REQUEST`` ("Retry the request") and any error the table does not list ("start by retrying the error") —
with the documented waits 1, 2, 4, 10, 30 s (recorded, never slept), ``Retry-After`` honoured, and after the budget a
typed error whose one line says what happened and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ringvault.portability import errors as e
from ringvault.portability.client import PortabilityClient
from ringvault.portability.config import PortabilityConfig
from ringvault.portability.http import RetryPolicy
from ringvault.portability.limits import NoRateLimit
from ringvault.portability.oauth import PortabilityAuth
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.portability.flow import CREDENTIALS, authorize, control, import_sim_config, operation_count

UNKNOWN_QUERY = "a1111111-b222-c333-d444-e55555555555"
DOCUMENTED_BACKOFF = [1.0, 2.0, 4.0, 10.0, 30.0]
GATEWAY_PAGE = "<html><body><h1>502 Bad Gateway</h1></body></html>"


class RecordedSleep:
    """The retry policy's sleep: records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return import_sim_config(sim_config, rate_limits=False)  # every error seen here is the injected one


@pytest.fixture
def config(sim: SimServer, tmp_path: Path) -> PortabilityConfig:
    return PortabilityConfig(credentials=CREDENTIALS, cloud_url=sim.url, token_dir=tmp_path / "tokens")


@pytest.fixture
async def auth(sim: SimServer, config: PortabilityConfig) -> PortabilityAuth:
    return await authorize(sim, config)


def inject(sim: SimServer, **arm: Any) -> None:
    control(sim, "DELETE", "/_sim/portability/inject")
    control(sim, "POST", "/_sim/portability/inject", arm)


# Each row failed before the fix: answered once, never retried.
EXHAUSTED = [
    pytest.param(
        {"type": "INTEGRATION_FAILURE", "category": "INTERNAL_SERVER_ERROR", "status": 503},
        e.IntegrationFailureError, "HTTP 503", id="503",
    ),
    pytest.param({"type": "BLOCKED_REQUEST"}, e.BlockedRequestError, "BLOCKED_REQUEST", id="blocked-request"),
    pytest.param(
        {"type": "SHINY_NEW_ERROR", "category": "BAD_REQUEST", "status": 400, "message": "Something Ring added"},
        e.UnknownPortabilityError, "SHINY_NEW_ERROR (Something Ring added)", id="unknown-type",
    ),
    pytest.param(
        {"type": "-", "status": 502, "raw": GATEWAY_PAGE},
        e.UnknownPortabilityError, "an HTML/XML page", id="html-502",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("arm", "cls", "words"), EXHAUSTED)
async def test_retried_with_the_documented_backoff_then_one_typed_line(
    sim: SimServer, auth: PortabilityAuth, arm: dict[str, Any], cls: type[e.PortabilityError], words: str
) -> None:
    inject(sim, **arm, count=20, method="GET")
    sleep = RecordedSleep()
    before = operation_count(sim, "listDataQueryRecords")
    async with PortabilityClient(auth, limiter=NoRateLimit(), retry=RetryPolicy(sleep=sleep)) as client:
        with pytest.raises(e.PortabilityError) as raised:
            await client.list_page(UNKNOWN_QUERY)
    error = raised.value
    assert type(error) is cls and error.retryable
    assert operation_count(sim, "listDataQueryRecords") - before == 6 and error.attempts == 6
    assert sleep.waits == DOCUMENTED_BACKOFF
    line = error.one_line
    assert "\n" not in line and words in line and "still failing after 6 attempts" in line
    assert "Developer Portal" in line  # what to do when it persists: the seed's "Contact Us"
    assert error.wait_reason is not None and error.wait_reason.code == "ring_failing"


async def test_a_blocked_create_is_sent_again_and_succeeds(sim: SimServer, auth: PortabilityAuth) -> None:
    inject(sim, type="BLOCKED_REQUEST", count=2, method="POST")
    sleep = RecordedSleep()
    async with PortabilityClient(auth, limiter=NoRateLimit(), retry=RetryPolicy(sleep=sleep)) as client:
        query_id = await client.create_query()
    assert sleep.waits == [1.0, 2.0]
    assert operation_count(sim, "createDataQuery", "403") == 2 and operation_count(sim, "createDataQuery", "201") == 1
    (query,) = control(sim, "GET", "/_sim/portability/queries")["queries"]
    assert query["id"] == query_id


async def test_a_503_asking_for_retry_after_is_waited_for(sim: SimServer, auth: PortabilityAuth) -> None:
    inject(
        sim, type="INTEGRATION_FAILURE", category="INTERNAL_SERVER_ERROR", status=503, retry_after_s=7, count=1,
        method="GET",
    )  # fmt: skip
    sleep = RecordedSleep()
    async with PortabilityClient(auth, limiter=NoRateLimit(), retry=RetryPolicy(sleep=sleep)) as client:
        query_id = await client.create_query()
        control(sim, "POST", f"/_sim/portability/queries/{query_id}/complete")
        page = await client.list_page(query_id)
    assert sleep.waits == [7.0]  # Retry-After (7 s) is longer than the schedule's first wait (1 s): it wins
    assert page.records


async def test_an_unknown_type_at_any_status_is_retried_on_a_scaled_down_schedule(
    sim: SimServer, auth: PortabilityAuth
) -> None:
    inject(sim, type="SHINY_NEW_ERROR", status=418, count=20, method="GET")
    sleep = RecordedSleep()
    retry = RetryPolicy(delays=(0.001, 0.002), sleep=sleep)
    async with PortabilityClient(auth, limiter=NoRateLimit(), retry=retry) as client:
        with pytest.raises(e.UnknownPortabilityError) as raised:
            await client.list_page(UNKNOWN_QUERY)
    assert sleep.waits == [0.001, 0.002] and raised.value.attempts == 3


@pytest.mark.parametrize(
    "arm",
    [
        {"type": "QUOTA_EXCEEDED"},
        {"type": "APP_IDENTIFICATION_FAILURE"},
        {"type": "QUERY_NOT_COMPLETED"},
        {"type": "ACCESS_TIME_ELAPSED"},
    ],
    ids=lambda arm: arm["type"],
)
async def test_what_waiting_cannot_fix_is_answered_once(
    sim: SimServer, auth: PortabilityAuth, arm: dict[str, Any]
) -> None:
    inject(sim, **arm, count=20, method="GET")
    sleep = RecordedSleep()
    async with PortabilityClient(auth, limiter=NoRateLimit(), retry=RetryPolicy(sleep=sleep)) as client:
        with pytest.raises(e.PortabilityError) as raised:
            await client.list_page(UNKNOWN_QUERY)
    assert not raised.value.retryable and raised.value.attempts == 1 and sleep.waits == []
