"""Fault injection for the simulated Ring cloud (the request statistics and log are in ``sim.stats``).

``FaultMiddleware`` is a pure ASGI middleware (streaming bodies pass through untouched). For every request to a
Ring host (anything outside ``/_sim``) it applies the *current* ``FaultConfig``: added latency, a token-bucket
rate limit answered 429 with ``Retry-After``, random 500/503 and 504 answers, and records the request in
``RequestStats``. ``FaultEngine.media_response`` builds media bodies with Range support, bandwidth throttling and
mid-body connection drops.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ringvault.sim.clock import SimClock
from ringvault.sim.config import FaultConfig, SimConfig
from ringvault.sim.portability.errors import fault_body
from ringvault.sim.stats import (
    endpoint_key,
    logged_headers,
    redact_query,
    route_template,
)

if TYPE_CHECKING:
    from ringvault.sim.state import SimState

CONTROL_PREFIX = "/_sim"
MEDIA_CHUNK = 64 * 1024

_faults_apply: contextvars.ContextVar[bool] = contextvars.ContextVar("ringvault_sim_faults_apply", default=False)


class MediaDropped(Exception):
    """Raised after a deliberately partial media body; the server then closes the connection."""


class _HideMediaDrops(logging.Filter):
    """Keep uvicorn's 'Exception in ASGI application' traceback out of the log for deliberate drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        for _ in range(16):  # a bounded walk: exception chains can be cyclic
            if exc is None:
                break
            if isinstance(exc, MediaDropped):
                return False
            exc = exc.__cause__ or exc.__context__ or _first_of_group(exc)
        return True


def _first_of_group(exc: BaseException) -> BaseException | None:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return exc.exceptions[0]
    return None


