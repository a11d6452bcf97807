"""Every error of the seed's table: the natural ones by real conditions, and all of them forced through
``POST /_sim/portability/inject``; generic fault knobs answer in the same shape on the intake hosts."""

from __future__ import annotations

import httpx
import pytest

from ringvault.sim.portability.errors import ERRORS, DPErrorSpec
from ringvault.sim.server import SimServer
from tests.sim.portability.helpers import (
    CLIENT_ID,
    INTAKE,
    SCOPE,
    completed_query,
    create,
    error_of,
    login,
    patch_app,
    records,
)

ERROR_IDS = [f"{e.status}-{e.category}-{e.type}" for e in ERRORS]


def test_the_table_has_every_documented_row(sim: SimServer, client: httpx.Client) -> None:
    table = client.get("/_sim/portability/errors").json()["errors"]
    assert len(table) == 33
    assert {
        "status": 429,
        "category": "THROTTLED",
        "type": "TOO_MANY_REQUESTS",
        "message": "Requests rate limit exceeded",
    } in table
    assert {
        "status": 504,
        "category": "GATEWAY_TIMEOUT",
        "type": "INTEGRATION_TIMEOUT",
        "message": "Request timed out",
    } in table


@pytest.mark.parametrize("error", ERRORS, ids=ERROR_IDS)
def test_every_error_can_be_injected(sim: SimServer, client: httpx.Client, error: DPErrorSpec) -> None:
    tokens = login(client, sim)
    armed = client.post("/_sim/portability/inject", json={"type": error.type, "category": error.category})
    assert armed.status_code == 201, armed.text
    answer = create(client, tokens)
    assert answer.status_code == error.status
    assert answer.json() == {"category": error.category, "type": error.type, "message": error.message}
    assert create(client, tokens).status_code == 201  # count 1: the next request is served normally


