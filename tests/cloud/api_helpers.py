"""Helpers for the domain-layer tests: a logged-in ``RingApi`` on the real simulator, and control-API shortcuts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import PasswordAuth, RefreshTokenAuth
from ringvault.cloud.errors import TwoFactorRequiredError
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenStore
from ringvault.sim.server import SimServer


def sim_get(sim: SimServer, path: str, **params: Any) -> Any:
    response = httpx.get(f"{sim.url}{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def sim_post(sim: SimServer, path: str, body: Any = None) -> Any:
    response = httpx.post(f"{sim.url}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def sim_patch(sim: SimServer, path: str, body: Any) -> Any:
    response = httpx.patch(f"{sim.url}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def world(sim: SimServer, events: str = "count") -> dict[str, Any]:
    data: dict[str, Any] = sim_get(sim, "/_sim/world", events=events)
    return data


def world_device(sim: SimServer, name: str, *, kind: str | None = None) -> dict[str, Any]:
    """The first simulated device called ``name`` (and of ``kind``)."""
    for device in world(sim)["devices"]:
        if device["name"] == name and (kind is None or device["kind"] == kind):
            return dict(device)
    raise AssertionError(f"no simulated device {name!r}")


def world_kind(sim: SimServer, kind: str) -> dict[str, Any]:
    for device in world(sim)["devices"]:
        if device["kind"] == kind:
            return dict(device)
    raise AssertionError(f"no simulated device of kind {kind!r}")


def options(sim: SimServer, **overrides: Any) -> RingApiOptions:
    values: dict[str, Any] = {"cloud_url": sim.url, "backoff_initial_s": 0.05, "backoff_max_s": 0.2}
    values.update(overrides)
    return RingApiOptions(**values)


async def log_in(sim: SimServer, home: Path) -> TokenStore:
    """Password + 2FA login (the code read from ``GET /_sim/2fa``); the rotated tokens live in ``home``."""
    store = TokenStore(home / "token.json")

    async def two_factor(challenge: TwoFactorRequiredError) -> str:
        code: str = sim_get(sim, "/_sim/2fa")["code"]
        return code

    config = sim.state.config
    auth = PasswordAuth(config.email, config.password, two_factor=two_factor, token_store=store)
    from ringvault.cloud.http import RingHttp

    async with RingHttp(auth, options(sim)) as http:
        await auth.login(http)
    return store


@asynccontextmanager
async def open_api(sim: SimServer, home: Path, **option_overrides: Any) -> AsyncIterator[RingApi]:
    """A ``RingApi`` on a stored login, closed afterwards."""
    store = TokenStore(home / "token.json")
    if store.load() is None:
        await log_in(sim, home)
    async with RingApi(RefreshTokenAuth(token_store=store), options(sim, **option_overrides)) as api:
        yield api
