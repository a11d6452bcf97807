"""Fault injection, media responses, statistics and the request log, over a real loopback server."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.core_helpers import PROBE_BLOB, add_probe_routes, bearer, create_session, login

UNKNOWN = "/nohost.example/anything"  # a Ring-host request (404) that faults still apply to
BLOB = "/media.test/blob/clip.mp4"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture
def probed(sim: SimServer) -> SimServer:
    add_probe_routes(sim)
    return sim


def set_faults(client: httpx.Client, sim: SimServer, **knobs: Any) -> None:
    response = client.put(sim.url + "/_sim/faults", json=knobs)
    assert response.status_code == 200, response.text


def statuses(client: httpx.Client, sim: SimServer, n: int, path: str = UNKNOWN) -> list[int]:
    return [client.get(sim.url + path).status_code for _ in range(n)]


def test_latency_is_added_to_ring_hosts_only(sim: SimServer, client: httpx.Client) -> None:
    set_faults(client, sim, latency_ms=600, latency_jitter_ms=50)
    started = time.perf_counter()
    client.get(sim.url + UNKNOWN)
    ring_elapsed = time.perf_counter() - started
    control_times = []
    for _ in range(3):
        started = time.perf_counter()
        client.get(sim.url + "/_sim/clock")
        control_times.append(time.perf_counter() - started)
    assert 0.6 <= ring_elapsed < 10
    # never delayed by the 600 ms latency knob: best of three under 0.5 s holds on a loaded machine too
    assert min(control_times) < 0.5


def test_rate_limit_answers_429_with_retry_after(sim: SimServer, client: httpx.Client) -> None:
    # 0.2 rps refills one token every 5 s: no refill can happen during these few requests, even on a loaded machine.
    set_faults(client, sim, rate_limit_rps=0.2, rate_limit_burst=3, retry_after_s=7)
    responses = [client.get(sim.url + UNKNOWN) for _ in range(5)]
    assert [r.status_code for r in responses] == [404, 404, 404, 429, 429]
    assert all(r.headers["Retry-After"] == "7" for r in responses[3:])
    assert responses[3].json()["error"] == "Too Many Requests"
    assert client.get(sim.url + "/_sim/clock").status_code == 200  # the control API is never limited


def test_rate_limit_bucket_refills_over_time(sim: SimServer, client: httpx.Client) -> None:
    set_faults(client, sim, rate_limit_rps=2, rate_limit_burst=1, retry_after_s=1)
    # Drain the bucket: at 2 rps a few quick requests always reach a 429 (bounded loop, no timing assumption).
    drained = [client.get(sim.url + UNKNOWN).status_code for _ in range(20)]
    assert 429 in drained
    time.sleep(0.55)  # 2 rps refills one token in 0.5 s; more time passing only adds tokens
    assert client.get(sim.url + UNKNOWN).status_code == 404


def test_retry_after_is_sent_even_when_zero(sim: SimServer, client: httpx.Client) -> None:
    set_faults(client, sim, rate_limit_rps=0.5, rate_limit_burst=1, retry_after_s=0)
    client.get(sim.url + UNKNOWN)
    throttled = client.get(sim.url + UNKNOWN)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "0"


def test_error_rate_is_roughly_right_and_answers_500_or_503_json(sim: SimServer, client: httpx.Client) -> None:
    set_faults(client, sim, error_rate=0.3, seed=11)
    responses = [client.get(sim.url + UNKNOWN) for _ in range(300)]
    errors = [r for r in responses if r.status_code >= 500]
    assert 0.2 <= len(errors) / len(responses) <= 0.4
    assert {r.status_code for r in errors} == {500, 503}
    assert all(r.headers["content-type"] == "application/json" and "error" in r.json() for r in errors)
    assert {r.status_code for r in responses} - {500, 503} == {404}


def test_timeout_rate_answers_504(sim: SimServer, client: httpx.Client) -> None:
    set_faults(client, sim, timeout_rate=0.25, seed=3)
    counts = Counter(statuses(client, sim, 300))
    assert set(counts) == {404, 504}
    assert 0.15 <= counts[504] / 300 <= 0.35


def test_the_same_seed_gives_the_same_faults(sim: SimServer, client: httpx.Client) -> None:
    set_faults(client, sim, error_rate=0.5, timeout_rate=0.2, seed=5)
    first = statuses(client, sim, 60)
    set_faults(client, sim, error_rate=0.5, timeout_rate=0.2, seed=5)
    assert statuses(client, sim, 60) == first
    set_faults(client, sim, error_rate=0.5, timeout_rate=0.2, seed=6)
    assert statuses(client, sim, 60) != first


def test_path_pattern_restricts_faults(sim: SimServer, client: httpx.Client) -> None:
    set_faults(client, sim, error_rate=1.0, path_pattern=r"/history$")
    hit = statuses(client, sim, 5, "/api.ring.com/clients_api/doorbots/1/history")
    assert all(s in (500, 503) for s in hit)
    assert statuses(client, sim, 5, "/api.ring.com/clients_api/no_such_thing") == [404] * 5


def test_faults_follow_config_changes_at_run_time(sim: SimServer, client: httpx.Client) -> None:
    assert statuses(client, sim, 3) == [404] * 3
    assert client.patch(sim.url + "/_sim/faults", json={"error_rate": 1.0}).status_code == 200
    assert all(s in (500, 503) for s in statuses(client, sim, 3))
    assert client.patch(sim.url + "/_sim/config", json={"faults": {"error_rate": 0.0}}).status_code == 200
    assert statuses(client, sim, 3) == [404] * 3


# -- media responses -----------------------------------------------------------------------------------------


def test_media_full_body_and_ranges(probed: SimServer, client: httpx.Client) -> None:
    full = client.get(probed.url + BLOB)
    assert full.status_code == 200 and full.content == PROBE_BLOB
    assert full.headers["accept-ranges"] == "bytes" and full.headers["content-type"] == "video/mp4"
    part = client.get(probed.url + BLOB, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == PROBE_BLOB[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(PROBE_BLOB)}"
    assert part.headers["content-length"] == "100"
    tail = client.get(probed.url + BLOB, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == PROBE_BLOB[-10:]
    open_ended = client.get(probed.url + BLOB, headers={"Range": "bytes=20000-"})
    assert open_ended.status_code == 206 and open_ended.content == PROBE_BLOB[20000:]
    beyond = client.get(probed.url + BLOB, headers={"Range": f"bytes={len(PROBE_BLOB)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(PROBE_BLOB)}"


def test_bandwidth_throttling_is_measurable(probed: SimServer, client: httpx.Client) -> None:
    unlimited = []  # best of three: one unthrottled transfer can stall for a second on a loaded machine
    for _ in range(3):
        started = time.perf_counter()
        client.get(probed.url + BLOB)
        unlimited.append(time.perf_counter() - started)
    set_faults(client, probed, bandwidth_kbps=200)  # 25 kB/s: 20 kB take about 0.8 s
    started = time.perf_counter()
    body = client.get(probed.url + BLOB).content
    throttled = time.perf_counter() - started
    assert body == PROBE_BLOB
    # Lower bounds only: throttling can only make the transfer slower, a loaded machine too.
    assert throttled >= 0.6
    assert throttled > min(unlimited)


def test_drop_cuts_the_body_and_the_client_sees_an_error(probed: SimServer, client: httpx.Client) -> None:
    set_faults(client, probed, drop_rate=1.0)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(probed.url + BLOB)
    with client.stream("GET", probed.url + BLOB) as response:
        assert response.headers["content-length"] == str(len(PROBE_BLOB))
        received = bytearray()
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            for chunk in response.iter_bytes():
                received += chunk
        assert 0 < len(received) < len(PROBE_BLOB)
        assert PROBE_BLOB.startswith(bytes(received))
    entry = client.get(probed.url + "/_sim/requests?limit=1").json()["requests"][0]
    assert entry["fault"] == "drop" and entry["aborted"] is True and entry["status"] == 200
    set_faults(client, probed)
    assert client.get(probed.url + BLOB).content == PROBE_BLOB  # the server survived the aborts


def test_drop_rate_is_a_fraction(probed: SimServer, client: httpx.Client) -> None:
    set_faults(client, probed, drop_rate=0.5, seed=2)
    outcomes = []
    for _ in range(40):
        try:
            outcomes.append(client.get(probed.url + BLOB).content == PROBE_BLOB)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            outcomes.append(False)
    assert 8 <= outcomes.count(False) <= 32


# -- statistics and the request log -------------------------------------------------------------------------


def test_stats_count_per_route_template_and_status(probed: SimServer, client: httpx.Client) -> None:
    tokens = login(client, probed)
    create_session(client, probed, tokens["access_token"])
    for device in ("1", "22", "333"):
        client.get(
            probed.url + f"/api.ring.com/clients_api/probe/{device}/history", headers=bearer(tokens["access_token"])
        )
    client.get(probed.url + UNKNOWN)
    client.get(probed.url + "/_sim/clock")
    stats = client.get(probed.url + "/_sim/stats").json()
    endpoints = stats["endpoints"]
    assert endpoints["GET api.ring.com/clients_api/probe/{device_id}/history"] == {"count": 3, "by_status": {"200": 3}}
    assert endpoints["POST oauth.ring.com/oauth/token"] == {"count": 2, "by_status": {"200": 1, "412": 1}}
    assert endpoints["POST api.ring.com/clients_api/session"]["count"] == 1
    assert endpoints["GET nohost.example/*"] == {"count": 1, "by_status": {"404": 1}}
    assert not any("_sim" in key for key in endpoints)
    assert stats["total"] == 7 and stats["by_status"] == {"200": 5, "404": 1, "412": 1}
    assert probed.state.stats.count("GET api.ring.com/clients_api/probe/{device_id}/history") == 3
    only = client.get(probed.url + "/_sim/stats", params={"prefix": "api.ring.com/clients_api"}).json()
    assert set(only["endpoints"]) == {
        "GET api.ring.com/clients_api/probe/{device_id}/history",
        "POST api.ring.com/clients_api/session",
    }
    by_method = client.get(probed.url + "/_sim/stats", params={"prefix": "POST "}).json()
    assert by_method["total"] == 3


def test_request_log_keeps_headers_but_never_secrets(probed: SimServer, client: httpx.Client) -> None:
    tokens = login(client, probed, hardware_id="hw-logged")
    create_session(client, probed, tokens["access_token"], "hw-logged")
    client.get(
        probed.url + "/api.ring.com/clients_api/probe/5/history",
        params={"limit": "5", "X-Amz-Signature": "sig-secret-123"},
        headers=bearer(tokens["access_token"], "hw-logged"),
    )
    raw = client.get(probed.url + "/_sim/requests", params={"limit": 50}).text
    for secret in (tokens["access_token"], tokens["refresh_token"], probed.config.password, "sig-secret-123"):
        assert secret not in raw
    log = json.loads(raw)["requests"]
    assert [e["status"] for e in log] == [412, 200, 200, 200]
    last = log[-1]
    assert last["method"] == "GET" and last["path"] == "/api.ring.com/clients_api/probe/5/history"
    assert last["endpoint"] == "GET api.ring.com/clients_api/probe/{device_id}/history"
    assert last["headers"]["authorization"] == "Bearer <redacted>"
    assert last["headers"]["hardware_id"] == "hw-logged"
    assert last["headers"]["user-agent"] == "android:com.ringapp"
    assert "limit=5" in last["query"] and "X-Amz-Signature=%3Credacted%3E" in last["query"]
    grant = log[1]
    assert grant["headers"]["2fa-support"] == "true" and grant["headers"]["2fa-code"] == "<redacted>"
    assert grant["headers"]["content-type"] == "application/json"
    assert client.get(probed.url + "/_sim/requests", params={"limit": 2}).json()["count"] == 2


def test_host_header_routing(sim: SimServer, client: httpx.Client) -> None:
    """A client whose DNS points Ring's host names at the simulator reaches the same routes."""
    response = client.post(
        sim.url + "/oauth/token",
        json={"grant_type": "password", "client_id": "ring_official_android", "username": "x", "password": "y"},
        headers={"Host": "oauth.ring.com"},
    )
    assert response.status_code == 401 and response.json()["error"] == "access_denied"
    assert sim.state.stats.count("POST oauth.ring.com/oauth/token") == 1


