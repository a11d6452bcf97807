"""Helpers for the HTTP-layer, auth and token tests: fast options, the simulator's 2FA code, a logged-in store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ringvault.cloud.auth import RefreshTokenAuth, login
from ringvault.cloud.errors import TwoFactorRequiredError
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import StoredToken, TokenStore
from ringvault.sim.server import SimServer

PROFILE_URL = "https://api.ring.com/clients_api/profile"
DEVICES_URL = "https://api.ring.com/clients_api/ring_devices"
TOKEN_ENDPOINT = "POST oauth.ring.com/oauth/token"


def fast_options(sim: SimServer, **overrides: Any) -> RingApiOptions:
    """Options pointing at the simulator with small backoff knobs so retry tests stay fast."""
    values: dict[str, Any] = {
        "cloud_url": sim.url,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "max_retries": 4,
        "timeout_s": 10.0,
        "media_timeout_s": 20.0,
    }
    values.update(overrides)
    return RingApiOptions(**values)


def sim_get(sim: SimServer, path: str) -> Any:
    return httpx.get(f"{sim.url}{path}", timeout=10).json()


def sim_post(sim: SimServer, path: str, body: Any = None) -> Any:
    response = httpx.post(f"{sim.url}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def sim_delete(sim: SimServer, path: str) -> int:
    return httpx.delete(f"{sim.url}{path}", timeout=10).status_code


def sim_patch_faults(sim: SimServer, **faults: Any) -> None:
    httpx.patch(f"{sim.url}/_sim/faults", json=faults, timeout=10).raise_for_status()


def current_code(sim: SimServer) -> str:
    """The 2FA code the simulator 'sent' (``GET /_sim/2fa``)."""
    code = sim_get(sim, "/_sim/2fa")["code"]
    assert isinstance(code, str) and code
    return code


async def answer_from_sim(sim: SimServer, challenge: TwoFactorRequiredError) -> str:
    assert challenge.tsv_state == sim.state.config.tsv_state
    return current_code(sim)


async def login_to_store(sim: SimServer, store: TokenStore, **option_overrides: Any) -> StoredToken:
    """A full password + 2FA login whose result is kept in ``store``."""

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        return await answer_from_sim(sim, challenge)

    config = sim.state.config
    return await login(
        fast_options(sim, **option_overrides),
        config.email,
        config.password,
        two_factor=two_factor,
        token_store=store,
    )


async def logged_in_auth(sim: SimServer, tmp_path: Path) -> tuple[RefreshTokenAuth, TokenStore]:
    store = TokenStore(tmp_path / "tokens" / "token.json")
    await login_to_store(sim, store)
    return RefreshTokenAuth(token_store=store), store


def token_endpoint_statuses(sim: SimServer) -> dict[str, int]:
    """How the simulator answered the token endpoint so far: status → count."""
    endpoints = sim_get(sim, "/_sim/stats")["endpoints"]
    entry = endpoints.get(TOKEN_ENDPOINT, {"by_status": {}})
    return {str(k): int(v) for k, v in entry["by_status"].items()}
