"""Helpers for the sync tests: a logged-in RingApi on the simulator, and running one sync."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ringvault.archive.store import ArchiveStore
from ringvault.archive.sync import FileProgressCallback, SyncOptions, SyncSummary, run_sync
from ringvault.cloud.api import RingApi
from ringvault.sim.server import SimServer
from tests.cloud.http_helpers import fast_options, logged_in_auth


def fast_sync_options(**overrides: Any) -> SyncOptions:
    """The default options with a short not-ready wait (0.3 s instead of a minute)."""
    values: dict[str, Any] = {"not_ready_deadline_s": 0.3, "not_ready_backoff_s": 0.1}
    values.update(overrides)
    return SyncOptions(**values)


async def sync_once(
    sim: SimServer,
    tmp_path: Path,
    archive: Path,
    options: SyncOptions | None = None,
    *,
    file_progress: FileProgressCallback | None = None,
    api_overrides: dict[str, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> SyncSummary:
    """Log in (once per tmp_path: the token file is reused) and run one sync into ``archive`` (``clock``: the
    archive's idea of now, which retry delays are measured against)."""
    token_file = tmp_path / "tokens" / "token.json"
    if token_file.exists():
        from ringvault.cloud.auth import RefreshTokenAuth
        from ringvault.cloud.tokens import TokenStore

        auth = RefreshTokenAuth(token_store=TokenStore(token_file))
    else:
        auth, _ = await logged_in_auth(sim, tmp_path)
    with ArchiveStore.open(archive, **({"clock": clock} if clock is not None else {})) as store:
        async with RingApi(auth, fast_options(sim, **(api_overrides or {}))) as api:
            return await run_sync(api, store, archive, options or fast_sync_options(), file_progress=file_progress)


def sim_json(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{sim.url}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def media_events(sim: SimServer) -> dict[str, list[dict[str, Any]]]:
    """The simulator's events of devices with recordings (Protect plan), by device id."""
    world = sim_json(sim, "GET", "/_sim/world?events=full")
    with_media = {str(d["id"]) for d in world["devices"] if d["show_recordings"]}
    return {dev: events for dev, events in world["events"].items() if dev in with_media}


def stats_endpoints(sim: SimServer) -> dict[str, Any]:
    endpoints: dict[str, Any] = sim_json(sim, "GET", "/_sim/stats")["endpoints"]
    return endpoints


def count_matching(endpoints: dict[str, Any], needle: str) -> int:
    return sum(int(entry.get("count", 0)) for key, entry in endpoints.items() if needle in key)
