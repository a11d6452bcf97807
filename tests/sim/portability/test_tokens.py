"""The Data Portability grants of ``POST /oauth/token``: authorization code with PKCE (S256 and plain), single-use
codes, refresh-token rotation; the account API's grants keep working beside them."""

from __future__ import annotations

import base64

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.core_helpers import login as account_login
from tests.sim.portability.helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT,
    TOKEN,
    advance,
    authorize_params,
    bearer,
    consent,
    create,
    exchange,
    login,
    pkce,
    redirect_params,
    refresh,
)


def _code(client: httpx.Client, sim: SimServer, method: str = "S256") -> tuple[str, str]:
    verifier, challenge = pkce(method)
    return redirect_params(consent(client, sim, authorize_params(challenge, method)))["code"], verifier


@pytest.mark.parametrize("method", ["S256", "plain"])
def test_code_exchange_with_pkce(sim: SimServer, client: httpx.Client, method: str) -> None:
    code, verifier = _code(client, sim, method)
    answer = exchange(client, code, verifier)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert body["scope"] == "data-portability" and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert answer.headers["cache-control"] == "no-store"
    assert create(client, body).status_code == 201


@pytest.mark.parametrize("method", ["S256", "plain"])
def test_wrong_verifier_is_invalid_grant(sim: SimServer, client: httpx.Client, method: str) -> None:
    code, verifier = _code(client, sim, method)
    other, _ = pkce()
    answer = exchange(client, code, other)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert exchange(client, code, verifier).status_code == 200  # a failed attempt does not burn the code


def test_code_is_single_use_and_a_replay_revokes_its_tokens(sim: SimServer, client: httpx.Client) -> None:
    code, verifier = _code(client, sim)
    first = exchange(client, code, verifier).json()
    again = exchange(client, code, verifier)
    assert again.status_code == 400 and again.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code was already used",
    }
    denied = create(client, first)
    assert denied.status_code == 403 and denied.json()["type"] == "ACCESS_DENIED"
    assert refresh(client, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_code_expires(sim: SimServer, client: httpx.Client) -> None:
    code, verifier = _code(client, sim)
    advance(client, 301)
    answer = exchange(client, code, verifier)
    assert answer.status_code == 400 and "expired" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("override", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "amzn1.application-oa2-client.other"}, 401, "invalid_client"),
        ({"redirect_uri": "http://127.0.0.1:9999/portability/callback"}, 400, "invalid_grant"),
        ({"code_verifier": ""}, 400, "invalid_request"),
        ({"code": ""}, 400, "invalid_request"),
        ({"code": "not-a-code"}, 400, "invalid_grant"),
        ({"scope": "profile"}, 400, "invalid_scope"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
    ],
)
def test_code_exchange_errors(
    sim: SimServer, client: httpx.Client, override: dict[str, str], status: int, error: str
) -> None:
    code, verifier = _code(client, sim)
    answer = exchange(client, code, verifier, **override)
    assert answer.status_code == status and answer.json()["error"] == error, answer.text


def test_client_secret_basic_is_accepted(sim: SimServer, client: httpx.Client) -> None:
    code, verifier = _code(client, sim)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    answer = client.post(
        TOKEN,
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
    )
    assert answer.status_code == 200, answer.text


def test_refresh_rotates_and_the_old_refresh_token_dies(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    rotated = refresh(client, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"] and new["access_token"] != tokens["access_token"]
    assert new["scope"] == "data-portability" and new["token_type"] == "Bearer"
    old = refresh(client, tokens["refresh_token"])
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
    assert refresh(client, new["refresh_token"], scope="data-portability").status_code == 200
    assert refresh(client, new["refresh_token"]).status_code == 400  # rotated again just above


def test_refresh_needs_the_client_secret(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    assert refresh(client, tokens["refresh_token"], client_secret="nope").status_code == 401
    assert refresh(client, tokens["refresh_token"]).status_code == 200  # still valid after the failure


def test_expired_access_token_then_refresh(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    advance(client, 3601)
    assert create(client, tokens).json()["type"] == "ACCESS_DENIED"
    fresh = refresh(client, tokens["refresh_token"]).json()
    assert create(client, fresh).status_code == 201


def test_revoked_grant_refuses_refresh(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    grant = client.get("/_sim/portability/grants").json()["grants"][0]
    assert client.post(f"/_sim/portability/grants/{grant['id']}/revoke").status_code == 200
    assert refresh(client, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert create(client, tokens).json()["type"] == "ACCESS_DENIED"


def test_blink_token_endpoint(sim: SimServer, client: httpx.Client) -> None:
    verifier, challenge = pkce()
    code = redirect_params(consent(client, sim, authorize_params(challenge), host="api.oauth.blink.com"))["code"]
    answer = client.post(
        "/api.oauth.blink.com/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200
    blink_intake = "/intake.us-east-1.portability.data.blink.com"
    assert create(client, answer.json(), host=blink_intake).status_code == 201
    password = client.post("/api.oauth.blink.com/oauth/token", data={"grant_type": "password"})
    assert password.json()["error"] == "unsupported_grant_type"


def test_account_api_grants_still_work_beside_data_portability(sim: SimServer, client: httpx.Client) -> None:
    dp = login(client, sim)
    account = account_login(client, sim)
    assert account["scope"] == "client" and account["token_type"] == "bearer"
    rotated = client.post(
        sim.url + TOKEN, json={"grant_type": "refresh_token", "refresh_token": account["refresh_token"]}
    )
    assert rotated.status_code == 200 and rotated.json()["scope"] == "client"
    # neither token works on the other service
    assert client.get("/api.ring.com/clients_api/profile", headers=bearer(dp)).status_code == 401
    assert create(client, account["access_token"]).json()["type"] == "ACCESS_DENIED"
