"""Logging in and staying logged in, against the real simulator (plus a few malformed answers it cannot give)."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from pathlib import Path

import filelock
import httpx
import pytest

from ringvault.cloud.auth import PasswordAuth, RefreshTokenAuth, RefreshTokenUpdate, login
from ringvault.cloud.errors import (
    NotLoggedInError,
    RateLimitedError,
    ResponseFormatError,
    TokenRevokedError,
    TwoFactorRequiredError,
    TwoFactorThrottledError,
    WrongPasswordError,
    WrongTwoFactorCodeError,
)
from ringvault.cloud.http import RingHttp
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenFileError, TokenStore
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.cloud.http_helpers import (
    PROFILE_URL,
    current_code,
    fast_options,
    logged_in_auth,
    login_to_store,
    sim_get,
    sim_post,
    token_endpoint_statuses,
)


def _codes_sent(sim: SimServer) -> int:
    return int(sim_get(sim, "/_sim/2fa")["codes_sent"])


async def test_login_with_two_factor_asks_once_and_keeps_a_private_token(sim: SimServer, tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "home" / "token.json")
    hardware_id = store.hardware_id()
    challenges: list[TwoFactorRequiredError] = []

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        challenges.append(challenge)
        return current_code(sim)

    config = sim.state.config
    token = await login(fast_options(sim), config.email, config.password, two_factor=two_factor, token_store=store)

    assert len(challenges) == 1
    challenge = challenges[0]
    assert (challenge.tsv_state, challenge.phone, challenge.next_time_in_secs) == ("sms", config.phone, 60)
    assert config.phone in str(challenge) and "sms" in challenge.prompt
    assert _codes_sent(sim) == 1
    assert token.hardware_id == hardware_id and token.email == config.email
    stored = store.load()
    assert stored is not None and stored.refresh_token == token.refresh_token
    assert stored.access_token == token.access_token and stored.expires_at is not None
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600

    # Logging in again reuses the stored hardware id: one "Authorized Client Device", not two.
    await login_to_store(sim, store)
    again = store.load()
    assert again is not None and again.hardware_id == hardware_id and again.refresh_token != token.refresh_token
    async with RingHttp(RefreshTokenAuth(token_store=store), fast_options(sim)) as http:
        await http.request_json("GET", PROFILE_URL)
    sessions = sim_get(sim, "/_sim/sessions")["sessions"]
    assert [s["hardware_id"] for s in sessions] == [hardware_id]
    assert sessions[0]["device_model"] == "ringvault"


async def test_login_without_callback_raises_the_challenge_then_a_given_code_works(
    sim: SimServer, tmp_path: Path
) -> None:
    store = TokenStore(tmp_path / "token.json")
    config = sim.state.config
    with pytest.raises(TwoFactorRequiredError) as info:
        await login(fast_options(sim), config.email, config.password, token_store=store)
    assert info.value.phone == config.phone
    assert store.load() is None
    code = current_code(sim)
    token = await login(fast_options(sim), config.email, config.password, code=code, token_store=store)
    assert token.refresh_token
    assert _codes_sent(sim) == 1  # the code given up front did not trigger another one


async def test_wrong_password(sim: SimServer, tmp_path: Path) -> None:
    called = False

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        nonlocal called
        called = True
        return "000000"

    with pytest.raises(WrongPasswordError) as info:
        await login(fast_options(sim), sim.state.config.email, "not-the-password", two_factor=two_factor)
    assert not called and _codes_sent(sim) == 0
    assert "password" in info.value.one_line.lower()


async def test_wrong_code_is_not_retried(sim: SimServer) -> None:
    calls = 0

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        nonlocal calls
        calls += 1
        return "999999" if current_code(sim) != "999999" else "111111"

    config = sim.state.config
    with pytest.raises(WrongTwoFactorCodeError):
        await login(fast_options(sim), config.email, config.password, two_factor=two_factor)
    assert calls == 1  # asked once, never looped
    assert _codes_sent(sim) == 1


@pytest.fixture
def strict_codes(sim_config: SimConfig) -> SimConfig:
    sim_config.two_factor_limit = 10
    return sim_config


async def test_eleventh_code_request_is_throttled(strict_codes: SimConfig, sim: SimServer) -> None:
    config = sim.state.config
    for _ in range(10):
        with pytest.raises(TwoFactorRequiredError):
            await login(fast_options(sim), config.email, config.password)
    with pytest.raises(TwoFactorThrottledError) as info:
        await login(fast_options(sim), config.email, config.password)
    assert "10 minutes" in info.value.hint
    assert _codes_sent(sim) == 10


async def test_revoked_token_raises_token_revoked(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        assert await http.request_json("GET", PROFILE_URL)
        sim_post(sim, "/_sim/tokens/revoke")
        with pytest.raises(TokenRevokedError) as info:
            await http.request_json("GET", PROFILE_URL)
    assert "login" in info.value.hint


async def test_missing_login_is_not_logged_in(tmp_path: Path) -> None:
    with pytest.raises(NotLoggedInError):
        RefreshTokenAuth(token_store=TokenStore(tmp_path / "token.json"))
    with pytest.raises(NotLoggedInError):
        RefreshTokenAuth()


@pytest.fixture
def short_tokens(sim_config: SimConfig) -> SimConfig:
    sim_config.access_token_ttl_s = 6  # fresh for 3 s after login: room for a loaded machine
    return sim_config


async def test_access_token_is_refreshed_proactively_before_expiry(
    short_tokens: SimConfig, sim: SimServer, tmp_path: Path
) -> None:
    auth, store = await logged_in_auth(sim, tmp_path)
    updates: list[RefreshTokenUpdate] = []
    unsubscribe = auth.on_refresh_token_updated.subscribe(updates.append)
    async with RingHttp(auth, fast_options(sim)) as http:
        first = await auth.access_token(http)
        assert await auth.access_token(http) == first  # fresh: no refresh
        await asyncio.sleep(3.2)  # within the refresh margin (half of a 6 s lifetime) but not expired
        second = await auth.access_token(http)
        assert second != first and http.stats.refreshes == 1
        await http.request_json("GET", PROFILE_URL)
    unsubscribe()
    assert len(updates) == 1
    stored = store.load()
    assert stored is not None and updates[0].new_refresh_token == stored.refresh_token == auth.refresh_token
    assert stored.access_token == second
    api_statuses = sim_get(sim, "/_sim/stats")["by_status"]
    assert "401" not in api_statuses  # refreshed before Ring had to reject anything


async def test_concurrent_callers_share_one_refresh(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    async with RingHttp(auth, fast_options(sim)) as http:
        stale = auth.current_access_token
        tokens = await asyncio.gather(*(auth.refresh(http, failed_token=stale) for _ in range(10)))
        assert len(set(tokens)) == 1 and tokens[0] != stale
        assert http.stats.refreshes == 1


async def test_subscribers_see_every_rotation_after_it_is_saved(sim: SimServer, tmp_path: Path) -> None:
    auth, store = await logged_in_auth(sim, tmp_path)
    seen: list[tuple[RefreshTokenUpdate, str | None]] = []

    async def on_update(update: RefreshTokenUpdate) -> None:
        stored = store.load()
        seen.append((update, stored.refresh_token if stored else None))

    unsubscribe = auth.on_refresh_token_updated.subscribe(on_update)
    async with RingHttp(auth, fast_options(sim)) as http:
        for _ in range(3):
            await auth.refresh(http, failed_token=auth.current_access_token)
        unsubscribe()
        await auth.refresh(http, failed_token=auth.current_access_token)
    assert len(seen) == 3
    for update, on_disk in seen:
        assert update.old_refresh_token != update.new_refresh_token
        assert on_disk == update.new_refresh_token  # persisted before anyone hears about it
    assert [u.old_refresh_token for u, _ in seen[1:]] == [u.new_refresh_token for u, _ in seen[:-1]]


async def test_password_auth_logs_in_on_first_use(sim: SimServer, tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "token.json")
    config = sim.state.config

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        return current_code(sim)

    auth = PasswordAuth(config.email, config.password, two_factor=two_factor, token_store=store)
    async with RingHttp(auth, fast_options(sim)) as http:
        profile = await http.request_json("GET", PROFILE_URL)
    assert profile["profile"]["email"] == config.email
    stored = store.load()
    assert stored is not None and stored.refresh_token == auth.refresh_token


# -- answers the simulator does not give: checked with httpx.MockTransport ---------------------------------------


def _mock_http(handler: httpx.MockTransport, auth: RefreshTokenAuth | PasswordAuth) -> RingHttp:
    options = RingApiOptions(cloud_url=None, backoff_initial_s=0.01, backoff_max_s=0.02, max_retries=2)
    return RingHttp(auth, options, transport=handler)


async def test_token_response_quirks_are_tolerated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["grant_type"] == "refresh_token" and body["client_id"] == "ring_official_android"
        assert body["scope"] == "client" and request.headers["hardware_id"] == "hid-x"
        return httpx.Response(
            200,
            json={"access_token": "AT2", "token_type": "Bearer", "expires_in": "3600", "refresh_token": "RT2"},
        )

    auth = RefreshTokenAuth("RT1", hardware_id="hid-x")
    async with _mock_http(httpx.MockTransport(handler), auth) as http:
        assert await auth.access_token(http) == "AT2"
    assert auth.refresh_token == "RT2"
    assert auth.expires_at is not None and 3500 < auth.expires_at - time.time() <= 3600


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error"),
    [
        (412, "<html><body>Precondition</body></html>", "text/html", ResponseFormatError),
        (200, "<html>maintenance</html>", "text/html", ResponseFormatError),
        (200, "", "application/json", ResponseFormatError),
        (406, "<html><head><title>406 Not Acceptable</title></head></html>", "text/html", RateLimitedError),
    ],
)
async def test_non_json_token_answers_are_never_mistaken_for_2fa(
    status: int, body: str, content_type: str, error: type[Exception]
) -> None:
    asked = False

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        nonlocal asked
        asked = True
        return "123456"

    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, text=body, headers={"content-type": content_type})
    )
    auth = PasswordAuth("a@b.c", "pw-secret", two_factor=two_factor, hardware_id="hid")
    async with _mock_http(transport, auth) as http:
        with pytest.raises(error) as info:
            await auth.login(http)
    assert not asked
    if status == 406:
        assert "hours" in info.value.hint  # type: ignore[attr-defined]


async def test_refresh_invalid_grant_is_token_revoked_and_token_is_not_lost() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            401, json={"error": "invalid_grant", "error_description": "token is invalid or does not exists"}
        )
    )
    auth = RefreshTokenAuth("RT-old", hardware_id="hid")
    async with _mock_http(transport, auth) as http:
        with pytest.raises(TokenRevokedError):
            await auth.access_token(http)
    assert auth.refresh_token == "RT-old"


async def test_ring_2fa_throttle_variants() -> None:
    bodies = [
        {"error": "Too many requests", "error_description": "too many requests from dependency service"},
        {"error": "error requesting 2fa service to send code"},
    ]
    for body in bodies:
        transport = httpx.MockTransport(lambda request, body=body: httpx.Response(400, json=body))
        auth = PasswordAuth("a@b.c", "pw", hardware_id="hid")
        async with _mock_http(transport, auth) as http:
            with pytest.raises(TwoFactorThrottledError):
                await auth.login(http)


async def test_refresh_survives_a_rotation_done_by_another_holder_of_the_file(sim: SimServer, tmp_path: Path) -> None:
    """Two RingAuth objects on one file (as two processes would be): the stale one adopts, never re-uses."""
    first, store = await logged_in_auth(sim, tmp_path)
    second = RefreshTokenAuth(token_store=store)
    before = token_endpoint_statuses(sim)
    async with RingHttp(first, fast_options(sim)) as http_a, RingHttp(second, fast_options(sim)) as http_b:
        await first.refresh(http_a, failed_token=first.current_access_token)  # rotates; `second` is now stale
        stale = second.refresh_token
        assert stale != first.refresh_token
        token = await second.refresh(http_b, failed_token=second.current_access_token)
        assert token == first.current_access_token  # adopted, no grant with the superseded token
        assert http_b.stats.refreshes == 0 and second.refresh_token == first.refresh_token
        await http_b.request_json("GET", PROFILE_URL)
    assert token_endpoint_statuses(sim).get("401", 0) == before.get("401", 0)


async def test_the_token_file_is_not_locked_while_the_user_types_the_code(sim: SimServer, tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "token.json")
    lock_free: list[bool] = []

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        probe = filelock.FileLock(store.lock_path)
        try:
            probe.acquire(timeout=0)
        except filelock.Timeout:
            lock_free.append(False)
        else:
            probe.release()
            lock_free.append(True)
        return current_code(sim)

    config = sim.state.config
    await login(fast_options(sim), config.email, config.password, two_factor=two_factor, token_store=store)
    assert lock_free == [True]


async def test_a_token_file_locked_for_too_long_is_a_clear_error(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth, store = await logged_in_auth(sim, tmp_path)
    monkeypatch.setattr("ringvault.cloud.tokens.LOCK_TIMEOUT_S", 0.2)
    other = filelock.FileLock(store.lock_path)  # another holder (its own descriptor, like another process)
    other.acquire()
    try:
        async with RingHttp(auth, fast_options(sim)) as http:
            with pytest.raises(TokenFileError) as info:
                await auth.refresh(http, failed_token=auth.current_access_token)
    finally:
        other.release()
    assert str(store.path) in str(info.value)


async def test_a_refresh_cancelled_in_flight_still_saves_the_rotated_token(tmp_path: Path) -> None:
    """Ring rotates the refresh token when it answers. A caller cancelled while the grant is in flight (a hub socket
    closed while fetching a ticket, a timeout around a call) must not lose the new refresh token: the old one no longer
    works, so losing it means "log in again". Before the fix the token file kept RT1 and RT2 was lost."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["refresh_token"] == "RT1"
        arrived.set()  # Ring has the grant: from here on only RT2 works
        await release.wait()
        return httpx.Response(
            200, json={"access_token": "AT2", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "RT2"}
        )

    store = TokenStore(tmp_path / "token.json")
    auth = RefreshTokenAuth("RT1", hardware_id="hid", token_store=store)
    async with _mock_http(httpx.MockTransport(handler), auth) as http:
        caller = asyncio.create_task(auth.refresh(http))
        await asyncio.wait_for(arrived.wait(), 10)
        caller.cancel()
        await asyncio.sleep(0)  # the cancellation reaches the caller while Ring's answer is still on its way
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await caller
    stored = store.load()
    assert stored is not None and stored.refresh_token == "RT2"
    assert auth.refresh_token == "RT2"
