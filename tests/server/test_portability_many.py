"""An app with many customers: 100 simulated customers connect at once through ``ringvault serve`` and are imported in
the background within the **Application's** limits (the simulator counts them per app, as seed 003 says): every
customer imported, every record once, no 429 left unretried, every query listed within its listing window.

The 20-per-20-minutes create window and the one-hour listing window are scaled down through the simulator's knobs and
the server's settings (the same ratio of creates to imports would otherwise take 80 minutes). Timing figures are in
BENCHMARKS.md (``bench/portability_many.py``), never asserted here."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.portability.limits import RateLimits
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import DEMO_CLIENT_ID, PortabilityConfig
from ringvault.sim.server import SimServer
from tests.server.helpers import ServerThread
from tests.server.portability_helpers import (
    connect,
    customers,
    dp_app,
    expected_records,
    notify_here,
    sim_call,
    wait_for,
)

CUSTOMERS = 100
BROWSERS = 8
#: A safety net, not a timing goal (BENCHMARKS.md has the figures): about a minute alone on 2 idle cores, a few
#: minutes beside the rest of the suite on a busy machine.
IMPORT_WAIT_S = 600
#: the scaled 20-minute create window (20 creates per WINDOW_S) and the scaled one-hour listing window
WINDOW_S = 3.0
#: Scaled as far as a loaded machine allows: the imports themselves (30 files a customer, generated and downloaded on
#: the same 2 cores) must finish inside it, and at a load average of 8-11 a 60 s window ran out for a dozen customers
#: (their queries were closed as expired and replaced, as designed, but this test wants one query each).
#: BENCHMARKS.md measures the share of the window used with 60 s.
LISTING_WINDOW_S = 300.0
#: The two tests that count 429s run one after the other on one xdist worker (`--dist loadgroup`), so neither runs
#: beside the other's load.
ZERO_429 = "zero-429"
#: 429 answers a well-paced client may still meet: the simulator (like Ring's edge) counts a request when it handles
#: it, so a simulator thread stalled by CPU contention handles a backlog at once, more than its burst of 5, however
#: well the client spaced the requests. Seen: 0 in quiet runs (BENCHMARKS.md), 1 in one of nine runs on a saturated
#: machine. Every such answer must have been retried: the simulator counts the 429s no later call of the same customer
#: and operation got past (``throttled_unretried``), which must be none.
STALL_429S = 2


def _creates_all_succeeded(operations: dict[str, Any], count: int) -> None:
    assert operations["createDataQuery"]["by_status"].get("201") == count, operations


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    # small data per customer: a few events per device, few log lines, "5 days" of history on the consent page
    portability = PortabilityConfig(
        completion_delay_s=0.2, log_records_per_day=0.5, create_window_s=WINDOW_S, access_window_s=LISTING_WINDOW_S
    )
    return SimConfig(
        seed=23, locations=1, events_per_device=3, recording_seconds=1.0, media_cache_dir=media_cache,
        portability=portability,
    )  # fmt: skip


@pytest.fixture
def server_factory(sim: SimServer, tmp_path: Path) -> Iterator[Any]:
    started: list[ServerThread] = []

    def start(**knobs: Any) -> ServerThread:
        knobs.setdefault("rate_limits", RateLimits(create_window_s=WINDOW_S, window_margin_s=0.5))
        knobs.setdefault("listing_window_s", LISTING_WINDOW_S)
        server = ServerThread(dp_app(sim, tmp_path / "archive", tmp_path / "dp-tokens", **knobs)).start()
        started.append(server)
        notify_here(sim, server)
        return server

    yield start
    for server in started:
        server.stop()


def _connect_all(server: ServerThread, people: list[dict[str, Any]]) -> None:
    """Every customer's browser, ``BROWSERS`` at a time."""

    def one(person: dict[str, Any]) -> int:
        key = person["email"].split("@")[0]
        answer = connect(server, email=person["email"], password=person["password"], history="5d", customer=key)
        assert answer.status_code == 200, answer.text
        return answer.status_code

    with ThreadPoolExecutor(BROWSERS) as pool:
        assert list(pool.map(one, people)) == [200] * len(people)


