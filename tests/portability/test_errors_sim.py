"""Every error of the seed's table, produced by the simulator over HTTP, raised by the client as its own class —
and retried only when the service says so (429, 500, 504, BLOCKED_REQUEST), with the documented backoff 1, 2, 4, 10,
30 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringvault.portability import errors as e
from ringvault.portability.client import PortabilityClient
from ringvault.portability.config import PortabilityConfig
from ringvault.portability.http import RetryPolicy
from ringvault.portability.limits import NoRateLimit
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.errors import ERRORS
from ringvault.sim.server import SimServer
from tests.portability.flow import CREDENTIALS, authorize, control, import_sim_config, operation_count

UNKNOWN_QUERY = "a1111111-b222-c333-d444-e55555555555"
DOCUMENTED_BACKOFF = [1.0, 2.0, 4.0, 10.0, 30.0]


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    # The simulator's own limits off: every error seen here is the injected one.
    return import_sim_config(sim_config, rate_limits=False)


@pytest.fixture
def config(sim: SimServer, tmp_path: Path) -> PortabilityConfig:
    return PortabilityConfig(credentials=CREDENTIALS, cloud_url=sim.url, token_dir=tmp_path / "tokens")


async def test_every_documented_error_is_raised_as_its_class_and_retried_only_if_documented(
    sim: SimServer, config: PortabilityConfig
) -> None:
    assert len(ERRORS) == 33  # the seed's table: 32 types, TOO_MANY_REQUESTS in two categories
    auth = await authorize(sim, config)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the schedule is asserted, not waited for
        waits.append(seconds)

    async with PortabilityClient(auth, limiter=NoRateLimit(), retry=RetryPolicy(sleep=sleep)) as client:
        for spec in ERRORS:
            waits.clear()
            control(sim, "DELETE", "/_sim/portability/inject")
            arm = {"type": spec.type, "category": spec.category, "count": 20}
            control(sim, "POST", "/_sim/portability/inject", arm)
            before = operation_count(sim, "listDataQueryRecords")
            with pytest.raises(e.PortabilityError) as raised:
                await client.list_page(UNKNOWN_QUERY)
            attempts = operation_count(sim, "listDataQueryRecords") - before
            error = raised.value
            where = f"{spec.status} {spec.category} {spec.type}"
            assert type(error) is e.ERROR_TYPES[spec.type], where
            assert (error.status, error.category, error.type, error.message) == (
                spec.status, spec.category, spec.type, spec.message,
            ), where  # fmt: skip
            # the seed: retry "429, 500, or 504" (not a daily quota), and BLOCKED_REQUEST: "Retry the request"
            retried = (
                spec.status in (429, 500, 504) and spec.type != "QUOTA_EXCEEDED"
            ) or spec.type == "BLOCKED_REQUEST"
            assert error.retryable is retried, where
            if retried:
                assert (attempts, waits) == (6, DOCUMENTED_BACKOFF), where
            elif spec.type == "ACCESS_DENIED":
                # An expired token also answers ACCESS_DENIED: the client refreshes once and tries again, no wait.
                assert (attempts, waits) == (2, []), where
            else:
                assert (attempts, waits) == (1, []), where
    control(sim, "DELETE", "/_sim/portability/inject")
