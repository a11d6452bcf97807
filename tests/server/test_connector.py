"""The seed-001 connector over real HTTP: a past day with a held list, "today" per device time zone, bad input."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ringvault.archive.sidecar import SEED_001_KEYS
from ringvault.archive.store import ArchiveStore, MediaStatus
from ringvault.archive.validate import validate_mp4
from ringvault.sim.server import SimServer
from tests.server.conftest import Serve
from tests.server.world import created, doorbell_in, events_on, new_event, world, zones

NEW_YORK = "America/New_York"
ROME = "Europe/Rome"


def _check_entry(entry: dict[str, Any], sim_event: dict[str, Any], zone: ZoneInfo, archive: Path) -> None:
    """An answer entry against the simulator's event: seed 001's keys first, values, and the file it names."""
    assert list(entry)[: len(SEED_001_KEYS)] == list(SEED_001_KEYS)
    at = created(sim_event)
    local = at.astimezone(zone)
    assert entry["ringId"] == sim_event["id_str"]
    assert entry["date"] == local.strftime("%Y%m%d")
    assert entry["eventName"] == local.strftime("%Y%m%d-%H%M%S")
    assert entry["createdAt"] == at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert entry["kind"] == sim_event["kind"]
    assert entry["answered"] == sim_event["answered"]
    assert entry["duration"] == sim_event["duration"]
    assert entry["deviceId"] == str(sim_event["device_id"])
    if entry["status"] == "downloaded":
        path = archive / entry["videoFileName"]
        data = path.read_bytes()
        assert validate_mp4(path).ok
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["videoUrl"] == f"/api/media/{entry['mediaId']}"
    else:
        assert entry["videoFileName"] is None and entry["mediaId"] is None


def test_past_day_skips_held_ids_and_downloads_the_rest(serve: Serve, cloud_env: SimServer, archive_dir: Path) -> None:
    sim = cloud_env
    data = world(sim)
    doorbell = doorbell_in(data, NEW_YORK)
    zone = ZoneInfo(NEW_YORK)
    day = datetime.now(zone).date() - timedelta(days=3)
    mine = [
        new_event(sim, doorbell["id"], "ding", datetime.combine(day, time(hour), tzinfo=zone)) for hour in (9, 10, 11)
    ]
    motion = new_event(sim, doorbell["id"], "motion", datetime.combine(day, time(9, 30), tzinfo=zone))
    data = world(sim)
    tz = zones(data)
    expected = events_on(data, "ding", {device: day for device in tz})
    held = mine[1]["id_str"]
    assert {e["id_str"] for e in mine} <= set(expected)

    server = serve()
    with server.client() as client:
        answer = client.post(f"/connector/download/{day:%Y%m%d}", json=[held, "123"])
        assert answer.status_code == 200, answer.text
        entries = answer.json()
        assert [e["ringId"] for e in entries] == sorted(
            (e for e in expected if e != held), key=lambda i: (created(expected[i]), i)
        )
        for entry in entries:
            sim_event = expected[entry["ringId"]]
            _check_entry(entry, sim_event, tz[sim_event["device_id"]], archive_dir)
            assert entry["date"] == f"{day:%Y%m%d}"
            recordings = next(d for d in data["devices"] if d["id"] == sim_event["device_id"])["show_recordings"]
            assert entry["status"] == ("downloaded" if recordings else "no_media")
        assert {e["ringId"] for e in entries if e["deviceId"] == str(doorbell["id"])} >= {
            mine[0]["id_str"],
            mine[2]["id_str"],
        }

        with ArchiveStore.open(archive_dir) as store:
            held_event = store.get_event(held)
            assert held_event is not None and held_event.media_status is MediaStatus.PENDING
            assert store.media_for_event(held) == []
            motion_event = store.get_event(motion["id_str"])
            assert motion_event is not None and motion_event.media_status is MediaStatus.PENDING
            downloaded = {e["ringId"] for e in entries if e["status"] == "downloaded"}
            assert downloaded
            # Only that day's dings were fetched: every recording in the archive is one the answer lists.
            counts = store.counts()
            assert counts.media == len(downloaded)

        # include_held lists the held event as skipped, still without a file.
        again = client.post(f"/connector/download/{day:%Y%m%d}", params={"include_held": "true"}, json=[held])
        assert again.status_code == 200, again.text
        by_id = {e["ringId"]: e for e in again.json()}
        assert by_id[held]["status"] == "skipped" and by_id[held]["videoFileName"] is None
        assert set(by_id) == set(expected)

        # Without the held list the event is downloaded like the others (the archive keeps everything).
        last = client.post(f"/connector/download/{day:%Y%m%d}", json=[])
        held_entry = next(e for e in last.json() if e["ringId"] == held)
        assert held_entry["status"] == "downloaded"
        _check_entry(held_entry, expected[held], zone, archive_dir)


def _latest_local(now: datetime, zone: ZoneInfo, at: time, *, before: timedelta) -> datetime:
    """The latest instant at local time ``at`` in ``zone`` that is at least ``before`` ago."""
    local = now.astimezone(zone)
    for days_back in range(0, 3):
        candidate = datetime.combine(local.date() - timedelta(days=days_back), at, tzinfo=zone)
        if candidate.astimezone(UTC) <= now - before:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable")


def test_today_is_each_devices_own_day(serve: Serve, cloud_env: SimServer, archive_dir: Path) -> None:
    sim = cloud_env
    data = world(sim)
    east, west = doorbell_in(data, ROME), doorbell_in(data, NEW_YORK)
    rome, new_york = ZoneInfo(ROME), ZoneInfo(NEW_YORK)
    # "Now" is 03:30 in Rome: already tomorrow there, still this evening in New York.
    now = _latest_local(datetime.now(UTC), rome, time(3, 30), before=timedelta(minutes=10))
    early, late = now - timedelta(hours=5), now - timedelta(hours=2)
    assert early.astimezone(rome).date() < now.astimezone(rome).date() == late.astimezone(rome).date()
    assert early.astimezone(new_york).date() == now.astimezone(new_york).date() == late.astimezone(new_york).date()
    made = {
        (name, when): new_event(sim, device["id"], "ding", when)["id_str"]
        for name, device in (("east", east), ("west", west))
        for when in (early, late)
    }
    data = world(sim)
    tz = zones(data)
    expected = events_on(data, "ding", {device: now.astimezone(zone).date() for device, zone in tz.items()})
    assert made[("east", early)] not in expected

    server = serve(clock=lambda: now)
    with server.client() as client:
        answer = client.get("/connector/download/today")
        assert answer.status_code == 200, answer.text
        entries = answer.json()
    ids = {e["ringId"] for e in entries}
    assert ids == set(expected)
    assert made[("east", late)] in ids and made[("west", late)] in ids and made[("west", early)] in ids
    assert made[("east", early)] not in ids
    for entry in entries:
        sim_event = expected[entry["ringId"]]
        _check_entry(entry, sim_event, tz[sim_event["device_id"]], archive_dir)
        assert entry["date"] == now.astimezone(tz[sim_event["device_id"]]).strftime("%Y%m%d")
    east_dates = {e["date"] for e in entries if e["deviceId"] == str(east["id"])}
    west_dates = {e["date"] for e in entries if e["deviceId"] == str(west["id"])}
    assert east_dates == {now.astimezone(rome).strftime("%Y%m%d")}
    assert west_dates == {now.astimezone(new_york).strftime("%Y%m%d")}
    assert east_dates != west_dates
    with ArchiveStore.open(archive_dir) as store:
        outside = store.get_event(made[("east", early)])
        assert outside is not None and store.media_for_event(outside.id) == []


def test_kind_all_lists_every_kind_of_the_day(serve: Serve, cloud_env: SimServer) -> None:
    sim = cloud_env
    data = world(sim)
    doorbell = doorbell_in(data, NEW_YORK)
    zone = ZoneInfo(NEW_YORK)
    day = datetime.now(zone).date() - timedelta(days=2)
    motion = new_event(sim, doorbell["id"], "motion", datetime.combine(day, time(8), tzinfo=zone))
    server = serve()
    with server.client() as client:
        dings = client.post(f"/connector/download/{day:%Y%m%d}", json=[]).json()
        everything = client.post(f"/connector/download/{day:%Y%m%d}", params={"kind": "all"}, json=[]).json()
    assert motion["id_str"] not in {e["ringId"] for e in dings}
    assert {e["kind"] for e in dings} <= {"ding"}
    by_id = {e["ringId"]: e for e in everything}
    assert by_id[motion["id_str"]]["status"] == "downloaded"
    assert {e["ringId"] for e in dings} < set(by_id)


def test_bad_input_is_one_line_400(serve: Serve) -> None:
    server = serve()
    with server.client() as client:
        for day in ("2024-01-31", "20241301", "today", "2024013", "２０２４０１０１"):
            answer = client.post(f"/connector/download/{day}", json=[])
            assert answer.status_code == 400, (day, answer.text)
            message = answer.json()["error"]
            assert "YYYYMMDD" in message and "\n" not in message
        not_a_list = client.post("/connector/download/20240131", json={"ids": ["1"]})
        assert not_a_list.status_code == 400 and "\n" not in not_a_list.json()["error"]
        bad_kind = client.get("/connector/download/today", params={"kind": "ding;drop"})
        assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["error"]
        assert client.get("/connector/download/20240131").status_code == 405


def test_without_a_login_the_call_fails_and_the_server_stays_up(serve: Serve, tmp_path: Path) -> None:
    server = serve(token_file=tmp_path / "nobody" / "token.json")
    with server.client() as client:
        answer = client.get("/connector/download/today")
        assert answer.status_code == 503
        message = answer.json()["error"]
        assert "ringvault login" in message and "\n" not in message
        assert client.get("/healthz").status_code == 200


def test_held_ids_may_be_numbers(serve: Serve, cloud_env: SimServer) -> None:
    """Seed 001 compared ``str(event["id"])``; a caller may send the ids as JSON numbers (exact, even above 2^53)."""
    sim = cloud_env
    data = world(sim)
    doorbell = doorbell_in(data, NEW_YORK)
    zone = ZoneInfo(NEW_YORK)
    day = datetime.now(zone).date() - timedelta(days=4)
    event = new_event(sim, doorbell["id"], "ding", datetime.combine(day, time(12), tzinfo=zone))
    server = serve()
    body = f"[{event['id_str']}]"  # a bare JSON integer above 2^53
    with server.client() as client:
        answer = client.post(
            f"/connector/download/{day:%Y%m%d}", content=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 200, answer.text
    assert event["id_str"] not in {e["ringId"] for e in answer.json()}
    assert int(event["id_str"]) > 2**53


def test_connector_answers_json_errors_for_unknown_paths(serve: Serve) -> None:
    server = serve()
    answer = httpx.get(f"{server.url}/connector/nothing-here", timeout=10)
    assert answer.status_code == 404 and answer.json() == {"error": "Not Found"}
