"""Helpers for the simulator data tests: log in over HTTP with plain httpx, and read the simulated world."""

from __future__ import annotations

from typing import Any

import httpx

from ringvault.sim.server import SimServer

CLIENTS = "/api.ring.com/clients_api"
DEVICES = "/api.ring.com/devices/v1"
APP_API = "/prd-api-us.prd.rings.solutions/api/v1"
LEGACY_APP_API = "/app.ring.com/api/v1"
SNAPS = "/app-snaps.ring.com/snapshots"
JSON_HEADERS = {"Content-Type": "application/json"}
BIG = 2**53


def login(sim: SimServer, hardware_id: str = "sim-data-tests-0001", *, session: bool = True) -> httpx.Client:
    """An httpx client holding a bearer token (2FA answered from ``/_sim/world``) and, by default, a session."""
    client = httpx.Client(base_url=sim.url, timeout=30, headers={"User-Agent": "android:com.ringapp"})
    body = {
        "client_id": "ring_official_android",
        "scope": "client",
        "grant_type": "password",
        "username": sim.config.email,
        "password": sim.config.password,
    }
    headers = {"hardware_id": hardware_id, "2fa-support": "true", "2fa-code": ""}
    answer = client.post("/oauth.ring.com/oauth/token", json=body, headers=headers)
    if answer.status_code == 412:
        code = client.get("/_sim/world").json()["account"]["two_factor_code"]
        answer = client.post("/oauth.ring.com/oauth/token", json=body, headers={**headers, "2fa-code": code})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    client.headers["hardware_id"] = hardware_id
    if session:
        device = {"hardware_id": hardware_id, "metadata": {"api_version": 11, "device_model": "tests"}, "os": "android"}
        created = client.post(f"{CLIENTS}/session", json={"device": device})
        assert created.is_success, created.text
    return client


def world(client: httpx.Client, events: str = "list") -> dict[str, Any]:
    data = client.get("/_sim/world", params={"events": events}).json()
    assert isinstance(data, dict)
    return data


def devices(client: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    answer = client.get(f"{CLIENTS}/ring_devices")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert isinstance(data, dict)
    return data


def entry(client: httpx.Client, device_id: int) -> dict[str, Any]:
    """The device's current ``ring_devices`` entry."""
    for family in devices(client).values():
        for item in family:
            if item["id"] == device_id:
                return dict(item)
    raise AssertionError(f"device {device_id} not in ring_devices")


def first(client: httpx.Client, *, family: str | None = None, kind: str | None = None) -> dict[str, Any]:
    for fam, items in devices(client).items():
        for item in items:
            if (family is None or fam == family) and (kind is None or item["kind"] == kind):
                return dict(item)
    raise AssertionError(f"no device family={family} kind={kind}")


def advance(client: httpx.Client, seconds: float) -> None:
    assert client.post("/_sim/clock", json={"advance_s": seconds}).status_code == 200


def set_faults(client: httpx.Client, **values: Any) -> None:
    answer = client.patch("/_sim/faults", json=values)
    assert answer.status_code == 200, answer.text


def new_event(client: httpx.Client, device_id: int, kind: str = "motion") -> dict[str, Any]:
    answer = client.post("/_sim/events", json={"device_id": device_id, "kind": kind})
    assert answer.status_code == 201, answer.text
    data = answer.json()
    assert isinstance(data, dict)
    return data


def put_json(client: httpx.Client, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    """A PUT the way Ring wants it: JSON content type, even with an empty body."""
    content = b"" if body is None else httpx.Request("PUT", "/", json=body).content
    return client.put(path, content=content, headers=JSON_HEADERS, **kwargs)
