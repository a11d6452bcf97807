"""Hostile requests against a real server: bodies too big (declared or streamed), bodies nested too deeply, and every
route swept with ids and texts no archive holds — each answered with a one-line JSON error, never a 500."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.server.conftest import Serve
from tests.server.helpers import ServerThread, wait_for_job
from tests.server.portability_helpers import dp_app, envelope

LIMIT = 1024 * 1024  # the server's documented body limit


def raw_request(url: str, head: str, chunks: Iterable[bytes] = (), timeout_s: float = 30.0) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers, without the blank line) then ``chunks`` over a plain socket and read
    the answer until the server closes or the answer is complete. The server may close while the body is still being
    sent (that is the point of refusing it early): the answer it wrote first is still read."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
                if _complete(received):
                    break
        except ConnectionResetError:
            pass
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", received)
    assert match is not None, received[:200]
    return int(match.group(1)), received.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in received else b""


def _complete(received: bytes) -> bool:
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


def _one_line_error(body: bytes) -> str:
    message: str = json.loads(body)["error"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


def _chunked(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


# -- body size ---------------------------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_before_it_is_sent(serve: Serve) -> None:
    """64 MB announced, not a byte sent: the 413 comes at once (an old server waited for the body)."""
    server = serve()
    host = f"127.0.0.1:{server.port}"
    for path in ("/api/sync", "/connector/download/20240101", "/api/devices"):
        status, body = raw_request(
            server.url,
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {64 * 1024 * 1024}",
        )
        assert status == 413, (path, body[:200])
        assert "larger than 1048576 bytes" in _one_line_error(body)


def test_a_streamed_oversized_body_is_refused(serve: Serve) -> None:
    """A chunked body (no Content-Length) is counted as it arrives: one byte over the limit is a 413."""
    server = serve()
    names = ["d" * 100] * (LIMIT // 104 + 10)
    data = json.dumps({"device": names}).encode()
    assert len(data) > LIMIT
    status, body = raw_request(
        server.url,
        f"POST /api/sync HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked",
        _chunked(data),
    )
    assert status == 413, body[:300]
    assert "larger than 1048576 bytes" in _one_line_error(body)
    with server.client() as client:
        assert client.get("/api/jobs").json() == []  # nothing was queued


def test_sync_parameters_are_bounded_and_jobs_keep_normalized_options(serve: Serve) -> None:
    server = serve()
    with server.client() as client:
        too_many = client.post("/api/sync", json={"device": [str(n) for n in range(201)]})
        too_long = client.post("/api/sync", json={"device": ["x" * 201]})
        bad_kind = client.post("/api/sync", json={"kind": ["ding\x1b[31m"]})
        long_date = client.post("/api/sync", json={"since": "2024-01-01" + " " * 100})
        for answer in (too_many, too_long, bad_kind, long_date):
            assert answer.status_code == 400, answer.text
            _one_line_error(answer.content)
        accepted = client.post("/api/sync", json={"since": "2024-01-01", "kind": "ding", "metadata_only": True})
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(client, accepted.json()["job_id"])
    # the job shows (and keeps) the options it ran, normalized, not the body that asked for them
    assert job["request"] == {
        "device": None, "kind": ["ding"], "since": "2024-01-01T00:00:00+00:00", "until": None,
        "metadata_only": True, "newest_first": False, "hub": True, "retry_failed": False,
    }  # fmt: skip


NESTED = [
    ("an array", b"[" * 200_000),
    ("an object", b'{"a":' * 100_000),
    ("inside a field", b'{"device": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
]


@pytest.mark.parametrize(("name", "body"), NESTED, ids=[n for n, _ in NESTED])
def test_deeply_nested_json_is_a_one_line_400(serve: Serve, name: str, body: bytes) -> None:
    server = serve()
    with server.client() as client:
        for path in ("/api/sync", "/connector/download/20240101"):
            answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 400, (name, path, answer.text[:200])
            _one_line_error(answer.content)


def test_deeply_nested_portability_bodies_are_one_line_400s(sim: SimServer, tmp_path: Path) -> None:
    with ServerThread(dp_app(sim, tmp_path / "archive", tmp_path / "tokens")) as server, server.client() as client:
        for body in (b"[" * 60_000, b'{"Message": ' + b"[" * 60_000):
            answer = client.post("/portability/notifications/v1", content=body)
            assert answer.status_code == 400, answer.text[:200]
            assert "nested too deeply" in _one_line_error(answer.content)
        ok = client.post("/portability/notifications/v1", content=envelope("0" * 36))
        assert ok.status_code == 404  # a well-formed notification still reaches the check of its query id
        invites = client.post("/portability/invites", content=b'{"customer": ' + b"[" * 100_000)
        assert invites.status_code == 400, invites.text[:200]
        _one_line_error(invites.content)


# -- every route, hostile parameters -----------------------------------------------------------------------------

HOSTILE = [
    "99999999999999999999999", "-1", "0", "-99999999999999999999999", "1e400", "NaN",
    "\x00", "\x1b[31mred\x1b[0m\nerror: fake", "..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "é" * 40,
    "x" * 600, "9" * 5000, " ", "%", "null", "[]", "{}",
]  # fmt: skip


def _operations(client: httpx.Client) -> list[tuple[str, str, list[str], list[str]]]:
    """Every documented operation: method, path, its path parameters and its query parameters (from the OpenAPI
    document, so a new route is swept without touching this test). Event streams never end, so they are swept by
    their own test (``test_events_stream_limits.py``)."""
    found = []
    for path, item in client.get("/openapi.json").json()["paths"].items():
        for method, operation in item.items():
            if "text/event-stream" in operation.get("responses", {}).get("200", {}).get("content", {}):
                continue
            params = operation.get("parameters", [])
            found.append(
                (
                    method.upper(),
                    path,
                    [p["name"] for p in params if p["in"] == "path"],
                    [p["name"] for p in params if p["in"] == "query"],
                )
            )
    return found


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", quote(value, safe=""), path)


def test_every_route_survives_hostile_parameters(sim: SimServer, cloud_env: SimServer, tmp_path: Path) -> None:
    """Each path parameter and each query parameter of every route, with huge, negative, control-character, very
    long and malformed values: a JSON error of one line (400, 404, 409 or 413), never a 500."""
    seen: list[tuple[str, str, int]] = []
    with ServerThread(dp_app(sim, tmp_path / "archive", tmp_path / "tokens")) as server, server.client() as client:
        client.post("/api/sync", json={"metadata_only": True})  # something in the archive (may fail: no login)
        for method, path, in_path, in_query in _operations(client):
            for value in HOSTILE:
                if in_path:
                    answer = client.request(method, _fill(path, value))
                    seen.append((method, path, answer.status_code))
                    _check(answer, method, path, value)
                for name in in_query:
                    answer = client.request(method, _fill(path, "1"), params={name: value})
                    seen.append((method, f"{path}?{name}=", answer.status_code))
                    _check(answer, method, f"{path}?{name}=", value)
    assert {path for _, path, _ in seen} >= {"/api/media/{media_id}", "/api/events/{event_id}", "/api/jobs/{job_id}"}
    statuses = {status for _, _, status in seen}
    assert 500 not in statuses and {400, 404} <= statuses


def _check(answer: httpx.Response, method: str, path: str, value: str) -> None:
    where = (method, path, value[:30], answer.status_code, answer.text[:200])
    assert answer.status_code < 500 or answer.status_code in (502, 503), where  # Ring refused (no login): not ours
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("application/json"), where
        message: Any = answer.json()["error"]
        assert isinstance(message, str) and "\n" not in message and "\x1b" not in message, where


def test_huge_and_negative_media_ids_are_404(serve: Serve) -> None:
    server = serve()
    with server.client() as client:
        for media_id in ("99999999999999999999999", "9223372036854775808", "-1", "0"):
            answer = client.get(f"/api/media/{media_id}")
            assert answer.status_code == 404, (media_id, answer.text)
            assert media_id in _one_line_error(answer.content)
