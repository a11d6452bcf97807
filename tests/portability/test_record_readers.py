"""The readers of imported records — ``ringvault portability records`` and ``GET /portability/records`` of a real
``ringvault serve`` on loopback — give the current version of each record by default and every version on request.
The archive is a real SQLite file with a record stored in two versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability import ImportRecord
from ringvault.sim.portability.config import DEMO_CLIENT_ID
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.server.helpers import ServerThread
from tests.server.portability_helpers import dp_app

HUB = "Ring.Alarm.HubData"


def hub(name: str, status: str) -> ImportRecord:
    return ImportRecord(HUB, f"key-{name}", None, {"deviceName": name, "status": status}, fingerprint=f"{name}{status}")


def archive_with_versions(archive: Path) -> None:
    """Customer ``alice``: ``Keypad`` changed between two exports (two versions), ``Alarm`` did not (one)."""
    with ArchiveStore.open(archive) as store:
        dp = store.portability
        grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id=DEMO_CLIENT_ID, customer="alice")
        dp.apply_records(grant.id, "q-1", [hub("Alarm", "ok"), hub("Keypad", "ok")])
        dp.apply_records(grant.id, "q-2", [hub("Alarm", "ok"), hub("Keypad", "error")])


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_the_records_command_prints_current_versions_and_on_request_the_history(invoke: Invoke, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive_with_versions(archive)
    current = lines(invoke("portability", "records", "--archive", str(archive)).stdout)
    assert sorted((r["data"]["deviceName"], r["data"]["status"], r["version"], r["current"]) for r in current) == [
        ("Alarm", "ok", 1, True),
        ("Keypad", "error", 2, True),
    ]
    history = invoke("portability", "records", "--archive", str(archive), "--history", "--key", "key-Keypad")
    assert history.exit_code == 0, history.output
    versions = lines(history.stdout)
    assert [(r["version"], r["current"], r["data"]["status"]) for r in versions] == [
        (1, False, "ok"),
        (2, True, "error"),
    ]
    assert all(r["customer"] == "alice" and r["first_seen"] and r["last_seen"] for r in versions)
    only_current = lines(invoke("portability", "records", "--archive", str(archive), "--key", "key-Keypad").stdout)
    assert [r["version"] for r in only_current] == [2]


def test_the_records_endpoint_serves_current_versions_and_on_request_the_history(
    sim: SimServer, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    archive_with_versions(archive)
    server = ServerThread(dp_app(sim, archive, tmp_path / "dp-tokens")).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            current = client.get("/portability/records").json()["records"]
            assert sorted((r["data"]["deviceName"], r["version"], r["current"]) for r in current) == [
                ("Alarm", 1, True),
                ("Keypad", 2, True),
            ]
            keypad = client.get("/portability/records", params={"history": "true", "key": "key-Keypad"}).json()
            assert [(r["version"], r["current"], r["query_id"], r["last_query_id"]) for r in keypad["records"]] == [
                (1, False, "q-1", "q-1"),
                (2, True, "q-2", "q-2"),
            ]
            assert keypad["records"][0]["superseded_at"] is not None and keypad["records"][1]["superseded_at"] is None
            alarm = client.get("/portability/records", params={"key": "key-Alarm"}).json()["records"]
            assert [(r["version"], r["query_id"], r["last_query_id"]) for r in alarm] == [(1, "q-1", "q-2")]
    finally:
        server.stop()
