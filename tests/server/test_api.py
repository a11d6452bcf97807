"""The JSON API over real HTTP: sync jobs, devices, keyset-paged events, event detail, media with Range, health."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx

from ringvault.archive.store import ArchiveStore
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import sim_json
from tests.server.conftest import Serve
from tests.server.helpers import wait_for_job
from tests.server.world import doorbell_in, world

SUMMARY_FIELDS = {
    "new", "downloaded", "already_archived", "pending", "failed", "failed_now", "given_up", "given_up_now",
    "retried", "no_media", "would_download", "from_search", "bytes", "seconds", "requests", "devices",
    "events_seen", "errors", "given_up_notes", "hub_locations", "hub_devices", "hub_devices_new",
    "hub_devices_removed", "hub_history_new", "hub_history_seen", "hub_failures",
}  # fmt: skip


def _sync(client: httpx.Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = client.post("/api/sync", json=body) if body is not None else client.post("/api/sync")
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert answer.headers["location"] == f"/api/jobs/{accepted['job_id']}"
    return wait_for_job(client, accepted["job_id"])


def _all_pages(client: httpx.Client, limit: int, **params: Any) -> tuple[list[dict[str, Any]], int]:
    events: list[dict[str, Any]] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = client.get("/api/events", params=query)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["events"]) <= limit
        events.extend(page["events"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return events, pages


def test_sync_job_lifecycle_devices_and_event_pages(serve: Serve, archive_dir: Path) -> None:
    server = serve()
    with server.client() as client:
        job = _sync(client, {"metadata_only": True})
        assert job["state"] == "done", job
        assert job["error"] is None and job["started_at"] and job["finished_at"]
        assert set(job["summary"]) == SUMMARY_FIELDS
        assert job["summary"]["new"] > 0 and job["summary"]["downloaded"] == 0
        # the last phase: the alarm and lighting hubs of the home location (after the cameras' history)
        assert job["progress"]["phase"] == "hub" and job["progress"]["done"] == job["progress"]["total"]
        assert job["request"]["metadata_only"] is True and job["request"]["retry_failed"] is False
        assert [j["id"] for j in client.get("/api/jobs").json()] == [job["id"]]

        with ArchiveStore.open(archive_dir) as store:
            stored_devices = {d.id: d for d in store.list_devices()}
            total = store.counts().events
        devices = client.get("/api/devices").json()
        assert {d["id"] for d in devices} == set(stored_devices)
        doorbell = next(d for d in devices if d["family"] == "doorbots")
        assert doorbell["time_zone"] and doorbell["last_sync_at"] and doorbell["newest_event_id"]

        events, pages = _all_pages(client, 7)
        assert len(events) == total and len({e["id"] for e in events}) == total
        assert pages == -(-total // 7)
        keys = [(e["created_at"], e["id"]) for e in events]
        assert keys == sorted(keys, reverse=True)

        dings, _ = _all_pages(client, 3, device=str(doorbell["id"]), kind="ding")
        assert dings and {(e["device_id"], e["kind"]) for e in dings} == {(doorbell["id"], "ding")}
        by_name, _ = _all_pages(client, 50, device=doorbell["name"], kind="ding")
        assert by_name == dings

        day = events[len(events) // 2]["created_at"][:10]
        one_day, _ = _all_pages(client, 100, since=day, until=day)
        assert one_day and {e["created_at"][:10] for e in one_day} == {day}
        assert len(one_day) == sum(1 for e in events if e["created_at"][:10] == day)


def test_bad_queries_are_one_line_errors(serve: Serve) -> None:
    server = serve()
    with server.client() as client:
        _sync(client, {"metadata_only": True})
        cases = [
            ({"cursor": "not-a-cursor"}, 400, "cursor"),
            ({"cursor": "WyJ4Il0"}, 400, "cursor"),
            ({"limit": "0"}, 400, "limit"),
            ({"limit": "many"}, 400, "limit"),
            ({"since": "yesterday"}, 400, "since"),
            ({"device": "No Such Device"}, 404, "No Such Device"),
        ]
        for params, status, needle in cases:
            answer = client.get("/api/events", params=params)
            assert answer.status_code == status, (params, answer.text)
            message = answer.json()["error"]
            assert needle in message and "\n" not in message
        unknown = client.get("/api/events/1234567890123456789")
        assert unknown.status_code == 404 and "1234567890123456789" in unknown.json()["error"]
        assert client.get("/api/jobs/nope").status_code == 404
        assert client.get("/api/media/999999").status_code == 404
        assert client.get("/api/media/abc").status_code == 400
        for body in ({"bogus": 1}, {"since": "yesterday"}, {"since": "2024-02-01", "until": "2024-01-01"}):
            answer = client.post("/api/sync", json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert "\n" not in answer.json()["error"]


def test_event_detail_and_media_ranges(serve: Serve, cloud_env: SimServer, archive_dir: Path) -> None:
    doorbell = doorbell_in(world(cloud_env), "America/New_York")
    server = serve()
    with server.client() as client:
        job = _sync(client, {"device": str(doorbell["id"]), "kind": "ding"})
        assert job["state"] == "done", job
        assert job["summary"]["downloaded"] > 0 and job["summary"]["failed"] == 0
        dings, _ = _all_pages(client, 100, device=str(doorbell["id"]), kind="ding")
        assert len(dings) == job["summary"]["downloaded"]
        assert {e["media_status"] for e in dings} == {"done"}

        detail = client.get(f"/api/events/{dings[0]['id']}").json()
        assert detail["id"] == dings[0]["id"] and detail["raw"] is not None
        (media,) = detail["media"]
        assert media["kind"] == "recording" and media["content_type"] == "video/mp4"
        path = archive_dir / media["path"]
        data = path.read_bytes()
        assert media["bytes"] == len(data) and media["sha256"] == hashlib.sha256(data).hexdigest()

        url = media["url"]
        full = client.get(url)
        assert full.status_code == 200 and full.content == data
        assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"
        assert full.headers["content-disposition"].startswith("inline;")
        saved = client.get(url, params={"download": "1"})  # the web UI's download link: save, do not show
        assert saved.content == data and saved.headers["content-disposition"].startswith("attachment;")
        assert path.name in saved.headers["content-disposition"]
        size = len(data)
        ranges = {
            "bytes=0-99": (0, 100),
            f"bytes=100-{size - 1}": (100, size),
            "bytes=-64": (size - 64, size),
            "bytes=10-": (10, size),
            f"bytes={size - 1}-{size + 500}": (size - 1, size),
        }
        for header, (start, end) in ranges.items():
            part = client.get(url, headers={"Range": header})
            assert part.status_code == 206, (header, part.text)
            assert part.content == data[start:end], header
            assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        beyond = client.get(url, headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
        assert client.get(url, headers={"Range": "lines=1-2"}).status_code == 400
        several = client.get(url, headers={"Range": "bytes=0-9,20-29"})
        assert several.status_code == 206
        assert several.headers["content-type"].startswith("multipart/byteranges")
        assert data[0:10] in several.content and data[20:30] in several.content
        etag = full.headers["etag"]
        assert client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}).status_code == 206
        changed = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"another-version"'})
        assert changed.status_code == 200 and changed.content == data

        path.unlink()
        missing = client.get(url)
        assert missing.status_code == 404 and media["path"] in missing.json()["error"]


def test_a_revoked_login_fails_the_job_not_the_server(serve: Serve, cloud_env: SimServer) -> None:
    server = serve()
    with server.client() as client:
        sim_json(cloud_env, "POST", "/_sim/tokens/revoke")
        sim_json(cloud_env, "POST", "/_sim/tokens/expire")
        job = _sync(client)
        assert job["state"] == "failed" and job["summary"] is None
        assert "ringvault login" in job["error"] and "\n" not in job["error"]
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/api/devices").status_code == 200


def test_unknown_device_fails_the_job_with_its_reason(serve: Serve) -> None:
    server = serve()
    with server.client() as client:
        job = _sync(client, {"device": ["No Such Camera"]})
    assert job["state"] == "failed"
    assert "No Such Camera" in job["error"]


def test_healthz_counts_and_docs(serve: Serve) -> None:
    server = serve()
    with server.client() as client:
        before = client.get("/healthz").json()
        assert before["status"] == "ok" and before["counts"]["events"] == 0 and before["version"]
        _sync(client, {"metadata_only": True})
        after = client.get("/healthz").json()
        assert after["counts"]["events"] > 0 and after["sync_running"] is False
        assert "swagger" in client.get("/docs").text.lower()
        paths = client.get("/openapi.json").json()["paths"]
        for path in (
            "/connector/download/today", "/connector/download/{day}", "/api/sync", "/api/jobs/{job_id}",
            "/api/devices", "/api/events", "/api/events/{event_id}", "/api/media/{media_id}", "/healthz",
        ):  # fmt: skip
            assert path in paths
