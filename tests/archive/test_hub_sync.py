"""A sync against the real simulator keeps the alarm and Smart Lighting hubs: their device lists (over the hub
WebSocket) and ``rs/history`` (REST), stored once across re-syncs; new history (a sensor opened through the control
API, the alarm armed over the client) appears once after the next sync; a hub that fails (tickets refused, an asset
that never answers) costs the camera archive nothing, is said in one line and exit 7, and the next healthy run
catches up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.archive.sync import SyncSummary
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.tokens import TokenStore
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import count_matching, fast_sync_options, sim_json, stats_endpoints, sync_once
from tests.cli_fixtures import Invoke
from tests.cloud.http_helpers import fast_options, logged_in_auth

CATEGORIES = ("alarm", "beams")


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    """One location with cameras, a base station and a lighting bridge (the home catalogue), few events."""
    return SimConfig(seed=23, locations=1, events_per_device=2, recording_seconds=1.0, media_cache_dir=media_cache)


def hub_truth(sim: SimServer) -> dict[str, set[str]]:
    """The simulator's hub devices by location: the zids its hubs list (``DeviceInfoDocGetList``)."""
    listing = sim_json(sim, "GET", "/_sim/hub")
    return {
        hub["location_id"]: {device["general"]["v2"]["zid"] for asset in hub["assets"] for device in asset["devices"]}
        for hub in listing["locations"]
    }


async def _history(sim: SimServer, tmp_path: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    auth = RefreshTokenAuth(token_store=TokenStore(tmp_path / "tokens" / "token.json"))
    async with RingApi(auth, fast_options(sim)) as api:
        found: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for location in await api.get_locations():
            if location.has_hubs:
                for category in CATEGORIES:
                    items: list[dict[str, Any]] = []
                    while page := await location.get_alarm_history(limit=100, offset=len(items), category=category):
                        items.extend(page)
                        if len(page) < 100:
                            break
                    found[(location.id, category)] = items
        return found


def ring_history(sim: SimServer, tmp_path: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """What Ring's rs/history holds now, per (location, category), newest first."""
    return asyncio.run(_history(sim, tmp_path))


def sync(sim: SimServer, tmp_path: Path, archive: Path, **options: Any) -> SyncSummary:
    return asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(**options)))


def archived_keys(archive: Path) -> list[tuple[str, str, str]]:
    with ArchiveStore.open(archive) as store:
        rows = store.hub.query_history(limit=100_000).items
    return [(row.location_id, row.category, row.item_key) for row in rows]


@pytest.fixture
def logged(cloud_env: SimServer, tmp_path: Path) -> Iterator[SimServer]:
    asyncio.run(logged_in_auth(cloud_env, tmp_path))
    yield cloud_env


def test_a_sync_archives_the_hub_devices_and_history_once(logged: SimServer, tmp_path: Path) -> None:
    sim, archive = logged, tmp_path / "archive"
    truth = hub_truth(sim)
    assert truth and all(truth.values())
    first = sync(sim, tmp_path, archive, metadata_only=True)
    assert first.hub_failures == [] and first.hub_locations == len(truth)
    with ArchiveStore.open(archive) as store:
        devices = store.hub.list_devices(limit=10_000).devices
        assert {loc: {d.zid for d in devices if d.location_id == loc} for loc in truth} == truth
        assert first.hub_devices == first.hub_devices_new == len(devices)
        panel = next(d for d in devices if d.device_type == "security-panel")
        assert panel.kind == "security_panel" and panel.type_label == "alarm panel" and panel.asset_uuid
        assert panel.data is not None and panel.data["zid"] == panel.zid and "mode" in panel.data
        assert all(d.removed_at is None for d in devices)
    history = ring_history(sim, tmp_path)
    expected = sorted(
        (loc, category, str(item["context"]["eventId"])) for (loc, category), items in history.items() for item in items
    )
    assert expected and sorted(archived_keys(archive)) == expected  # everything Ring holds (30 days < 90)
    assert first.hub_history_new == len(expected)
    with ArchiveStore.open(archive) as store:
        (row, *_) = store.hub.query_history(limit=1).items
        newest_alarm = history[(row.location_id, row.category)][0]
        assert row.item() == newest_alarm and row.time_source == "event"
        assert row.event_ms == newest_alarm["context"]["eventOccurredTsMs"]

    before = stats_endpoints(sim)
    again = sync(sim, tmp_path, archive, metadata_only=True)
    after = stats_endpoints(sim)
    assert (again.hub_history_new, again.hub_devices_new, again.hub_devices_removed) == (0, 0, 0)
    assert again.hub_devices == first.hub_devices and again.hub_failures == []
    assert sorted(archived_keys(archive)) == expected
    # nothing new: one page per category and location
    pages = count_matching(after, "rs/history") - count_matching(before, "rs/history")
    assert pages == len(history)


