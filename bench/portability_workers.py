"""100 Data Portability customers connecting at once, the archive on PostgreSQL, ``ringvault serve`` plus
``ringvault worker`` processes, one worker SIGKILLed in the middle of an import and restarted.

Run: ``.venv/bin/python -m bench.portability_workers [--customers 100] [--workers 3] [--no-kill] [--window-s 3]
[--listing-window-s 60] [--imports 4] [--json out.json]``.

The scenario of ``tests/pg/test_workers_many.py`` (``tests/pg/burst.py``): a PostgreSQL server of its own
(``tests/pg/server.py``, in a temporary directory), the simulator in this process counting the limits per app,
``ringvault serve`` with its in-process worker off and ``--workers`` ``ringvault worker`` processes, each with
``--imports`` import slots (``RINGVAULT_PORTABILITY_MAX_IMPORTS``) and an archive directory of its own.

Reported: the wall time of the connects and of the whole run; per customer **connect → imported**, notified → listed
(**the share of the listing window used**) and → imported, as median / 95th percentile / max; the kill (the query's
state then), **how long the killed import took to run again** on another process and to be imported; the steps the
workers ran (jobs), the 429s the simulator answered and how many no later call got past.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import emit_json, seconds_between, spread
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import PortabilityConfig
from ringvault.sim.server import SimServer
from tests.pg.burst import run_burst
from tests.pg.server import start_postgres


def run(args: argparse.Namespace) -> dict[str, Any]:
    server = start_postgres()
    try:
        url = server.url(server.create_database("bench"))
        with tempfile.TemporaryDirectory(prefix="rv-bench-workers-") as tmp:
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
                burst = run_burst(
                    sim, url, root, count=args.customers, workers=args.workers, kill=args.kill,
                    window_s=args.window_s, listing_window_s=args.listing_window_s, imports=args.imports,
                    timeout_s=args.timeout_s,
                )  # fmt: skip
                steps = sum(
                    sum(1 for _, _, what in w.steps() if what == "started") for w in [*burst.workers, *burst.killed]
                )
    finally:
        server.stop()
    seen = burst.customers.values()
    queries = [c["latest_query"] for c in seen]
    listing = [seconds_between(q["notified_at"], q["listed_at"]) for q in queries]
    result: dict[str, Any] = {
        "customers": args.customers,
        "workers": args.workers,
        "import_slots_per_worker": args.imports,
        "create_window": f"20 per {args.window_s:g} s (+2 s margin)",
        "listing_window_s": args.listing_window_s,
        "connects_s": round(burst.connects_s, 1),
        "wall_s": round(burst.wall_s, 1),
        "all_imported": all(q["state"] == "imported" for q in queries) and len(queries) == args.customers,
        "connect_to_imported_s": spread(
            [seconds_between(c["connected_at"], c["latest_query"]["imported_at"]) for c in seen]
        ),
        "notified_to_listed_s": spread(listing),
        "listing_window_used": spread([x / args.listing_window_s for x in listing]),
        "notified_to_imported_s": spread([seconds_between(q["notified_at"], q["imported_at"]) for q in queries]),
        "steps_run": steps,
        "throttled": burst.stats["throttled"],
        "throttled_unretried": burst.stats["throttled_unretried"],
    }
    kill = burst.kill
    if kill is not None:
        result["kill"] = {
            "state_at_kill": kill.state,
            "killed_to_running_again_s": None if kill.back_at is None else (kill.back_at - kill.at).total_seconds(),
            "killed_to_imported_s": None if kill.imported_at is None else (kill.imported_at - kill.at).total_seconds(),
            "attempts": kill.attempts,
        }
    elif args.kill:
        result["kill"] = {"error": burst.kill_error}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--no-kill", dest="kill", action="store_false", help="no worker is killed")
    parser.add_argument("--window-s", type=float, default=3.0, help="the scaled 20-minute create window")
    parser.add_argument("--listing-window-s", type=float, default=60.0, help="the scaled one-hour listing window")
    parser.add_argument("--imports", type=int, default=4, help="import slots per worker")
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args)
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