def install_log_filter() -> None:
    """Idempotently hide deliberate media drops from uvicorn's error log."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideMediaDrops) for f in logger.filters):
        logger.addFilter(_HideMediaDrops())


# -- the fault engine --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultDecision:
    """What the middleware does to one request before (or instead of) the app."""

    delay_s: float = 0.0
    status: int | None = None
    kind: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


class FaultEngine:
    """Seeded fault decisions from the current ``config.faults`` (read anew on every request).

    Latency, rate limits and bandwidth are real (wall-clock) time, so ``clock`` is not consulted."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._seeded_with: int | None = None
        self._tokens: float | None = None
        self._last_refill = time.monotonic()
        self._pattern_source: str | None = None
        self._pattern: re.Pattern[str] | None = None
        self.reset()

    @property
    def faults(self) -> FaultConfig:
        return self._config.faults

    def _seed(self) -> int:
        seed = self.faults.seed
        return self._config.seed if seed is None else seed

    def reset(self) -> None:
        """Re-seed the RNG and refill the rate-limit bucket (called when the faults change)."""
        with self._lock:
            self._seeded_with = self._seed()
            self._rng = random.Random(f"ringvault-sim-faults:{self._seeded_with}")
            self._tokens = None

    def _random(self) -> float:
        if self._seed() != self._seeded_with:
            self._seeded_with = self._seed()
            self._rng = random.Random(f"ringvault-sim-faults:{self._seeded_with}")
        return self._rng.random()

    def applies(self, path: str) -> bool:
        """Do faults apply to this request path (``path_pattern``, searched anywhere in the path)?"""
        pattern = self.faults.path_pattern
        if not pattern:
            return True
        with self._lock:
            if pattern != self._pattern_source:
                self._pattern_source = pattern
                try:
                    self._pattern = re.compile(pattern)
                except re.error:
                    self._pattern = None  # the control API refuses these; a direct config edit matches nothing
            compiled = self._pattern
        return compiled is not None and compiled.search(path) is not None

    def _take_token(self, faults: FaultConfig) -> bool:
        now = time.monotonic()
        if faults.rate_limit_rps <= 0:
            self._tokens = None
            self._last_refill = now
            return True
        burst = float(faults.rate_limit_burst)
        if self._tokens is None:
            self._tokens = burst
        else:
            self._tokens = min(burst, self._tokens + (now - self._last_refill) * faults.rate_limit_rps)
        self._last_refill = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def decide(self) -> FaultDecision:
        """Roll the dice for one request that faults apply to."""
        faults = self.faults
        with self._lock:
            delay = faults.latency_ms / 1000.0
            if faults.latency_jitter_ms > 0:
                delay += self._rng.uniform(0.0, faults.latency_jitter_ms) / 1000.0
            if not self._take_token(faults):
                return FaultDecision(
                    delay_s=delay,
                    status=429,
                    kind="rate_limit",
                    headers={"Retry-After": str(faults.retry_after_s)},
                    body={"error": "Too Many Requests", "error_description": "rate limit exceeded"},
                )
            if faults.timeout_rate <= 0 and faults.error_rate <= 0:
                return FaultDecision(delay_s=delay)
            roll = self._random()
            if roll < faults.timeout_rate:
                return FaultDecision(
                    delay_s=delay, status=504, kind="timeout", body={"error": "Gateway Timeout", "status": 504}
                )
            if roll < faults.timeout_rate + faults.error_rate:
                status = 503 if self._random() < 0.5 else 500
                text = "Service Unavailable" if status == 503 else "Internal Server Error"
                return FaultDecision(delay_s=delay, status=status, kind="error", body={"error": text, "status": status})
            return FaultDecision(delay_s=delay)

    # hub socket (ringvault.sim.hub.endpoint): the same knobs, applied to a WebSocket

    def handshake_fault(self, path: str) -> tuple[int, str] | None:
        """``(status, reason)`` when ``rate_limit_rps``/``error_rate``/``timeout_rate`` refuse a socket handshake."""
        if not self.applies(path):
            return None
        decision = self.decide()
        if decision.status is None:
            return None
        return decision.status, str(decision.kind or "fault")

    def socket_frame_delay_s(self, path: str) -> float:
        """``latency_ms`` plus jitter, for one frame the simulator sends on a hub socket."""
        faults = self.faults
        if (faults.latency_ms <= 0 and faults.latency_jitter_ms <= 0) or not self.applies(path):
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(0.0, faults.latency_jitter_ms) if faults.latency_jitter_ms > 0 else 0.0
        return (faults.latency_ms + jitter) / 1000.0

    def socket_drop(self, path: str) -> bool:
        """Should the socket be dropped instead of sending the next frame (``socket_drop_rate``)?"""
        rate = self.faults.socket_drop_rate
        if rate <= 0 or not self.applies(path):
            return False
        with self._lock:
            return self._random() < rate

    def roll_drop(self) -> bool:
        """Should the media body about to be sent be cut off (``drop_rate``)?"""
        rate = self.faults.drop_rate
        if rate <= 0 or not _faults_apply.get():
            return False
        with self._lock:
            return self._random() < rate

    def bandwidth_bytes_per_s(self) -> float:
        """The per-connection media cap in bytes/s (``bandwidth_kbps`` is kilobits/s); 0 = unlimited."""
        kbps = self.faults.bandwidth_kbps
        if kbps <= 0 or not _faults_apply.get():
            return 0.0
        return kbps * 1000.0 / 8.0

    def html_error_page(self, ding_id: str) -> Response | None:
        """A ``200 text/html`` error page in place of the recording of ``ding_id`` when ``html_media_ids`` lists it.

        A CDN in front of a bucket can be set to answer its errors with a custom HTML page and status 200 (CloudFront's
        ``CustomErrorResponse.ResponseCode``), and captive portals and filtering proxies answer any URL that way: the
        client gets a successful answer that is not a video. Listed ids answer the page on every request, whether or
        not the clip is ready, until the knob is cleared."""
        if ding_id not in self.faults.html_media_ids:
            return None
        page = (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>502 Bad Gateway</title></head>\n'
            "<body><h1>Bad Gateway</h1><p>The edge server could not reach the origin for this object. "
            "Please try again later.</p></body></html>\n"
        )
        return Response(page, status_code=200, media_type="text/html; charset=utf-8", headers={"Server": "CloudFront"})

    def media_response(
        self,
        data: bytes,
        *,
        content_type: str,
        headers: dict[str, str] | None = None,
        status: int = 200,
        request_range: str | None = None,
    ) -> Response:
        """A media body with ``Range`` support, bandwidth throttling and drops, as the storage hosts serve it."""
        return MediaResponse(
            self, data, content_type=content_type, headers=headers, status=status, request_range=request_range
        )


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(value: str | None, size: int) -> tuple[int, int] | bool | None:
    """``(start, end_inclusive)`` for a single satisfiable range; None to serve everything; False if unsatisfiable."""
    if not value:
        return None
    match = _RANGE.match(value)
    if match is None:
        return None  # multiple or malformed ranges: serve the whole body, as S3 does
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return False
    return start, min(end, size - 1)


