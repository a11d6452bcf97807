"""Test doubles for the portability client: a scripted fake of the service behind ``httpx.MockTransport``, and an
event loop whose clock is virtual (so rate-limit tests take no wall time and assert no wall-clock timing)."""

from __future__ import annotations

import asyncio
import json
import selectors
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx

from ringvault.portability.config import ClientCredentials
from ringvault.portability.http import RetryPolicy
from ringvault.portability.limits import NoRateLimit
from ringvault.portability.oauth import PortabilityAuth
from ringvault.portability.tokens import PortabilityToken, PortabilityTokenStore

T = TypeVar("T")

CLIENT_ID = "amzn1.application-oa2-client.test-app"
CLIENT_SECRET = "s3cr3t-client-value-for-tests"
REDIRECT_URI = "https://app.example.org/portability/callback"
CREDENTIALS = ClientCredentials(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)


def error_body(category: str, type_: str, message: str = "test message") -> bytes:
    return json.dumps({"category": category, "type": type_, "message": message}).encode()


@dataclass
class FakeService:
    """A small, scripted stand-in for the token endpoint, the intake API and the storage host.

    ``script(route, response...)`` queues answers for a route (``token``, ``create``, ``list``, ``file``); when the
    queue is empty the default behaviour answers. Tokens rotate on every refresh; old refresh tokens are refused.
    """

    requests: list[httpx.Request] = field(default_factory=list)
    scripted: dict[str, list[httpx.Response | Exception]] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    codes: dict[str, str] = field(default_factory=dict)  # code -> verifier
    files: dict[str, bytes] = field(default_factory=dict)
    pages: list[dict[str, Any]] = field(default_factory=list)
    issued: int = 0
    refresh_grants: int = 0
    expires_in: int = 3600
    on_api_call: Callable[[httpx.Request], None] | None = None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def script(self, route: str, *answers: httpx.Response | Exception) -> None:
        self.scripted.setdefault(route, []).extend(answers)

    def routed(self, route: str) -> list[httpx.Request]:
        return [r for r in self.requests if route_of(r) == route]

    def issue(self) -> dict[str, Any]:
        self.issued += 1
        access, refresh = f"Atza|access-{self.issued}-xyz", f"Atzr|refresh-{self.issued}-xyz"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.expires_in,
            "scope": "data-portability",
            "token_type": "Bearer",
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = route_of(request)
        queue = self.scripted.get(route)
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if route == "token":
            return self._token(request)
        if route in ("create", "list"):
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            if bearer not in self.access_tokens:
                return httpx.Response(403, content=error_body("FORBIDDEN", "ACCESS_DENIED"))
            if self.on_api_call is not None:
                self.on_api_call(request)
            if route == "create":
                return httpx.Response(201, json={"id": "a1111111-b222-c333-d444-e55555555555"})
            return self._list(request)
        if route == "file":
            body = self.files.get(request.url.path)
            if body is None:
                return httpx.Response(404, content=b"<Error><Code>NoSuchKey</Code></Error>")
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        return httpx.Response(404, content=error_body("RESOURCE_NOT_FOUND", "RESOURCE_NOT_FOUND"))

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "bad client"})
        if form.get("grant_type") == "authorization_code":
            verifier = self.codes.pop(form.get("code", ""), None)
            if verifier is None or verifier != form.get("code_verifier") or form.get("redirect_uri") != REDIRECT_URI:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "bad code"})
            return httpx.Response(200, json=self.issue())
        if form.get("grant_type") == "refresh_token":
            token = form.get("refresh_token", "")
            if token not in self.refresh_tokens:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "token revoked"})
            self.refresh_tokens.discard(token)  # rotation: the old one stops working
            self.refresh_grants += 1
            return httpx.Response(200, json=self.issue())
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    def _list(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("nextPageToken")
        index = int(token.removeprefix("page-")) if token else 0
        if index >= len(self.pages):
            return httpx.Response(400, content=error_body("BAD_REQUEST", "INVALID_NEXT_PAGE"))
        return httpx.Response(200, json=self.pages[index])


def route_of(request: httpx.Request) -> str:
    path = request.url.path
    if path.endswith("/oauth/token"):
        return "token"
    if path.endswith("/data-queries"):
        return "create"
    if path.endswith("/records"):
        return "list"
    return "file"


class RecordingSleep:
    """An injectable sleep that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fast_policy(sleep: RecordingSleep, **overrides: Any) -> RetryPolicy:
    return RetryPolicy(sleep=sleep, **overrides)


def valid_token(service: FakeService, customer: str = "default", *, expired: bool = False) -> PortabilityToken:
    """A token pair the fake service accepts (as if a login happened before)."""
    issued = service.issue()
    now = time.time()
    return PortabilityToken(
        brand="ring",
        customer=customer,
        refresh_token=issued["refresh_token"],
        access_token=issued["access_token"],
        expires_at=now - 10 if expired else now + 3600,
        scope="data-portability",
        token_type="Bearer",
        client_id=CLIENT_ID,
        created_at=now,
        updated_at=now - 3600 if expired else now,
    )


def make_auth(
    service: FakeService,
    store_dir: Path | None = None,
    *,
    customer: str = "default",
    token: PortabilityToken | None = None,
) -> PortabilityAuth:
    store = PortabilityTokenStore(store_dir) if store_dir is not None else None
    if store is not None and token is not None:
        store.save(token)
        token = None
    return PortabilityAuth(CREDENTIALS, customer=customer, store=store, token=token)


def no_limits() -> NoRateLimit:
    return NoRateLimit()


async def chunks(data: bytes, size: int, consumed: list[int] | None = None) -> AsyncIterator[bytes]:
    """An async body in ``size``-byte chunks; ``consumed`` counts how many chunks the client pulled."""
    for start in range(0, len(data), size):
        if consumed is not None:
            consumed.append(1)
        yield data[start : start + size]


# ---------------------------------------------------------------------------------------------------------------
# Virtual time


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that, instead of blocking for ``timeout``, moves its loop's virtual clock forward."""

    loop: VirtualClockLoop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            self.loop.advance(timeout)
        return super().select(0)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` only moves when every task waits: ``sleep(60)`` returns at once, 60 virtual
    seconds later. aiolimiter and asyncio.sleep use ``loop.time()``, so rate limits can be checked exactly."""

    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._now = 1000.0

    def time(self) -> float:
        # Like a real clock, every reading is a little later than the one before (1 ns). Without this, a timer
        # computed with floating-point error can land on the current instant and be rescheduled there forever.
        self._now += 1e-9
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def run_virtual(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a fresh ``VirtualClockLoop``."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(factory())
    finally:
        loop.close()
