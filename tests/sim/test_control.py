"""The /_sim control API: config, faults, stats, 2FA, sessions, tokens, clock and reset."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.core_helpers import SESSION_PATH, bearer, create_session, login, password_grant

MY_ENDPOINTS = {
    ("GET", "/_sim/"),
    ("GET", "/_sim/config"),
    ("PATCH", "/_sim/config"),
    ("GET", "/_sim/faults"),
    ("PUT", "/_sim/faults"),
    ("PATCH", "/_sim/faults"),
    ("GET", "/_sim/stats"),
    ("DELETE", "/_sim/stats"),
    ("GET", "/_sim/requests"),
    ("GET", "/_sim/2fa"),
    ("GET", "/_sim/sessions"),
    ("DELETE", "/_sim/sessions/{hardware_id}"),
    ("POST", "/_sim/tokens/revoke"),
    ("POST", "/_sim/tokens/expire"),
    ("GET", "/_sim/clock"),
    ("POST", "/_sim/clock"),
    ("POST", "/_sim/reset"),
}


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10) as c:
        yield c


def test_index_describes_every_control_endpoint(client: httpx.Client) -> None:
    index = client.get("/_sim/").json()
    listed = {(e["method"], e["path"]) for e in index["endpoints"]}
    assert listed >= MY_ENDPOINTS
    assert all(e["description"] for e in index["endpoints"])
    assert all(e["path"].startswith("/_sim") for e in index["endpoints"])


@pytest.mark.filterwarnings("ignore:Duplicate Operation ID")  # GET+HEAD media routes share one operation
def test_docs_live_under_sim_only(client: httpx.Client) -> None:
    assert client.get("/_sim/openapi.json").status_code == 200
    for path in ("/docs", "/openapi.json", "/redoc", "/api.ring.com/docs"):
        assert client.get(path).status_code == 404


def test_get_and_patch_config(sim: SimServer, client: httpx.Client) -> None:
    config = client.get("/_sim/config").json()
    assert config["seed"] == 7 and config["faults"]["error_rate"] == 0.0
    patched = client.patch("/_sim/config", json={"access_token_ttl_s": 60, "faults": {"latency_ms": 5}})
    assert patched.status_code == 200
    assert patched.json()["access_token_ttl_s"] == 60 and patched.json()["faults"]["latency_ms"] == 5
    assert sim.state.config.access_token_ttl_s == 60 and sim.state.config.faults.latency_ms == 5
    # the live services read the same config object
    tokens = login(client, sim)
    assert tokens["expires_in"] == 60


def test_invalid_config_patches_are_422_and_change_nothing(sim: SimServer, client: httpx.Client) -> None:
    for patch in ({"access_token_ttl_s": 0}, {"tsv_state": "pigeon"}, {"no_such_knob": 1}, {"faults": {"nope": 1}}):
        response = client.patch("/_sim/config", json=patch)
        assert response.status_code == 422, patch
        assert response.json()["error"] == "invalid"
    assert client.patch("/_sim/config", json=[1, 2]).status_code == 422
    assert sim.state.config.access_token_ttl_s == 3600 and sim.state.config.tsv_state == "sms"


def test_put_replaces_and_patch_merges_faults(sim: SimServer, client: httpx.Client) -> None:
    assert client.put("/_sim/faults", json={"latency_ms": 3, "error_rate": 0.1}).json()["error_rate"] == 0.1
    merged = client.patch("/_sim/faults", json={"timeout_rate": 0.2}).json()
    assert (merged["latency_ms"], merged["error_rate"], merged["timeout_rate"]) == (3, 0.1, 0.2)
    replaced = client.put("/_sim/faults", json={"retry_after_s": 9}).json()
    assert (replaced["latency_ms"], replaced["error_rate"], replaced["retry_after_s"]) == (0, 0, 9)
    assert client.get("/_sim/faults").json() == replaced
    assert sim.state.config.faults.retry_after_s == 9
    assert client.patch("/_sim/faults", json={"error_rate": 2}).status_code == 422
    assert client.put("/_sim/faults", json={"bogus": True}).status_code == 422
    assert client.patch("/_sim/faults", json={"path_pattern": "(unclosed"}).status_code == 422
    assert client.patch("/_sim/config", json={"faults": {"path_pattern": "[z-a]"}}).status_code == 422
    assert client.get("/_sim/faults").json() == replaced


def test_stats_reset_and_request_limit(sim: SimServer, client: httpx.Client) -> None:
    for _ in range(3):
        client.get("/nohost.example/x")
    assert client.get("/_sim/stats").json()["total"] == 3
    assert [e["path"] for e in client.get("/_sim/requests", params={"limit": 2}).json()["requests"]] == [
        "/nohost.example/x"
    ] * 2
    assert client.delete("/_sim/stats").status_code == 204
    assert client.get("/_sim/stats").json() == {"total": 0, "by_status": {}, "endpoints": {}}
    assert client.get("/_sim/requests").json() == {"count": 0, "requests": []}
    assert client.get("/_sim/requests", params={"limit": 0}).status_code == 422


def test_2fa_endpoint(sim: SimServer, client: httpx.Client) -> None:
    assert client.get("/_sim/2fa").json() == {"code": None, "tsv_state": "sms", "codes_sent": 0}
    password_grant(client, sim)
    state = client.get("/_sim/2fa").json()
    assert state["codes_sent"] == 1 and state["code"] == sim.state.auth.current_2fa_code()


def test_sessions_list_and_delete(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim, hardware_id="hw-a")
    create_session(client, sim, tokens["access_token"], "hw-a")
    sessions = client.get("/_sim/sessions").json()["sessions"]
    assert [s["hardware_id"] for s in sessions] == ["hw-a"]
    assert sessions[0]["expires_at"] - sessions[0]["created_at"] == pytest.approx(sim.config.session_ttl_s)
    assert client.delete("/_sim/sessions/hw-a").status_code == 204
    assert client.get("/_sim/sessions").json() == {"sessions": []}
    missing = client.delete("/_sim/sessions/hw-unknown")
    assert missing.status_code == 404 and "hw-unknown" in missing.json()["error"]


def test_revoke_and_expire_tokens(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    assert client.post("/_sim/tokens/expire").json() == {"expired": 1}
    expired = client.post(SESSION_PATH, json={"device": {}}, headers=bearer(tokens["access_token"]))
    assert expired.status_code == 401
    refreshed = client.post(
        "/oauth.ring.com/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert client.post("/_sim/tokens/revoke").json()["revoked"] >= 2
    again = client.post(
        "/oauth.ring.com/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
    )
    assert again.status_code == 401 and again.json()["error"] == "invalid_grant"
    assert create_session(client, sim, refreshed.json()["access_token"]).status_code == 401


def test_clock(sim: SimServer, client: httpx.Client) -> None:
    before = client.get("/_sim/clock").json()
    assert before["offset_s"] == 0 and abs(before["now_ms"] - before["now"] * 1000) < 1000
    after = client.post("/_sim/clock", json={"advance_s": 3600}).json()
    assert after["offset_s"] == 3600 and after["now"] - before["now"] >= 3600
    assert sim.state.clock.offset == 3600
    assert client.post("/_sim/clock", json={"advance_s": -1}).status_code == 422
    assert client.post("/_sim/clock", json={}).status_code == 422


def test_reset_rebuilds_state_but_keeps_the_clock(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    client.post("/_sim/clock", json={"advance_s": 100})
    client.patch("/_sim/config", json={"access_token_ttl_s": 120})
    old_state = sim.state
    response = client.post("/_sim/reset")
    assert response.status_code == 200 and response.json()["reset"] is True
    assert sim.state is not old_state and sim.state.clock is old_state.clock
    assert sim.state.clock.offset == 100 and sim.state.config.access_token_ttl_s == 120
    assert sim.state.stats.counts()["total"] == 0
    assert create_session(client, sim, tokens["access_token"]).status_code == 401  # tokens are gone
    assert login(client, sim)["expires_in"] == 120
