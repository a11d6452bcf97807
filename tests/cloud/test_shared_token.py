"""Several holders of one token file while Ring expires access tokens quickly: a 401 right after a refresh refreshes
again (bounded, adopting what another holder stored) and never tells the user to log in again while the stored login
works. Real ``ringvault`` processes against the simulator, two holders in one process, and the rules the simulator
cannot provoke with httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.errors import AuthenticationError, TokenRevokedError
from ringvault.cloud.http import MAX_AUTH_REFRESHES, RingHttp
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import StoredToken, TokenStore
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.cloud.http_helpers import (
    fast_options,
    logged_in_auth,
    sim_post,
    token_endpoint_statuses,
)

LOG_IN_AGAIN = "ringvault login"
#: an API URL outside clients_api (no session needed), for the MockTransport tests
API_URL = "https://api.ring.com/devices/v1/locations"


@pytest.fixture
def expire_every_2(sim_config: SimConfig) -> SimConfig:
    sim_config.faults.expire_access_every = 2
    sim_config.locations = 1
    sim_config.events_per_device = 3
    return sim_config


# -- real processes sharing one token file ---------------------------------------------------------------------------


def _run_together(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start every command at once (separate ``ringvault`` processes) and wait for all of them."""
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ringvault", *command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results: list[subprocess.CompletedProcess[str]] = []
    for proc, command in zip(procs, commands, strict=True):
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(command, proc.returncode, out, err))
    return results


def test_processes_sharing_a_token_file_never_lose_the_login(
    expire_every_2: SimConfig, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    """Before the fix, 4 of 16 such commands ended with exit 3 and "run `ringvault login` again"."""
    rounds: list[list[list[str]]] = [[["devices"], ["devices"]] for _ in range(5)]
    rounds += [[["devices"], ["devices"], ["devices"]] for _ in range(2)]
    rounds += [[["sync", "--archive", str(tmp_path / f"archive-{n}")] for n in range(2)] for _ in range(2)]
    failures: list[str] = []
    for commands in rounds:
        for result in _run_together(commands, tmp_path):
            if result.returncode != 0 or LOG_IN_AGAIN in result.stderr:
                failures.append(f"{' '.join(result.args)} -> {result.returncode}: {result.stderr.strip()}")
    assert failures == []
    assert token_endpoint_statuses(cloud_env).get("401", 0) == 0  # no superseded refresh token was ever sent
    stored = TokenStore(logged_in).load()
    assert stored is not None
    fresh = RefreshTokenAuth(token_store=TokenStore(logged_in))  # the stored login still works
    assert fresh.refresh_token == stored.refresh_token


# -- two holders in one process (deterministic order) --------------------------------------------------------------


async def test_a_stale_holder_adopts_the_stored_token_and_refreshes_again_when_it_is_used_up(
    expire_every_2: SimConfig, sim: SimServer, tmp_path: Path
) -> None:
    first, store = await logged_in_auth(sim, tmp_path)
    second = RefreshTokenAuth(token_store=store)
    sim_post(sim, "/_sim/tokens/expire")  # the login's access token is dead for both
    before = token_endpoint_statuses(sim)
    async with RingHttp(first, fast_options(sim)) as http_a, RingHttp(second, fast_options(sim)) as http_b:
        await http_a.request_json("GET", API_URL)  # 401 -> rotation; the new token is used once
        await http_a.request_json("GET", API_URL)  # ... and twice: used up
        superseded = second.refresh_token
        assert superseded != first.refresh_token and http_a.stats.refreshes == 1
        # `second` is rejected, adopts the stored (used-up) token, is rejected again, and refreshes with the stored
        # refresh token, never with the superseded one it started with.
        assert await http_b.request_json("GET", API_URL)
        assert http_b.stats.refreshes == 1
    after = token_endpoint_statuses(sim)
    assert after.get("401", 0) == before.get("401", 0)
    stored = store.load()
    assert stored is not None and stored.refresh_token == second.refresh_token != superseded
    # the token granted for the retried request was not offered to other processes through the file
    assert stored.access_token == first.current_access_token != second.current_access_token


# -- rules the simulator cannot provoke (httpx.MockTransport) ------------------------------------------------------


class FakeRing:
    """A token endpoint that rotates on every refresh and an API that accepts an access token ``uses`` times."""

    def __init__(self, *, uses: int = 1, api_401s: int = 0) -> None:
        self.uses = uses
        self.api_401s = api_401s  # answer 401 to this many API calls whatever the token
        self.live_refresh: set[str] = set()
        self.access_uses: dict[str, int] = {}
        self.grants: list[str] = []
        self.api_statuses: list[int] = []
        self.on_grant: Callable[[str], None] | None = None
        self._n = 0

    def issue(self) -> tuple[str, str]:
        self._n += 1
        access, refresh = f"at-{self._n}", f"rt-{self._n}"
        self.access_uses[access] = 0
        self.live_refresh.add(refresh)
        return access, refresh

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "oauth.ring.com":
            token = str(json.loads(request.content)["refresh_token"])
            self.grants.append(token)
            if self.on_grant is not None:
                self.on_grant(token)
            if token not in self.live_refresh:
                return httpx.Response(401, json={"error": "invalid_grant"})
            self.live_refresh.discard(token)  # rotation: the old one is superseded at once
            access, refresh = self.issue()
            return httpx.Response(200, json={"access_token": access, "refresh_token": refresh, "expires_in": 3600})
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_401s > 0:
            self.api_401s -= 1
            return self._api(401)
        if bearer not in self.access_uses or self.access_uses[bearer] >= self.uses:
            return self._api(401)
        self.access_uses[bearer] += 1
        if request.url.path.endswith(".mp4"):
            return self._api(200, content=b"\x00\x00\x00\x18ftypmp42" + b"x" * 100, media=True)
        return self._api(200, content=b'{"ok": true}')

    def _api(
        self, status: int, *, content: bytes = b'{"error": "invalid_token"}', media: bool = False
    ) -> httpx.Response:
        self.api_statuses.append(status)
        if media:  # streamed, as a download reads it
            headers = {"content-type": "video/mp4", "content-length": str(len(content))}
            return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content))
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})


