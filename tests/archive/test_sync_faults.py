"""One sync under every fault Ring's cloud is known for, at once, ending with a complete and clean archive.

The simulator answers 5 % of requests 500/503 and 2 % 504, rate-limits at 15 requests per second (after a burst
of 5) with ``Retry-After: 1``, cuts 30 % of media bodies off half-way, expires the access token every 5 API
requests (so the refresh token rotates several times), and holds back the recordings of the newest events
(``recording_delay_s``).
The first run archives everything that is ready and leaves the rest ``pending``; after the simulated clock moves
past the delay, the second run fetches the rest. Nothing may be lost, duplicated or left half-written.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ringvault.archive.store import ArchiveStore, MediaStatus
from ringvault.archive.store.models import Event as EventRow
from ringvault.archive.store.models import Media
from ringvault.archive.validate import validate_mp4
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.tokens import TokenStore
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import fast_sync_options, media_events, sim_json, sync_once
from tests.cloud.http_helpers import TOKEN_ENDPOINT, fast_options

FAULTS: dict[str, Any] = {
    "error_rate": 0.05,
    "timeout_rate": 0.02,
    "rate_limit_rps": 15.0,
    # a small burst: the sync's concurrent requests overflow it even when a loaded machine slows the client below
    # 15 requests a second on average (a burst of 30 saw no 429 at all beside a busy suite)
    "rate_limit_burst": 5,
    "retry_after_s": 1,
    "drop_rate": 0.3,
    "expire_access_every": 5,
    "recording_delay_s": 3600.0,
}
NOT_READY = 3


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(seed=11, locations=2, events_per_device=3, recording_seconds=1.0, media_cache_dir=media_cache)


def _status_counts(sim: SimServer) -> dict[str, int]:
    counts: dict[str, int] = sim_json(sim, "GET", "/_sim/stats")["by_status"]
    return counts


def _token_rotations(sim: SimServer) -> int:
    entry = sim_json(sim, "GET", "/_sim/stats")["endpoints"].get(TOKEN_ENDPOINT, {})
    return int(entry.get("by_status", {}).get("200", 0))


def _assert_archive_complete(sim: SimServer, archive: Path) -> int:
    expected = {str(e["id_str"]): dev for dev, events in media_events(sim).items() for e in events}
    with ArchiveStore.open(archive) as store:
        for ding, device_id in expected.items():
            event = store.get_event(ding)
            assert event is not None, ding
            assert event.media_status is MediaStatus.DONE, (ding, event.media_status, event.media_last_error)
            (media,) = store.media_for_event(ding)
            path = archive / media.path
            assert validate_mp4(path).ok, path
            assert path.stat().st_size == media.bytes
            sidecar = json.loads(path.with_suffix(".json").read_text())
            assert (sidecar["ringId"], sidecar["deviceId"], sidecar["sha256"]) == (ding, device_id, media.sha256)
        with store.engine.connect() as conn:
            media_rows = conn.execute(select(func.count()).select_from(Media)).scalar_one()
            media_events_count = conn.execute(select(func.count(func.distinct(Media.event_id)))).scalar_one()
            media_paths = conn.execute(select(func.count(func.distinct(Media.path)))).scalar_one()
            event_rows = conn.execute(select(func.count()).select_from(EventRow)).scalar_one()
            event_ids = conn.execute(select(func.count(func.distinct(EventRow.id)))).scalar_one()
    assert media_rows == media_events_count == media_paths == len(expected)
    assert event_rows == event_ids
    files = sorted(archive.rglob("*.mp4"))
    assert len(files) == len(expected)
    assert len(sorted(archive.rglob("*.json"))) == len(expected)
    assert not [p for p in archive.rglob("*") if ".part-" in p.name]
    return len(expected)


def test_sync_under_every_fault_at_once_ends_complete(sim: SimServer, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    # New events whose recordings Ring is still preparing (the delay counts from each event's time).
    fresh = [
        str(created.get("id_str") or created["id"])
        for device_id in list(media_events(sim))[:NOT_READY]
        for created in [sim_json(sim, "POST", "/_sim/events", {"device_id": int(device_id)})]
    ]
    sim_json(sim, "PATCH", "/_sim/faults", FAULTS)
    options = fast_sync_options(max_attempts=6)

    first = asyncio.run(sync_once(sim, tmp_path, archive, options))
    total = sum(len(events) for events in media_events(sim).values())
    assert first.failed == 0, first.errors
    assert first.pending == NOT_READY
    assert first.downloaded == total - NOT_READY
    with ArchiveStore.open(archive) as store:
        for ding in fresh:
            event = store.get_event(ding)
            assert event is not None and event.media_status is MediaStatus.PENDING
            assert store.media_for_event(ding) == []

    sim_json(sim, "POST", "/_sim/clock", {"advance_s": FAULTS["recording_delay_s"] + 60})
    second = asyncio.run(sync_once(sim, tmp_path, archive, options))
    assert second.failed == 0, second.errors
    assert (second.downloaded, second.pending, second.new) == (NOT_READY, 0, 0)

    assert _assert_archive_complete(sim, archive) == total
    statuses = _status_counts(sim)
    # every fault really happened (the thresholds sit far below the expected counts: ~10 each)
    assert statuses.get("429", 0) >= 3
    assert statuses.get("500", 0) + statuses.get("503", 0) + statuses.get("504", 0) >= 2
    requests = sim_json(sim, "GET", "/_sim/requests?limit=10000")["requests"]
    assert sum(1 for r in requests if r["fault"] == "drop") >= 2

    # Several rotations happened, and the token file holds the newest refresh token: with no grace period every
    # superseded one is refused, so a fresh process that must refresh (access tokens expired) proves it.
    # (about one per 5 API requests: ~10 here, since the recording URLs come from the video search, one request per
    # batch, and the storage downloads carry no Ring token)
    assert _token_rotations(sim) - 1 >= 5  # minus the login's password grant
    sim_json(sim, "PUT", "/_sim/faults", {})
    sim_json(sim, "POST", "/_sim/tokens/expire")
    token_file = tmp_path / "tokens" / "token.json"

    async def fresh_process() -> str | None:
        auth = RefreshTokenAuth(token_store=TokenStore(token_file))
        async with RingApi(auth, fast_options(sim)) as api:
            return (await api.get_profile()).email

    before = _token_rotations(sim)
    assert asyncio.run(fresh_process()) == sim.state.config.email
    assert _token_rotations(sim) == before + 1
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