def test_new_history_appears_once_after_the_next_sync(logged: SimServer, tmp_path: Path) -> None:
    sim, archive = logged, tmp_path / "archive"
    sync(sim, tmp_path, archive, metadata_only=True)
    held = set(archived_keys(archive))
    (location_id,) = hub_truth(sim)
    with ArchiveStore.open(archive) as store:
        contact = next(d for d in store.hub.list_devices(limit=1000).devices if d.device_type == "sensor.contact")
    sim_json(sim, "POST", f"/_sim/hub/{location_id}/devices/{contact.zid}/fault", {"faulted": True})
    sim_json(sim, "POST", f"/_sim/hub/{location_id}/devices/{contact.zid}/fault", {"faulted": False})

    async def arm_and_disarm() -> None:
        auth = RefreshTokenAuth(token_store=TokenStore(tmp_path / "tokens" / "token.json"))
        async with RingApi(auth, fast_options(sim)) as api:
            location = next(loc for loc in await api.get_locations() if loc.id == location_id)
            await location.arm_home()
            await location.disarm()

    asyncio.run(arm_and_disarm())
    ring = ring_history(sim, tmp_path)
    fresh = {
        (loc, category, str(item["context"]["eventId"])) for (loc, category), items in ring.items() for item in items
    } - held
    assert len(fresh) >= 4  # opened, closed, armed home, disarmed

    summary = sync(sim, tmp_path, archive, metadata_only=True)
    assert summary.hub_history_new == len(fresh) and summary.hub_failures == []
    keys = archived_keys(archive)
    assert len(keys) == len(set(keys)) and set(keys) == held | fresh
    with ArchiveStore.open(archive) as store:
        about_contact = store.hub.query_history(location_id, zid=contact.zid, limit=100).items
        newest = store.hub.query_history(location_id, category="alarm", limit=len(fresh)).items
    # the contact's two changes are found by its zid; the mode switches by their impulse types (what ring-mqtt reads)
    assert len({key for (_, _, key) in fresh} & {row.item_key for row in about_contact}) >= 2
    modes = {kind for row in newest for kind in row.impulse_types or ()}
    assert {"security-panel.mode-switched.some", "security-panel.mode-switched.none"} <= modes
    assert sync(sim, tmp_path, archive, metadata_only=True).hub_history_new == 0
    assert len(archived_keys(archive)) == len(keys)


@pytest.mark.parametrize("stage", ["ticket", "handshake"])
def test_a_refused_hub_costs_the_cameras_nothing_and_the_next_run_catches_up(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path, stage: str
) -> None:
    """Tickets refused by clap/tickets, or by the socket's handshake (every attempt of the client's bounded
    retries): the cameras are archived, the hub is one line and exit 7; refusing stops, the next run reads it."""
    sim, archive = cloud_env, tmp_path / "archive"
    sim_json(sim, "PUT", "/_sim/hub/tickets/refuse", {"count": None, "status": 401, "stage": stage})
    refused = invoke("sync", "--archive", str(archive))
    assert refused.exit_code == 7, refused.output
    lines = refused.output.splitlines()
    hub_lines = [line for line in lines if line.startswith("  hub: ")]
    assert len(hub_lines) == 1 and "hub devices not read" in hub_lines[0], refused.output
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "alarm/lighting hub read(s) failed" in errors[0], refused.output
    assert "0 failed" in refused.output  # the recordings: all downloaded
    with ArchiveStore.open(archive) as store:
        counts = store.counts()
        assert counts.events > 0 and counts.media_by_status.get("pending", 0) == 0
        assert counts.media_by_status.get("done", 0) > 0 and counts.media > 0
        assert store.hub.device_count() == 0  # nothing known yet, nothing invented
        assert store.hub.history_count() > 0  # the history is REST: it does not need the socket
        (loc,) = hub_truth(sim)
        state = store.hub.state(loc, "devices")
        assert state is not None and state.last_error and state.complete_at is None

    assert sim_json(sim, "DELETE", "/_sim/hub/tickets/refuse") is None
    healed = invoke("sync", "--archive", str(archive))
    assert healed.exit_code == 0, healed.output
    assert "alarm and lights:" in healed.output and "not read" not in healed.output
    with ArchiveStore.open(archive) as store:
        assert {d.zid for d in store.hub.list_devices(limit=1000).devices} == hub_truth(sim)[loc]
        state = store.hub.state(loc, "devices")
        assert state is not None and state.last_error is None and state.complete_at is not None


