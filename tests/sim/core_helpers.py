"""Helpers for the simulator-core tests: a plain-httpx login against the running simulator."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ringvault.sim.deps import SessionDep, StateDep, TokenDep
from ringvault.sim.server import SimServer

CLIENT_ID = "ring_official_android"
BASIC = "Basic cmluZ19vZmZpY2lhbF9hbmRyb2lkOg=="  # ring_official_android: (empty secret)
TOKEN_PATH = "/oauth.ring.com/oauth/token"
SESSION_PATH = "/api.ring.com/clients_api/session"


def password_body(sim: SimServer, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "scope": "client",
        "grant_type": "password",
        "username": sim.config.email,
        "password": sim.config.password,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def password_grant(
    client: httpx.Client, sim: SimServer, *, code: str | None = None, hardware_id: str = "hw-test", **body: Any
) -> httpx.Response:
    headers = {"hardware_id": hardware_id, "2fa-support": "true", "2fa-code": code or ""}
    return client.post(sim.url + TOKEN_PATH, json=password_body(sim, **body), headers=headers)


def current_code(client: httpx.Client, sim: SimServer) -> str:
    code = client.get(sim.url + "/_sim/2fa").json()["code"]
    assert isinstance(code, str) and len(code) == 6
    return code


def login(client: httpx.Client, sim: SimServer, hardware_id: str = "hw-test") -> dict[str, Any]:
    """Password grant, the 412 challenge, then the grant again with the code the simulator 'sent'."""
    first = password_grant(client, sim, hardware_id=hardware_id)
    if first.status_code == 200:
        return dict(first.json())
    assert first.status_code == 412, first.text
    second = password_grant(client, sim, code=current_code(client, sim), hardware_id=hardware_id)
    assert second.status_code == 200, second.text
    return dict(second.json())


def session_body(hardware_id: str, api_version: int | str = 11) -> dict[str, Any]:
    metadata = {"api_version": api_version, "device_model": "tests"}
    return {"device": {"hardware_id": hardware_id, "metadata": metadata, "os": "android"}}


def create_session(
    client: httpx.Client, sim: SimServer, access_token: str, hardware_id: str = "hw-test"
) -> httpx.Response:
    return client.post(
        sim.url + SESSION_PATH,
        json=session_body(hardware_id),
        headers={"Authorization": f"Bearer {access_token}", "hardware_id": hardware_id},
    )


def bearer(access_token: str, hardware_id: str = "hw-test") -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}", "hardware_id": hardware_id, "User-Agent": "android:com.ringapp"}


PROBE_BLOB = bytes(range(256)) * 80  # 20480 bytes


def add_probe_routes(sim: SimServer) -> None:
    """Routes that exercise the core dependencies and media responses, independent of the data routes."""
    clients = APIRouter()

    @clients.get("/probe/{device_id}/history")
    async def probe_history(device_id: str, caller: SessionDep) -> dict[str, str]:
        return {"device_id": device_id, "hardware_id": caller.hardware_id, "email": caller.email}

    devices = APIRouter()

    @devices.get("/probe")
    async def probe_devices(caller: TokenDep) -> dict[str, str]:
        return {"hardware_id": caller.hardware_id}

    media = APIRouter()

    @media.get("/media.test/blob/{name}")
    async def probe_media(name: str, request: Request, state: StateDep) -> Response:
        return state.faults.media_response(
            PROBE_BLOB, content_type="video/mp4", request_range=request.headers.get("range")
        )

    sim.app.include_router(clients, prefix="/api.ring.com/clients_api")
    sim.app.include_router(devices, prefix="/api.ring.com/devices/v1")
    sim.app.include_router(media)
