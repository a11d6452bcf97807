"""``ringvault sync --template / --timezone`` through the real CLI, and the byte-progress plumbing of downloads."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tzlocal
from rich.console import Console
from rich.progress import Progress

from ringvault.archive.store import ArchiveStore
from ringvault.archive.sync import FileProgress, SyncProgress
from ringvault.archive.validate import validate_mp4
from ringvault.cli.sync import TtyProgress
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import fast_sync_options, media_events, sim_json, sync_once
from tests.cli_fixtures import Invoke

TEMPLATE = "clips/{location_id}/{device_id}/{YYYY}{MM}{DD}/{hh}{mm}{ss}-{kind}-{ding_id}.{ext}"


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(seed=7, locations=2, events_per_device=3, recording_seconds=1.0, media_cache_dir=media_cache)


@pytest.fixture
def cli(invoke: Invoke, logged_in: Path) -> Invoke:
    return invoke


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This machine's zone, as tzlocal sees it, set to a zone with a half-hour offset for the test."""
    monkeypatch.setenv("TZ", "Australia/Adelaide")
    tzlocal.reload_localzone()
    yield "Australia/Adelaide"
    monkeypatch.undo()
    tzlocal.reload_localzone()


def _device_zones(sim: SimServer) -> dict[str, tuple[str, ZoneInfo]]:
    """Device id -> (location id, the device's zone), from the simulated world (Ring's ``time_zone``)."""
    world = sim_json(sim, "GET", "/_sim/world")
    zones = {str(loc["id"]): ZoneInfo(loc["timezone"]) for loc in world["locations"]}
    return {str(d["id"]): (str(d["location_id"]), zones[str(d["location_id"])]) for d in world["devices"]}


def _created(event: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(event["created_at_ms"]) / 1000, tz=UTC)


def _mp4s(archive: Path) -> list[str]:
    return sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*.mp4"))


def _archived_ids(archive: Path) -> set[str]:
    return {json.loads(p.with_suffix(".json").read_text())["ringId"] for p in archive.rglob("*.mp4")}


# -- --template and --timezone -----------------------------------------------------------------------------------


def test_template_and_each_devices_own_time_zone(cli: Invoke, cloud_env: SimServer, tmp_path: Path) -> None:
    """The default zone is each device's own (Ring's ``time_zone``): New York and Rome cameras here."""
    sim = cloud_env
    archive = tmp_path / "archive"
    result = cli("sync", "--archive", str(archive), "--template", TEMPLATE)
    assert result.exit_code == 0, result.output

    devices = _device_zones(sim)
    assert {str(zone) for _, zone in devices.values()} == {"America/New_York", "Europe/Rome"}
    expected: dict[str, str] = {}
    stamps: dict[str, str] = {}
    for device_id, events in media_events(sim).items():
        location_id, zone = devices[device_id]
        for event in events:
            local = _created(event).astimezone(zone)
            ding = str(event["id_str"])
            expected[ding] = f"clips/{location_id}/{device_id}/{local:%Y%m%d}/{local:%H%M%S}-{event['kind']}-{ding}.mp4"
            stamps[ding] = f"{local:%Y%m%d-%H%M%S}"
    assert expected
    assert _mp4s(archive) == sorted(expected.values())
    assert not (archive / "media").exists()
    for ding, rel in expected.items():
        path = archive / rel
        assert validate_mp4(path).ok, rel
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar["ringId"] == ding
        assert sidecar["eventName"] == stamps[ding]  # the sidecar's local stamp matches the file name
    with ArchiveStore.open(archive) as store:
        stored = {ding: [m.path for m in store.media_for_event(ding)] for ding in expected}
    assert stored == {ding: [rel] for ding, rel in expected.items()}


@pytest.mark.parametrize("zone_name", ["UTC", "Asia/Kathmandu", "local"])
def test_one_time_zone_for_every_device(
    cli: Invoke, cloud_env: SimServer, tmp_path: Path, zone_name: str, request: pytest.FixtureRequest
) -> None:
    zone: tzinfo
    if zone_name == "local":
        zone = ZoneInfo(request.getfixturevalue("local_zone"))
    else:
        zone = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
    archive = tmp_path / "archive"
    result = cli("sync", "--archive", str(archive), "--timezone", zone_name)
    assert result.exit_code == 0, result.output
    expected = []
    for events in media_events(cloud_env).values():
        for event in events:
            local = _created(event).astimezone(zone)
            expected.append(f"{local:%Y/%m/%d}/{local:%Y%m%d-%H%M%S}-{event['kind']}-{event['id_str']}.mp4")
    # the default template: media/{location}/{device_slug}-{device_id}/{YYYY}/{MM}/{DD}/{stamp}-{kind}-{ding_id}.{ext}
    archived = [p.split("/", 3)[3] for p in _mp4s(archive)]
    assert sorted(archived) == sorted(expected)
    assert all(p.startswith("media/") for p in _mp4s(archive))


