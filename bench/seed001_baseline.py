"""The baseline of the sync benchmark: what seed 001 (the "ringface connector") does, with ring-doorbell 0.9.14.

Seed 001's ``downloadDaysDingVideos`` logs in from a stored OAuth token, takes ``ring.devices()['doorbots']``, and
for each doorbell calls ``history(limit=300)``, then for every event whose recording is ``ready`` writes a JSON
sidecar and calls ``recording_download(id, filename=..., override=True)`` — one event at a time, retrying an HTTP
error every 10 s up to 9 times. This module does exactly that against the simulator, awaiting ring-doorbell's
coroutines one by one (0.9's sync methods are deprecated wrappers around the same coroutines: same requests, same
order). Only the transport is redirected to the simulator (``tests.sim.ringdoorbell_compat``).

Three differences from the seed, each needed to archive the same recordings as ``ringvault sync``; all of them
make the baseline do *more* work, never less:

* Ring answers at most 100 history items per call whatever ``limit`` says, so the seed's single
  ``history(limit=300)`` sees only the newest 100 events of a doorbell. The baseline keeps calling
  ``history(limit=300, older_than=<last id>)`` (ring-doorbell's own paging) until a page comes back empty.
* The seed passes ``kind='ding'`` and a day; the baseline keeps every kind and every day (the seed's
  ``dayToDownload=None`` branch, with the sidecar's ``date`` taken from the event as that branch needs).
* Files go to ``OUT/videos/{device id}/`` instead of one flat folder, so two doorbells' events in the same second
  do not overwrite each other.

What the seed as written would have fetched (first page only, dings only) is reported in the JSON summary printed
on stdout (``seed_as_written``).

Run: ``python -m bench.seed001_baseline --sim-url URL --token FILE --out DIR`` (the benchmark does this).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from ring_doorbell import Auth, Ring, RingError

from tests.sim.ringdoorbell_compat import SimulatorSession

USER_AGENT = "Ringface"  # the seed's Auth("Ringface", ...)
SEED_HISTORY_LIMIT = 300
RETRY_SLEEP_S = 10.0
RETRY_TRIES = 10  # the seed's loop: i = 1 .. 9, then gives up


def _event_json(event: dict[str, Any], video_file: Path) -> dict[str, Any]:
    """The seed's sidecar fields, with its formats."""
    created = event["created_at"]
    name = created.strftime("%Y%m%d-%H%M%S")
    return {
        "ringId": str(event["id"]),
        "date": created.strftime("%Y%m%d"),
        "eventName": name,
        "createdAt": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "answered": event["answered"],
        "kind": event["kind"],
        "duration": event["duration"],
        "videoFileName": str(video_file),
        "status": "UNPROCESSED",
    }


async def _download_and_save(doorbell: Any, event: dict[str, Any], videos: Path, stats: dict[str, int]) -> None:
    """The seed's ``downloadAndSaveEvent``: sidecar first, then the recording with its retry loop."""
    name = event["created_at"].strftime("%Y%m%d-%H%M%S")
    video_file = videos / f"{name}.mp4"
    with open(videos / f"{name}.json", "w") as details:  # noqa: ASYNC230 - the seed writes it this way
        json.dump(_event_json(event, video_file), details)
    tries = 1
    while True:
        try:
            await doorbell.async_recording_download(event["id"], filename=str(video_file), override=True)
            stats["downloaded"] += 1
            break
        except RingError:
            tries += 1
            stats["retries"] += 1
            if tries == RETRY_TRIES:
                stats["gave_up"] += 1
                break
            await asyncio.sleep(RETRY_SLEEP_S)


async def run(sim_url: str, token_file: Path, token: dict[str, Any], out: Path) -> dict[str, Any]:
    stats = {"downloaded": 0, "retries": 0, "gave_up": 0, "not_ready": 0, "history_calls": 0}
    seed_pages: dict[str, dict[str, int]] = {}
    started = time.perf_counter()
    session = SimulatorSession(sim_url)
    try:
        auth = Auth(USER_AGENT, token, lambda t: token_file.write_text(json.dumps(t)), http_client_session=session)
        ring = Ring(auth)
        await ring.async_update_data()
        for doorbell in ring.devices()["doorbots"]:
            videos = out / "videos" / str(doorbell.id)
            videos.mkdir(parents=True, exist_ok=True)
            events = await doorbell.async_history(limit=SEED_HISTORY_LIMIT)
            stats["history_calls"] += 1
            seed_pages[str(doorbell.id)] = {
                "events": len(events),
                "dings": sum(1 for e in events if e["kind"] == "ding"),
            }
            page = events
            while page:  # Ring caps a page at 100: page on with older_than until nothing is left
                page = await doorbell.async_history(limit=SEED_HISTORY_LIMIT, older_than=page[-1]["id"])
                stats["history_calls"] += 1
                events.extend(page)
            for event in events:
                if event["recording"]["status"] != "ready":
                    stats["not_ready"] += 1
                    continue
                await _download_and_save(doorbell, event, videos, stats)
    finally:
        await session.close()
    return {
        "seconds_inside": time.perf_counter() - started,
        **stats,
        "seed_as_written": {
            "events_seen": sum(p["events"] for p in seed_pages.values()),
            "dings_downloaded": sum(p["dings"] for p in seed_pages.values()),
            "per_doorbell": seed_pages,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sim-url", required=True)
    parser.add_argument("--token", type=Path, required=True, help="ring-doorbell's token JSON (the seed's oauth file)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    token = json.loads(args.token.read_text())
    print(json.dumps(asyncio.run(run(args.sim_url, args.token, token, args.out))))


if __name__ == "__main__":
    main()
