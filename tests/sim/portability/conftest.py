"""Fixtures of the Data Portability simulator tests: a small world whose queries complete only when a test moves
the simulated clock, a demo app without a notification endpoint (tests that need one start a sink), and an httpx
client on the running simulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import PortabilityConfig, demo_app
from ringvault.sim.server import SimServer
from tests.sim.portability.helpers import COMPLETION_DELAY_S, NotificationSink


@pytest.fixture
def sim_config(sim_config: SimConfig, request: pytest.FixtureRequest) -> SimConfig:
    app = demo_app().model_copy(update={"notification_url": None})
    portability = PortabilityConfig(apps=[app], completion_delay_s=COMPLETION_DELAY_S, records_per_file=50)
    overrides = dict(getattr(request, "param", {}))
    if "portability" in overrides:
        portability = portability.model_copy(update=overrides.pop("portability"))
    return sim_config.model_copy(update={"portability": portability, **overrides})


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=30) as c:
        yield c


@pytest.fixture
def sink() -> Iterator[NotificationSink]:
    with NotificationSink() as server:
        yield server
