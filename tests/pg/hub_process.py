"""A process of an app for the cross-process tests of ``tests/pg/test_schedule_pg.py``: ``python -m
tests.pg.hub_process MODE DATABASE_URL ARCHIVE START [ARG]``. It opens the archive, waits until the epoch second
``START`` (so that the processes of a test begin together), does its part and prints one JSON line.

- ``export GRANT_ID``: a hub runs the export step of the grant, with a runner whose createDataQuery takes 0.5 s and
  stores a query (as the importer does); prints ``{"creates": n}``.
- ``reserve COUNT``: the app's limiter (its counters in the database) reserves COUNT createDataQuery calls at once;
  prints ``{"permits": [epoch seconds, ...]}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability import GrantRow, QueryRow
from ringvault.portability.client import PortabilityClient
from ringvault.portability.config import ClientCredentials, PortabilityConfig
from ringvault.portability.limits import DatabaseLimitState, PortabilityRateLimiter, RateLimits
from ringvault.portability.notifications import QueryNotification
from ringvault.server.portability_hub import PortabilityHub
from ringvault.server.portability_settings import PortabilityServerSettings
from ringvault.server.portability_work import Step

APP = "amzn1.application-oa2-client.pg-test"
#: the limits of the ``reserve`` mode: 6 creates per 2 s window (no margin), 5/s with burst 5 (headroom 0.9)
LIMITS = RateLimits(create_per_window=6, create_window_s=2.0, window_margin_s=0.0)


class SlowRunner:
    """createDataQuery that takes a while (two overlapping steps would both send it) and stores the query."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store
        self.creates = 0

    async def create(self, client: PortabilityClient, grant: GrantRow) -> str:
        self.creates += 1
        await asyncio.sleep(0.5)
        query = await asyncio.to_thread(
            self.store.portability.add_query, str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability"
        )
        return query.id

    async def run(self, client: PortabilityClient, grant: GrantRow, query_id: str) -> None:
        raise AssertionError("not in these tests")

    def record(self, notification: QueryNotification) -> QueryRow | None:
        raise AssertionError("not in these tests")

    async def check_grant(self, client: PortabilityClient, grant: GrantRow) -> str:
        return grant.status


class NoQueue:
    """The follow-ups are not run here (the test reads the stored schedule)."""

    async def defer(self, step: Step, arg: str, *, delay_s: float = 0.0) -> None:
        pass

    async def aclose(self) -> None:
        pass


def settings(archive: Path) -> PortabilityServerSettings:
    credentials = ClientCredentials(APP, "secret", "http://127.0.0.1/portability/callback")
    config = PortabilityConfig(credentials=credentials, token_dir=archive / "tokens")
    return PortabilityServerSettings(config=config)


async def export(store: ArchiveStore, archive: Path, start: float, grant_id: int) -> dict[str, int]:
    runner = SlowRunner(store)
    hub = PortabilityHub(settings(archive), store, runner, queue=NoQueue())
    await asyncio.sleep(max(0.0, start - time.time()))
    await hub.run_step("export", str(grant_id))
    await hub.aclose()
    return {"creates": runner.creates}


async def reserve(store: ArchiveStore, start: float, count: int) -> dict[str, list[float]]:
    limiter = PortabilityRateLimiter(LIMITS, state=DatabaseLimitState(store, APP))
    await asyncio.sleep(max(0.0, start - time.time()))
    permits = await asyncio.gather(*(limiter.reserve("create", "anyone") for _ in range(count)))
    return {"permits": [permit.at for permit in permits]}


def main(mode: str, url: str, archive: str, start: str, arg: str) -> None:
    store = ArchiveStore.open(Path(archive), database_url=url)
    try:
        if mode == "export":
            result: object = asyncio.run(export(store, Path(archive), float(start), int(arg)))
        elif mode == "reserve":
            result = asyncio.run(reserve(store, float(start), int(arg)))
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    finally:
        store.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:6])
