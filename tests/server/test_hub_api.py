"""``GET /api/hub/devices`` and ``GET /api/hub/history`` over real HTTP, on an archive with real rows (SQLite): what
they return is what the database holds, pages are keyset pages, bad parameters are one-line 4xx, the API key rules
of ``/api`` apply, and both are in the OpenAPI document; and a sync job against the simulator fills them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.archive.store import ArchiveStore, HubDeviceRecord, history_record
from ringvault.server import ServerSettings, create_app
from tests.server.conftest import Serve
from tests.server.helpers import ServerThread, wait_for_job

T0_MS = 1_733_400_000_000  # 2024-12-05T12:00:00Z
KEY = "k" * 32
HOSTILE = "Porch\x1b[2J\nerror: fake\u202e"


def history_item(n: int, *, zid: str, event_id: bool = True) -> dict[str, Any]:
    context: dict[str, Any] = {"eventOccurredTsMs": T0_MS + n * 60_000, "initiatingEntityName": HOSTILE}
    if event_id:
        context["eventId"] = f"ev-{n:03d}"
    return {
        "msg": "DataUpdate",
        "datatype": "DeviceInfoDocType",
        "body": [{"general": {"v2": {"zid": zid}}, "impulse": {"v1": [{"impulseType": "sensor.opened"}]}}],
        "context": context,
    }


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive with hub devices (one removed) and history of two locations and both categories."""
    path = tmp_path / "archive"
    with ArchiveStore.open(path) as store:
        devices = [
            HubDeviceRecord(zid=f"zid-{n}", name=HOSTILE if n == 0 else f"Sensor {n}", device_type="sensor.contact",
                            asset_uuid="asset-1", kind="contact_sensor", type_label="alarm sensor", category_id=5,
                            data={"zid": f"zid-{n}", "faulted": False, "serial": 2**70})
            for n in range(5)
        ]  # fmt: skip
        store.hub.upsert_devices("loc-1", devices)
        store.hub.upsert_devices("loc-1", devices[:4])  # zid-4 no longer listed
        store.hub.upsert_devices("loc-2", [HubDeviceRecord(zid="zid-light", name="Path Light", kind="beams_light")])
        alarm = [history_record(history_item(n, zid="zid-1" if n % 2 else "zid-2"), "alarm", T0_MS) for n in range(23)]
        beams = [history_record(history_item(100 + n, zid="zid-light"), "beams", T0_MS) for n in range(4)]
        bare = [history_record(history_item(200, zid="zid-1", event_id=False), "alarm", T0_MS)]
        store.hub.add_history("loc-1", alarm + bare)
        store.hub.add_history("loc-2", beams)
    return path


@pytest.fixture
def server(archive: Path) -> Iterator[ServerThread]:
    with ServerThread(create_app(ServerSettings(archive_dir=archive))) as running:
        yield running


def pages(client: httpx.Client, path: str, field: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        answer = client.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page[field]) <= limit
        rows.extend(page[field])
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def test_devices_are_what_the_archive_holds_removed_ones_marked(server: ServerThread, archive: Path) -> None:
    with ArchiveStore.open(archive) as store:
        held = store.hub.list_devices(limit=1000).devices
    with server.client() as client:
        devices = pages(client, "/api/hub/devices", "devices", 2)
        assert [d["zid"] for d in devices] == [d.zid for d in held]
        first = devices[0]
        assert first["name"] == HOSTILE  # JSON-escaped on the wire, the same text once parsed
        assert first["type"] == "alarm sensor" and first["kind"] == "contact_sensor" and first["category_id"] == 5
        assert first["data"]["serial"] == 2**70 and first["asset_uuid"] == "asset-1"
        removed = client.get("/api/hub/devices", params={"removed": "true"}).json()["devices"]
        assert [d["zid"] for d in removed] == ["zid-4"] and removed[0]["removed_at"] is not None
        listed = pages(client, "/api/hub/devices", "devices", 100, location="loc-1", removed="false")
        assert [d["zid"] for d in listed] == ["zid-0", "zid-1", "zid-2", "zid-3"]
        assert {d["removed_at"] for d in listed} == {None}
        assert [d["zid"] for d in pages(client, "/api/hub/devices", "devices", 5, location="loc-2")] == ["zid-light"]


def test_history_pages_newest_first_with_filters(server: ServerThread, archive: Path) -> None:
    with ArchiveStore.open(archive) as store:
        held = store.hub.query_history(limit=1000).items
    with server.client() as client:
        everything = pages(client, "/api/hub/history", "items", 4)
        assert [row["key"] for row in everything] == [row.item_key for row in held]
        assert len(everything) == 28 and len({row["id"] for row in everything}) == 28
        times = [(row["event_ms"], row["id"]) for row in everything]
        assert times == sorted(times, reverse=True)
        newest = everything[0]
        assert newest["key"].startswith("sha256:") and newest["category"] == "alarm"
        assert newest["item"] == history_item(200, zid="zid-1", event_id=False)  # Ring's item, as sent
        assert newest["event_at"] == "2024-12-05T15:20:00Z" and newest["time_source"] == "event"
        assert newest["impulse_types"] == ["sensor.opened"] and newest["datatype"] == "DeviceInfoDocType"

        beams = pages(client, "/api/hub/history", "items", 3, category="beams")
        assert [row["key"] for row in beams] == ["ev-103", "ev-102", "ev-101", "ev-100"]
        assert pages(client, "/api/hub/history", "items", 10, location="loc-2") == beams
        zid_2 = pages(client, "/api/hub/history", "items", 5, zid="zid-2", location="loc-1", category="alarm")
        assert len(zid_2) == 12 and {row["zid"] for row in zid_2} == {"zid-2"}
        # since inclusive, until exclusive (ISO instants): minutes 3, 4, 5 of the alarm items
        window = pages(
            client, "/api/hub/history", "items", 10,
            since="2024-12-05T12:03:00Z", until="2024-12-05T12:06:00Z",
        )  # fmt: skip
        assert [row["key"] for row in window] == ["ev-005", "ev-004", "ev-003"]
        # a whole day: everything is on 2024-12-05
        assert len(pages(client, "/api/hub/history", "items", 100, since="2024-12-05", until="2024-12-05")) == 28
        assert pages(client, "/api/hub/history", "items", 100, since="2024-12-06") == []