def test_a_silent_hub_times_out_keeps_what_was_stored_and_marks_nothing_removed(
    logged: SimServer, tmp_path: Path
) -> None:
    sim, archive = logged, tmp_path / "archive"
    first = sync(sim, tmp_path, archive, metadata_only=True)
    assert first.hub_failures == [] and first.hub_devices > 0
    (location_id,) = hub_truth(sim)
    sim_json(sim, "POST", f"/_sim/hub/{location_id}/assets/base_station/silent", {"silent": True})
    silent = sync(sim, tmp_path, archive, metadata_only=True, hub_timeout_s=1.5)
    assert len(silent.hub_failures) == 1 and "hub devices not read" in silent.hub_failures[0]
    assert silent.incomplete and silent.hub_devices_removed == 0
    with ArchiveStore.open(archive) as store:
        assert store.hub.device_count() == first.hub_devices and store.hub.device_count(removed=True) == 0
        assert store.counts().events > 0
    sim_json(sim, "POST", f"/_sim/hub/{location_id}/assets/base_station/silent", {"silent": False})
    back = sync(sim, tmp_path, archive, metadata_only=True)
    assert back.hub_failures == [] and back.hub_devices == first.hub_devices and not back.incomplete


def test_no_hub_leaves_the_hubs_alone(logged: SimServer, tmp_path: Path) -> None:
    sim, archive = logged, tmp_path / "archive"
    before = stats_endpoints(sim)
    summary = sync(sim, tmp_path, archive, metadata_only=True, hub=False)
    after = stats_endpoints(sim)
    assert summary.hub_locations == 0 and summary.new > 0
    assert count_matching(after, "rs/history") == count_matching(before, "rs/history")
    assert count_matching(after, "clap/tickets") == count_matching(before, "clap/tickets")
    with ArchiveStore.open(archive) as store:
        assert store.hub.device_count() == 0 and store.hub.history_count() == 0


def test_the_cli_options_of_the_hubs(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--dry-run`` counts the hubs' devices and history and writes nothing; ``--no-hub`` and ``RINGVAULT_NO_HUB``
    leave them out; a negative ``--hub-history-days`` is refused before anything runs; the summary line counts."""
    archive = tmp_path / "archive"
    bad = invoke("sync", "--archive", str(archive), "--hub-history-days", "-1")
    assert bad.exit_code == 2 and "--hub-history-days" in bad.output and not archive.exists()
    dry = invoke("sync", "--archive", str(archive), "--dry-run")
    assert dry.exit_code == 0, dry.output
    counted = next(line for line in dry.output.splitlines() if line.startswith("dry run: alarm and lights:"))
    devices = len(next(iter(hub_truth(cloud_env).values())))
    assert f"{devices} devices ({devices} new)" in counted and " 0 new history items" not in counted
    assert not (archive / "archive.sqlite3").exists()
    skipped = invoke("sync", "--archive", str(archive), "--metadata-only", "--no-hub")
    assert skipped.exit_code == 0 and "alarm and lights" not in skipped.output, skipped.output
    monkeypatch.setenv("RINGVAULT_NO_HUB", "1")
    assert "alarm and lights" not in invoke("sync", "--archive", str(archive), "--metadata-only").output
    monkeypatch.delenv("RINGVAULT_NO_HUB")
    kept = invoke("sync", "--archive", str(archive), "--metadata-only", "--hub-history-days", "1")
    assert kept.exit_code == 0, kept.output
    line = next(line for line in kept.output.splitlines() if line.startswith("alarm and lights:"))
    assert line.startswith(f"alarm and lights: {devices} devices ({devices} new), ")
    with ArchiveStore.open(archive) as store:
        day_ago_ms = (store.now().timestamp() - 86_400) * 1000
        rows = store.hub.query_history(limit=100_000).items
    assert rows and all(row.event_ms >= day_ago_ms - 60_000 for row in rows)  # one day back, not 30
    assert f"{len(rows)} new history items" in line


def test_an_unknown_device_with_hostile_text_and_huge_numbers_is_kept_as_sent(
    logged: SimServer, tmp_path: Path
) -> None:
    sim, archive = logged, tmp_path / "archive"
    sync(sim, tmp_path, archive, metadata_only=True)
    (location_id,) = hub_truth(sim)
    name = "Gadget\x1b[2J\nerror: fake\u202e"
    document = {
        "general": {"v2": {"zid": "zid-future-1", "name": name, "deviceType": "future.gadget", "serial": 2**70}},
        "device": {"v1": {"level": 0.5}},
    }
    sim_json(sim, "POST", f"/_sim/hub/{location_id}/devices", {"document": document})
    summary = sync(sim, tmp_path, archive, metadata_only=True)
    assert summary.hub_devices_new == 1 and summary.hub_failures == []
    assert summary.hub_history_new >= 1  # the hub's change lands in rs/history too
    with ArchiveStore.open(archive) as store:
        (gadget,) = [d for d in store.hub.list_devices(limit=1000).devices if d.zid == "zid-future-1"]
        about = store.hub.query_history(location_id, zid="zid-future-1", limit=10).items
    assert (gadget.name, gadget.device_type, gadget.kind, gadget.type_label) == (
        name, "future.gadget", "unknown", "unknown",
    )  # fmt: skip
    assert gadget.data is not None and gadget.data["serial"] == 2**70 and gadget.data["level"] == 0.5
    assert about and about[0].item()["body"][0]["general"]["v2"]["name"] == name