def _all_imported(server: ServerThread, count: int) -> dict[str, dict[str, Any]]:
    with server.client() as client:

        def done() -> dict[str, dict[str, Any]] | None:
            seen = customers(client)
            finished = [c for c in seen.values() if (c["latest_query"] or {}).get("state") in ("imported", "failed")]
            return seen if len(finished) == count else None

        # the listing reads every customer: polled twice a second, it leaves the CPU to the imports
        return wait_for(f"{count} imports", done, timeout_s=IMPORT_WAIT_S, interval_s=0.5)


def _check_everything_imported(sim: SimServer, seen: dict[str, dict[str, Any]]) -> None:
    for key, customer in seen.items():
        query = customer["latest_query"]
        assert query["state"] == "imported", (key, query)
        assert customer["queries"] == 1  # one query per customer
        expected = expected_records(sim, query["id"])
        assert customer["datasets"] == {name: n for name, n in expected.items() if n}, key
        assert customer["records"] == query["records_imported"] == sum(expected.values()) > 0


def _throttled(sim: SimServer) -> tuple[int, int, dict[str, Any]]:
    stats = sim_call(sim, "GET", "/_sim/portability/stats")
    return stats["throttled"], stats["throttled_unretried"], stats["operations"]


def _listed_within_the_window(seen: dict[str, dict[str, Any]]) -> None:
    for key, customer in seen.items():
        query = customer["latest_query"]
        notified, listed = (datetime.fromisoformat(query[name]) for name in ("notified_at", "listed_at"))
        assert 0 <= (listed - notified).total_seconds() < LISTING_WINDOW_S, (key, query)


@pytest.mark.timeout(IMPORT_WAIT_S + 120)
@pytest.mark.xdist_group(ZERO_429)
def test_a_hundred_customers_connecting_at_once_are_imported_within_the_apps_limits(
    sim: SimServer, server_factory: Any
) -> None:
    created = sim_call(sim, "POST", "/_sim/portability/customers", {"count": CUSTOMERS})["customers"]
    server = server_factory(max_concurrent=8)
    _connect_all(server, created)
    seen = _all_imported(server, CUSTOMERS)
    assert len(seen) == CUSTOMERS
    _check_everything_imported(sim, seen)  # one query each: none expired, none dropped
    _listed_within_the_window(seen)

    throttled, unretried, operations = _throttled(sim)
    assert throttled <= STALL_429S, operations
    assert unretried == 0, operations
    _creates_all_succeeded(operations, CUSTOMERS)
    attempts = sim_call(sim, "GET", "/_sim/portability/notifications")["attempts"]
    completed = {a["query_id"] for a in attempts if a["status"] == 200}
    assert completed == {c["latest_query"]["id"] for c in seen.values()}  # every import started by its notification
    with server.client() as client:
        for customer in customers(client).values():  # nothing left to do, and status says so
            assert customer["step"] == "export" and customer["waiting"]["reason"] == "recurring", customer


@pytest.mark.xdist_group(ZERO_429)
def test_limits_counted_per_customer_stay_a_knob(sim: SimServer, server_factory: Any) -> None:
    """A service that counts the limits per customer: no customer waits for another's window."""
    count = 24  # more than one window of 20: counted per app, the last four would wait for the next window
    sim_call(sim, "PATCH", f"/_sim/portability/apps/{DEMO_CLIENT_ID}", {"rate_limit_per": "customer"})
    sim_call(sim, "PATCH", "/_sim/portability/config", {"create_window_s": 3600.0})
    created = sim_call(sim, "POST", "/_sim/portability/customers", {"count": count})["customers"]
    server = server_factory(max_concurrent=count, rate_limit_per="customer", rate_limits=RateLimits())
    _connect_all(server, created)
    seen = _all_imported(server, count)
    _check_everything_imported(sim, seen)
    throttled, unretried, operations = _throttled(sim)
    assert throttled <= STALL_429S and unretried == 0, operations
    _creates_all_succeeded(operations, count)


def test_customers_connect_and_are_imported_while_others_are(sim: SimServer, server_factory: Any) -> None:
    """The public pages stay responsive while imports run: a customer connects in the middle of the others."""
    created = sim_call(sim, "POST", "/_sim/portability/customers", {"count": 6})["customers"]
    server = server_factory(max_concurrent=2)
    _connect_all(server, created[:5])
    with httpx.Client(timeout=60) as probe:
        assert probe.get(f"{server.url}/healthz").status_code == 200
    _connect_all(server, created[5:])
    _check_everything_imported(sim, _all_imported(server, 6))
