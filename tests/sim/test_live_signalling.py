"""The live view signalling socket and its answerer, over a real socket and real WebRTC (aiortc on loopback)
against the real simulator: the §9.4 handshake, decoded frames of the camera's pattern with the simulated time,
the tone, the timers of §9.5, the guards of §9.7, tickets, faults, and nothing left open afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.live.media import camera_colour
from ringvault.sim.server import SimServer
from tests.sim.live_helpers import (
    assert_all_closed,
    box_colour,
    decoded,
    ring_client,
    signal_ticket,
    signalling,
    sim_live,
    start_live_view,
    streamable_cameras,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return sim_config.model_copy(update={"device_families": ["doorbots", "stickup_cams", "chimes"]})


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    client = await ring_client(sim)
    async with client:
        yield client
    await assert_all_closed(sim)


def _assert_ring_rules(frames: list[dict[str, object]], camera_id: int) -> None:
    """ring-client-api drops any server frame whose body.doorbot_id is not the camera id as a number (§9.3), and
    python-ring-doorbell only knows ``session_created``."""
    assert frames
    for frame in frames:
        body = frame["body"]
        assert isinstance(body, dict)
        assert type(body["doorbot_id"]) is int and body["doorbot_id"] == camera_id, frame
        assert frame["method"] != "session_started"


async def test_handshake_pattern_time_tone_and_clean_close(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        live.start_pinging()
        assert [f["method"] for f in sig.seen] == ["session_created", "sdp"]
        session_id = sig.seen[0]["body"]["session_id"]
        assert session_id.count(".") == 2  # JWT-like, opaque to clients
        answer = sig.seen[1]["body"]
        assert answer["type"] == "answer" and answer["session_id"] == session_id
        assert "a=candidate:" in answer["sdp"] and " 127.0.0.1 " in answer["sdp"]  # candidates already in it
        assert "H264" in answer["sdp"]
        notification = await sig.expect("notification")
        assert notification["body"]["text"] == "camera_connected" and notification["body"]["is_ok"] is True
        await sig.expect("camera_started")
        await sig.expect("pong")

        frames = await live.peer.video_frames(25)
        images = [decoded(f) for f in frames]
        assert {marker[2] for _, marker in images} == {camera & 0xFFFF}
        counters = [marker[0] for _, marker in images]
        assert counters == sorted(counters) and counters[-1] > counters[0]
        first_seconds, last_seconds = images[0][1][1], images[-1][1][1]
        assert 1 <= (last_seconds - first_seconds) % 65536 <= 30  # ~2.5 s of simulated time went by
        assert abs(((int(sim.state.clock.now()) & 0xFFFF) - last_seconds + 32768) % 65536 - 32768) <= 30
        image = images[-1][0]
        assert image.size == (320, 240)
        expected = camera_colour(camera)
        assert all(abs(got - want) <= 24 for got, want in zip(box_colour(image), expected, strict=True))

        # the simulated time is burnt in: moving the clock moves the picture's time
        async with httpx.AsyncClient(base_url=sim.url) as control:
            assert (await control.post("/_sim/clock", json={"advance_s": 3600})).status_code == 200
        later = [decoded(f)[1][1] for f in await live.peer.video_frames(20)]
        assert 3600 <= (later[-1] - last_seconds) % 65536 <= 3700

        audio = await live.peer.audio_frames(25)
        assert all(frame.sample_rate == 48000 for frame in audio)

        listing = await sim_live(sim)
        [row] = listing["sessions"]
        assert row["camera_id"] == camera and row["state"] == "connected" and row["activated"]
        assert row["frames_sent"] >= 45 and row["audio_frames_sent"] > 0
        assert row["audio_frames_received"] > 0  # two-way audio: the client's microphone arrived
        assert row["stream_options"] == {"audio_enabled": True, "video_enabled": True}

        await sig.send("camera_options", {"stealth_mode": False})
        await live.stop_pinging()
        await sig.ws.send('{"reason":{"code":0,"text":""},"method":"close"}')  # rca's hang-up: no body
        await asyncio.wait_for(sig.ws.wait_closed(), 30)
        await live.peer.close()
    _assert_ring_rules(sig.seen, camera)
    listing = await assert_all_closed(sim)
    [row] = listing["closed"]
    assert row["closed_by"] == "client" and row["close_code"] == 0 and row["stealth_mode"] is False
    event = sim.state.world.event(int(row["event_id"]))
    assert event.kind == "on_demand" and event.device_id == camera  # like Ring's own live views
