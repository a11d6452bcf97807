"""OAuth, two-factor and session behaviour of the simulated Ring cloud, over a real loopback server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.sim.core_helpers import (
    BASIC,
    SESSION_PATH,
    TOKEN_PATH,
    add_probe_routes,
    bearer,
    create_session,
    current_code,
    login,
    password_body,
    password_grant,
    session_body,
)

BAD_CODE = {
    "err_msg": "bad request response from dependency service",
    "error": "Verification Code is invalid or expired",
}
INVALID_GRANT = {"error": "invalid_grant", "error_description": "token is invalid or does not exists"}
HISTORY = "/api.ring.com/clients_api/probe/123/history"


@pytest.fixture
def sim_config(sim_config: SimConfig, request: pytest.FixtureRequest) -> SimConfig:
    """The shared small world, with this test's overrides (``indirect`` parametrisation)."""
    return sim_config.model_copy(update=getattr(request, "param", {}))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture
def probed(sim: SimServer) -> SimServer:
    add_probe_routes(sim)
    return sim


def form_refresh(client: httpx.Client, sim: SimServer, refresh_token: str) -> httpx.Response:
    """The prd-style refresh grant: form body, HTTP Basic, no client_id, scope or hardware_id."""
    return client.post(
        sim.url + TOKEN_PATH,
        content=f"grant_type=refresh_token&refresh_token={refresh_token}",
        headers={
            "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
            "Accept": "application/json",
            "Authorization": BASIC,
        },
    )


# -- password grant and 2FA ----------------------------------------------------------------------------------


def test_password_grant_without_code_gets_412_and_sends_a_code(sim: SimServer, client: httpx.Client) -> None:
    response = password_grant(client, sim)
    assert response.status_code == 412
    assert response.json() == {"next_time_in_secs": 60, "phone": sim.config.phone, "tsv_state": "sms"}
    assert sim.state.auth.codes_sent() == 1
    code = sim.state.auth.current_2fa_code()
    assert code is not None and code.isdigit() and len(code) == 6


def test_empty_2fa_code_header_is_a_new_challenge(sim: SimServer, client: httpx.Client) -> None:
    assert password_grant(client, sim, code="").status_code == 412
    no_headers = client.post(sim.url + TOKEN_PATH, json=password_body(sim))  # prd's first attempt
    assert no_headers.status_code == 412
    assert sim.state.auth.codes_sent() == 2


def test_codes_are_deterministic_for_a_seed(sim_config: SimConfig, client: httpx.Client) -> None:
    codes = []
    for _ in range(2):
        with SimServer(sim_config) as server:
            password_grant(client, server)
            codes.append(current_code(client, server))
    assert codes[0] == codes[1]


