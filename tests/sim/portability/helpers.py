"""Helpers for the Data Portability simulator tests: PKCE, the consent form driven with plain httpx, the code
exchange, intake calls, and a tiny HTTP server on 127.0.0.1 that receives notifications."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from ringvault.sim.portability.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from ringvault.sim.server import SimServer

CLIENT_ID = DEMO_CLIENT_ID
CLIENT_SECRET = DEMO_CLIENT_SECRET
REDIRECT = "http://127.0.0.1:5555/portability/callback"  # registered without a port: any loopback port matches
AUTHORIZE = "/oauth.ring.com/v2/authorize"
TOKEN = "/oauth.ring.com/oauth/token"
SCOPE = "data-portability"
INTAKE = "/intake.eu-west-1.portability.data.ring.com"
COMPLETION_DELAY_S = 60.0
WAIT_S = 60.0  # a safety net against hanging, not a timing assertion


def pkce(method: str = "S256") -> tuple[str, str]:
    """(verifier, challenge)."""
    verifier = secrets.token_urlsafe(48)
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(challenge: str, method: str = "S256", **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPE,
        "code_challenge": challenge,
        "code_challenge_method": method,
        "state": "state-" + secrets.token_hex(4),
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def request_id(page: httpx.Response) -> str:
    match = re.search(r'name=request_id value="([^"]+)"', page.text)
    assert match is not None, page.text[:500]
    return match.group(1)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def consent(
    client: httpx.Client,
    sim: SimServer,
    params: dict[str, str],
    *,
    email: str | None = None,
    password: str | None = None,
    host: str = "oauth.ring.com",
    **form: str,
) -> httpx.Response:
    """Open the consent page, then answer it (defaults: the seeded account, 1 year, 90 days, Authorize)."""
    page = client.get(f"/{host}/v2/authorize", params=params)
    assert page.status_code == 200, page.text[:500]
    fields = {
        "request_id": request_id(page),
        "email": sim.config.email if email is None else email,
        "password": sim.config.password if password is None else password,
        "history": "1y",
        "duration": "90d",
        "acknowledge": "yes",
        "action": "authorize",
    }
    fields.update(form)
    return client.post(f"/{host}/v2/authorize", data={k: v for k, v in fields.items() if v != ""})


def exchange(client: httpx.Client, auth_code: str, verifier: str, **overrides: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": auth_code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "scope": SCOPE,
    }
    data.update(overrides)
    return client.post(TOKEN, data=data)


def refresh(client: httpx.Client, refresh_token: str, **overrides: str) -> httpx.Response:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    data.update(overrides)
    return client.post(TOKEN, data=data)


def login(client: httpx.Client, sim: SimServer, method: str = "S256", **form: str) -> dict[str, Any]:
    """The whole Login with Ring flow for one customer; the token response."""
    verifier, challenge = pkce(method)
    params = authorize_params(challenge, method)
    answer = redirect_params(consent(client, sim, params, **form))
    assert answer["state"] == params["state"]
    tokens = exchange(client, answer["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def bearer(tokens: dict[str, Any] | str) -> dict[str, str]:
    value = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {value}"}


def create(client: httpx.Client, tokens: dict[str, Any] | str, host: str = INTAKE) -> httpx.Response:
    return client.post(f"{host}/{SCOPE}/data-queries", headers=bearer(tokens))


def records(
    client: httpx.Client, tokens: dict[str, Any] | str, query_id: str, host: str = INTAKE, **params: Any
) -> httpx.Response:
    return client.get(f"{host}/{SCOPE}/data-queries/{query_id}/records", headers=bearer(tokens), params=params)


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"category", "type", "message"}, body
    return response.status_code, body["category"], body["type"]


def advance(client: httpx.Client, seconds: float) -> None:
    assert client.post("/_sim/clock", json={"advance_s": seconds}).status_code == 200


def patch_dp(client: httpx.Client, **knobs: Any) -> dict[str, Any]:
    answer = client.patch("/_sim/portability/config", json=knobs)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def patch_app(client: httpx.Client, **fields: Any) -> None:
    answer = client.patch(f"/_sim/portability/apps/{CLIENT_ID}", json=fields)
    assert answer.status_code == 200, answer.text


def completed_query(client: httpx.Client, tokens: dict[str, Any]) -> str:
    """Create a query and move the clock past its completion delay; its id."""
    created = create(client, tokens)
    assert created.status_code == 201, created.text
    advance(client, COMPLETION_DELAY_S + 1)
    query_id: str = created.json()["id"]
    return query_id


def all_files(client: httpx.Client, tokens: dict[str, Any], query_id: str, page: int = 250) -> list[dict[str, str]]:
    """Every record (schema + file URLs) of a query, following nextPageToken; it keeps within the documented 10 rps
    by moving the simulated clock 0.1 s before each call."""
    out: list[dict[str, str]] = []
    token: str | None = None
    while True:
        advance(client, 0.1)
        params: dict[str, Any] = {"maxResults": page}
        if token:
            params["nextPageToken"] = token
        answer = records(client, tokens, query_id, **params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        out.extend(body["records"])
        token = body.get("nextPageToken")
        if token is None:
            return out


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll until ``predicate`` holds (a background delivery), failing with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class NotificationSink:
    """A tiny HTTP server on 127.0.0.1 that records every POST (headers and body) and answers with the statuses
    queued in ``statuses`` (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with sink._lock:
                    status = sink.statuses.pop(0) if sink.statuses else 200
                    sink.received.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body, "answered": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/portability/notifications/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> NotificationSink:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def messages(self) -> list[dict[str, Any]]:
        """The received SNS envelopes (parsed)."""
        with self._lock:
            return [json.loads(item["body"]) for item in self.received]

    def notifications(self) -> list[dict[str, Any]]:
        """The ``Message`` of every received Notification (parsed)."""
        return [json.loads(m["Message"]) for m in self.messages() if m.get("Type") == "Notification"]

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.notifications()) >= count, f"{count} notification(s) at {self.url}")
        return self.notifications()
