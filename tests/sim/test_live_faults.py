"""Live view faults and bounds against the real simulator: a session closed mid-stream (now, after N seconds, or
for every session), ICE failure, slow start, trickled candidates, four cameras at once, session limits, oversized
frames, a socket without a User-Agent, and the socket reached through the ``Host`` header."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ringvault.sim.config import SimConfig
from ringvault.sim.live import SIGNALLING_HOST
from ringvault.sim.server import SimServer
from tests.sim.live_helpers import (
    UA,
    Peer,
    assert_all_closed,
    decoded,
    ring_client,
    set_live,
    signal_ticket,
    signalling,
    sim_live,
    socket_url,
    start_live_view,
    streamable_cameras,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return sim_config.model_copy(update={"device_families": ["doorbots", "stickup_cams"]})


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    client = await ring_client(sim)
    async with client:
        yield client
    await assert_all_closed(sim)


async def test_close_now_through_the_control_api(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        live.start_pinging()
        await live.peer.video_frames(5)
        [row] = (await sim_live(sim))["sessions"]
        async with httpx.AsyncClient(base_url=sim.url) as control:
            answer = await control.post(f"/_sim/live/sessions/{row['id']}/close", json={"text": "camera went away"})
            assert answer.status_code == 200 and answer.json()["state"] == "closed"
            missing = await control.post(f"/_sim/live/sessions/{row['id']}/close", json={})
            assert missing.status_code == 404
        close = await sig.closed_by_server()
        assert close["body"]["reason"] == {"code": 0, "text": "camera went away"}
        # the server's peer closed: no more media reaches the client
        sent = sim.state.live.closed[-1].video
        assert sent is not None and sent.readyState == "ended"
        await live.stop_pinging()
        await live.peer.close()
    [row] = (await assert_all_closed(sim))["closed"]
    assert row["closed_by"] == "server: control"


async def test_close_after_n_seconds_per_session_and_for_every_session(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        live.start_pinging()
        [row] = (await sim_live(sim))["sessions"]
        async with httpx.AsyncClient(base_url=sim.url) as control:
            answer = await control.post(
                f"/_sim/live/sessions/{row['session_id']}/close",
                json={"after_s": 2, "code": 5, "text": "Camera went to sleep"},
            )
            assert answer.status_code == 202
        started = time.monotonic()
        frames = await live.peer.video_frames(5)
        close = await sig.closed_by_server()
        assert time.monotonic() - started >= 1.0 and len(frames) == 5
        # the code and text asked for, not the default
        assert close["body"]["reason"] == {"code": 5, "text": "Camera went to sleep"}
        await live.stop_pinging()
        await live.peer.close()
    await set_live(sim, close_after_s=1.5)
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        live.start_pinging()
        assert (await sig.closed_by_server())["body"]["reason"]["code"] == 0
        await live.stop_pinging()
        await live.peer.close()
    closed = (await assert_all_closed(sim))["closed"]
    assert [row["closed_by"] for row in closed] == ["server: control", "server: control"]


async def test_ice_failure_answer_without_candidates_ends_both_sides(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await set_live(sim, ice_failure=True)
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        live.start_pinging()
        assert "a=candidate:" not in sig.seen[-1]["body"]["sdp"]
        assert await live.peer.until_state("failed") == "failed"
        close = await sig.closed_by_server()
        assert close["body"]["reason"] == {"code": 2, "text": "Peer connection failed"}
        assert all(f["method"] != "notification" for f in sig.seen)  # the camera never connected
        await live.stop_pinging()
        await live.peer.close()
    [row] = (await assert_all_closed(sim))["closed"]
    assert row["frames_sent"] == 0 and row["closed_by"] in ("server: ice", "server: connect timeout")
    await set_live(sim, ice_failure=False)  # the fault cleared: the next live view streams
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        assert len(await live.peer.video_frames(3)) == 3
        await sig.send("close")
        await asyncio.wait_for(sig.ws.wait_closed(), 30)
        await live.peer.close()


async def test_slow_start_delays_session_created(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await set_live(sim, answer_delay_s=1.5)
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        peer = Peer()
        started = time.monotonic()
        await sig.live_view(camera, await peer.offer())
        # candidates trickled before the session exists are kept for the answerer (and harmlessly ignored here)
        await sig.send("ice", {"ice": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "mlineindex": 0})
        await sig.expect("session_created")
        assert time.monotonic() - started >= 1.5
        [row] = (await sim_live(sim))["sessions"]
        assert row["state"] in ("starting", "answered", "connected")
        await peer.accept((await sig.expect("sdp"))["body"]["sdp"])
        await sig.send("activate_session")
        await sig.expect("notification")  # connected despite the slow start
        await sig.send("close")
        await asyncio.wait_for(sig.ws.wait_closed(), 30)
        await peer.close()


async def test_trickled_candidates_follow_the_answer(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await set_live(sim, trickle_ice=True)
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        live.start_pinging()
        ice = await sig.expect("ice")
        assert ice["body"]["ice"].startswith("candidate:") and " 127.0.0.1 " in ice["body"]["ice"]
        assert isinstance(ice["body"]["mlineindex"], int) and ice["body"]["session_id"] == sig.session_id
        await sig.expect("notification")
        # a client candidate trickled after the offer is taken (or ignored) without ending the session
        await sig.send("ice", {"ice": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "mlineindex": 0})
        await sig.send("ice", {"ice": "garbage", "mlineindex": 0})
        await sig.expect("pong")
        await live.stop_pinging()
        await sig.send("close")
        await asyncio.wait_for(sig.ws.wait_closed(), 30)
        await live.peer.close()


async def test_four_cameras_at_once(sim: SimServer, ring: httpx.AsyncClient) -> None:
    cameras = streamable_cameras(sim)[:4]
    assert len(cameras) == 4

    async def watch(camera: int) -> set[int]:
        async with signalling(sim, await signal_ticket(ring)) as sig:
            live = await start_live_view(sig, camera)
            live.start_pinging()
            frames = await live.peer.video_frames(10, within=90)
            await live.peer.audio_frames(5, within=90)
            await live.stop_pinging()
            await sig.send("close")
            await asyncio.wait_for(sig.ws.wait_closed(), 30)
            await live.peer.close()
            return {decoded(frame)[1][2] for frame in frames}

    seen = await asyncio.gather(*(watch(camera) for camera in cameras))
    assert seen == [{camera & 0xFFFF} for camera in cameras]  # each stream shows its own camera
    closed = (await assert_all_closed(sim))["closed"]
    assert sorted(row["camera_id"] for row in closed) == sorted(cameras)


async def test_session_limits_refuse_with_a_reason(sim: SimServer, ring: httpx.AsyncClient) -> None:
    await set_live(sim, max_sessions_per_camera=1, max_sessions=3)
    first, second, third = streamable_cameras(sim)[:3]
    async with signalling(sim, await signal_ticket(ring)) as one, signalling(sim, await signal_ticket(ring)) as two:
        lives = [await start_live_view(one, first), await start_live_view(two, second)]
        limits = ((first, f"Too many live view sessions for doorbot {first}"), (third, "Too many live view sessions"))
        for camera, text in limits:
            if camera == third:
                await set_live(sim, max_sessions=2)
            peer = Peer()
            async with signalling(sim, await signal_ticket(ring)) as sig:
                await sig.live_view(camera, await peer.offer())
                close = await sig.closed_by_server()
            await peer.close()
            assert close["body"]["reason"] == {"code": 1, "text": text}
        for live in lives:
            await live.sig.send("close")
            await asyncio.wait_for(live.sig.ws.wait_closed(), 30)
            await live.peer.close()


async def test_an_oversized_frame_closes_the_socket_and_the_session(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    async with signalling(sim, await signal_ticket(ring)) as sig:
        live = await start_live_view(sig, camera)
        await sig.ws.send(json.dumps({"method": "ping", "body": {"pad": "x" * 70_000}}))
        with pytest.raises(ConnectionClosed):
            while True:
                await sig.next()
        assert sig.ws.close_code == 1009
        await live.peer.close()
    [row] = (await assert_all_closed(sim))["closed"]
    assert row["closed_by"] == "client: socket closed"


async def test_no_user_agent_is_refused_and_the_host_header_routes(sim: SimServer, ring: httpx.AsyncClient) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(socket_url(sim, await signal_ticket(ring)), user_agent_header=None):
            pass
    assert refused.value.response.status_code == 403
    # DNS pointed at the simulator: the real host name in Host, the real path
    url = (
        f"ws://{SIGNALLING_HOST}:{sim.port}/ws?api_version=4.0&auth_type=ring_solutions&client_id=ring_site-x&token=no"
    )
    sock = socket.create_connection(("127.0.0.1", sim.port))
    async with connect(url, user_agent_header=UA, sock=sock) as ws:
        await ws.send(json.dumps({"method": "live_view", "body": {"doorbot_id": 5, "sdp": "v=0"}}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
    reason = {"code": 5, "text": "Unauthorized: invalid or expired token"}
    assert frame == {"method": "close", "body": {"reason": reason, "doorbot_id": 5}}


async def test_control_api_validates_knobs_and_reset_closes_sessions(sim: SimServer, ring: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as control:
        assert (await control.patch("/_sim/live/config", json={"fps": 60})).status_code == 422
        assert (await control.patch("/_sim/live/config", json={"nope": 1})).status_code == 422
        assert (await control.patch("/_sim/config", json={"live": {"width": 321}})).status_code == 422
        changed = await control.patch("/_sim/config", json={"live": {"fps": 5}})
        assert changed.status_code == 200 and changed.json()["live"]["fps"] == 5
        cameras = streamable_cameras(sim)[:2]
        async with signalling(sim, await signal_ticket(ring)) as one, signalling(sim, await signal_ticket(ring)) as two:
            lives = [await start_live_view(one, cameras[0]), await start_live_view(two, cameras[1])]
            closed = await control.post("/_sim/live/close", json={"camera_id": cameras[0]})
            assert closed.json() == {"closed": 1}
            assert (await one.closed_by_server())["body"]["reason"]["code"] == 0
            assert (await control.post("/_sim/reset")).status_code == 200
            assert (await two.closed_by_server())["body"]["reason"] == {"code": 0, "text": "Simulator reset"}
            for live in lives:
                await live.peer.close()
