"""The live view signalling socket and its answerer, over a real socket and real WebRTC (aiortc on loopback)
against the real simulator: the §9.4 handshake, decoded frames of the camera's pattern with the simulated time,
the tone, the timers of §9.5, the guards of §9.7, tickets, faults, and nothing left open afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.live.media import camera_colour
from ringvault.sim.server import SimServer
from tests.sim.live_helpers import (
    Peer,
    assert_all_closed,
    box_colour,
    decoded,
    patch_device,
    ring_client,
    set_live,
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


async def test_pings_keep_a_session_alive_and_no_ping_closes_with_code_6(
    sim: SimServer, ring: httpx.AsyncClient
) -> None:
    await set_live(sim, ping_timeout_s=4.0)
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        live.start_pinging(0.5)
        await asyncio.sleep(8.0)  # twice the timeout, with pings
        assert [row["state"] for row in (await sim_live(sim))["sessions"]] == ["connected"]
        await live.stop_pinging()
        started = time.monotonic()
        close = await sig.closed_by_server()
        assert time.monotonic() - started >= 1.0  # closed by the timer, not at once
        assert close["body"]["reason"] == {"code": 6, "text": "Timeout waiting for ping"}
        assert close["body"]["session_id"] == sig.session_id
        await live.peer.close()
    _assert_ring_rules(sig.seen, camera)
    [row] = (await assert_all_closed(sim))["closed"]
    assert row["closed_by"] == "server: ping timeout" and row["close_code"] == 6


async def test_max_duration_ends_a_kept_alive_session(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await set_live(sim, max_duration_s=3.0)
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        live.start_pinging(0.5)
        close = await sig.closed_by_server()
        assert close["body"]["reason"] == {"code": 0, "text": "Max duration reached"}
        await live.stop_pinging()
        await live.peer.close()
    [row] = (await assert_all_closed(sim))["closed"]
    assert row["closed_by"] == "server: max_duration" and row["seconds"] >= 3.0
    assert sim.state.world.event(int(row["event_id"])).duration >= 3  # the on_demand event lasts the session


async def test_no_activate_session_ends_the_stream(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await set_live(sim, activate_timeout_s=2.0)
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera, activate=False)
        live.start_pinging(0.5)
        close = await sig.closed_by_server()
        assert close["body"]["reason"]["code"] == 6
        await live.stop_pinging()
        await live.peer.close()
    [row] = (await assert_all_closed(sim))["closed"]
    assert row["closed_by"] == "server: not activated" and not row["activated"]


async def test_a_used_or_unknown_ticket_gets_close_code_5(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    ticket = await signal_ticket(ring)
    async with signalling(sim, ticket) as sig:
        live = await start_live_view(sig, camera)
        await sig.send("close", {"reason": {"code": 0, "text": ""}})
        await asyncio.wait_for(sig.ws.wait_closed(), 30)
        await live.peer.close()
    for bad in (ticket, "not-a-ticket"):
        async with signalling(sim, bad) as sig:
            await sig.live_view(camera, "v=0\r\n")
            close = await sig.closed_by_server()
            assert close["body"]["reason"] == {"code": 5, "text": "Unauthorized: invalid or expired token"}
            assert close["body"]["doorbot_id"] == camera
            assert sig.ws.close_code == 1000
        assert [f["method"] for f in sig.seen] == ["close"]
    await assert_all_closed(sim)


async def test_an_expired_ticket_is_refused(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await set_live(sim, ticket_ttl_s=60)
    ticket = await signal_ticket(ring)
    sim.state.clock.advance(61)
    async with signalling(sim, ticket) as sig:
        await sig.live_view(streamable_cameras(sim)[0], "v=0\r\n")
        assert (await sig.closed_by_server())["body"]["reason"]["code"] == 5


async def test_a_session_message_with_another_session_id_is_refused(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        sig.session_id = "someone-elses-session"
        await sig.send("ping")
        close = await sig.closed_by_server()
        assert close["body"]["reason"] == {"code": 5, "text": "Sessions with the provided ID not found"}
        await live.peer.close()


async def _refused(sim: SimServer, ring: httpx.AsyncClient, camera: int, sdp: str | None = None) -> dict[str, object]:
    """Open a socket and ask for a live view that the simulator refuses: a ``close`` frame and no answer."""
    peer = Peer()
    try:
        offer = sdp if sdp is not None else await peer.offer()
        async with signalling(sim, await signal_ticket(ring)) as sig:
            await sig.live_view(camera, offer)
            close = await sig.closed_by_server()
        assert [f["method"] for f in sig.seen] == ["close"]  # no session, no sdp
        _assert_ring_rules(sig.seen, camera)
        reason = close["body"]["reason"]
        assert isinstance(reason, dict)
        return reason
    finally:
        await peer.close()


async def test_an_offline_camera_refuses_with_a_reason(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    await patch_device(sim, camera, offline=True)
    reason = await _refused(sim, ring, camera)
    assert reason == {"code": 1, "text": "Camera is offline"}
    await patch_device(sim, camera, offline=False)  # back online: the next live view works
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        assert len(await live.peer.video_frames(3)) == 3
        await sig.send("close")
        await live.peer.close()


async def test_live_view_disabled_by_modes_refuses(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    ticket = await signal_ticket(ring)
    await patch_device(sim, camera, live_view_disabled=True)
    answer = await ring.post("/prd-api-us.prd.rings.solutions/api/v1/clap/ticket/request/signalsocket")
    assert answer.status_code == 403  # no new ticket (§4.10)
    peer = Peer()
    peer_offer = await peer.offer()
    async with signalling(sim, ticket) as sig:  # a ticket fetched before Modes changed
        await sig.live_view(camera, peer_offer)
        close = await sig.closed_by_server()
    await peer.close()
    assert close["body"]["reason"] == {"code": 1, "text": "Live view is disabled by Modes"}
    await patch_device(sim, camera, live_view_disabled=False)  # Modes allow it again: tickets and streams work
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        assert len(await live.peer.video_frames(3)) == 3
        await sig.send("close")
        await asyncio.wait_for(sig.ws.wait_closed(), 30)
        await live.peer.close()


async def test_unknown_doorbots_chimes_and_non_h264_offers_are_refused(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    assert (await _refused(sim, ring, 999_999_999))["text"] == "Unknown doorbot 999999999"
    world = sim.state.world
    chime = next(d.id for d in world.devices.values() if d.is_chime)
    assert "has no live view" in str((await _refused(sim, ring, chime))["text"])
    vp8 = Peer()
    offer = await vp8.offer(video_codec="video/VP8")
    await vp8.close()
    assert "H264" not in offer
    assert (await _refused(sim, ring, camera, offer)) == {"code": 1, "text": "negotiate codecs failed"}
    await assert_all_closed(sim)
