"""The simulator server: a real uvicorn on loopback, in a thread (SimServer) or in the foreground (run)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer


def test_start_discovers_a_free_port_and_stop_closes_it(sim_config: SimConfig) -> None:
    server = SimServer(sim_config)
    assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
    server.start()
    try:
        assert httpx.get(server.url + "/_sim/clock").status_code == 200
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/_sim/clock", timeout=2)


def test_two_servers_run_side_by_side(sim_config: SimConfig) -> None:
    with SimServer(sim_config) as one, SimServer(sim_config) as two:
        assert one.port != two.port
        httpx.post(one.url + "/_sim/clock", json={"advance_s": 50})
        assert httpx.get(two.url + "/_sim/clock").json()["offset_s"] == 0
        assert one.state is not two.state


def test_state_and_app_are_exposed(sim: SimServer) -> None:
    assert sim.app.state.sim is sim.state
    assert sim.state.config is sim.config
    httpx.post(sim.url + "/_sim/reset")
    assert sim.app.state.sim is sim.state  # `state` follows a reset


def test_unknown_hosts_and_paths_are_404(sim: SimServer) -> None:
    for path in ("/", "/example.com/", "/api.ring.com/clients_api/definitely_not_an_endpoint", "/_sim/nope"):
        assert httpx.get(sim.url + path).status_code == 404, path


def test_header_names_with_underscores_reach_the_app(sim: SimServer) -> None:
    """Sent on a raw socket, so no client library can normalise the header name."""
    body = b'{"grant_type":"password","client_id":"ring_official_android","username":"a@b.c","password":"x"}'
    request = (
        b"POST /oauth.ring.com/oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"hardware_id: raw-socket-hw\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    ) + body
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401")
    logged = sim.state.stats.requests(1)[0]
    assert logged["headers"]["hardware_id"] == "raw-socket-hw"


def test_an_idle_keep_alive_connection_outlives_the_http_clients_pool_expiry(sim: SimServer) -> None:
    """httpx drops idle pooled connections after 5 s; the simulator keeps them longer (60 s), so a client never sends
    on a connection the server is closing at that same instant (uvicorn's default of 5 s made that race possible:
    a ReadError on a non-retried OAuth code exchange in the 100-customer burst). Before the fix the second request
    on the connection, 6 s later, got no answer."""
    request = b"GET /api.ring.com/clients_api/nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    def answer(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as conn:
        conn.sendall(request)
        assert answer(conn).startswith(b"HTTP/1.1 404")
        time.sleep(6.0)  # idle past httpx's 5 s pool expiry and uvicorn's default keep-alive
        conn.sendall(request)
        assert answer(conn).startswith(b"HTTP/1.1 404")


def test_binds_only_where_asked(sim: SimServer) -> None:
    assert sim.host == "127.0.0.1" and sim.url.startswith("http://127.0.0.1:")


def test_run_serves_in_the_foreground_and_logs_the_url(tmp_path: object) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "from ringvault.sim.config import SimConfig\n"
        "from ringvault.sim.server import run\n"
        f"run(SimConfig(seed=3, locations=1, events_per_device=2), port={port})\n"
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert f"http://127.0.0.1:{port}" in line and "/_sim/" in line
        deadline = time.monotonic() + 10
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/_sim/config").json()["seed"] == 3
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert process.wait(timeout=10) in (0, -15)
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()
