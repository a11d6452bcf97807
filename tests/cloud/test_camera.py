"""``RingCamera`` against the real simulator: controls, health, settings, events, history, recordings, snapshots."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from PIL import Image

from ringvault.cloud import camera as camera_module
from ringvault.cloud.api import RingApi
from ringvault.cloud.camera import RingCamera
from ringvault.cloud.errors import CapabilityError, RecordingNotReadyError
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, sim_get, sim_patch, sim_post, world, world_device


async def camera(api: RingApi, name: str) -> RingCamera:
    found = await api.find_device(name)
    assert isinstance(found, RingCamera)
    return found


async def entry_of(api: RingApi, device_id: int) -> dict[str, object]:
    """The device's entry as Ring reports it now (a fresh ``ring_devices`` read)."""
    devices = await api.fetch_ring_devices()
    found = devices.find(device_id)
    assert found is not None
    return found[1].raw


async def test_light_and_siren_are_reflected_in_ring_devices(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        flood = await camera(api, "Driveway Floodlight")
        updates: list[str | None] = []
        flood.on_data.subscribe(lambda entry: updates.append(entry.led_status))

        await flood.set_light(True)
        assert flood.light_on and updates[-1] == "on"
        assert (await entry_of(api, flood.id))["led_status"] == "on"
        await flood.set_light(False)
        assert (await entry_of(api, flood.id))["led_status"] == "off"

        await flood.set_siren(True, duration_s=30)
        siren = (await entry_of(api, flood.id))["siren_status"]
        assert isinstance(siren, dict) and 0 < int(str(siren["seconds_remaining"])) <= 30
        assert flood.siren_on
        await flood.set_siren(False)
        siren = (await entry_of(api, flood.id))["siren_status"]
        assert isinstance(siren, dict) and int(str(siren["seconds_remaining"])) == 0
        with pytest.raises(ValueError):
            await flood.set_siren(True, duration_s=500)

        doorbell = await camera(api, "Back Door")
        with pytest.raises(CapabilityError):
            await doorbell.set_light(True)
        with pytest.raises(CapabilityError):
            await doorbell.set_siren(True)


async def test_health(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        garden = await camera(api, "Garden")
        health = await garden.get_health()
        assert health.raw and "device_health" not in health.raw
        assert health.battery_percentage is not None or health.latest_signal_strength is not None
        assert health.firmware is not None


async def test_settings_patch_is_deep_merged_and_blocks_snapshots(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        flood = await camera(api, "Driveway Floodlight")
        before = await flood.get_settings()
        assert isinstance(before.get("motion_settings"), dict) and len(before["motion_settings"]) > 1
        assert isinstance(before.get("video_settings"), dict)

        after = await flood.update_settings({"video_settings": {"clip_length_max": 45}})
        assert after["video_settings"]["clip_length_max"] == 45
        others = {k: v for k, v in before["video_settings"].items() if k != "clip_length_max"}
        assert {k: after["video_settings"][k] for k in others} == others  # siblings kept
        assert after["motion_settings"] == before["motion_settings"]

        await flood.set_motion_detection(False)
        assert (await flood.get_settings())["motion_settings"]["motion_detection_enabled"] is False
        entry = await entry_of(api, flood.id)
        settings = entry["settings"]
        assert isinstance(settings, dict) and settings["motion_detection_enabled"] is False
        assert flood.motion_detection_enabled is False
        with pytest.raises(CapabilityError, match="motion detection"):
            await flood.get_snapshot()
        await flood.set_motion_detection(True)
        assert flood.motion_detection_enabled is True


async def test_events_every_page_equals_world_count(sim: SimServer, rv_home: Path) -> None:
    counts = world(sim)["events"]
    async with open_api(sim, rv_home) as api:
        front = await camera(api, "Driveway Floodlight")
        expected = counts[str(front.id)]
        pages = [page async for page in front.iter_events(limit=5)]
        events = [e for page in pages for e in page.events]
        assert len(events) == expected
        assert len({e.ding_id_str for e in events}) == expected
        assert all(e.doorbot_id == front.id for e in events)
        created = [e.created_at for e in events]
        assert created == sorted(created, reverse=True)  # type: ignore[type-var]
        motions = [e async for page in front.iter_events(limit=50, kind="motion") for e in page.events]
        assert motions and all(e.kind == "motion" for e in motions)
        assert len(motions) <= expected


async def test_history_pages_by_older_than(sim: SimServer, rv_home: Path) -> None:
    counts = world(sim, "list")["events"]
    async with open_api(sim, rv_home) as api:
        garden = await camera(api, "Garden")
        truth = counts[str(garden.id)]
        pages = [page async for page in garden.iter_history(page_size=5)]
        items = [item for page in pages for item in page]
        assert [i.id_str for i in items] == [e["id_str"] for e in truth]
        assert all(len(page) == 5 for page in pages[:-1])
        ids = [int(i.id_str or 0) for i in items]
        assert ids == sorted(ids, reverse=True) and all(i > 2**53 for i in ids)  # exact big ids
        first = await garden.get_history(limit=500)  # capped at 100 per page
        assert len(first) == min(100, len(truth))
        older = await garden.get_history(limit=3, older_than=items[2].id_str)
        assert [i.id_str for i in older] == [i.id_str for i in items[3:6]]


async def test_video_search(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        flood = await camera(api, "Driveway Floodlight")
        now = datetime.now(UTC)
        results = await flood.video_search(now - timedelta(days=60), now + timedelta(minutes=5), order="desc")
        history = [item async for page in flood.iter_history() for item in page]
        assert [r.ding_id for r in results] == [h.id_str for h in history]
        assert all(isinstance(r.ding_id, str) and r.created_at is not None for r in results)
        ascending = await flood.video_search(now - timedelta(days=60), int(now.timestamp() * 1000) + 60_000)
        assert [r.ding_id for r in ascending] == [r.ding_id for r in reversed(results)]


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    config = SimConfig(seed=7, locations=2, events_per_device=12, recording_seconds=1.0, media_cache_dir=media_cache)
    config.snapshot_capture_delay_s = 0.2
    return config


async def test_recording_url_both_modes_not_ready_then_ready(sim: SimServer, rv_home: Path, tmp_path: Path) -> None:
    flood_info = world_device(sim, "Driveway Floodlight")
    sim_patch(sim, "/_sim/faults", {"recording_delay_s": 120})
    fresh = sim_post(sim, "/_sim/events", {"device_id": flood_info["id"], "kind": "motion"})
    ding = fresh["id_str"]
    async with open_api(sim, rv_home) as api:
        flood = await camera(api, "Driveway Floodlight")
        # untranscoded: Ring answers an empty url until the clip exists
        with pytest.raises(RecordingNotReadyError):
            await flood.get_recording_url(ding)
        # transcoded: a URL is handed out at once, but the file is not there yet
        url = await flood.get_recording_url(ding, transcoded=True)
        assert ".mp4" in url and "X-Amz-Signature=" in url
        with pytest.raises(RecordingNotReadyError):
            await flood.download_recording(ding, tmp_path / "early.mp4", transcoded=True)
        assert not (tmp_path / "early.mp4").exists()

        sim_post(sim, "/_sim/clock", {"advance_s": 121})
        for transcoded in (False, True):
            url = await flood.get_recording_url(ding, transcoded=transcoded)
            assert ".mp4" in url and "X-Amz-Expires=" in url
            dest = tmp_path / f"clip-{transcoded}.mp4"
            result = await flood.download_recording(ding, dest, transcoded=transcoded)
            assert result.path == dest and result.bytes == dest.stat().st_size > 1000
            with av.open(str(dest)) as container:
                assert container.streams.video, "an MP4 with a video stream"
                frames = sum(1 for _ in container.decode(video=0))
                assert frames > 0

        # an old event from history works the same, by its exact string id
        item = (await flood.get_history(limit=1))[0]
        assert item.id_str is not None
        await flood.download_recording(item.id_str, tmp_path / "old.mp4")
        with av.open(str(tmp_path / "old.mp4")) as container:
            assert container.duration is not None and container.duration > 0

        with pytest.raises(TypeError):
            await flood.get_recording_url(float(item.id_str))  # type: ignore[arg-type]


async def test_snapshot_decodes_and_uses_x_time_millis(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        flood = await camera(api, "Driveway Floodlight")
        snap = await flood.get_snapshot()
        image = Image.open(io.BytesIO(snap.image))
        image.verify()
        assert snap.content_type == "image/jpeg" and image.format == "JPEG"
        latest = sim.state.world.latest_capture(flood.id)
        assert snap.time_millis is not None and latest is not None
        assert snap.captured_at == datetime.fromtimestamp(snap.time_millis / 1000, tz=UTC)
        assert snap.time_millis <= latest

        # within 10 s the same image is reused (no second forced capture)
        again = await flood.get_snapshot()
        assert again is snap

        # after the window, a forced capture with after-ms = the last x-time-millis gives a newer image
        flood._snapshot_fetched_at = (flood._snapshot_fetched_at or 0) - 11
        flood._last_forced_at = (flood._last_forced_at or 0) - 11
        newer = await flood.get_snapshot()
        assert newer.time_millis is not None and newer.time_millis > snap.time_millis
        assert newer.captured_at > snap.captured_at
        requests = sim_get(sim, "/_sim/requests", limit=50)
        snaps = [r for r in _request_list(requests) if "snapshots/next" in str(r)]
        assert any(f"after-ms={snap.time_millis}" in str(r) and "extras=force" in str(r) for r in snaps)


async def test_first_forced_snapshot_is_a_new_capture(sim: SimServer, rv_home: Path) -> None:
    """A fresh process knows no x-time-millis: a forced snapshot must still return the new capture, not the image
    Ring already held (that would answer 'newer than 0' at once)."""
    flood_id = world_device(sim, "Driveway Floodlight")["id"]
    held = sim.state.world.latest_capture(flood_id)
    assert held is not None
    async with open_api(sim, rv_home) as api:
        flood = await camera(api, "Driveway Floodlight")
        snap = await flood.get_snapshot(force=True)
    assert snap.time_millis is not None and snap.time_millis > held


def _request_list(payload: object) -> list[object]:
    if isinstance(payload, dict):
        for key in ("requests", "items", "log"):
            value = payload.get(key)
            if isinstance(value, list):
                return value
    return payload if isinstance(payload, list) else []


async def test_snapshot_refused_early_when_offline(sim: SimServer, rv_home: Path) -> None:
    side = world_device(sim, "Side Yard")
    sim_patch(sim, f"/_sim/devices/{side['id']}", {"offline": True})
    async with open_api(sim, rv_home) as api:
        cam = await camera(api, "Side Yard")
        assert cam.is_offline
        with pytest.raises(CapabilityError, match="offline"):
            await cam.get_snapshot()


async def test_avoid_snapshot_battery_drain_reuses_image(
    sim: SimServer, rv_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(camera_module, "FORCE_SNAPSHOT_INTERVAL_S", 0.0)
    async with open_api(sim, rv_home, avoid_snapshot_battery_drain=True) as api:
        garden = await camera(api, "Garden")
        assert garden.has_battery
        first = await garden.get_snapshot()
        assert await garden.get_snapshot() is first  # battery camera: cached for 10 minutes
        # wired cameras are not affected by the option
        flood = await camera(api, "Driveway Floodlight")
        one = await flood.get_snapshot()
        two = await flood.get_snapshot(force=True)
        assert two is not one
    async with open_api(sim, rv_home) as api:
        garden = await camera(api, "Garden")
        first = await garden.get_snapshot()
        second = await garden.get_snapshot(max_wait_ms=200)
        assert second is not first  # without the option, every call asks Ring again


async def test_subscriptions(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        garden = await camera(api, "Garden")
        await garden.unsubscribe_from_dings()
        await garden.unsubscribe_from_motions()
        entry = await entry_of(api, garden.id)
        assert entry["subscribed"] is False and entry["subscribed_motions"] is False
        await garden.subscribe_to_dings()
        await garden.subscribe_to_motions()
        entry = await entry_of(api, garden.id)
        assert entry["subscribed"] is True and entry["subscribed_motions"] is True
        assert garden.data.subscribed is True


async def test_paging_survives_a_flaky_cloud(sim: SimServer, rv_home: Path) -> None:
    """With 30 % of API calls failing (500/503/504), every page still arrives exactly once (the HTTP layer retries)."""
    counts = world(sim)["events"]
    async with open_api(sim, rv_home) as api:
        flood = await camera(api, "Driveway Floodlight")
        sim_patch(sim, "/_sim/faults", {"error_rate": 0.15, "timeout_rate": 0.15, "seed": 3})
        events = [e async for page in flood.iter_events(limit=4) for e in page.events]
        history = [i async for page in flood.iter_history(page_size=4) for i in page]
        await api.refresh_devices()
        sim_patch(sim, "/_sim/faults", {"error_rate": 0.0, "timeout_rate": 0.0})
        assert api.http.stats.retries > 0  # the faults really happened
    expected = counts[str(flood.id)]
    assert len(events) == len({e.ding_id_str for e in events}) == expected
    assert len(history) == len({i.id_str for i in history}) == expected
