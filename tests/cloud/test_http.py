"""The one HTTP layer against the real simulator: headers, retries, Retry-After, 401 → refresh, sessions, resumable
downloads and redaction. A few transport-level rules the simulator cannot provoke use httpx.MockTransport."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.errors import (
    CloudUnreachableError,
    DeviceOfflineError,
    NotFoundError,
    RateLimitedError,
    RecordingNotReadyError,
    ResponseFormatError,
    RingHttpError,
    TokenRevokedError,
    TwoFactorRequiredError,
)
from ringvault.cloud.http import SESSION_MAX_AGE_S, RingHttp
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenStore
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from ringvault.sim.world import Event
from ringvault.transport import redact, register_secret
from tests.cloud.http_helpers import (
    DEVICES_URL,
    PROFILE_URL,
    current_code,
    fast_options,
    logged_in_auth,
    sim_delete,
    sim_get,
    sim_patch_faults,
    sim_post,
    token_endpoint_statuses,
)


def _requests(sim: SimServer, limit: int = 1000) -> list[dict[str, Any]]:
    return list(sim_get(sim, f"/_sim/requests?limit={limit}")["requests"])


def _media_event(sim: SimServer) -> Event:
    return next(e for e in sim.state.world.visible_events() if e.has_media)


def _expected_mp4(sim: SimServer, event: Event) -> bytes:
    device = sim.state.world.device(event.device_id)
    return sim.state.media.mp4(event.id_str, seconds=sim.state.config.recording_seconds, label=device.name)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real network transport, remembering every request's headers (to check what was sent where)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Request] = []
        self.on_request: list[Any] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        for hook in self.on_request:
            hook(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- headers and sessions ----------------------------------------------------------------------------------------


async def test_headers_session_and_put_content_type(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    sim_delete(sim, "/_sim/stats")
    options = fast_options(sim, control_center_display_name="ringvault-test")
    async with RingHttp(auth, options) as http:
        devices = await http.request_json("GET", DEVICES_URL)
        camera = devices["doorbots"][0] if devices["doorbots"] else devices["stickup_cams"][0]
        # A PUT with nothing to send still carries Content-Type: application/json (the simulator answers 422 else).
        response = await http.request("PUT", "https://api.ring.com/clients_api/snapshots/update_all")
        assert response.status_code == 204
        await http.request("PUT", "https://api.ring.com/clients_api/snapshots/update_all", json={"doorbot_ids": [1]})
        assert http.stats.sessions_created == 1
    assert camera["id"]
    log = _requests(sim)
    assert [r["endpoint"] for r in log[:2]] == [
        "POST api.ring.com/clients_api/session",
        "GET api.ring.com/clients_api/ring_devices",
    ]
    for entry in log:
        headers = entry["headers"]
        assert headers["user-agent"] == "android:com.ringapp"
        assert headers["hardware_id"] == auth.hardware_id
        assert headers["authorization"] == "Bearer <redacted>"
    puts = [r for r in log if r["method"] == "PUT"]
    assert len(puts) == 2 and all(r["headers"]["content-type"] == "application/json" for r in puts)
    assert all(r["status"] == 204 for r in puts)
    sessions = sim_get(sim, "/_sim/sessions")["sessions"]
    assert sessions == [
        {**sessions[0], "hardware_id": auth.hardware_id, "device_model": "ringvault-test", "os": "android"}
    ]
    assert sessions[0]["api_version"] == "11"


async def test_token_requests_carry_ring_headers(sim: SimServer, tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "token.json")
    from ringvault.cloud.auth import login

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        return current_code(sim)

    config = sim.state.config
    await login(fast_options(sim), config.email, config.password, two_factor=two_factor, token_store=store)
    grants = [r for r in _requests(sim) if r["endpoint"] == "POST oauth.ring.com/oauth/token"]
    assert [g["status"] for g in grants] == [412, 200]
    for grant in grants:
        headers = grant["headers"]
        assert headers["hardware_id"] == store.hardware_id()
        assert headers["2fa-support"] == "true"
        assert headers["user-agent"] == "android:com.ringapp"
        assert headers["content-type"] == "application/json"
        assert "authorization" not in headers
    assert grants[0]["headers"]["2fa-code"] == "" and grants[1]["headers"]["2fa-code"] == "<redacted>"


@pytest.fixture
def short_sessions(sim_config: SimConfig) -> SimConfig:
    sim_config.session_ttl_s = 600
    return sim_config


async def test_session_is_recreated_after_it_expires(short_sessions: SimConfig, sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        created: list[None] = []
        http.on_session_created.subscribe(created.append)
        await http.request_json("GET", PROFILE_URL)
        sim_post(sim, "/_sim/clock", {"advance_s": 700})  # Ring drops the session
        assert await http.request_json("GET", DEVICES_URL)
        assert http.stats.sessions_created == 2 and len(created) == 2
    statuses = [r["status"] for r in _requests(sim) if r["endpoint"] == "GET api.ring.com/clients_api/ring_devices"]
    assert statuses == [404, 200]  # "Session not found for <hid>", then the retried call


async def test_download_recreates_a_lost_session(short_sessions: SimConfig, sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    event = _media_event(sim)
    async with RingHttp(auth, fast_options(sim)) as http:
        await http.request_json("GET", PROFILE_URL)
        sim_post(sim, "/_sim/clock", {"advance_s": 700})
        result = await http.download(
            f"https://api.ring.com/clients_api/dings/{event.id_str}/recording", tmp_path / "c.mp4", auth=True
        )
        assert http.stats.sessions_created == 2
    assert result.sha256 == hashlib.sha256(_expected_mp4(sim, event)).hexdigest()


async def test_session_is_renewed_after_twelve_hours(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        await http.request_json("GET", PROFILE_URL)
        assert http._session_created_at is not None
        http._session_created_at -= SESSION_MAX_AGE_S + 1  # pretend 12 h passed
        await http.request_json("GET", PROFILE_URL)
        assert http.stats.sessions_created == 2
    assert 404 not in [r["status"] for r in _requests(sim)]  # renewed before Ring dropped it


async def test_other_404s_are_not_found_and_not_session_errors(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        with pytest.raises(NotFoundError):
            await http.request_json("GET", "https://api.ring.com/clients_api/doorbots/1/health")
        assert http.stats.sessions_created == 1 and http.stats.retries == 0


async def test_removing_the_device_in_control_center_revokes_the_login(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        await http.request_json("GET", PROFILE_URL)
        assert sim_delete(sim, f"/_sim/sessions/{auth.hardware_id}") == 204
        with pytest.raises(TokenRevokedError):
            await http.request_json("GET", PROFILE_URL)


async def test_session_dropped_by_ring_is_recreated_transparently(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        await http.request_json("GET", PROFILE_URL)
        assert sim_delete(sim, f"/_sim/sessions/{auth.hardware_id}?revoke=false") == 204
        assert await http.request_json("GET", DEVICES_URL)
        assert http.stats.sessions_created == 2
    statuses = [r["status"] for r in _requests(sim) if r["endpoint"] == "GET api.ring.com/clients_api/ring_devices"]
    assert statuses == [404, 200]


async def test_later_processes_reuse_the_session_recorded_in_the_token_file(sim: SimServer, tmp_path: Path) -> None:
    auth, store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        await http.request_json("GET", PROFILE_URL)
        assert http.stats.sessions_created == 1
    for _ in range(3):  # three more short-lived "processes" on the same token file
        later = RefreshTokenAuth(token_store=store)
        async with RingHttp(later, fast_options(sim)) as http:
            assert await http.request_json("GET", DEVICES_URL)
            assert http.stats.sessions_created == 0
    session_posts = [r for r in _requests(sim) if r["endpoint"] == "POST api.ring.com/clients_api/session"]
    assert len(session_posts) == 1
    assert 404 not in [r["status"] for r in _requests(sim)]


# -- retries -------------------------------------------------------------------------------------------------------


async def test_429_waits_for_retry_after(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        await http.request_json("GET", PROFILE_URL)
        sim_patch_faults(sim, rate_limit_rps=1.0, rate_limit_burst=1, retry_after_s=1, path_pattern="clients_api")
        await asyncio.sleep(1.1)  # the bucket is full again: one request passes, the next one is limited
        started = time.monotonic()
        await http.request_json("GET", PROFILE_URL)
        await http.request_json("GET", PROFILE_URL)
        elapsed = time.monotonic() - started
        assert http.stats.retries >= 1
        assert http.stats.rate_limited == len([r for r in _requests(sim) if r["status"] == 429]) >= 1
    assert elapsed >= 0.95  # waited for Retry-After: 1 (backoff alone would be 0.05-0.2 s)
    assert elapsed < 20  # about 1 s; the bound is wide for a loaded machine
    limited = [r for r in _requests(sim) if r["status"] == 429]
    assert limited and all(r["fault"] == "rate_limit" for r in limited)


async def test_retry_after_is_capped_and_retries_are_bounded(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    options = fast_options(sim, max_retries=2, max_retry_after_s=0.1)
    async with RingHttp(auth, options) as http:
        await http.request_json("GET", PROFILE_URL)
        sim_patch_faults(sim, rate_limit_rps=0.001, rate_limit_burst=1, retry_after_s=30, path_pattern="profile")
        await http.request_json("GET", PROFILE_URL)  # uses up the burst
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as info:
            await http.request_json("GET", PROFILE_URL)
        assert time.monotonic() - started < 15  # never slept 30 s (wide margin for a loaded machine)
    assert info.value.status == 429
    statuses = [r["status"] for r in _requests(sim) if r["path"].endswith("/clients_api/profile")]
    assert statuses[-4:] == [200, 429, 429, 429]  # the burst, then 1 + 2 retries


@pytest.mark.parametrize("knob", ["error_rate", "timeout_rate"])
async def test_5xx_and_504_are_retried_until_success(sim: SimServer, tmp_path: Path, knob: str) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim, max_retries=8)) as http:
        await http.request_json("GET", PROFILE_URL)
        sim_patch_faults(sim, **{knob: 0.4}, path_pattern="ring_devices")
        for _ in range(12):
            assert (await http.request_json("GET", DEVICES_URL))["doorbots"] is not None
        assert http.stats.retries >= 1
    statuses = {r["status"] for r in _requests(sim) if r["path"].endswith("/ring_devices")}
    assert statuses >= {200} and statuses & {500, 503, 504}


async def test_persistent_server_errors_give_up_after_max_retries(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim, max_retries=3)) as http:
        await http.request_json("GET", PROFILE_URL)
        sim_patch_faults(sim, timeout_rate=1.0, path_pattern="ring_devices")
        with pytest.raises(RingHttpError) as info:
            await http.request_json("GET", DEVICES_URL)
        assert http.stats.retries == 3
    assert info.value.status == 504
    assert [r["status"] for r in _requests(sim) if r["path"].endswith("/ring_devices")] == [504] * 4


async def test_device_offline_is_retried_then_reported(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    camera = next(d for d in sim.state.world.devices.values() if d.is_camera)
    url = f"https://api.ring.com/clients_api/doorbots/{camera.id}/health"
    async with RingHttp(auth, fast_options(sim, max_retries=2)) as http:
        assert await http.request_json("GET", url)
        camera.offline = True
        with pytest.raises(DeviceOfflineError):
            await http.request_json("GET", url)
        assert http.stats.retries == 2
        # back online while we are retrying: the call succeeds. The camera comes back when the client sends its
        # third health request (after two offline answers), counted at the transport, not after a wall-clock
        # delay: a timer raced the retries on a loaded machine (it fired before the first request, or too late).
        transport = RecordingTransport()

        def come_back_on_third_try(request: httpx.Request) -> None:
            if sum(sent.url.path.endswith("/health") for sent in transport.sent) == 3:
                camera.offline = False

        transport.on_request.append(come_back_on_third_try)
        patient_options = fast_options(sim, max_retries=20, backoff_initial_s=0.01, backoff_max_s=0.05)
        async with RingHttp(auth, patient_options, transport=transport) as patient:
            assert await patient.request_json("GET", url)
            assert patient.stats.retries >= 1


async def test_unreachable_cloud_is_reported_after_retries(rv_home: Path) -> None:
    # bound but not listening: connections are refused, and no other test's server can take the port meanwhile
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        auth = RefreshTokenAuth("rt", hardware_id="hid")
        options = RingApiOptions(cloud_url=f"http://127.0.0.1:{port}", max_retries=2, backoff_initial_s=0.01)
        async with RingHttp(auth, options) as http:
            with pytest.raises(CloudUnreachableError) as info:
                await http.request("POST", "https://oauth.ring.com/oauth/token", json={}, auth=False, session=False)
            assert http.stats.retries == 2  # connection refused: safe to retry even a POST
    assert "RINGVAULT_CLOUD_URL" in info.value.hint


async def test_client_side_rate_limit(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim, requests_per_second=20)) as http:
        await http.request_json("GET", PROFILE_URL)
        started = time.monotonic()
        await asyncio.gather(*(http.request_json("GET", PROFILE_URL) for _ in range(30)))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.45  # 30 requests at 20/s: the 10 beyond the burst of 20 take 0.5 s


# -- 401 → refresh → retry ---------------------------------------------------------------------------------------


async def test_401_refreshes_once_and_persists_the_rotation_before_use(sim: SimServer, tmp_path: Path) -> None:
    auth, store = await logged_in_auth(sim, tmp_path)
    transport = RecordingTransport()
    mismatches: list[str] = []

    def check_file(request: httpx.Request) -> None:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        stored = store.load()
        if bearer and (stored is None or stored.access_token != bearer):
            mismatches.append(request.url.path)

    transport.on_request.append(check_file)
    old_refresh = auth.refresh_token
    async with RingHttp(auth, fast_options(sim), transport=transport) as http:
        await http.request_json("GET", PROFILE_URL)
        sim_post(sim, "/_sim/tokens/expire")
        assert await http.request_json("GET", DEVICES_URL)
        assert http.stats.refreshes == 1
    stored = store.load()
    assert stored is not None and stored.refresh_token == auth.refresh_token != old_refresh
    assert mismatches == []  # every bearer token used was already in the file
    statuses = [r["status"] for r in _requests(sim) if r["endpoint"] == "GET api.ring.com/clients_api/ring_devices"]
    assert statuses == [401, 200]


@pytest.fixture
def expiring_access(sim_config: SimConfig) -> SimConfig:
    sim_config.faults.expire_access_every = 3
    return sim_config


async def test_expire_access_every_forces_repeated_rotations(
    expiring_access: SimConfig, sim: SimServer, tmp_path: Path
) -> None:
    auth, store = await logged_in_auth(sim, tmp_path)
    before = token_endpoint_statuses(sim)
    async with RingHttp(auth, fast_options(sim)) as http:
        for _ in range(15):
            assert await http.request_json("GET", PROFILE_URL)
        assert http.stats.refreshes >= 4
    after = token_endpoint_statuses(sim)
    assert after.get("401", 0) == before.get("401", 0)  # never a superseded refresh token
    assert after["200"] - before.get("200", 0) == http.stats.refreshes
    stored = store.load()
    assert stored is not None and stored.refresh_token == auth.refresh_token
    # the file's token is the live one
    fresh = RefreshTokenAuth(token_store=store)
    async with RingHttp(fresh, fast_options(sim)) as http2:
        await fresh.refresh(http2, failed_token=fresh.current_access_token)


# -- redirects and downloads ---------------------------------------------------------------------------------------


async def test_request_returns_redirects_without_following(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    event = _media_event(sim)
    async with RingHttp(auth, fast_options(sim)) as http:
        response = await http.request("GET", f"https://api.ring.com/clients_api/dings/{event.id_str}/recording")
    assert response.status_code == 302
    assert "ring-transcoded-videos.s3.amazonaws.com" in response.headers["location"]


@pytest.fixture
def dropping_media(sim_config: SimConfig) -> SimConfig:
    sim_config.recording_seconds = 2.0
    return sim_config


async def test_download_resumes_after_drops_to_a_byte_exact_file(
    dropping_media: SimConfig, sim: SimServer, tmp_path: Path
) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    event = _media_event(sim)
    expected = _expected_mp4(sim, event)
    sim_patch_faults(sim, drop_rate=1.0, path_pattern="s3.amazonaws.com")  # every media body is cut in half
    dest = tmp_path / "clip.mp4.part"
    recording = f"https://api.ring.com/clients_api/dings/{event.id_str}/recording"
    async with RingHttp(auth, fast_options(sim)) as http:
        result = await http.download(recording, dest, auth=True, expected_type="video/mp4")
        assert http.stats.download_resumes >= 5
    assert result.path == dest and result.bytes == len(expected) == dest.stat().st_size
    assert result.sha256 == hashlib.sha256(expected).hexdigest() == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert result.content_type == "video/mp4"
    s3 = [r for r in _requests(sim) if "s3.amazonaws.com" in r["path"]]
    assert len(s3) >= 6 and sum(1 for r in s3 if r["fault"] == "drop") >= 5
    assert all("authorization" not in r["headers"] for r in s3)  # the bearer token never leaves Ring's API hosts
    api = [r for r in _requests(sim) if r["path"].endswith("/recording")]
    assert api and all(r["headers"]["authorization"] == "Bearer <redacted>" for r in api)


async def test_download_progress_follows_every_resume(
    dropping_media: SimConfig, sim: SimServer, tmp_path: Path
) -> None:
    """The byte-progress callback: the total from the first response on, never backwards across resumes (a resume
    keeps what was read), ending at exactly the file's size."""
    auth, _store = await logged_in_auth(sim, tmp_path)
    event = _media_event(sim)
    expected = _expected_mp4(sim, event)
    sim_patch_faults(sim, drop_rate=1.0, path_pattern="s3.amazonaws.com")
    reports: list[tuple[int, int | None]] = []
    recording = f"https://api.ring.com/clients_api/dings/{event.id_str}/recording"
    async with RingHttp(auth, fast_options(sim)) as http:
        result = await http.download(
            recording, tmp_path / "clip.mp4", auth=True, progress=lambda done, total: reports.append((done, total))
        )
        resumes = http.stats.download_resumes
    assert resumes >= 5
    assert reports[0] == (0, len(expected))
    assert reports[-1] == (result.bytes, len(expected)) == (len(expected), len(expected))
    done = [d for d, _ in reports]
    assert done == sorted(done)
    assert {t for _, t in reports} == {len(expected)}
    # one report as each (resumed) body starts, plus one per chunk: more reports than resumes
    assert len(reports) > resumes + 1


