"""Ring answers ringvault cannot read: JSON nested 100 k deep, JSON inside a string field nested as deep, numbers too
large for a field. Each is one ``ResponseFormatError`` line or a field left empty, never a RecursionError or an
OverflowError (which used to crash every command). Served by httpx.MockTransport: the simulator serves Ring's shapes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BeforeValidator

from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.errors import ResponseFormatError
from ringvault.cloud.http import RingHttp
from ringvault.cloud.models.base import RingModel
from ringvault.cloud.models.devices import RingDevices
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenFileError, TokenStore, parse_refresh_token

DEEP = "[" * 100_000 + "]" * 100_000
DEVICES = "/clients_api/ring_devices"


def camera(**fields: Any) -> dict[str, Any]:
    return {"id": 1, "description": "Front Door", "kind": "lpd_v1", "location_id": "loc-1", **fields}


def api_serving(devices_body: Callable[[], bytes]) -> RingApi:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/session"):
            return httpx.Response(200, json={"profile": {"id": 1}})
        if request.url.path.endswith("/devices/v1/locations"):
            return httpx.Response(200, json={"user_locations": [{"location_id": "loc-1", "name": "Home"}]})
        if request.url.path.endswith(DEVICES):
            return httpx.Response(200, content=devices_body(), headers={"content-type": "application/json"})
        return httpx.Response(404, json={"error": "not here"})

    auth = RefreshTokenAuth("rt", hardware_id="hid")
    auth._access_token = "at"  # a fresh access token: no token traffic in these tests
    auth._refresh_at = time.time() + 3600
    options = RingApiOptions(cloud_url=None, backoff_initial_s=0.01, backoff_max_s=0.02, max_retries=1)
    return RingApi(auth, options, http=RingHttp(auth, options, transport=httpx.MockTransport(handler)))


async def test_a_document_nested_100k_deep_is_one_response_format_line() -> None:
    api = api_serving(lambda: DEEP.encode())
    async with api:
        with pytest.raises(ResponseFormatError) as info:
            await api.get_devices()
        await api.http.aclose()
    message = info.value.one_line
    assert "\n" not in message and "nested too deeply" in message and DEVICES.strip("/") in message


async def test_json_in_a_string_field_nested_too_deeply_leaves_the_field_empty() -> None:
    doc = {"doorbots": [camera(metadata='{"a": ' + DEEP + "}"), camera(id=2, metadata='{"ok": true}')]}
    api = api_serving(lambda: json.dumps(doc).encode())
    async with api:
        snapshot = await api.get_devices()
        await api.http.aclose()
    hostile, fine = sorted(snapshot.cameras, key=lambda c: c.id)
    assert hostile.data.metadata is None  # unreadable -> None, as every loose field
    assert hostile.data.raw["metadata"].startswith('{"a": [[[')  # the original is kept
    assert hostile.name == "Front Door" and fine.data.metadata == {"ok": True}  # the rest is read as usual


def test_a_number_too_large_for_a_float_field_leaves_the_field_empty() -> None:
    raw = json.dumps({"doorbots": [camera(latitude=10**400, longitude=13.4)]})
    devices = RingDevices.model_validate(json.loads(raw))
    [entry] = devices.doorbots
    assert entry.latitude is None and entry.longitude == 13.4


def _careless(value: Any) -> Any:
    """A field validator as the loose types were before: no depth limit, no range check."""
    if isinstance(value, str):
        return json.loads(value)
    if isinstance(value, int):
        return float(value)
    return value


class Careless(RingModel):
    payload: Annotated[Any, BeforeValidator(_careless)] = None


@pytest.mark.parametrize(("payload", "cause"), [(DEEP, "RecursionError"), (10**400, "OverflowError")])
def test_whatever_a_field_validator_cannot_take_is_a_response_format_error(payload: Any, cause: str) -> None:
    """The net under every Ring model: a validator that meets something it cannot handle gives one
    ``ResponseFormatError`` line naming the document, not a traceback."""
    with pytest.raises(ResponseFormatError) as info:
        Careless.model_validate({"payload": payload})
    assert "Careless" in str(info.value) and cause in str(info.value) and "\n" not in info.value.one_line


def test_a_token_file_or_refresh_token_nested_too_deeply_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(DEEP)
    with pytest.raises(TokenFileError, match="corrupt"):
        TokenStore(path).load()
    pasted = base64.b64encode(DEEP.encode()).decode()
    assert parse_refresh_token(pasted) == (pasted, None)  # not ring-client-api's form: taken as the raw token
