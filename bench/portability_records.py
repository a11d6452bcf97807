"""How fast are Data Portability records keyed and written, first time and again? (Informative; no goal is asserted.)

Run: ``.venv/bin/python -m bench.portability_records [--records 50000]``.

Three figures, on a fresh SQLite archive in a temporary directory, for ``--records`` records of the
``Ring.EventManager.Events`` shape (the largest data set) and a tenth as many ``Ring.Alarm.HubData`` ones:

- **identify**: model validation + natural key + fingerprint + content hash per record (``importer.identity``), no
  database;
- **write, first export**: every record new (``apply_records`` in batches of 500);
- **write, the same export again**: every record unchanged (``last_seen`` moves, nothing inserted);
- **write, 10 % changed**: a tenth of the records with another status (new versions, the old ones history);
- **write, a field added**: every record with a field the seed does not list (merged, no version).

Memory: the writes are batched (500 records per transaction), the reader of a file streams (ijson); nothing here
grows with the number of records except the database.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def events(count: int, *, changed_every: int = 0, added: bool = False) -> Iterator[dict[str, Any]]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(count):
        at = (start + timedelta(seconds=37 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        record: dict[str, Any] = {
            "duration": n % 60, "eventType": ("motion", "ding", "on_demand")[n % 3], "eventDate": at,
            "expiresAt": at, "status": "timed_out", "endToEndEncryption": False,
            "detections": [{"detectionType": "motion", "eventDate": at}], "humanDetected": False,
            "detectionType": "motion", "isFavorited": False, "eventCreatedWithAlexa": False,
            "eventFromSidewalk": False, "eventRespondedByAlexa": False, "securityAlerts": [],
            "streamingMode": "non-24x7", "reviewedByVirtualSecurityGuard": False, "virtualSecurityGuard": "",
            "latitude": 52.37 + (n % 7) / 1000, "longitude": 4.89, "isInitiatedByEventOwner": False,
        }  # fmt: skip
        if changed_every and n % changed_every == 0:
            record["status"] = "finished"
        if added:
            record["eventSource"] = "camera"
        yield record


def timed(label: str, count: int, run: Any) -> float:
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    print(f"{label:<34} {count:>8} records  {elapsed:7.2f} s  {count / elapsed:>9,.0f} records/s  {result}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    count: int = args.records

    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import ImportRecord
    from ringvault.portability.importer.identity import identify, model_of, numbered, same_record

    name = "Ring.EventManager.Events"
    model = model_of(name)

    def keyed(items: Iterator[dict[str, Any]]) -> Iterator[ImportRecord]:
        seen: dict[str, int] = {}
        for item in items:
            identity = identify(model, name, item)
            n = seen.get(identity.key, -1) + 1
            seen[identity.key] = n
            yield ImportRecord(
                name, numbered(identity.key, n), identity.event_date, item, identity.fingerprint, identity.content_hash
            )

    timed("identify", count, lambda: sum(1 for _ in keyed(events(count))))
    with tempfile.TemporaryDirectory() as folder, ArchiveStore.open(Path(folder)) as store:
        dp = store.portability
        grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="bench", customer="c")
        same = same_record(model)
        timed("write, first export", count, lambda: dp.apply_records(grant.id, "q1", keyed(events(count)), same=same))
        timed(
            "write, the same export again",
            count,
            lambda: dp.apply_records(grant.id, "q2", keyed(events(count)), same=same),
        )
        timed(
            "write, 10 % changed", count,
            lambda: dp.apply_records(grant.id, "q3", keyed(events(count, changed_every=10)), same=same),
        )  # fmt: skip
        timed(
            "write, a field added", count,
            lambda: dp.apply_records(grant.id, "q4", keyed(events(count, changed_every=10, added=True)), same=same),
        )  # fmt: skip
        print(f"rows: {dp.dataset_counts(history=True)} (current: {dp.dataset_counts()})")


if __name__ == "__main__":
    main()