def _one_line_error(answer: httpx.Response, status: int, needle: str) -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert "\n" not in error and needle in error, error


def test_bad_parameters_are_one_line_4xx(server: ServerThread) -> None:
    with server.client() as client:
        for path in ("/api/hub/devices", "/api/hub/history"):
            _one_line_error(client.get(path, params={"limit": 0}), 400, "limit")
            _one_line_error(client.get(path, params={"limit": 1001}), 400, "limit")
            _one_line_error(client.get(path, params={"cursor": "not-a-cursor"}), 400, "invalid cursor")
            _one_line_error(client.get(path, params={"location": "x" * 513}), 400, "location")
            unknown = client.get(path, params={"location": "nowhere\x1b[2J"})
            _one_line_error(unknown, 404, "no location 'nowhere\\x1b[2J'")
        history = "/api/hub/history"
        _one_line_error(client.get(history, params={"category": "cameras"}), 400, "category")
        _one_line_error(client.get(history, params={"since": "yesterday-ish"}), 400, "since")
        _one_line_error(client.get(history, params={"since": "2024-12-06", "until": "2024-12-05"}), 400, "before")
        _one_line_error(client.get("/api/hub/devices", params={"removed": "maybe"}), 400, "removed")
        # a device cursor is not a history cursor, and the other way round
        device_cursor = client.get("/api/hub/devices", params={"limit": 1}).json()["next_cursor"]
        history_cursor = client.get(history, params={"limit": 1}).json()["next_cursor"]
        _one_line_error(client.get(history, params={"cursor": device_cursor}), 400, "invalid cursor")
        _one_line_error(client.get("/api/hub/devices", params={"cursor": history_cursor}), 400, "invalid cursor")


def test_the_api_key_guards_them_and_the_openapi_document_lists_them(archive: Path) -> None:
    server = ServerThread(create_app(ServerSettings(archive_dir=archive, api_key=KEY)))
    with server, server.client() as client:
        for path in ("/api/hub/devices", "/api/hub/history"):
            refused = client.get(path)
            assert refused.status_code == 401 and "history" not in refused.text and "zid" not in refused.text
            assert client.get(path, params={"api_key": KEY}).status_code == 401
            allowed = client.get(path, headers={"Authorization": f"Bearer {KEY}"})
            assert allowed.status_code == 200 and allowed.json()["next_cursor"] is None
        spec = client.get("/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()
    history = spec["paths"]["/api/hub/history"]["get"]
    assert {p["name"] for p in history["parameters"]} == {
        "location", "category", "zid", "since", "until", "limit", "cursor",
    }  # fmt: skip
    assert {"200", "400", "404"} <= set(history["responses"])
    assert "/api/hub/devices" in spec["paths"]
    assert "HubHistoryOut" in spec["components"]["schemas"] and "HubDeviceOut" in spec["components"]["schemas"]


def test_a_sync_job_fills_them_from_the_simulator(serve: Serve, archive_dir: Path) -> None:
    """End to end: a job of ``POST /api/sync`` reads the simulator's hubs; the endpoints return what it stored."""
    server = serve()
    with server.client() as client:
        skipped = _job(client, {"metadata_only": True, "hub": False})
        assert skipped["request"]["hub"] is False and skipped["summary"]["hub_locations"] == 0
        assert client.get("/api/hub/devices").json() == {"devices": [], "next_cursor": None}
        job = _job(client, {"metadata_only": True})
        summary = job["summary"]
        assert job["state"] == "done" and summary["hub_failures"] == [] and summary["hub_devices"] > 0
        devices = pages(client, "/api/hub/devices", "devices", 5)
        history = pages(client, "/api/hub/history", "items", 50)
        with ArchiveStore.open(archive_dir) as store:
            held_devices = store.hub.list_devices(limit=10_000).devices
            held_history = store.hub.query_history(limit=100_000).items
        assert [d["zid"] for d in devices] == [d.zid for d in held_devices] and len(devices) == summary["hub_devices"]
        assert [row["key"] for row in history] == [row.item_key for row in held_history]
        assert len(history) == summary["hub_history_new"] > 0
        assert [row["item"] for row in history[:3]] == [row.item() for row in held_history[:3]]
        # a device's own history, by its zid
        panel = next(d for d in devices if d["device_type"] == "security-panel")
        own = pages(client, "/api/hub/history", "items", 50, zid=panel["zid"], location=panel["location_id"])
        assert own and {row["zid"] for row in own} == {panel["zid"]}


def _job(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/sync", json=body)
    assert answer.status_code == 202, answer.text
    return wait_for_job(client, answer.json()["job_id"])