async def test_download_of_a_signed_url_sends_no_ring_credentials(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    event = _media_event(sim)
    transport = RecordingTransport()
    async with RingHttp(auth, fast_options(sim), transport=transport) as http:
        body = await http.request_json(
            "GET", f"https://api.ring.com/clients_api/dings/{event.id_str}/share/play?disable_redirect=true"
        )
        url = body["url"]
        result = await http.download(url, tmp_path / "share.mp4", auth=True)
    assert result.bytes > 1000
    media = [r for r in transport.sent if "s3.amazonaws.com" in str(r.url)]
    assert len(media) == 1
    assert "authorization" not in media[0].headers and "hardware_id" not in media[0].headers
    assert media[0].headers["user-agent"] == "android:com.ringapp"


async def test_download_not_ready_is_reported_without_retrying(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    camera_id = _media_event(sim).device_id
    sim_patch_faults(sim, recording_delay_s=600)
    fresh = sim.state.world.create_event(camera_id, "motion")
    dest = tmp_path / "fresh.mp4"
    async with RingHttp(auth, fast_options(sim)) as http:
        body = await http.request_json(
            "GET", f"https://api.ring.com/clients_api/dings/{fresh.id_str}/recording?disable_redirect=true"
        )
        with pytest.raises(RecordingNotReadyError):
            await http.download(body["url"], dest)
        assert http.stats.retries == 0
    assert not dest.exists()
    assert len([r for r in _requests(sim) if "s3.amazonaws.com" in r["path"]]) == 1


async def test_download_with_an_expired_url_is_403(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    event = _media_event(sim)
    async with RingHttp(auth, fast_options(sim)) as http:
        body = await http.request_json(
            "GET", f"https://api.ring.com/clients_api/dings/{event.id_str}/recording?disable_redirect=true"
        )
        sim_post(sim, "/_sim/clock", {"advance_s": 3700})
        with pytest.raises(RingHttpError) as info:
            await http.download(body["url"], tmp_path / "late.mp4")
    assert info.value.status == 403 and "expired" in info.value.hint


async def test_download_refuses_an_unexpected_content_type(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    event = _media_event(sim)
    dest = tmp_path / "x.jpg"
    async with RingHttp(auth, fast_options(sim)) as http:
        with pytest.raises(ResponseFormatError):
            await http.download(
                f"https://api.ring.com/clients_api/dings/{event.id_str}/recording",
                dest,
                auth=True,
                expected_type="image/",
            )
    assert not dest.exists()


# -- redaction -------------------------------------------------------------------------------------------------------


async def test_secrets_never_appear_in_logs(
    dropping_media: SimConfig, sim: SimServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = sim.state.config
    store = TokenStore(tmp_path / "token.json")
    codes: list[str] = []
    transport = RecordingTransport()

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        codes.append(current_code(sim))
        return codes[-1]

    from ringvault.cloud.auth import PasswordAuth

    auth = PasswordAuth(config.email, config.password, two_factor=two_factor, token_store=store)
    event = _media_event(sim)
    options = fast_options(sim, debug=True)
    async with RingHttp(auth, options, transport=transport) as http:
        await http.request_json("GET", PROFILE_URL)
        sim_post(sim, "/_sim/tokens/expire")
        await http.request_json("GET", DEVICES_URL)  # 401 → refresh (rotation) → retry
        signed = (
            await http.request_json(
                "GET", f"https://api.ring.com/clients_api/dings/{event.id_str}/recording?disable_redirect=true"
            )
        )["url"]
        sim_patch_faults(sim, drop_rate=1.0, path_pattern="s3.amazonaws.com")
        await http.download(signed, tmp_path / "clip.mp4")
        sim_patch_faults(sim, drop_rate=0.0, timeout_rate=1.0, path_pattern="ring_devices")
        with pytest.raises(RingHttpError):
            await http.request_json("GET", DEVICES_URL)

    secrets = {config.password, *codes}
    for request in transport.sent:
        value = request.headers.get("authorization", "")
        if value:
            secrets.add(value.removeprefix("Bearer "))
        if request.content:
            body = json.loads(request.content)
            secrets.update(str(body[k]) for k in ("refresh_token", "password") if k in body)
    stored = store.load()
    assert stored is not None and stored.access_token
    secrets.update({stored.refresh_token, stored.access_token})
    signature = httpx.URL(signed).params["X-Amz-Signature"]
    credential = httpx.URL(signed).params["X-Amz-Credential"]
    secrets.update({signature, credential})
    assert len(secrets) >= 8

    text = caplog.text + "\n".join(str(r.getMessage()) for r in caplog.records)
    assert "Bearer ***" in text and "X-Amz-Signature=***" in text  # the lines are there, masked
    for secret in secrets:
        assert secret not in text, f"a secret leaked into the logs: {redact(secret)}"


async def test_child_cloud_loggers_are_redacted_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    child = logging.getLogger("ringvault.cloud.some_domain_module")
    auth = RefreshTokenAuth("rt-child-logger-secret", hardware_id="hid")
    async with RingHttp(auth, RingApiOptions(cloud_url=None)):
        child.debug("refreshing with %s", "rt-child-logger-secret")
        child.info("url https://b.s3.amazonaws.com/k.mp4?X-Amz-Signature=abcdef0123")
    assert "rt-child-logger-secret" not in caplog.text and "abcdef0123" not in caplog.text
    assert "refreshing with ***" in caplog.text


def test_a_known_secret_spelling_a_key_name_does_not_unmask_values() -> None:
    register_secret("code")  # a (silly) secret equal to a key name must not hide the key from the patterns
    masked = redact("GET /portability/callback?code=Zq9vW2xY&state=s")
    assert "Zq9vW2xY" not in masked


def test_redact_masks_each_kind_of_secret() -> None:
    samples = {
        '{"access_token":"aaaa1111","refresh_token":"bbbb2222","password":"pw-9999"}': [
            "aaaa1111",
            "bbbb2222",
            "pw-9999",
        ],
        "Authorization: Bearer eyJhbGciOi.abc": ["eyJhbGciOi.abc"],
        "{'authorization': 'Basic cmluZ19vZmZpY2lhbF9hbmRyb2lkOg==', '2fa-code': '123456'}": [
            "cmluZ19vZmZpY2lhbF9hbmRyb2lkOg==",
            "123456",
        ],
        "GET https://b.s3.amazonaws.com/1.mp4?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature=f00d&X-Amz-Expires=3600": [
            "AKIA%2Fx",
            "f00d",
        ],
        "grant_type=refresh_token&refresh_token=cccc3333&username=u": ["cccc3333"],
    }
    for text, secrets in samples.items():
        masked = redact(text)
        for secret in secrets:
            assert secret not in masked, (text, masked)
    assert "X-Amz-Expires=3600" in redact("?X-Amz-Expires=3600")


# -- transport-level rules (httpx.MockTransport) -------------------------------------------------------------------


def _mock(handler: Any, **overrides: Any) -> RingHttp:
    values: dict[str, Any] = {"cloud_url": None, "backoff_initial_s": 0.01, "backoff_max_s": 0.02, "max_retries": 3}
    values.update(overrides)
    auth = RefreshTokenAuth("rt", hardware_id="hid")
    auth._access_token = "at"  # a fresh access token: no token traffic in these tests
    auth._refresh_at = time.time() + 3600
    return RingHttp(auth, RingApiOptions(**values), transport=httpx.MockTransport(handler))


async def test_post_is_retried_only_where_safe() -> None:
    calls: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.url.path
        calls[key] = calls.get(key, 0) + 1
        if key.endswith("/500"):
            return httpx.Response(500)
        if key.endswith("/503"):
            return httpx.Response(503, headers={"Retry-After": "0"})
        if key.endswith("/read-timeout"):
            raise httpx.ReadTimeout("slow", request=request)
        if key.endswith("/connect"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={})

    async with _mock(handler) as http:
        for path, error in [
            ("500", RingHttpError),
            ("503", RingHttpError),
            ("read-timeout", CloudUnreachableError),
            ("connect", CloudUnreachableError),
        ]:
            with pytest.raises(error):
                await http.request("POST", f"https://api.ring.com/commands/v1/{path}", json={})
        with pytest.raises(CloudUnreachableError):
            await http.request("GET", "https://api.ring.com/devices/v1/read-timeout")
    assert calls == {
        "/commands/v1/500": 1,  # the server may have acted: not repeated
        "/commands/v1/503": 4,
        "/commands/v1/read-timeout": 1,  # the request was sent: not repeated
        "/commands/v1/connect": 3,  # nothing was sent: safe, but a refused connection gets connect_retries (2)
        "/devices/v1/read-timeout": 4,  # GET is idempotent
    }


async def test_a_refresh_grant_is_retried_after_a_500_but_a_password_grant_is_not() -> None:
    """A refresh that met a 500 is repeated (if Ring did not rotate, the retry succeeds; if it did, the token is lost
    either way); a password grant is not (each attempt may send the user another 2FA code)."""
    from ringvault.cloud.auth import token_grant

    token_calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        grant = json.loads(request.content)["grant_type"]
        token_calls.append(grant)
        if token_calls.count(grant) == 1:
            return httpx.Response(500, json={"error": "Internal Server Error"})
        return httpx.Response(200, json={"access_token": "new-at", "refresh_token": "new-rt", "expires_in": 3600})

    async with _mock(handler) as http:
        grant = await token_grant(http, {"grant_type": "refresh_token", "refresh_token": "rt"}, hardware_id="hid")
        assert (grant.access_token, grant.refresh_token) == ("new-at", "new-rt")
        with pytest.raises(RingHttpError):
            await token_grant(http, {"grant_type": "password", "username": "u", "password": "p"}, hardware_id="hid")
    assert token_calls == ["refresh_token", "refresh_token", "password"]


async def test_request_json_rejects_html_and_keeps_big_ints() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("html"):
            return httpx.Response(200, text="<html>maintenance</html>", headers={"content-type": "text/html"})
        if request.url.path.endswith("empty"):
            return httpx.Response(204)
        return httpx.Response(200, content=b'{"id": 7212345678901234567, "ding": "7212345678901234567"}')

    async with _mock(handler) as http:
        with pytest.raises(ResponseFormatError) as info:
            await http.request_json("GET", "https://api.ring.com/devices/v1/html")
        assert "text/html" in str(info.value)
        assert await http.request_json("GET", "https://api.ring.com/devices/v1/empty") is None
        data = await http.request_json("GET", "https://api.ring.com/devices/v1/big")
    assert data["id"] == 7212345678901234567 and str(data["id"]) == data["ding"]


async def test_download_restarts_when_range_is_ignored(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 400
    attempts: list[str | None] = []

    class Cut(httpx.AsyncByteStream):
        def __init__(self, data: bytes, cut: bool) -> None:
            self.data, self.cut = data, cut

        async def __aiter__(self) -> Any:
            yield self.data[: len(self.data) // 3] if self.cut else self.data
            if self.cut:
                raise httpx.RemoteProtocolError("peer closed connection")

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request.headers.get("range"))
        assert "authorization" not in request.headers
        headers = {"content-length": str(len(payload)), "content-type": "video/mp4"}
        return httpx.Response(200, headers=headers, stream=Cut(payload, cut=len(attempts) == 1))

    reports: list[tuple[int, int | None]] = []

    def progress(done: int, total: int | None) -> None:
        reports.append((done, total))
        raise RuntimeError("a broken progress display")  # logged, never breaks the download

    async with _mock(handler) as http:
        result = await http.download(
            "https://bucket.s3.amazonaws.com/a.mp4?X-Amz-Signature=x", tmp_path / "a", progress=progress
        )
        assert http.stats.download_restarts == 1
    assert attempts == [None, f"bytes={len(payload) // 3}-"]
    # the first third, then back to 0 when the server ignored Range and the download started over, then all of it
    assert reports == [
        (0, len(payload)),
        (len(payload) // 3, len(payload)),
        (0, None),
        (0, len(payload)),
        (len(payload), len(payload)),
    ]
    assert (
        result.sha256
        == hashlib.sha256(payload).hexdigest()
        == hashlib.sha256((tmp_path / "a").read_bytes()).hexdigest()
    )


async def test_a_session_subscriber_may_call_the_api(short_sessions: SimConfig, sim: SimServer, tmp_path: Path) -> None:
    """``on_session_created`` fires after the session lock is released: a subscriber that calls clients_api (as the
    push listener does to re-register its token, or a client re-subscribing cameras) used to wait for the lock its
    own caller held — a deadlock."""
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        seen: list[int] = []

        async def resubscribe(_: None) -> None:
            devices = await http.request_json("GET", DEVICES_URL)
            seen.append(len(devices))

        http.on_session_created.subscribe(resubscribe)
        await asyncio.wait_for(http.request_json("GET", PROFILE_URL), 30)
        assert seen and seen[0] > 0 and http.stats.sessions_created == 1