def test_host_header_routing_keeps_paths_that_already_name_a_host(sim: SimServer, client: httpx.Client) -> None:
    for path in ("/clients_api/ring_devices", "/api.ring.com/clients_api/ring_devices"):
        response = client.get(sim.url + path, headers={"Host": "api.ring.com"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert sim.state.stats.count("GET api.ring.com/clients_api/ring_devices") == 2


def test_faulted_requests_are_counted_under_their_endpoint(sim: SimServer, client: httpx.Client) -> None:
    token = login(client, sim)["access_token"]
    create_session(client, sim, token)
    client.delete(sim.url + "/_sim/stats")
    set_faults(client, sim, error_rate=1.0)
    headers = {**bearer(token), "hardware_id": "hw-test"}
    answered = client.get(sim.url + "/api.ring.com/clients_api/ring_devices", headers=headers)
    assert answered.status_code in (500, 503)
    endpoints = client.get(sim.url + "/_sim/stats").json()["endpoints"]
    assert "GET api.ring.com/clients_api/ring_devices" in endpoints
    assert not any(key.endswith("/*") for key in endpoints)


def test_one_date_header_from_the_simulated_clock(sim: SimServer, client: httpx.Client) -> None:
    from email.utils import parsedate_to_datetime

    before = parsedate_to_datetime(client.get(sim.url + UNKNOWN).headers["date"])
    client.post(sim.url + "/_sim/clock", json={"advance_s": 86400})
    response = client.get(sim.url + UNKNOWN)
    assert len(response.headers.get_list("date")) == 1
    assert "server" not in response.headers
    after = parsedate_to_datetime(response.headers["date"])
    assert 86000 < (after - before).total_seconds() < 86800