def _options() -> RingApiOptions:
    return RingApiOptions(cloud_url=None, backoff_initial_s=0.01, backoff_max_s=0.02, max_retries=2)


def _store_with(tmp_path: Path, ring: FakeRing, *, used_up: bool = False) -> TokenStore:
    store = TokenStore(tmp_path / "token.json")
    access, refresh = ring.issue()
    if used_up:
        ring.access_uses[access] = ring.uses
    store.save(
        StoredToken(refresh_token=refresh, hardware_id="hid", access_token=access, expires_at=time.time() + 3600)
    )
    return store


async def test_a_second_401_after_a_refresh_refreshes_again() -> None:
    ring = FakeRing(uses=1, api_401s=2)  # the old token and the first refreshed one are both refused
    auth = RefreshTokenAuth("rt-0", hardware_id="hid")
    ring.live_refresh.add("rt-0")
    async with RingHttp(auth, _options(), transport=httpx.MockTransport(ring.handler)) as http:
        assert await http.request_json("GET", API_URL) == {"ok": True}
        assert http.stats.refreshes == 3  # the proactive one (no access token yet) and two after a 401
    assert ring.api_statuses == [401, 401, 200]


async def test_re_refreshes_are_bounded_then_the_401_is_reported() -> None:
    ring = FakeRing(uses=1, api_401s=1000)  # Ring refuses every access token although refreshes succeed
    auth = RefreshTokenAuth("rt-0", hardware_id="hid")
    ring.live_refresh.add("rt-0")
    async with RingHttp(auth, _options(), transport=httpx.MockTransport(ring.handler)) as http:
        with pytest.raises(AuthenticationError) as info:
            await http.request_json("GET", API_URL)
        assert not isinstance(info.value, TokenRevokedError)
    assert ring.api_statuses == [401] * (MAX_AUTH_REFRESHES + 1)
    assert len(ring.grants) == MAX_AUTH_REFRESHES + 1  # the first access token, then one per 401 but the last


async def test_a_media_download_refreshes_again_after_a_second_401(tmp_path: Path) -> None:
    ring = FakeRing(uses=1, api_401s=2)
    store = _store_with(tmp_path, ring)
    auth = RefreshTokenAuth(token_store=store)
    async with RingHttp(auth, _options(), transport=httpx.MockTransport(ring.handler)) as http:
        result = await http.download("https://api.ring.com/devices/v1/media/1.mp4", tmp_path / "a.mp4", auth=True)
    assert result.bytes > 0 and ring.api_statuses == [401, 401, 200]


async def test_a_refused_superseded_token_is_replaced_by_the_newer_stored_one(tmp_path: Path) -> None:
    """Something rotated the file's token without the lock between our read and our grant: adopt, don't give up."""
    ring = FakeRing(uses=5)
    store = _store_with(tmp_path, ring, used_up=True)
    auth = RefreshTokenAuth(token_store=store)

    def rotate_elsewhere(token: str) -> None:
        if len(ring.grants) == 1:  # the other process's refresh lands just before ours reaches Ring
            ring.live_refresh.discard(token)
            access, refresh = ring.issue()
            store.save(StoredToken(refresh_token=refresh, hardware_id="hid", access_token=access))

    ring.on_grant = rotate_elsewhere
    async with RingHttp(auth, _options(), transport=httpx.MockTransport(ring.handler)) as http:
        assert await http.request_json("GET", API_URL) == {"ok": True}
    stored = store.load()
    assert stored is not None and auth.refresh_token == stored.refresh_token
    assert ring.api_statuses == [401, 200]  # the adopted access token worked


async def test_only_a_refusal_of_the_freshest_stored_token_is_fatal(tmp_path: Path) -> None:
    ring = FakeRing()
    store = _store_with(tmp_path, ring, used_up=True)
    ring.live_refresh.clear()  # revoked (password change, device removed in Control Center)
    auth = RefreshTokenAuth(token_store=store)
    async with RingHttp(auth, _options(), transport=httpx.MockTransport(ring.handler)) as http:
        with pytest.raises(TokenRevokedError):
            await http.request_json("GET", API_URL)
    assert len(ring.grants) == 1  # asked once, not again and again


async def test_concurrent_requests_of_one_process_still_share_a_refresh(tmp_path: Path) -> None:
    ring = FakeRing(uses=100)
    store = _store_with(tmp_path, ring, used_up=True)
    auth = RefreshTokenAuth(token_store=store)
    async with RingHttp(auth, _options(), transport=httpx.MockTransport(ring.handler)) as http:
        results: list[Any] = await asyncio.gather(*(http.request_json("GET", API_URL) for _ in range(8)))
    assert results == [{"ok": True}] * 8 and len(ring.grants) == 1
