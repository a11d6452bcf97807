"""Fidelity: the third-party client ``ring-doorbell`` (0.9.14), unpatched, works against the simulator.

It logs in with 2FA, creates its session, lists devices, reads history, downloads a recording and a snapshot,
switches a light, and survives a refresh-token rotation. Only the transport is redirected (see
``ringdoorbell_compat``); the library's code runs as shipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from ring_doorbell import Auth, Requires2FAError, Ring

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.sim.ringdoorbell_compat import SimulatorSession

USER_AGENT = "android:com.ringapp"


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    """prd polls snapshot timestamps once a second: let a capture finish well inside that."""
    return sim_config.model_copy(update={"snapshot_capture_delay_s": 0.2})


@pytest.fixture
async def session(sim: SimServer) -> AsyncIterator[SimulatorSession]:
    http = SimulatorSession(sim.url)
    try:
        yield http
    finally:
        await http.close()


@pytest.fixture
def saved_tokens() -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def ring(sim: SimServer, session: SimulatorSession, saved_tokens: list[dict[str, Any]]) -> Ring:
    """Log in as a user of ring-doorbell does: password, 412 -> Requires2FAError, then the code."""
    auth = Auth(USER_AGENT, None, saved_tokens.append, http_client_session=session)
    with pytest.raises(Requires2FAError):
        await auth.async_fetch_token(sim.config.email, sim.config.password)
    async with httpx.AsyncClient() as control:
        code = (await control.get(sim.url + "/_sim/2fa")).json()["code"]
    token = await auth.async_fetch_token(sim.config.email, sim.config.password, code)
    assert token["scope"] == ["client"] and "expires_at" in token
    client = Ring(auth)
    await client.async_update_data()
    return client


async def test_login_with_2fa_creates_a_session_with_its_hardware_id(
    ring: Ring, sim: SimServer, saved_tokens: list[dict[str, Any]]
) -> None:
    assert len(saved_tokens) == 1
    sessions = sim.state.auth.sessions()
    assert [(s.hardware_id, s.device_model) for s in sessions] == [
        (ring.auth.get_hardware_id(), f"ring-doorbell:{USER_AGENT}")
    ]
    # every API call carried its hardware id and user agent
    api_calls = [r for r in sim.state.stats.requests() if r["path"].startswith("/api.ring.com/")]
    assert api_calls and all(r["headers"].get("hardware_id") == ring.auth.get_hardware_id() for r in api_calls)
    assert all(r["headers"].get("user-agent") == USER_AGENT for r in api_calls)
    assert all(r["status"] < 400 for r in sim.state.stats.requests()[1:])  # only the 412 challenge failed


async def test_devices_and_history(ring: Ring, sim: SimServer) -> None:
    devices = ring.devices()
    cameras = devices.video_devices
    assert cameras and devices.all_devices
    world_ids = {d["id"] for family in ("doorbots", "stickup_cams") for d in sim.state.world.ring_devices()[family]}
    assert {c.id for c in cameras} <= world_ids | {
        d["id"] for d in sim.state.world.ring_devices().get("authorized_doorbots", [])
    }
    camera = next(c for c in cameras if c.has_subscription)
    history = await camera.async_history(limit=5)
    assert 0 < len(history) <= 5
    assert all(entry["doorbot"]["id"] == camera.id for entry in history)
    created = [entry["created_at"] for entry in history]
    assert created == sorted(created, reverse=True)
    older = await camera.async_history(limit=5, older_than=history[-1]["id"])
    assert older and all(entry["id"] < history[-1]["id"] for entry in older)


async def test_download_a_recording(ring: Ring) -> None:
    camera = next(c for c in ring.devices().video_devices if c.has_subscription)
    history = await camera.async_history(limit=10)
    ding = next(e for e in history if e.get("recording", {}).get("status") == "ready")
    video = await camera.async_recording_download(ding["id"])
    assert video is not None and video[4:8] == b"ftyp" and b"moov" in video
    url = await camera.async_recording_url(ding["id"])
    assert url and ".mp4" in url


async def test_take_a_snapshot(ring: Ring) -> None:
    camera = next(c for c in ring.devices().video_devices if c.motion_detection and "battery" not in c.kind)
    image = await camera.async_get_snapshot(retries=3, delay=1)
    assert image is not None and image[:2] == b"\xff\xd8" and image[-2:] == b"\xff\xd9"


async def test_switch_a_light(ring: Ring) -> None:
    camera = next(c for c in ring.devices().stickup_cams if c.has_capability("light"))
    target = "off" if camera.lights == "on" else "on"
    await camera.async_set_lights(target)
    await ring.async_update_devices()
    assert camera.lights == target
    await camera.async_set_lights("off" if target == "on" else "on")
    await ring.async_update_devices()
    assert camera.lights != target


async def test_refresh_rotates_tokens_and_calls_keep_working(
    ring: Ring, sim: SimServer, saved_tokens: list[dict[str, Any]]
) -> None:
    first = saved_tokens[-1]
    await ring.auth.async_refresh_tokens()
    rotated = saved_tokens[-1]
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    await ring.async_update_devices()  # the new access token works
    # the old refresh token is dead (refresh_grace_s = 0)
    async with httpx.AsyncClient() as plain:
        old = await plain.post(
            sim.url + "/oauth.ring.com/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        )
    assert old.status_code == 401 and old.json()["error"] == "invalid_grant"


async def test_a_stored_expired_token_is_refreshed_before_the_first_call(
    ring: Ring, sim: SimServer, session: SimulatorSession, saved_tokens: list[dict[str, Any]]
) -> None:
    """A restart an hour later: prd loads its stored token, sees ``expires_at`` has passed and refreshes."""
    sim.state.clock.advance(sim.config.access_token_ttl_s + 5)
    stored = dict(saved_tokens[-1], expires_at=time.time() - 5)
    auth = Auth(USER_AGENT, stored, saved_tokens.append, http_client_session=session)
    restarted = Ring(auth)
    await asyncio.wait_for(restarted.async_update_data(), timeout=10)
    assert len(saved_tokens) == 2 and saved_tokens[-1]["refresh_token"] != stored["refresh_token"]
    assert restarted.devices().video_devices
