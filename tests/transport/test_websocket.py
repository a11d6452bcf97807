"""``ReconnectingWebSocket`` against a real ``websockets`` server on 127.0.0.1: fresh URLs, backoff, reconnects,
hostile frames, keepalive, clean shutdown and a ticket that never reaches the log."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from ringvault.transport import (
    ExponentialBackoff,
    ReconnectingWebSocket,
    WebSocketUnavailableError,
)
from tests.transport.ws_helpers import ScriptedServer, eventually, read_into, scripted_server

FAST = ExponentialBackoff(initial_s=0.05, max_s=0.2, jitter_s=0.0)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def url_factory(server: ScriptedServer, prefix: str = "ticket") -> tuple[Any, list[str]]:
    issued: list[str] = []

    async def url() -> str:
        ticket = f"{prefix}-{len(issued) + 1:04d}"
        issued.append(ticket)
        return f"{server.base}/ws?authcode={ticket}&ack=false"

    return url, issued


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_each_attempt_gets_a_fresh_url_and_every_open_runs_the_hook() -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps({"n": n}))
        if n < 3:
            ws.transport.abort()  # abrupt: no close frame
        else:
            await read_into(ws, [])

    async with scripted_server(script) as server:
        url, issued = url_factory(server)
        opened: list[int] = []
        inbox = Inbox()

        async def on_open() -> None:
            opened.append(len(issued))

        sock = ReconnectingWebSocket(url, on_message=inbox, on_open=on_open, backoff=FAST, stable_after_s=60)
        async with sock:
            await eventually(lambda: len(inbox.messages) == 3, what="three connections")
            assert [m["n"] for m in inbox.messages] == [1, 2, 3]
            assert opened == [1, 2, 3]
            assert server.paths == [f"/ws?authcode={t}&ack=false" for t in issued]
            assert len(set(issued)) == 3
            assert sock.stats.connects == 3 and sock.stats.reconnects == 2 and sock.stats.disconnects >= 2


async def test_send_waits_for_the_socket_and_survives_a_reconnect() -> None:
    received: list[str] = []

    async def script(ws: ServerConnection, n: int) -> None:
        if n == 1:
            await ws.close()  # a clean close right away: the client must come back
            return
        await read_into(ws, received)

    async with scripted_server(script) as server:
        url, _ = url_factory(server)
        async with ReconnectingWebSocket(url, on_message=Inbox(), backoff=FAST) as sock:
            await sock.send({"msg": "hello", "seq": 1}, timeout=20)
            await eventually(lambda: bool(received), what="the frame at the server")
            assert json.loads(received[0]) == {"msg": "hello", "seq": 1}
            assert sock.stats.frames_out == 1


async def test_failures_are_bounded_for_callers_and_backoff_grows_to_its_cap() -> None:
    port = free_port()  # nothing listens there
    waits: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0.01)

    async def url() -> str:
        return f"ws://127.0.0.1:{port}/ws?authcode=abc123xyz"

    backoff = ExponentialBackoff(initial_s=1.0, max_s=8.0, jitter_s=0.5)
    sock = ReconnectingWebSocket(url, on_message=Inbox(), backoff=backoff, max_failures=3, sleep=recording_sleep)
    try:
        with pytest.raises(WebSocketUnavailableError) as caught:
            await sock.wait_open(timeout=30)
        assert "3 connection attempts in a row failed" in str(caught.value)
        assert caught.value.failures == 3
        # the first retry after about a second (like ring-client-api), then doubling, jittered, capped
        assert 1.0 <= waits[0] <= 1.5
        assert 2.0 <= waits[1] <= 2.5
        # callers fail at once during the outage; the loop keeps trying in the background
        with pytest.raises(WebSocketUnavailableError):
            await sock.send({"x": 1}, timeout=30)
        await eventually(lambda: sock.stats.attempts >= 6, what="background attempts")
        assert sock.running
        assert all(w <= 8.0 for w in waits) and max(waits) == pytest.approx(8.0)
    finally:
        await sock.close()
    assert not sock.running


async def test_a_wait_times_out_with_one_line() -> None:
    async def never(ws: ServerConnection, n: int) -> None:
        await read_into(ws, [])

    gate = asyncio.Event()

    async def slow_url() -> str:
        await gate.wait()  # the ticket never comes
        return "ws://127.0.0.1:1/ws"

    sock = ReconnectingWebSocket(slow_url, on_message=Inbox())
    try:
        with pytest.raises(WebSocketUnavailableError, match=r"no open connection within 0\.3 s"):
            await sock.send("x", timeout=0.3)
    finally:
        await sock.close()


async def test_a_fatal_url_error_stops_the_loop_and_reaches_callers() -> None:
    class NeedsLogin(Exception):
        pass

    calls = 0

    async def url() -> str:
        nonlocal calls
        calls += 1
        raise NeedsLogin("log in again")

    sock = ReconnectingWebSocket(url, on_message=Inbox(), fatal=lambda e: isinstance(e, NeedsLogin))
    try:
        with pytest.raises(WebSocketUnavailableError) as caught:
            await sock.wait_open(timeout=20)
        assert isinstance(caught.value.last_error, NeedsLogin)
        await eventually(lambda: not sock.running, what="the loop to stop")
        assert calls == 1
    finally:
        await sock.close()


async def test_malformed_frames_are_dropped_and_counted_without_a_reconnect() -> None:
    nested = "[" * 5000 + "]" * 5000

    async def script(ws: ServerConnection, n: int) -> None:
        for frame in ("not json", "[1, 2]", '"text"', nested, '{"a": 1', "1" * 5000):
            await ws.send(frame)
        await ws.send(b"\x00\x01binary")
        await ws.send(json.dumps({"ok": True}))
        await read_into(ws, [])

    async with scripted_server(script) as server:
        url, _ = url_factory(server)
        inbox = Inbox()
        async with ReconnectingWebSocket(url, on_message=inbox, backoff=FAST) as sock:
            await eventually(lambda: inbox.messages == [{"ok": True}], what="the good frame")
            assert sock.stats.dropped == 7
            assert sock.stats.frames_in == 8
            assert sock.stats.connects == 1 and sock.is_open


async def test_an_oversized_frame_is_counted_and_costs_a_reconnect_not_a_crash() -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        if n == 1:
            await ws.send(json.dumps({"blob": "x" * 10_000}))
        await ws.send(json.dumps({"n": n}))
        await read_into(ws, [])

    async with scripted_server(script) as server:
        url, issued = url_factory(server)
        inbox = Inbox()
        async with ReconnectingWebSocket(url, on_message=inbox, backoff=FAST, max_size=2048) as sock:
            await eventually(lambda: {"n": 2} in inbox.messages, what="the second connection's frame")
            assert sock.stats.oversized == 1 and sock.stats.dropped == 1
            assert not any("blob" in m for m in inbox.messages)
            assert len(issued) == 2


async def test_a_failing_handler_is_logged_and_the_connection_stays(caplog: pytest.LogCaptureFixture) -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps({"boom": True}))
        await ws.send(json.dumps({"ok": True}))
        await read_into(ws, [])

    seen: list[dict[str, Any]] = []

    def handler(message: dict[str, Any]) -> None:
        if message.get("boom"):
            raise RuntimeError("handler bug")
        seen.append(message)

    async with scripted_server(script) as server:
        url, _ = url_factory(server)
        async with ReconnectingWebSocket(url, on_message=handler, backoff=FAST) as sock:
            await eventually(lambda: seen == [{"ok": True}], what="the second frame")
            assert sock.stats.handler_errors == 1 and sock.stats.connects == 1
    assert "a frame handler failed" in caplog.text


async def test_request_reconnect_from_a_handler_opens_a_new_connection_with_a_new_url() -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps({"n": n, "reconnect": n == 1}))
        await read_into(ws, [])

    async with scripted_server(script) as server:
        url, issued = url_factory(server)
        holder: list[ReconnectingWebSocket] = []
        inbox = Inbox()

        def handler(message: dict[str, Any]) -> None:
            inbox(message)
            if message.get("reconnect"):
                holder[0].request_reconnect("told to")

        sock = ReconnectingWebSocket(url, on_message=handler, backoff=FAST)
        holder.append(sock)
        async with sock:
            await eventually(lambda: len(inbox.messages) == 2, what="the second connection")
            assert issued == ["ticket-0001", "ticket-0002"]
            assert sock.stats.reconnects == 1


async def test_a_peer_that_stops_answering_pings_is_dropped_and_reconnected() -> None:
    stop = asyncio.Event()

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps({"n": n}))
        if n == 1:
            ws.transport.pause_reading()  # never sees our pings, so never answers them
            await stop.wait()
            ws.transport.abort()
            return
        await read_into(ws, [])

    async with scripted_server(script) as server:
        url, _ = url_factory(server)
        inbox = Inbox()
        sock = ReconnectingWebSocket(url, on_message=inbox, backoff=FAST, ping_interval_s=0.2, ping_timeout_s=0.3)
        async with sock:
            await eventually(lambda: {"n": 2} in inbox.messages, what="a reconnect after the ping timeout")
            assert sock.stats.reconnects >= 1
        stop.set()


async def test_close_leaves_no_task_behind() -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps({"n": n}))
        await read_into(ws, [])

    before = asyncio.all_tasks()
    async with scripted_server(script) as server:
        url, _ = url_factory(server)
        inbox = Inbox()
        sock = ReconnectingWebSocket(url, on_message=inbox, backoff=FAST, ping_interval_s=0.1)
        await sock.wait_open(timeout=20)
        await eventually(lambda: bool(inbox.messages), what="a frame")
        await sock.send({"x": 1})
        await sock.close()
        assert not sock.running and not sock.is_open
        with pytest.raises(WebSocketUnavailableError, match="closed"):
            await sock.send({"x": 2})
        left = {t for t in asyncio.all_tasks() - before if not t.done()}
        # only the server's own handler tasks may remain (they end with the server)
        assert all("ringvault" not in (t.get_name() or "") for t in left)
        client_side = [t for t in left if "websockets/asyncio/client" in repr(t.get_coro())]
        assert client_side == []
    await asyncio.sleep(0)
    assert {t for t in asyncio.all_tasks() - before if not t.done()} == set()


async def test_close_while_retrying_stops_at_once() -> None:
    port = free_port()

    async def url() -> str:
        return f"ws://127.0.0.1:{port}/ws"

    sock = ReconnectingWebSocket(url, on_message=Inbox(), backoff=ExponentialBackoff(initial_s=60, max_s=60))
    sock.start()
    await eventually(lambda: sock.stats.failures >= 1, what="a failed attempt")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sock.close()
    assert loop.time() - started < 5
    assert not sock.running


async def test_the_ticket_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ticket = "TicketSecret-7f3a9c2e"

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send("not json")
        ws.transport.abort()

    async with scripted_server(script) as server:
        server.refuse_status = 403

        async def url() -> str:
            return f"{server.base}/ws?authcode={ticket}&ack=false"

        sock = ReconnectingWebSocket(url, on_message=Inbox(), backoff=FAST, max_failures=2)
        try:
            with pytest.raises(WebSocketUnavailableError) as caught:
                await sock.wait_open(timeout=20)
            assert "HTTP 403" in str(caught.value)
            server.refuse_status = None
            await eventually(lambda: sock.stats.connects >= 2, what="connections once the server accepts")
        finally:
            await sock.close()
    assert server.paths and all(ticket in p for p in server.paths)  # it was sent...
    # (the test server's own log, ``websockets.server``, is not the client's and shows it in full)
    client_log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server"))
    assert "GET /ws?" in client_log  # ...the client logged its handshake (at DEBUG)...
    assert ticket not in client_log  # ...and never the ticket
    assert ticket not in str(caught.value)


async def test_a_one_shot_socket_connects_once_sends_its_headers_and_reports_the_end() -> None:
    """``reconnect=False`` (live-view signalling: one ticket, one session): no second connection after the server
    closes, ``on_close`` hears why, callers get a one-line error naming the end; a refused first attempt ends it
    too. ``headers`` go out with the handshake."""
    agents: list[str | None] = []

    async def script(ws: ServerConnection, n: int) -> None:
        assert ws.request is not None
        agents.append(ws.request.headers.get("User-Agent"))
        await ws.send(json.dumps({"n": n}))
        await ws.close(1000, "bye")

    async with scripted_server(script) as server:
        url, issued = url_factory(server)
        inbox, ends = Inbox(), []
        socket = ReconnectingWebSocket(
            url, on_message=inbox, on_close=ends.append, name="once", backoff=FAST, reconnect=False,
            headers={"User-Agent": "android:com.ringapp"},
        )  # fmt: skip
        socket.start()
        await eventually(lambda: bool(ends), what="the end")
        with pytest.raises(WebSocketUnavailableError, match="the connection ended"):
            await socket.wait_open(timeout=2)
        with pytest.raises(WebSocketUnavailableError):
            socket.start()
        await asyncio.sleep(0.3)  # longer than the backoff: a reconnecting socket would have come back
        assert server.connections == 1 and len(issued) == 1 and socket.stats.attempts == 1
        assert inbox.messages == [{"n": 1}] and agents == ["android:com.ringapp"] and len(ends) == 1
        await socket.close()
        assert not socket.running

    async with scripted_server(script, refuse_status=403) as refusing:
        url, _ = url_factory(refusing)
        ends = []
        socket = ReconnectingWebSocket(url, on_message=Inbox(), on_close=ends.append, backoff=FAST, reconnect=False)
        with pytest.raises(WebSocketUnavailableError, match="HTTP 403"):
            await socket.wait_open(timeout=5)
        assert socket.stats.attempts == 1 and len(ends) == 1 and "403" in ends[0]
        await socket.close()
