"""100 Data Portability customers connecting at once through ``ringvault serve``, with the limits counted per app.

Run: ``.venv/bin/python -m bench.portability_many [--customers 100] [--window-s 3] [--listing-window-s 60]
[--imports 8] [--json out.json]``.

The scenario of ``tests/server/test_portability_many.py``: the simulator (in this process, in a thread) creates the
customers; each connects through ``GET /portability/connect`` and the consent page, 8 browsers at a time; a real
``ringvault serve`` app (uvicorn in a thread, SQLite archive) creates their queries within the app's budget —
createDataQuery 20 per ``--window-s`` (seed 003: per 20 minutes, scaled down; the listing window likewise, ``--
listing-window-s`` for one hour) — and imports them when the simulator notifies it.

Reported: the wall time of the connects and of the whole run; per customer **connect → imported** (from the grant's
creation to the query's import), create → notified, notified → listed (**the share of the listing window used**
before the first listing call got through) and → imported, as median / 95th percentile / max; the 429s the
simulator answered and how many no later call got past; the creates per window the simulator saw.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.common import emit_json, seconds_between, spread
from ringvault.portability.limits import RateLimits
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import PortabilityConfig
from ringvault.sim.server import SimServer
from tests.server.helpers import ServerThread
from tests.server.portability_helpers import connect, customers, dp_app, notify_here, sim_call


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rv-bench-dp-") as tmp:
        root = Path(tmp)
        portability = PortabilityConfig(
            completion_delay_s=0.2, log_records_per_day=0.5, create_window_s=args.window_s,
            access_window_s=args.listing_window_s,
        )  # fmt: skip
        config = SimConfig(
            seed=23, locations=1, events_per_device=3, recording_seconds=1.0, media_cache_dir=root / "media",
            portability=portability,
        )  # fmt: skip
        with SimServer(config) as sim:
            people = sim_call(sim, "POST", "/_sim/portability/customers", {"count": args.customers})["customers"]
            knobs = {
                "max_concurrent": args.imports,
                "rate_limits": RateLimits(create_window_s=args.window_s, window_margin_s=args.margin_s),
                "listing_window_s": args.listing_window_s,
            }
            server = ServerThread(dp_app(sim, root / "archive", root / "tokens", **knobs)).start()
            try:
                notify_here(sim, server)
                started = time.monotonic()

                def one(person: dict[str, Any]) -> None:
                    key = person["email"].split("@")[0]
                    answer = connect(
                        server, email=person["email"], password=person["password"], history="5d", customer=key
                    )
                    assert answer.status_code == 200, answer.text

                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(one, people))
                connected = time.monotonic() - started
                with httpx.Client(base_url=server.url, timeout=120) as client:
                    while True:
                        seen = customers(client)
                        done = [c for c in seen.values() if (c["latest_query"] or {}).get("state") == "imported"]
                        if len(done) == args.customers:
                            break
                        if time.monotonic() - started > args.timeout_s:
                            raise SystemExit(f"only {len(done)} of {args.customers} imported after {args.timeout_s} s")
                        time.sleep(0.5)
                total = time.monotonic() - started
            finally:
                server.stop()
            stats = sim_call(sim, "GET", "/_sim/portability/stats")
            created_at = sorted(q.created_at for q in sim.state.portability.queries.values())
    queries = [c["latest_query"] for c in seen.values()]
    listing = [seconds_between(q["notified_at"], q["listed_at"]) for q in queries]
    windows = max((sum(1 for t in created_at if first <= t < first + args.window_s) for first in created_at), default=0)
    return {
        "customers": args.customers,
        "create_window": f"20 per {args.window_s:g} s (+{args.margin_s:g} s margin)",
        "listing_window_s": args.listing_window_s,
        "import_slots": args.imports,
        "connects_s": round(connected, 1),
        "wall_s": round(total, 1),
        "connect_to_imported_s": spread(
            [seconds_between(c["connected_at"], c["latest_query"]["imported_at"]) for c in seen.values()]
        ),
        "create_to_notified_s": spread([seconds_between(q["created_at"], q["notified_at"]) for q in queries]),
        "notified_to_listed_s": spread(listing),
        "listing_window_used": spread([x / args.listing_window_s for x in listing]),
        "notified_to_imported_s": spread([seconds_between(q["notified_at"], q["imported_at"]) for q in queries]),
        "throttled": stats["throttled"],
        "throttled_unretried": stats["throttled_unretried"],
        "most_creates_in_one_window": windows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--window-s", type=float, default=3.0, help="the scaled 20-minute create window")
    parser.add_argument("--margin-s", type=float, default=0.5, help="the client's padding of that window")
    parser.add_argument("--listing-window-s", type=float, default=60.0, help="the scaled one-hour listing window")
    parser.add_argument("--imports", type=int, default=8, help="import slots (RINGVAULT_PORTABILITY_MAX_IMPORTS)")
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args)
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