def test_form_login_with_basic_auth_returns_the_token_response(sim: SimServer, client: httpx.Client) -> None:
    form = {
        "grant_type": "password",
        "username": sim.config.email,
        "password": sim.config.password,
        "scope": "client",
    }
    headers = {"Authorization": BASIC, "hardware_id": "hw-form", "User-Agent": "android:com.ringapp"}
    assert client.post(sim.url + TOKEN_PATH, data=form, headers=headers).status_code == 412
    headers |= {"2fa-support": "true", "2fa-code": current_code(client, sim)}
    response = client.post(sim.url + TOKEN_PATH, data=form, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope", "created_at"}
    assert body["token_type"] == "bearer" and body["scope"] == "client"
    assert body["expires_in"] == sim.config.access_token_ttl_s and isinstance(body["expires_in"], int)
    assert abs(body["created_at"] - sim.state.clock.now()) < 5 and isinstance(body["created_at"], int)
    assert body["access_token"] != body["refresh_token"]


def test_wrong_code_is_400_and_the_user_may_retry(sim: SimServer, client: httpx.Client) -> None:
    password_grant(client, sim)
    code = current_code(client, sim)
    wrong = "000000" if code != "000000" else "111111"
    response = password_grant(client, sim, code=wrong)
    assert response.status_code == 400 and response.json() == BAD_CODE
    assert password_grant(client, sim, code=code).status_code == 200


def test_a_code_works_once(sim: SimServer, client: httpx.Client) -> None:
    password_grant(client, sim)
    code = current_code(client, sim)
    assert password_grant(client, sim, code=code).status_code == 200
    again = password_grant(client, sim, code=code)
    assert again.status_code == 400 and again.json() == BAD_CODE


def test_an_expired_code_is_refused(sim: SimServer, client: httpx.Client) -> None:
    password_grant(client, sim)
    code = current_code(client, sim)
    sim.state.clock.advance(sim.config.two_factor_code_ttl_s + 1)
    response = password_grant(client, sim, code=code)
    assert response.status_code == 400 and response.json() == BAD_CODE


def test_eleventh_code_request_in_ten_minutes_is_throttled(sim: SimServer, client: httpx.Client) -> None:
    for _ in range(10):
        assert password_grant(client, sim).status_code == 412
    response = password_grant(client, sim)
    assert response.status_code == 400
    assert response.json() == {
        "error": "Too many requests",
        "error_description": "too many requests from dependency service",
    }
    assert sim.state.auth.codes_sent() == 10
    sim.state.clock.advance(sim.config.two_factor_window_s + 1)
    assert password_grant(client, sim).status_code == 412
    assert sim.state.auth.codes_sent() == 11


@pytest.mark.parametrize("sim_config", [{"tsv_state": "totp"}], indirect=True)
def test_totp_sends_nothing_and_accepts_the_time_window_code(sim: SimServer, client: httpx.Client) -> None:
    response = password_grant(client, sim)
    assert response.status_code == 412 and response.json()["tsv_state"] == "totp"
    state = client.get(sim.url + "/_sim/2fa").json()
    assert state["codes_sent"] == 0 and state["tsv_state"] == "totp"
    assert password_grant(client, sim, code=state["code"]).status_code == 200
    # still valid after the next 30 s step begins (one step of drift is allowed), not two steps later
    sim.state.clock.advance(30)
    assert password_grant(client, sim, code=state["code"]).status_code == 200
    sim.state.clock.advance(60)
    assert password_grant(client, sim, code=state["code"]).status_code == 400


@pytest.mark.parametrize("sim_config", [{"tsv_state": "email"}], indirect=True)
def test_email_mode_names_the_channel(sim: SimServer, client: httpx.Client) -> None:
    response = password_grant(client, sim)
    assert response.status_code == 412 and response.json()["tsv_state"] == "email"
    assert sim.state.auth.codes_sent() == 1


@pytest.mark.parametrize("sim_config", [{"two_factor": False}], indirect=True)
def test_without_two_factor_the_password_is_enough(sim: SimServer, client: httpx.Client) -> None:
    response = password_grant(client, sim)
    assert response.status_code == 200 and "access_token" in response.json()
    assert client.get(sim.url + "/_sim/2fa").json()["code"] is None


def test_wrong_password_is_401_access_denied_and_sends_no_code(sim: SimServer, client: httpx.Client) -> None:
    response = password_grant(client, sim, password="not-it")
    assert response.status_code == 401
    assert response.json() == {"error": "access_denied", "error_description": "invalid user credentials"}
    assert password_grant(client, sim, username="someone@else.test").status_code == 401
    assert sim.state.auth.codes_sent() == 0


def test_email_is_case_insensitive(sim: SimServer, client: httpx.Client) -> None:
    assert password_grant(client, sim, username=sim.config.email.upper()).status_code == 412


def test_client_id_rules(sim: SimServer, client: httpx.Client) -> None:
    retired = password_grant(client, sim, client_id="RingWindows")
    assert retired.status_code == 401 and retired.json()["error"] == "unauthorized_client"
    missing = password_grant(client, sim, client_id=None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong_basic = client.post(
        sim.url + TOKEN_PATH,
        json={"grant_type": "password", "username": sim.config.email, "password": sim.config.password},
        headers={"Authorization": "Basic UmluZ1dpbmRvd3M6"},  # RingWindows:
    )
    assert wrong_basic.status_code == 401 and wrong_basic.json()["error"] == "unauthorized_client"
    assert sim.state.auth.codes_sent() == 0


def test_unknown_grant_type_is_400(sim: SimServer, client: httpx.Client) -> None:
    response = password_grant(client, sim, grant_type="client_credentials")
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


# -- refresh grant -------------------------------------------------------------------------------------------


def test_refresh_in_form_rotates_and_the_old_token_dies(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    first = form_refresh(client, sim, tokens["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["access_token"] != tokens["access_token"]
    assert rotated["scope"] == "client" and rotated["token_type"] == "bearer"
    old = form_refresh(client, sim, tokens["refresh_token"])
    assert old.status_code == 401 and old.json() == INVALID_GRANT
    assert form_refresh(client, sim, rotated["refresh_token"]).status_code == 200


def test_refresh_in_json_like_ring_client_api(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    response = client.post(
        sim.url + TOKEN_PATH,
        json={
            "client_id": "ring_official_android",
            "scope": "client",
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
        },
        headers={"hardware_id": "hw-test", "2fa-support": "true", "2fa-code": ""},
    )
    assert response.status_code == 200 and response.json()["refresh_token"] != tokens["refresh_token"]


@pytest.mark.parametrize("sim_config", [{"refresh_grace_s": 30}], indirect=True)
def test_superseded_refresh_token_works_during_the_grace_period(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    assert form_refresh(client, sim, tokens["refresh_token"]).status_code == 200
    sim.state.clock.advance(20)
    assert form_refresh(client, sim, tokens["refresh_token"]).status_code == 200  # a racing refresh
    sim.state.clock.advance(11)
    late = form_refresh(client, sim, tokens["refresh_token"])
    assert late.status_code == 401 and late.json() == INVALID_GRANT


def test_refresh_tokens_expire(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    sim.state.clock.advance(sim.config.refresh_token_ttl_s + 1)
    response = form_refresh(client, sim, tokens["refresh_token"])
    assert response.status_code == 401 and response.json() == INVALID_GRANT


def test_unknown_refresh_token_is_invalid_grant(sim: SimServer, client: httpx.Client) -> None:
    response = form_refresh(client, sim, "not-a-token")
    assert response.status_code == 401 and response.json() == INVALID_GRANT


# -- access tokens on API calls ------------------------------------------------------------------------------


def test_api_calls_need_a_bearer_token(probed: SimServer, client: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": BASIC}):
        response = client.get(probed.url + "/api.ring.com/devices/v1/probe", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


def test_access_token_expires_with_the_clock(probed: SimServer, client: httpx.Client) -> None:
    tokens = login(client, probed)
    url = probed.url + "/api.ring.com/devices/v1/probe"
    assert client.get(url, headers=bearer(tokens["access_token"])).status_code == 200
    probed.state.clock.advance(probed.config.access_token_ttl_s + 1)
    assert client.get(url, headers=bearer(tokens["access_token"])).status_code == 401
    fresh = form_refresh(client, probed, tokens["refresh_token"]).json()
    assert client.get(url, headers=bearer(fresh["access_token"])).status_code == 200


def test_expire_access_every_forces_a_refresh(sim_config: SimConfig, client: httpx.Client) -> None:
    sim_config.faults.expire_access_every = 3
    with SimServer(sim_config) as sim:
        add_probe_routes(sim)
        tokens = login(client, sim)
        url = sim.url + "/api.ring.com/devices/v1/probe"
        statuses = [client.get(url, headers=bearer(tokens["access_token"])).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 401]
        fresh = form_refresh(client, sim, tokens["refresh_token"]).json()
        assert client.get(url, headers=bearer(fresh["access_token"])).status_code == 200


def test_hardware_id_comes_from_the_header_else_the_token(probed: SimServer, client: httpx.Client) -> None:
    tokens = login(client, probed, hardware_id="hw-issued")
    url = probed.url + "/api.ring.com/devices/v1/probe"
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get(url, headers=auth).json() == {"hardware_id": "hw-issued"}
    assert client.get(url, headers=auth | {"hardware_id": "hw-other"}).json() == {"hardware_id": "hw-other"}


# -- sessions ------------------------------------------------------------------------------------------------


def test_clients_api_needs_a_session_for_the_hardware_id(probed: SimServer, client: httpx.Client) -> None:
    tokens = login(client, probed, hardware_id="8c1b1f0e-3c2a-5d55-9d8e-2f0d3c1e7a11")
    headers = bearer(tokens["access_token"], "8c1b1f0e-3c2a-5d55-9d8e-2f0d3c1e7a11")
    missing = client.get(probed.url + HISTORY, headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"error": "Session not found for 8c1b1f0e-3c2a-5d55-9d8e-2f0d3c1e7a11"}
    # devices/v1 is outside clients_api: no session needed there
    assert client.get(probed.url + "/api.ring.com/devices/v1/probe", headers=headers).status_code == 200
    created = create_session(client, probed, tokens["access_token"], "8c1b1f0e-3c2a-5d55-9d8e-2f0d3c1e7a11")
    assert created.status_code == 200
    ok = client.get(probed.url + HISTORY, headers=headers)
    assert ok.status_code == 200 and ok.json()["device_id"] == "123"
    other = client.get(probed.url + HISTORY, headers=bearer(tokens["access_token"], "hw-without-session"))
    assert other.status_code == 404 and "hw-without-session" in other.json()["error"]


def test_session_accepts_string_api_version_and_returns_the_profile(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    response = client.post(
        sim.url + SESSION_PATH,
        json=session_body("hw-prd", api_version="11"),
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 200
    profile = response.json()["profile"]
    assert isinstance(profile["id"], int)
    assert profile["email"] == sim.config.email and profile["first_name"] == sim.config.first_name
    assert profile["last_name"] == sim.config.last_name and profile["hardware_id"] == "hw-prd"
    assert isinstance(profile["features"], dict) and len(profile["features"]) >= 20
    assert profile["user_preferences"] == {"settings": {}, "preferences": {}}
    assert profile["account_type"] == "ring" and profile["tfa_enabled"] is True
    sessions = client.get(sim.url + "/_sim/sessions").json()["sessions"]
    assert [(s["hardware_id"], s["device_model"], s["api_version"]) for s in sessions] == [("hw-prd", "tests", "11")]


def test_session_endpoint_needs_a_bearer_token_and_a_device(sim: SimServer, client: httpx.Client) -> None:
    assert client.post(sim.url + SESSION_PATH, json=session_body("hw")).status_code == 401
    tokens = login(client, sim)
    bad = client.post(sim.url + SESSION_PATH, json={"nope": 1}, headers=bearer(tokens["access_token"]))
    assert bad.status_code == 400


def test_sessions_expire(probed: SimServer, client: httpx.Client) -> None:
    tokens = login(client, probed)
    create_session(client, probed, tokens["access_token"])
    probed.state.clock.advance(probed.config.session_ttl_s + 1)
    fresh = form_refresh(client, probed, tokens["refresh_token"]).json()
    response = client.get(probed.url + HISTORY, headers=bearer(fresh["access_token"]))
    assert response.status_code == 404 and "hw-test" in response.json()["error"]


@pytest.mark.parametrize("sim_config", [{"session_budget_per_day": 2}], indirect=True)
def test_session_budget_gives_429_with_retry_after(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    assert create_session(client, sim, tokens["access_token"]).status_code == 200
    assert create_session(client, sim, tokens["access_token"]).status_code == 200
    throttled = create_session(client, sim, tokens["access_token"])
    assert throttled.status_code == 429
    retry_after = int(throttled.headers["Retry-After"])
    assert 0 < retry_after <= 86400
    sim.state.clock.advance(retry_after)
    fresh = form_refresh(client, sim, tokens["refresh_token"]).json()
    assert create_session(client, sim, fresh["access_token"]).status_code == 200


def test_deleting_a_session_revokes_that_devices_tokens_only(probed: SimServer, client: httpx.Client) -> None:
    mine = login(client, probed, hardware_id="hw-mine")
    other = login(client, probed, hardware_id="hw-other")
    create_session(client, probed, mine["access_token"], "hw-mine")
    assert client.delete(probed.url + "/_sim/sessions/hw-mine").status_code == 204
    url = probed.url + "/api.ring.com/devices/v1/probe"
    assert client.get(url, headers=bearer(mine["access_token"], "hw-mine")).status_code == 401
    assert form_refresh(client, probed, mine["refresh_token"]).status_code == 401
    assert client.get(url, headers=bearer(other["access_token"], "hw-other")).status_code == 200


def test_state_is_safe_to_read_while_the_server_writes(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    # at least 5 writes, however slow the machine; more while 0.3 s last
    deadline, writes = time.monotonic() + 0.3, 0
    while writes < 5 or time.monotonic() < deadline:
        create_session(client, sim, tokens["access_token"], f"hw-{time.monotonic_ns()}")
        writes += 1
        assert sim.state.auth.sessions()
    assert len(sim.state.auth.sessions()) > 1