def test_injection_count_path_and_method(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    body = {"type": "INTEGRATION_TIMEOUT", "count": 2, "path": "/records$", "method": "GET"}
    assert client.post("/_sim/portability/inject", json=body).status_code == 201
    assert create(client, tokens).status_code == 201  # a POST is not matched
    assert [error_of(records(client, tokens, query_id))[0] for _ in range(2)] == [504, 504]
    assert records(client, tokens, query_id).status_code == 200
    assert client.get("/_sim/portability/inject").json() == {"injections": []}


def test_injection_refuses_unknown_types(sim: SimServer, client: httpx.Client) -> None:
    assert client.post("/_sim/portability/inject", json={"type": "NOPE"}).status_code == 422
    assert (
        client.post("/_sim/portability/inject", json={"type": "ACCESS_DENIED", "category": "THROTTLED"}).status_code
        == 422
    )
    assert client.post("/_sim/portability/inject", json={"type": "ACCESS_DENIED", "path": "("}).status_code == 422


def test_authorization_header_errors(sim: SimServer, client: httpx.Client) -> None:
    url = f"{INTAKE}/{SCOPE}/data-queries"
    assert error_of(client.post(url)) == (403, "FORBIDDEN", "MISSING_AUTHORIZATION_HEADER")
    assert error_of(client.post(url, headers={"Authorization": ""}))[2] == "MISSING_AUTHORIZATION_HEADER"
    assert error_of(client.post(url, headers={"Authorization": "Bearer"}))[2] == "MISSING_ACCESS_TOKEN"
    assert error_of(client.post(url, headers={"Authorization": "Bearer null"}))[2] == "MISSING_ACCESS_TOKEN"
    assert error_of(client.post(url, headers={"Authorization": "Bearer Atza|forged"})) == (
        403,
        "FORBIDDEN",
        "ACCESS_DENIED",
    )


def test_app_and_scope_errors(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    patch_app(client, scopes=[])
    assert error_of(create(client, tokens)) == (403, "FORBIDDEN", "SCOPE_NOT_ENABLED")
    patch_app(client, scopes=[SCOPE], allowlisted=False)
    assert error_of(create(client, tokens)) == (403, "FORBIDDEN", "APP_NOT_ALLOWLISTED")
    unknown_scope = client.post(
        f"{INTAKE}/Ring.Alarm.HubData/data-queries", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert error_of(unknown_scope)[2] == "APP_NOT_ALLOWLISTED"  # the app is checked before the path
    app = client.get("/_sim/portability/apps").json()["apps"][0]
    assert client.delete(f"/_sim/portability/apps/{CLIENT_ID}").status_code == 204
    assert error_of(create(client, tokens)) == (404, "RESOURCE_NOT_FOUND", "SECURITY_PROFILE_NOT_FOUND")
    app["allowlisted"] = True
    assert client.post("/_sim/portability/apps", json=app).status_code == 201
    assert create(client, tokens).status_code == 201  # registered again: the same tokens work
    unknown_scope = client.post(
        f"{INTAKE}/nope/data-queries", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert error_of(unknown_scope) == (404, "RESOURCE_NOT_FOUND", "SCOPE_ID_NOT_FOUND")


def test_path_errors(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert error_of(client.post(f"{INTAKE}/%20/data-queries", headers=auth)) == (
        500,
        "INTERNAL_SERVER_ERROR",
        "BLANK_SCOPE_ID",
    )
    assert error_of(client.post(f"{INTAKE}//data-queries", headers=auth))[2] == "BLANK_SCOPE_ID"
    assert error_of(client.get(f"{INTAKE}/{SCOPE}/data-queries/%20/records", headers=auth))[2] == "BLANK_QUERY_ID"
    assert error_of(client.get(f"{INTAKE}/{SCOPE}/data-queries//records", headers=auth))[2] == "BLANK_QUERY_ID"
    assert error_of(client.get(f"{INTAKE}/{SCOPE}/data-queries", headers=auth)) == (
        404,
        "RESOURCE_NOT_FOUND",
        "RESOURCE_NOT_FOUND",
    )
    assert error_of(client.delete(f"{INTAKE}/{SCOPE}/data-queries", headers=auth))[2] == "RESOURCE_NOT_FOUND"
    assert error_of(client.get(f"{INTAKE}/", headers=auth))[2] == "RESOURCE_NOT_FOUND"
    dots = client.get(f"{INTAKE}/{SCOPE}/%2E%2E/data-queries", headers=auth)
    assert error_of(dots) == (500, "INTERNAL_SERVER_ERROR", "INVALID_API_PATH")


def test_payload_too_large(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    big = client.post(
        f"{INTAKE}/{SCOPE}/data-queries",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        content=b"x" * 9000,
    )
    assert error_of(big) == (413, "CONTENT_TOO_LARGE", "REQUEST_TOO_LARGE")
    assert create(client, tokens).status_code == 201


def test_account_on_hold_denies_and_cancels(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = create(client, tokens).json()["id"]
    customer = client.get("/_sim/portability/customers").json()["customers"][0]
    assert client.patch(f"/_sim/portability/customers/{customer['id']}", json={"on_hold": True}).status_code == 200
    assert error_of(create(client, tokens))[2] == "ACCESS_DENIED"
    assert client.get(f"/_sim/portability/queries/{query_id}").json()["status"] == "CANCELED"


def test_generic_fault_knobs_answer_in_this_api_shape(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    assert client.patch("/_sim/faults", json={"timeout_rate": 1.0, "path_pattern": "^/intake"}).status_code == 200
    assert error_of(create(client, tokens)) == (504, "GATEWAY_TIMEOUT", "INTEGRATION_TIMEOUT")
    assert client.put("/_sim/faults", json={"error_rate": 1.0, "path_pattern": "^/intake"}).status_code == 200
    status, category, _ = error_of(create(client, tokens))
    assert status in (500, 503) and category == "INTERNAL_SERVER_ERROR"
    assert client.put("/_sim/faults", json={}).status_code == 200
    assert create(client, tokens).status_code == 201
