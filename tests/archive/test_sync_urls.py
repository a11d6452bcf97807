"""Recording URLs from ``video_search/history`` (one request per batch instead of one ``share/play`` per recording),
and the fallback to ``share/play`` for every URL that is missing, stale, refused or serves something else.

Each test checks the archive against the simulator's world and the bytes against the ``share/play`` path."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.store import ArchiveStore, MediaStatus
from ringvault.archive.sync import FileProgress
from ringvault.cloud.camera import RingCamera
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import count_matching, fast_sync_options, media_events, sim_json, sync_once

SHARE_PLAY = "/share/play"
SEARCH = "video_search/history"
S3 = "s3.amazonaws.com"


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(
        seed=23, locations=1, events_per_device=7, recording_seconds=1.0, media_cache_dir=media_cache,
        device_families=["doorbots"],
    )  # fmt: skip


def _endpoints(sim: SimServer) -> dict[str, Any]:
    endpoints: dict[str, Any] = sim_json(sim, "GET", "/_sim/stats")["endpoints"]
    return endpoints


def _hashes(archive: Path) -> dict[str, str]:
    with ArchiveStore.open(archive) as store, store.engine.connect() as conn:
        from sqlalchemy import select

        from ringvault.archive.store.models import Media

        rows = conn.execute(select(Media.event_id, Media.path, Media.sha256)).all()
    out: dict[str, str] = {}
    for event_id, path, sha in rows:
        assert hashlib.sha256((archive / path).read_bytes()).hexdigest() == sha
        out[str(event_id)] = sha
    return out


def _expected(sim: SimServer) -> set[str]:
    return {str(e["id_str"]) for events in media_events(sim).values() for e in events}


def test_urls_from_video_search_halve_the_requests_with_identical_recordings(sim: SimServer, tmp_path: Path) -> None:
    devices = len(media_events(sim))
    total = len(_expected(sim))
    summary = asyncio.run(sync_once(sim, tmp_path, tmp_path / "search", fast_sync_options(search_batch=4)))
    endpoints = _endpoints(sim)
    assert (summary.downloaded, summary.from_search, summary.failed) == (total, total, 0)
    assert count_matching(endpoints, SHARE_PLAY) == 0
    assert count_matching(endpoints, S3) == total
    assert count_matching(endpoints, SEARCH) == devices * 2  # 7 due recordings per doorbell, 4 per request

    sim_json(sim, "DELETE", "/_sim/stats")
    plain = asyncio.run(sync_once(sim, tmp_path, tmp_path / "share", fast_sync_options(video_search=False)))
    endpoints = _endpoints(sim)
    assert (plain.downloaded, plain.from_search) == (total, 0)
    assert count_matching(endpoints, SHARE_PLAY) == total and count_matching(endpoints, SEARCH) == 0
    search, share = _hashes(tmp_path / "search"), _hashes(tmp_path / "share")
    assert set(search) == _expected(sim) and search == share  # same ding ids, same SHA-256


def test_urls_that_expire_during_the_run_fall_back_to_share_play(sim: SimServer, tmp_path: Path) -> None:
    """The simulated clock jumps two hours once the first download has started: every other URL of the search
    answer has expired (S3 answers 403 AccessDenied), and each of those recordings comes through share/play."""
    total = len(_expected(sim))
    jumped = threading.Event()

    def jump(progress: FileProgress) -> None:
        if not jumped.is_set():
            jumped.set()
            sim_json(sim, "POST", "/_sim/clock", {"advance_s": 7200})

    options = fast_sync_options(concurrency=1, search_batch=50)
    summary = asyncio.run(sync_once(sim, tmp_path, tmp_path / "archive", options, file_progress=jump))
    assert (summary.downloaded, summary.failed, summary.pending) == (total, 0, 0)
    assert 1 <= summary.from_search < total
    endpoints = _endpoints(sim)
    refused = sum(int(v["by_status"].get("403", 0)) for k, v in endpoints.items() if S3 in k)
    assert refused == total - summary.from_search
    # (the jump also expired the access token: one share/play answered 401 before the refresh)
    answered = sum(int(v["by_status"].get("200", 0)) for k, v in endpoints.items() if SHARE_PLAY in k)
    assert answered == total - summary.from_search
    assert set(_hashes(tmp_path / "archive")) == _expected(sim)


class _ErrorPages(BaseHTTPRequestHandler):
    """A storage host having a bad day: an HTML error page (as text/html, or even labelled video/mp4)."""

    def do_GET(self) -> None:
        body = b"<html><body><h1>503 Service Unavailable</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4" if "labelled" in self.path else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def error_pages() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ErrorPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_missing_refused_and_error_page_urls_fall_back(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error_pages: str
) -> None:
    """Of each search answer, one item has no URL, one a URL with a broken signature (403), one points at an HTML
    error page, one at an HTML page labelled video/mp4, and one event is left out of the answer altogether."""
    original = RingCamera.recording_urls
    spoiled: dict[str, str] = {}
    spoilers: dict[str, Callable[[str], str | None]] = {
        "missing": lambda url: None,
        "bad signature": lambda url: url.replace("X-Amz-Signature=", "X-Amz-Signature=0"),
        "html": lambda url: f"{error_pages}/page.mp4",
        "labelled html": lambda url: f"{error_pages}/labelled.mp4",
    }

    async def spoiling(self: RingCamera, *args: Any, **kwargs: Any) -> dict[str, str]:
        urls = await original(self, *args, **kwargs)
        dings = sorted(urls)
        out: dict[str, str] = {}
        for ding in dings[:-1] if len(dings) > 5 else dings:  # the newest is left out of the answer
            index = dings.index(ding)
            if index < len(spoilers):
                name, spoil = list(spoilers.items())[index]
                spoiled[ding] = name
                url = spoil(urls[ding])
                if url is not None:
                    out[ding] = url
            else:
                out[ding] = urls[ding]
        return out

    monkeypatch.setattr(RingCamera, "recording_urls", spoiling)
    total = len(_expected(sim))
    summary = asyncio.run(sync_once(sim, tmp_path, tmp_path / "archive", fast_sync_options()))
    assert (summary.downloaded, summary.failed, summary.pending) == (total, 0, 0), summary.errors
    devices = len(media_events(sim))
    assert len(spoiled) == 4 * devices
    assert summary.from_search == total - 5 * devices
    assert count_matching(_endpoints(sim), SHARE_PLAY) == 5 * devices
    hashes = _hashes(tmp_path / "archive")
    assert set(hashes) == _expected(sim)
    with ArchiveStore.open(tmp_path / "archive") as store:
        assert {store.get_event(d).media_status for d in spoiled} == {MediaStatus.DONE}  # type: ignore[union-attr]
    assert not [p for p in (tmp_path / "archive").rglob("*") if ".part-" in p.name]


def test_a_failed_video_search_means_share_play_for_every_recording(sim: SimServer, tmp_path: Path) -> None:
    sim_json(sim, "PATCH", "/_sim/faults", {"error_rate": 1.0, "path_pattern": "video_search"})
    total = len(_expected(sim))
    summary = asyncio.run(sync_once(sim, tmp_path, tmp_path / "archive", fast_sync_options()))
    assert (summary.downloaded, summary.from_search, summary.failed) == (total, 0, 0)
    assert count_matching(_endpoints(sim), SHARE_PLAY) == total
