"""``ReconnectingWebSocket``: the one WebSocket client of ringvault (the hub socket now; live view later).

A long-lived JSON-over-WebSocket connection that heals itself, built on the ``websockets`` library's asyncio client:

- **A fresh URL for every attempt.** ``url()`` is a coroutine called before each connection attempt: Ring's hub
  tickets are single use, so a reconnect must never reuse the last URL.
- **Backoff** between attempts (``ringvault.transport.retry``'s ``Backoff``; by default the first retry after about
  1 s, as ring-client-api does, then doubling with jitter up to 30 s). A connection that dies within
  ``stable_after_s`` of opening counts as a quick close, so a server that accepts and at once drops us is not
  hammered in a tight loop.
- **Bounded failures for callers.** After ``max_failures`` failed attempts in a row, ``wait_open``/``send`` raise
  ``WebSocketUnavailableError`` (at once, for as long as the outage lasts) instead of waiting. The loop itself
  **keeps trying in the background** at the capped backoff until ``close()`` (a long-running listener must come
  back by itself after an outage, as ring-client-api's does). Only errors that ``fatal(exc)`` names (say, a login
  the user must renew) stop it; the next ``start()``/``send()`` starts a new round.
- **Hooks.** ``on_open`` runs after every open before any frame is read (re-request state there; it may ``send`` but
  must not wait for incoming frames), ``on_message`` gets every decoded JSON object frame, ``on_close`` a short reason
  after every lost connection.
- **Keepalive**: the library's ping/pong (``ping_interval_s``/``ping_timeout_s``); a peer that stops answering is
  dropped and reconnected.
- **Bounded frames.** ``max_size`` caps an incoming message: the library closes such a connection (code 1009, it
  cannot skip a frame it has not read), the frame is counted as dropped and oversized, and the loop reconnects. A
  text frame that is not JSON, nests deeper than ``MAX_JSON_DEPTH``, is not an object, or a binary frame is logged
  and counted as dropped; the connection stays up.
- **Secrets.** URLs are only ever logged through ``redact`` (``authcode=``/``ticket=`` values are masked); the
  library's own logger is a child of ``ringvault.transport`` so its handshake lines are redacted too.
- **One-shot** (``reconnect=False``): a session-bound socket (live-view signalling: a ticket is good for one
  session, and a new connection would be a new session) connects once; when that attempt fails or the connection
  ends, the loop stops, ``on_close`` hears why, and callers get ``WebSocketUnavailableError`` naming the end.
- **Headers**: ``headers`` are sent with the opening handshake (the signalling server wants a ``User-Agent``).
- ``close()`` stops everything it started: no task of ours or the library's is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ringvault.transport.body import parse_json
from ringvault.transport.errors import BodyFormatError, TransportError
from ringvault.transport.redaction import install_log_redaction, redact
from ringvault.transport.retry import Backoff, ExponentialBackoff, Sleep

__all__ = [
    "DEFAULT_WEBSOCKET_BACKOFF",
    "ReconnectingWebSocket",
    "WebSocketStats",
    "WebSocketUnavailableError",
]

log = logging.getLogger("ringvault.transport.websocket")
#: The ``websockets`` library logs handshakes (with the request path, i.e. the ticket) here: a child of
#: ``ringvault.transport``, so the redaction filter installed below covers it.
_wire_log = logging.getLogger("ringvault.transport.websocket.wire")
install_log_redaction()

#: About 1 s before the first retry (ring-client-api waits 1 s), doubling up to 30 s, plus up to 0.5 s of jitter.
DEFAULT_WEBSOCKET_BACKOFF = ExponentialBackoff(initial_s=1.0, max_s=30.0, jitter_s=0.5)
#: Close code a receiver sends for a message over its size limit (RFC 6455 §7.4.1).
MESSAGE_TOO_BIG = 1009
#: Dropped frames logged at WARNING per connection; the rest at DEBUG (a flood must not flood the log).
_LOUD_DROPS = 5

UrlFactory = Callable[[], Awaitable[str]]
MessageHandler = Callable[[dict[str, Any]], object]
OpenHook = Callable[[], Awaitable[None]]
CloseHook = Callable[[str], object]


@dataclass
class WebSocketStats:
    """Counters of one ``ReconnectingWebSocket`` (for tests, benchmarks and status output)."""

    attempts: int = 0
    """connection attempts, successful or not"""
    connects: int = 0
    """connections opened"""
    reconnects: int = 0
    """connections opened after an earlier one (a subset of ``connects``)"""
    failures: int = 0
    """attempts that did not open (URL refused, connection refused, handshake rejected, timed out)"""
    disconnects: int = 0
    """open connections lost (closed by the peer, broken, or a reconnect asked for)"""
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    """incoming frames not delivered: binary, not JSON, too deep, not an object, or oversized"""
    oversized: int = 0
    """incoming messages over ``max_size`` (each also in ``dropped``; each cost a reconnect)"""
    handler_errors: int = 0
    """``on_message`` calls that raised (logged; the connection stays up)"""


class WebSocketUnavailableError(TransportError):
    """No open connection for a caller: too many failed attempts in a row, the wait timed out, the loop was stopped
    by a fatal error, or the socket was closed. ``last_error`` is the latest attempt's failure, when there was one
    (for a fatal error: that error); ``str(err)`` is one line, secrets redacted."""

    def __init__(self, message: str, *, last_error: BaseException | None = None, failures: int = 0) -> None:
        super().__init__(redact(message))
        self.last_error = last_error
        self.failures = failures


def describe_ws_failure(exc: BaseException) -> str:
    """A few redacted words about a failed attempt or a lost connection."""
    if isinstance(exc, InvalidStatus):
        return f"the server refused the WebSocket (HTTP {exc.response.status_code})"
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd or exc.sent
        if frame is None:
            return "connection lost without a close frame"
        reason = f" {frame.reason}" if frame.reason else ""
        return f"closed with code {frame.code}{reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = redact(str(exc)) if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ReconnectingWebSocket:
    """A self-healing JSON WebSocket (see the module docstring for the rules).

    ``start()`` (or the first ``wait_open``/``send``) starts the background loop; ``close()`` stops it. Callbacks run
    on the loop's task: keep them quick (``on_message`` is synchronous; its exceptions are logged and counted).
    """

    def __init__(
        self,
        url: UrlFactory,
        *,
        on_message: MessageHandler,
        on_open: OpenHook | None = None,
        on_close: CloseHook | None = None,
        name: str = "websocket",
        backoff: Backoff = DEFAULT_WEBSOCKET_BACKOFF,
        max_failures: int = 5,
        fatal: Callable[[BaseException], bool] | None = None,
        max_size: int = 4 * 1024 * 1024,
        ping_interval_s: float | None = 20.0,
        ping_timeout_s: float | None = 20.0,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 2.0,
        stable_after_s: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        reconnect: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._url = url
        self._reconnect = reconnect
        self._headers = dict(headers or {})
        self._on_message = on_message
        self._on_open = on_open
        self._on_close = on_close
        self.name = name
        self._backoff = backoff
        self._max_failures = max(1, max_failures)
        self._fatal = fatal or (lambda exc: False)
        self.max_size = max_size
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._open_timeout_s = open_timeout_s
        self._close_timeout_s = close_timeout_s
        self._stable_after_s = stable_after_s
        self._sleep = sleep
        self.stats = WebSocketStats()

        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._closing = False
        self._failures = 0
        self._last_error: BaseException | None = None
        self._stopped_by: BaseException | None = None
        self._reconnect_reason: str | None = None
        self._ended: str | None = None
        """why a one-shot socket's connection ended (``reconnect=False``); None while it may still open"""
        self._changed = asyncio.Event()
        self._drops_this_connection = 0
        self._closers: set[asyncio.Future[None]] = set()

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._ws is not None

    @property
    def running(self) -> bool:
        """Whether the background loop is running (connected, connecting, or waiting to retry)."""
        return self._task is not None and not self._task.done()

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    def _notify(self) -> None:
        """Wake every waiter (they re-check the state); the next waiters wait on a fresh event."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background loop (no-op when it runs). After ``close()`` a socket cannot be started again."""
        if self._closing:
            raise WebSocketUnavailableError(f"{self.name}: the socket was closed")
        if self.running:
            return
        if self._ended is not None:
            raise WebSocketUnavailableError(f"{self.name}: the connection ended ({self._ended})")
        self._stopped_by = None
        self._failures = 0
        self._task = asyncio.create_task(self._run(), name=f"ringvault-ws-{self.name}")

    async def close(self) -> None:
        """Stop the loop and close the connection; waiting callers get ``WebSocketUnavailableError``."""
        self._closing = True
        self._notify()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for closer in list(self._closers):
            with contextlib.suppress(Exception):
                await closer
        ws, self._ws = self._ws, None
        if ws is not None:  # (the loop closes its socket when cancelled; this is for a loop cancelled early)
            await self._close_quietly(ws)
        self._notify()

    async def __aenter__(self) -> ReconnectingWebSocket:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def request_reconnect(self, reason: str) -> None:
        """Drop the current connection and connect again (with a new URL), after the usual ~1 s wait."""
        ws = self._ws
        if ws is None:
            return
        self._reconnect_reason = reason
        # A frame handler calls this from inside the read loop, which notices the flag after the handler; for a
        # caller elsewhere, closing the socket ends the read loop's ``async for``.
        closer = asyncio.ensure_future(self._close_quietly(ws))
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)

    # -- callers ---------------------------------------------------------------------------------------------
    async def wait_open(self, timeout: float | None = 30.0) -> ClientConnection:  # noqa: ASYNC109 - a wait bound
        """The open connection, waiting for one (starting the loop if needed) at most ``timeout`` seconds."""
        return await self._wait_open(timeout, not_this=None)

    async def _wait_open(self, timeout: float | None, *, not_this: ClientConnection | None) -> ClientConnection:  # noqa: ASYNC109
        if not self._closing and not self.running:
            self.start()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self._closing:
                        raise WebSocketUnavailableError(f"{self.name}: the socket was closed")
                    ws = self._ws
                    if ws is not None and ws is not not_this:
                        return ws
                    if ws is None and self._ended is not None:
                        raise WebSocketUnavailableError(f"{self.name}: the connection ended ({self._ended})")
                    if self._stopped_by is not None:
                        raise WebSocketUnavailableError(
                            f"{self.name}: {describe_ws_failure(self._stopped_by)}",
                            last_error=self._stopped_by,
                            failures=self._failures,
                        )
                    if ws is None and self._failures >= self._max_failures:
                        last = describe_ws_failure(self._last_error) if self._last_error else "?"
                        raise WebSocketUnavailableError(
                            f"{self.name}: {self._failures} connection attempts in a row failed (last: {last})",
                            last_error=self._last_error,
                            failures=self._failures,
                        )
                    await self._changed.wait()
        except TimeoutError:
            last = f" (last failure: {describe_ws_failure(self._last_error)})" if self._last_error else ""
            raise WebSocketUnavailableError(
                f"{self.name}: no open connection within {timeout:.3g} s{last}",
                last_error=self._last_error,
                failures=self._failures,
            ) from None

    async def send(self, message: Mapping[str, Any] | str, *, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109
        """Send one text frame (a mapping is sent as compact JSON), waiting up to ``timeout`` s for an open socket.

        A connection that closes under the send is waited out and the frame sent on the next one (the library
        refuses to write to a closing socket, so the frame was not sent before).
        """
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        stale: ClientConnection | None = None
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            ws = await self._wait_open(left, not_this=stale)
            try:
                await ws.send(text)
            except ConnectionClosed:
                stale = ws
                continue
            self.stats.frames_out += 1
            return

    # -- the loop --------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        quick_closes = 0
        delay = 0.0
        while not self._closing:
            if delay > 0:
                await self._sleep(delay)
            if self._closing:
                return
            try:
                ws = await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures += 1
                self.stats.failures += 1
                self._last_error = exc
                if not self._reconnect:
                    self._end(f"could not connect: {describe_ws_failure(exc)}")
                    if self._on_close is not None:
                        self._hear_close(self._ended or "")
                    return
                if self._fatal(exc):
                    self._stopped_by = exc
                    log.info("%s: %s; not retrying", self.name, describe_ws_failure(exc))
                    self._notify()
                    return
                delay = self._backoff.wait(self._failures, None)
                # One warning per outage, when waiting callers start to fail: it promises no retry, because a caller
                # such as a CLI command gives up there (the loop itself keeps trying). The other attempts at INFO.
                if self._failures == self._max_failures:
                    log.warning(
                        "%s: %d connection attempts in a row failed (last: %s)",
                        self.name,
                        self._failures,
                        describe_ws_failure(exc),
                    )
                else:
                    log.info(
                        "%s: connecting failed (%s); retrying in %.1f s (failure %d in a row)",
                        self.name,
                        describe_ws_failure(exc),
                        delay,
                        self._failures,
                    )
                self._notify()
                continue
            opened_at = time.monotonic()
            reason = await self._serve(ws)
            if not self._reconnect:
                self._end(reason)
                return
            lived = time.monotonic() - opened_at
            quick_closes = 0 if lived >= self._stable_after_s else quick_closes + 1
            delay = self._backoff.wait(max(1, quick_closes), None)

    def _end(self, reason: str) -> None:
        """A one-shot socket is done: no further connection; waiting callers hear why."""
        self._ended = reason
        self._notify()

    def _hear_close(self, reason: str) -> None:
        if self._on_close is None or self._closing:
            return
        try:
            self._on_close(reason)
        except Exception:
            log.exception("%s: on-close hook failed", self.name)

    async def _connect(self) -> ClientConnection:
        self.stats.attempts += 1
        url = await self._url()
        log.debug("%s: connecting to %s", self.name, redact(url))
        return await connect(
            url,
            max_size=self.max_size,
            ping_interval=self._ping_interval_s,
            ping_timeout=self._ping_timeout_s,
            open_timeout=self._open_timeout_s,
            close_timeout=self._close_timeout_s,
            proxy=None,  # like rca: straight to the hub host
            logger=_wire_log,
            additional_headers=self._headers or None,
        )

    async def _serve(self, ws: ClientConnection) -> str:
        """One open connection: mark it open, run ``on_open``, read until it ends, then mark it gone; returns why it
        ended."""
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self._failures = 0
        self._last_error = None
        self._reconnect_reason = None
        self._drops_this_connection = 0
        self._ws = ws
        self._notify()
        log.info("%s: connected%s", self.name, " again" if self.stats.connects > 1 else "")
        reason = "closed"
        try:
            if self._on_open is not None:
                await self._on_open()
            reason = await self._read(ws)
        except asyncio.CancelledError:
            reason = "closed by us"
            raise
        except Exception as exc:  # on_open failed: a fresh connection will run it again
            reason = f"on-open hook failed ({describe_ws_failure(exc)})"
            log.warning("%s: %s", self.name, reason)
        finally:
            self._ws = None
            self.stats.disconnects += 1
            self._notify()
            await self._close_quietly(ws)
            if not self._reconnect:
                self._ended = reason  # before on_close, so the hook's callers already see the end
            self._hear_close(reason)
        log.info("%s: disconnected (%s)%s", self.name, reason, "; reconnecting" if self._reconnect else "")
        return reason

    async def _read(self, ws: ClientConnection) -> str:
        """Deliver frames until the connection ends; returns why it ended."""
        try:
            async for raw in ws:
                self.stats.frames_in += 1
                message = self._decode(raw)
                if message is not None:
                    try:
                        self._on_message(message)
                    except Exception:
                        self.stats.handler_errors += 1
                        log.exception("%s: a frame handler failed", self.name)
                if self._reconnect_reason is not None:
                    return f"reconnect asked: {self._reconnect_reason}"
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == MESSAGE_TOO_BIG:
                self.stats.frames_in += 1
                self.stats.oversized += 1
                self._drop(f"a message over {self.max_size} bytes (the connection is dropped and reopened)")
                return "an oversized message"
            if self._reconnect_reason is not None:
                return f"reconnect asked: {self._reconnect_reason}"
            return describe_ws_failure(exc)
        if self._reconnect_reason is not None:
            return f"reconnect asked: {self._reconnect_reason}"
        return "closed by the server"

    def _decode(self, raw: str | bytes) -> dict[str, Any] | None:
        if isinstance(raw, bytes):
            self._drop(f"a binary frame of {len(raw)} bytes")
            return None
        try:
            data = parse_json(raw.encode("utf-8", "surrogatepass"), what="frame", content_type="text")
        except BodyFormatError as err:
            self._drop(f"a frame that is not usable JSON ({err.reason}; {len(raw)} characters)")
            return None
        except UnicodeError:
            self._drop("a frame with invalid text")
            return None
        if not isinstance(data, dict):
            self._drop(f"a JSON {type(data).__name__} frame where an object was expected")
            return None
        return data

    def _drop(self, what: str) -> None:
        self.stats.dropped += 1
        self._drops_this_connection += 1
        level = logging.WARNING if self._drops_this_connection <= _LOUD_DROPS else logging.DEBUG
        log.log(level, "%s: dropped %s", self.name, what)

    async def _close_quietly(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.close()
