"""Live view over REST (reference §4.11, §9.9) against the real simulator: offer in, answer out, media flows, the
speaker option, ``end`` closes both sides; refusals are HTTP errors; and the server's shutdown closes what is open."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.sim.live_helpers import (
    Peer,
    assert_all_closed,
    decoded,
    patch_device,
    ring_client,
    set_live,
    sim_live,
    streamable_cameras,
    wait_until_closed,
)

pytestmark = pytest.mark.timeout(180)

LIVEVIEW = "/api.ring.com/integrations/v1/liveview"


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return sim_config.model_copy(update={"device_families": ["doorbots", "stickup_cams"]})


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    client = await ring_client(sim)
    async with client:
        yield client
    await assert_all_closed(sim)


async def _start(ring: httpx.AsyncClient, camera: int, peer: Peer, session_id: str) -> httpx.Response:
    body = {"session_id": session_id, "device_id": camera, "sdp": await peer.offer(), "protocol": "webrtc"}
    return await ring.post(f"{LIVEVIEW}/start", json=body)


async def test_start_stream_options_end(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera = streamable_cameras(sim)[0]
    peer = Peer()
    session_id = str(uuid.uuid4())
    answer = await _start(ring, camera, peer, session_id)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"sdp"} and "a=candidate:" in answer.json()["sdp"]  # no trickle ICE
    await peer.accept(answer.json()["sdp"])
    frames = await peer.video_frames(5)
    assert {decoded(frame)[1][2] for frame in frames} == {camera & 0xFFFF}
    await peer.audio_frames(5)
    speaker = {"session_id": session_id, "actions": ["turn_off_stealth_mode"]}
    options = await ring.patch(f"{LIVEVIEW}/options", json=speaker)
    assert options.status_code == 200
    [row] = (await sim_live(sim))["sessions"]
    assert row["via"] == "rest" and row["rest_session_id"] == session_id and row["stealth_mode"] is False
    other = Peer()
    again = await _start(ring, camera, other, session_id)
    await other.close()
    assert again.status_code == 409
    ended = await ring.post(f"{LIVEVIEW}/end", json={"session_id": session_id})
    assert ended.status_code == 200
    assert (await ring.post(f"{LIVEVIEW}/end", json={"session_id": session_id})).status_code == 200  # idempotent
    await peer.close()
    [row] = (await assert_all_closed(sim))["closed"]
    assert row["closed_by"] == "client" and row["frames_sent"] >= 5
    assert sim.state.world.event(int(row["event_id"])).kind == "on_demand"


async def test_refusals_are_http_errors(sim: SimServer, ring: httpx.AsyncClient) -> None:
    camera, other = streamable_cameras(sim)[:2]
    peer = Peer()
    try:
        await patch_device(sim, camera, offline=True)
        offline = await _start(ring, camera, peer, str(uuid.uuid4()))
        assert (offline.status_code, offline.json()) == (404, {"errors": [7019]})
        await patch_device(sim, camera, offline=False, live_view_disabled=True)
        assert (await _start(ring, camera, peer, str(uuid.uuid4()))).status_code == 403
        assert (await _start(ring, 123, peer, str(uuid.uuid4()))).status_code == 404
        bad = await ring.post(f"{LIVEVIEW}/start", json={"session_id": "x", "device_id": other, "sdp": "hello"})
        assert bad.status_code == 400
        unauthenticated = await httpx.AsyncClient(base_url=sim.url).post(f"{LIVEVIEW}/start", json={})
        assert unauthenticated.status_code == 401
        huge = await ring.post(f"{LIVEVIEW}/start", content=b"{" + b" " * 70_000 + b"}")
        assert huge.status_code == 413
    finally:
        await peer.close()
    assert (await sim_live(sim))["closed"] == []  # nothing was opened


async def test_max_duration_and_shutdown_close_rest_sessions(sim_config: SimConfig) -> None:
    """A REST session has no pings: it ends at max_duration; one still open when the server stops is closed."""
    with SimServer(sim_config) as server:
        client = await ring_client(server)
        async with client:
            await set_live(server, max_duration_s=2.0)
            first, second = streamable_cameras(server)[:2]
            short = Peer()
            answer = await _start(client, first, short, str(uuid.uuid4()))
            await short.accept(answer.json()["sdp"])
            await short.until_state("connected")
            await set_live(server, max_duration_s=600.0)
            kept = Peer()
            answer = await _start(client, second, kept, str(uuid.uuid4()))
            await kept.accept(answer.json()["sdp"])
            await kept.until_state("connected")
            await wait_until_closed(server, first)
        state = server.state
    assert [s.camera_id for s in state.live.sessions.values()] == []
    closed = {s.camera_id: s.closed_by for s in state.live.closed}
    assert closed == {first: "server: max_duration", second: "server: shutdown"}
    assert state.live.peer_connections_open == 0
    await short.close()
    await kept.close()
