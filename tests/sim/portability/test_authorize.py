"""Login with Ring for Data Portability: ``GET /v2/authorize`` validation and the consent page, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.portability.helpers import (
    AUTHORIZE,
    REDIRECT,
    advance,
    authorize_params,
    consent,
    patch_dp,
    pkce,
    redirect_params,
    request_id,
)

DENIED = "The resource owner or authorization server denied the request"


def test_consent_page_is_a_plain_form_with_every_documented_choice(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    page = client.get(AUTHORIZE, params=authorize_params(challenge))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for value in ("5d", "30d", "60d", "1y", "since", "once", "90d", "180d"):
        assert f'value="{value}"' in page.text
    for name in ("email", "password", "history", "since", "duration", "acknowledge", "action"):
        assert f"name={name}" in page.text
    assert "I authorize the third party to receive my EU" in page.text
    assert request_id(page)


def test_confirm_redirects_with_code_and_state(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge)
    answer = consent(client, sim, params)
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    got = redirect_params(answer)
    assert set(got) == {"code", "state"} and got["state"] == params["state"] and len(got["code"]) >= 32
    grants = client.get("/_sim/portability/grants").json()["grants"]
    assert [(g["history"], g["duration"], g["status"]) for g in grants] == [("1y", "90d", "active")]


def test_cancel_redirects_with_access_denied_exactly_as_documented(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge)
    answer = consent(client, sim, params, action="cancel")
    assert answer.status_code == 302
    assert answer.headers["location"].endswith(
        f"?error=access_denied&error_description=The+resource+owner+or+authorization+server+denied+the+request"
        f"&state={params['state']}"
    )
    assert redirect_params(answer) == {"error": "access_denied", "error_description": DENIED, "state": params["state"]}
    assert client.get("/_sim/portability/grants").json()["grants"] == []


def test_wrong_password_or_missing_acknowledgement_shows_the_page_again(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge)
    wrong = consent(client, sim, params, password="not-the-password")
    assert wrong.status_code == 401 and "not correct" in wrong.text and "name=request_id" in wrong.text
    unticked = consent(client, sim, params, acknowledge="")
    assert unticked.status_code == 400 and "I authorize the third party" in unticked.text
    # the same request still works once answered properly
    page = client.get(AUTHORIZE, params=params)
    fields = {
        "request_id": request_id(page),
        "email": sim.config.email,
        "password": sim.config.password,
        "history": "30d",
        "duration": "once",
        "acknowledge": "on",
        "action": "authorize",
    }
    assert client.post(AUTHORIZE, data=fields).status_code == 302
    assert client.post(AUTHORIZE, data=fields).status_code == 400  # a consent request is answered once


def test_since_date_sets_the_window(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    since = (datetime.fromtimestamp(sim.state.clock.now(), UTC) - timedelta(days=10)).date()
    answer = consent(client, sim, authorize_params(challenge), history="since", since=since.isoformat())
    assert answer.status_code == 302 and "code" in redirect_params(answer)
    grant = client.get("/_sim/portability/grants").json()["grants"][0]
    assert grant["since"] == since.isoformat()
    assert grant["window_start"] == datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp()
    future = (since + timedelta(days=30)).isoformat()
    refused = consent(client, sim, authorize_params(challenge), history="since", since=future)
    assert refused.status_code == 400 and "past" in refused.text


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
    ],
)
def test_bad_parameters_redirect_with_error_and_state(
    sim: SimServer, client: httpx.Client, override: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, **override)
    got = redirect_params(client.get(AUTHORIZE, params=params))
    assert got["error"] == error and got["error_description"] and got["state"] == params["state"]


def test_missing_state_is_refused(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    got = redirect_params(client.get(AUTHORIZE, params=authorize_params(challenge, state=None)))
    assert got == {"error": "invalid_request", "error_description": "state is required"}


@pytest.mark.parametrize(
    "override",
    [
        {"client_id": "amzn1.application-oa2-client.unknown"},
        {"client_id": None},
        {"redirect_uri": "https://attacker.example/callback"},
        {"redirect_uri": "http://127.0.0.1:5555/other/path"},
        {"redirect_uri": None},
    ],
)
def test_unknown_client_or_redirect_uri_never_redirects(
    sim: SimServer, client: httpx.Client, override: dict[str, str | None]
) -> None:
    _, challenge = pkce()
    page = client.get(AUTHORIZE, params=authorize_params(challenge, **override))
    assert page.status_code == 400 and "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html") and "Nothing was shared" in page.text


def test_loopback_redirect_uri_matches_any_port(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    for port in (1, 49152, 65535):
        uri = f"http://127.0.0.1:{port}/portability/callback"
        assert client.get(AUTHORIZE, params=authorize_params(challenge, redirect_uri=uri)).status_code == 200


def test_not_allowlisted_app_is_refused_through_the_redirect(sim: SimServer, client: httpx.Client) -> None:
    assert (
        client.patch(
            "/_sim/portability/apps/" + authorize_params("x")["client_id"], json={"allowlisted": False}
        ).status_code
        == 200
    )
    _, challenge = pkce()
    assert redirect_params(client.get(AUTHORIZE, params=authorize_params(challenge)))["error"] == "unauthorized_client"


def test_consent_request_expires(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    page = client.get(AUTHORIZE, params=authorize_params(challenge))
    advance(client, 601)
    fields = {
        "request_id": request_id(page),
        "email": sim.config.email,
        "password": sim.config.password,
        "history": "1y",
        "duration": "90d",
        "acknowledge": "yes",
        "action": "authorize",
    }
    late = client.post(AUTHORIZE, data=fields)
    assert late.status_code == 400 and "expired" in late.text and "location" not in late.headers


def test_auto_consent_redirects_at_once(sim: SimServer, client: httpx.Client) -> None:
    client.post("/_sim/portability/customers", json={"count": 2})
    patch_dp(
        client,
        auto_consent=True,
        auto_consent_customer="customer0002@ringvault.test",
        auto_consent_history="60d",
        auto_consent_duration="once",
    )
    _, challenge = pkce()
    params = authorize_params(challenge)
    got = redirect_params(client.get(AUTHORIZE, params=params))
    assert got["state"] == params["state"] and got["code"]
    grant = client.get("/_sim/portability/grants").json()["grants"][0]
    customers = client.get("/_sim/portability/customers").json()["customers"]
    assert grant["customer_id"] == customers[2]["id"]
    assert (grant["history"], grant["duration"], grant["once"]) == ("60d", "once", True)


def test_blink_host_serves_the_same_flow(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    answer = consent(client, sim, authorize_params(challenge), host="api.oauth.blink.com")
    assert "code" in redirect_params(answer)
    assert client.get("/_sim/portability/grants").json()["grants"][0]["brand"] == "blink"


def test_request_log_redacts_oauth_secrets(sim: SimServer, client: httpx.Client) -> None:
    _, challenge = pkce()
    client.get(AUTHORIZE, params={**authorize_params(challenge), "code": "leak-1", "client_secret": "leak-2"})
    logged = client.get("/_sim/requests", params={"limit": 5}).text
    assert "leak-1" not in logged and "leak-2" not in logged and "code=%3Credacted%3E" in logged