class MediaResponse(Response):
    """A byte body sent in paced chunks; with ``drop_rate`` it may stop half-way and abort the connection."""

    def __init__(
        self,
        engine: FaultEngine,
        data: bytes,
        *,
        content_type: str,
        headers: dict[str, str] | None = None,
        status: int = 200,
        request_range: str | None = None,
    ) -> None:
        self._engine = engine
        extra = dict(headers or {})
        extra.setdefault("Accept-Ranges", "bytes")
        body = data
        if status == 200:
            selected = parse_range(request_range, len(data))
            if selected is False:
                status = 416
                body = b""
                extra["Content-Range"] = f"bytes */{len(data)}"
            elif isinstance(selected, tuple):
                start, end = selected
                status = 206
                body = data[start : end + 1]
                extra["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        super().__init__(content=body, status_code=status, headers=extra, media_type=content_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.body)
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") == "HEAD" or not body:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        drop = len(body) > 1 and self._engine.roll_drop()
        limit = len(body) // 2 if drop else len(body)
        rate = self._engine.bandwidth_bytes_per_s()
        chunk = MEDIA_CHUNK if rate <= 0 else max(256, min(MEDIA_CHUNK, int(rate / 20)))
        started = time.monotonic()
        sent = 0
        while sent < limit:
            piece = body[sent : min(limit, sent + chunk)]
            sent += len(piece)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        if drop:
            raise MediaDropped(f"dropped the connection after {sent} of {len(body)} bytes")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


# -- the middleware ----------------------------------------------------------------------------------------------


_INTAKE_PATH = re.compile(r"^/intake\.[a-z0-9-]+\.portability\.data\.[a-z]+\.com/")
_HOST_SEGMENT = re.compile(r"^/(?:[a-z0-9-]+\.)+(?:com|net|org|solutions|io|test|local)/", re.IGNORECASE)


def _host_routed_path(scope: Scope) -> str | None:
    """With a real Ring host name in ``Host`` (DNS pointed at the simulator), route as ``/HOST/PATH``."""
    for name, value in scope.get("headers") or []:
        if name == b"host":
            host = value.decode("latin-1").rsplit(":", 1)[0].strip().lower().strip("[]")
            break
    else:
        return None
    if "." not in host or host.endswith(".localhost"):
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    path = str(scope["path"])
    if path.startswith(CONTROL_PREFIX) or _HOST_SEGMENT.match(path):
        return None  # already /HOST/PATH (e.g. a signed media URL built from this request's base URL)
    return f"/{host}{path}"


class FaultMiddleware:
    """Pure ASGI middleware: faults and statistics for every Ring-host request, never for ``/_sim``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rerouted = _host_routed_path(scope)
        if rerouted is not None:
            scope = dict(scope)
            scope["path"] = rerouted
            scope["raw_path"] = rerouted.encode()
        path = str(scope["path"])
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/") or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: SimState = scope["app"].state.sim
        await self._handle(state, scope, receive, send)

    async def _handle(self, state: SimState, scope: Scope, receive: Receive, send: Send) -> None:
        engine, stats = state.faults, state.stats
        path = str(scope["path"])
        started = time.monotonic()
        fault: str | None = None
        entry: dict[str, Any] | None = None

        def record(status: int) -> dict[str, Any]:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
            key = endpoint_key(scope)
            if scope.get("route") is None and (template := route_template(scope)) is not None:
                key = f"{scope.get('method', 'GET')} {template.lstrip('/')}"
            logged: dict[str, Any] = {
                "time": state.clock.now(),
                "method": scope.get("method"),
                "path": path,
                "query": redact_query(bytes(scope.get("query_string") or b"").decode("latin-1")),
                "endpoint": key,
                "status": status,
                "duration_ms": round((time.monotonic() - started) * 1000.0, 2),
                "headers": logged_headers(headers),
                "fault": fault,
                "aborted": False,
            }
            stats.record(key, status, logged)
            return logged

        async def send_wrapper(message: Message) -> None:
            nonlocal entry
            # Count when the response starts, so a client that has the answer also sees it in /_sim/stats.
            if message["type"] == "http.response.start":
                if entry is None:
                    entry = record(int(message["status"]))
                # Ring's Date header, from the simulated clock (moves with POST /_sim/clock).
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", formatdate(state.clock.now(), usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        applies = engine.applies(path)
        token = _faults_apply.set(applies)
        try:
            decision = engine.decide() if applies else FaultDecision()
            if decision.delay_s > 0:
                await asyncio.sleep(decision.delay_s)
            if decision.status is not None:
                fault = decision.kind
                body = decision.body
                if _INTAKE_PATH.match(path):  # the Data Portability API answers in its own error shape
                    body = fault_body(decision.status)
                payload = json.dumps(body).encode()
                raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
                raw += [(k.lower().encode(), v.encode()) for k, v in decision.headers.items()]
                await send_wrapper({"type": "http.response.start", "status": decision.status, "headers": raw})
                await send({"type": "http.response.body", "body": payload, "more_body": False})
                return
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            dropped = isinstance(exc, MediaDropped) or isinstance(_first_of_group(exc), MediaDropped)
            if entry is None:
                entry = record(500)
            stats.annotate(entry, aborted=True, fault="drop" if dropped else entry["fault"])
            raise
        finally:
            _faults_apply.reset(token)
            if entry is None:  # the client went away before any answer
                record(0)