def test_date_is_a_day_in_the_chosen_zone(cli: Invoke, cloud_env: SimServer, tmp_path: Path) -> None:
    """``--date D`` takes the recordings filed under D: 23:30 in New York on D is D+1 in UTC."""
    sim = cloud_env
    devices = _device_zones(sim)
    new_york = ZoneInfo("America/New_York")
    camera = next(d for d in media_events(sim) if devices[d][1] == new_york)
    day = (datetime.now(UTC) - timedelta(days=3)).date()
    late = datetime(day.year, day.month, day.day, 23, 30, tzinfo=new_york)
    created = sim_json(sim, "POST", "/_sim/events", {"device_id": int(camera), "at": late.timestamp()})
    late_ding = str(created.get("id_str") or created["id"])

    def wanted(zone_of: Any, on: Any) -> set[str]:
        return {
            str(e["id_str"])
            for dev, events in media_events(sim).items()
            for e in events
            if _created(e).astimezone(zone_of(dev)).date() == on
        }

    by_device = cli("sync", "--archive", str(tmp_path / "a"), "--date", day.isoformat())
    assert by_device.exit_code == 0, by_device.output
    expected_device = wanted(lambda dev: devices[dev][1], day)
    assert late_ding in expected_device
    assert _archived_ids(tmp_path / "a") == expected_device

    in_utc = cli("sync", "--archive", str(tmp_path / "b"), "--date", day.isoformat(), "--timezone", "utc")
    assert in_utc.exit_code == 0, in_utc.output
    expected_utc = wanted(lambda dev: UTC, day)
    assert late_ding not in expected_utc
    assert _archived_ids(tmp_path / "b") == expected_utc

    next_day = (day + timedelta(days=1)).isoformat()
    since = cli("sync", "--archive", str(tmp_path / "c"), "--since", next_day, "--until", next_day, "--timezone", "UTC")
    assert since.exit_code == 0, since.output
    assert late_ding in _archived_ids(tmp_path / "c") == wanted(lambda dev: UTC, day + timedelta(days=1))

    # an explicit offset is an instant whatever --timezone says: from 23:00 New York time on D, to the end of D+1
    instant = cli(
        "sync", "--archive", str(tmp_path / "d"), "--since", f"{day.isoformat()}T23:00:00-05:00", "--until", next_day
    )
    assert instant.exit_code == 0, instant.output
    assert late_ding in _archived_ids(tmp_path / "d")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--template", "media/{device}/{ding_id}.{ext}"], "--template: media template 'media/{device}/{ding_id}"),
        (["--template", "media/{device}/{ding_id}.{ext}"], "unknown placeholder {device}; allowed: {DD}"),
        (["--template", "media/{device_id}/{stamp}.{ext}"], "must contain {ding_id}"),
        (["--template", "/abs/{ding_id}.mp4"], "must be relative to the archive root"),
        (["--template", "media/{ding_id}.json"], "must not name .json files"),
        (["--timezone", "Mars/Olympus"], "--timezone: unknown time zone 'Mars/Olympus' (use 'utc', 'local', 'device'"),
    ],
)
def test_bad_template_or_time_zone_is_a_usage_error(
    invoke: Invoke, tmp_path: Path, args: list[str], message: str
) -> None:
    archive = tmp_path / "archive"
    result = invoke("sync", "--archive", str(archive), *args)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not archive.exists()


# -- byte progress ---------------------------------------------------------------------------------------------


def test_file_progress_reports_bytes_then_settles_each_recording(sim: SimServer, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    device_id = next(iter(media_events(sim)))
    sim_json(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 3600, "drop_rate": 0.3})
    pending = sim_json(sim, "POST", "/_sim/events", {"device_id": int(device_id)})
    pending_ding = str(pending.get("id_str") or pending["id"])
    reports: list[FileProgress] = []
    summary = asyncio.run(
        sync_once(sim, tmp_path, archive, fast_sync_options(max_attempts=5), file_progress=reports.append)
    )
    assert summary.downloaded > 0 and summary.pending == 1 and summary.failed == 0

    finished = [r for r in reports if r.finished]
    assert sorted(r.event_id for r in finished) == sorted({r.event_id for r in finished})  # once per recording
    assert {r.event_id for r in finished if not r.ok} == {pending_ding}
    assert not [r for r in reports if r.event_id == pending_ding and not r.finished]  # no bytes: never ready
    with ArchiveStore.open(archive) as store:
        done = {r.event_id for r in finished if r.ok}
        assert len(done) == summary.downloaded
        for ding in done:
            (media,) = store.media_for_event(ding)
            byte_reports = [r for r in reports if r.event_id == ding and not r.finished]
            assert byte_reports, ding
            assert byte_reports[-1].done == byte_reports[-1].total == media.bytes
            assert all(r.total is None or 0 <= r.done <= r.total for r in byte_reports)
            # the settle report comes after every byte report of that recording
            assert reports.index(next(r for r in finished if r.event_id == ding)) > reports.index(byte_reports[-1])


def test_tty_display_keeps_one_bar_per_download_in_flight() -> None:
    """The terminal display's bookkeeping: phase bars stay, a file bar lives from its first bytes to its settling."""
    bar = Progress(console=Console(file=io.StringIO(), force_terminal=True), auto_refresh=False)
    display = TtyProgress(bar)
    display.phase(SyncProgress(phase="history", done=0, total=2, message="Front Door"))
    display.phase(SyncProgress(phase="media", done=0, total=3))
    display.file(FileProgress(event_id="1", name="Front Door 2024-05-01 20:15:00", done=0, total=1000))
    display.file(FileProgress(event_id="2", name="x" * 80, done=10, total=None))
    display.file(FileProgress(event_id="1", name="Front Door 2024-05-01 20:15:00", done=600, total=1000))
    by_id = {task.id: task for task in bar.tasks}
    first, second = by_id[display.files["1"]], by_id[display.files["2"]]
    assert (first.completed, first.total, first.fields["detail"]) == (600, 1000, "600 B / 1000 B")
    assert second.total is None and len(second.description) <= 2 + 40 and second.description.endswith("…")
    display.file(FileProgress(event_id="1", name="", finished=True, ok=True))
    display.file(FileProgress(event_id="3", name="", finished=True, ok=False))  # settled without bytes: no bar
    display.phase(SyncProgress(phase="media", done=1, total=3))
    assert set(display.files) == {"2"}
    assert sorted(task.description for task in bar.tasks if task.id not in display.files.values()) == [
        "history",
        "recordings",
    ]
    assert by_id[display.phases["media"]].completed == 1
