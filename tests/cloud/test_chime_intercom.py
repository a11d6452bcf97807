"""``RingChime`` and ``RingIntercom`` against the real simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringvault.cloud.api import RingApi
from ringvault.cloud.chime import RingChime
from ringvault.cloud.intercom import RingIntercom
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, world


async def chime(api: RingApi, name: str = "Hall Chime") -> RingChime:
    found = await api.find_device(name)
    assert isinstance(found, RingChime)
    return found


async def intercom(api: RingApi) -> RingIntercom:
    found = (await api.get_intercoms())[0]
    assert isinstance(found, RingIntercom)
    return found


async def test_chime_volume(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        hall = await chime(api)
        assert hall.volume is not None and 0 <= hall.volume <= 11
        target = 3 if hall.volume != 3 else 9
        await hall.set_volume(target)
        assert hall.volume == target
        fresh = await api.fetch_ring_devices()
        entry = next(c for c in fresh.chimes if c.id == hall.id)
        assert entry.settings is not None and entry.settings.volume == target
        for bad in (-1, 12, 2.5, True):
            with pytest.raises(ValueError):
                await hall.set_volume(bad)  # type: ignore[arg-type]


async def test_chime_snooze_and_clear(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        hall = await chime(api)
        assert not hall.is_snoozed
        await hall.snooze(30)
        assert hall.is_snoozed
        fresh = await api.refresh_devices()
        entry = next(c for c in fresh.chimes if c.id == hall.id)
        assert entry.do_not_disturb is not None and 0 < (entry.do_not_disturb.seconds_left or 0) <= 30 * 60
        assert hall.snooze_seconds_left > 0  # the refreshed object agrees
        await hall.clear_snooze()
        await api.refresh_devices()
        assert hall.snooze_seconds_left == 0 and not hall.is_snoozed
        with pytest.raises(ValueError):
            await hall.snooze(0)
        with pytest.raises(ValueError):
            await hall.snooze(1441)


async def test_chime_sound_health_links_settings(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        hall = await chime(api)
        await hall.play_sound("ding")
        await hall.play_sound("motion")
        with pytest.raises(ValueError):
            await hall.play_sound("bark")  # type: ignore[arg-type]
        health = await hall.get_health()
        assert health.raw and (health.wifi_name is not None or health.latest_signal_strength is not None)
        linked = await hall.linked_doorbots()
        assert isinstance(linked, list)
        cameras = {c.id for c in await api.get_cameras()}
        assert all(isinstance(item, dict) for item in linked)
        doorbells = {c.id for c in await api.get_cameras() if c.is_doorbot and c.location_id == hall.location_id}
        assert linked and {int(item["id"]) for item in linked} == doorbells <= cameras
        assert hall.model == "Chime Pro v2"
        settings = await hall.get_settings()
        assert isinstance(settings, dict)


async def test_intercom_unlock_health_history(sim: SimServer, rv_home: Path) -> None:
    counts = world(sim)["events"]
    async with open_api(sim, rv_home) as api:
        door = await intercom(api)
        assert door.kind == "intercom_handset_audio" and door.model == "Intercom"
        assert door.battery_level == 52  # "52" as a string in ring_devices
        assert door.unlock_duration_s is not None
        answer = await door.unlock()
        assert answer["result"]["code"] == 0
        health = await door.get_health()
        assert health.raw
        history = await door.get_history(limit=100)
        assert len(history) == min(100, counts[str(door.id)])
        assert all(item.id_str is not None and int(item.id_str) > 2**53 for item in history)
        settings = await door.get_settings()
        assert isinstance(settings.get("intercom_settings"), dict)
        await door.subscribe_to_dings()
        fresh = await api.fetch_ring_devices()
        assert next(e for e in fresh.intercoms if e.id == door.id).subscribed is True
