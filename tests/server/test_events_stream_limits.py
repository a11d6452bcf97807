"""The live feed's bounds and guards, on a real server (uvicorn in a thread, real SQLite) over loopback: at most
``events_max_subscribers`` streams (one more is a one-line 503, a closed one frees its slot), the heartbeat comment,
the API key applying to the stream as to the rest of the API (never in the URL), a slow stream dropped with a
final message instead of a growing queue, and a watcher whose login Ring refuses: the server stays up, says why in
one log line however often it retries, and runs again once the user logs in again."""

from __future__ import annotations

import asyncio
import json
import logging
from functools import partial
from pathlib import Path

import httpx
import pytest

from ringvault.server import ServerSettings, create_app
from ringvault.server.context import ServerContext
from ringvault.server.events import _messages
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import fast_sync_options
from tests.cli_fixtures import Invoke, two_factor_code
from tests.cloud.test_push_e2e import sim_call
from tests.server.conftest import Serve
from tests.server.events_helpers import Stream, until
from tests.server.helpers import ServerThread
from tests.server.test_limits import HOSTILE

pytestmark = pytest.mark.timeout(240)

KEY = "k3y-for-tests-0123456789abcdef"


async def test_subscribers_are_bounded_and_a_closed_stream_frees_its_slot(serve: Serve) -> None:
    server = serve(events_max_subscribers=2)
    first, second = Stream(server.url).start(), Stream(server.url).start()
    for stream in (first, second):
        await until(lambda stream=stream: bool(stream.of("status")), "a stream open", stream)  # type: ignore[misc]
    third = Stream(server.url).start()
    await until(lambda: third.ended, "the refusal")
    assert third.status == 503
    assert third.body == '{"error":"too many live streams open (2); close one or try again later"}'
    await first.close()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await until(lambda: _streams(server) == 1, "the slot freed")
        answer = (await client.get("/api/events/status")).json()
    assert answer["streams"] == 1 and answer["max_streams"] == 2
    fourth = Stream(server.url).start()
    await until(lambda: bool(fourth.of("status")), "a stream in the freed slot", fourth)
    await second.close()
    await fourth.close()


def _streams(server: ServerThread) -> int:
    ctx: ServerContext = server.app.state.ctx
    return len(ctx.events.subscribers)


async def test_a_quiet_stream_gets_heartbeats(serve: Serve) -> None:
    server = serve(events_heartbeat_s=0.2)
    stream = Stream(server.url).start()
    await until(lambda: any(m.comment == "heartbeat" for m in stream.messages), "a heartbeat", stream)
    assert stream.messages[0].comment == "ringvault live feed"  # the opening comment (with the retry delay)
    await stream.close()


async def test_the_api_key_applies_and_is_never_taken_from_the_url(serve: Serve) -> None:
    """Without the key (or with it in the URL) a 401; with the header, or with the web UI's session cookie (what an
    ``EventSource`` in a logged-in browser sends), the stream."""
    server = serve(api_key=KEY)
    for stream in (
        Stream(server.url).start(),
        Stream(server.url, params={"api_key": KEY}).start(),
        Stream(server.url, headers={"Authorization": "Bearer wrong-key-0123456789"}).start(),
    ):
        await until(lambda stream=stream: stream.ended, "the refusal")  # type: ignore[misc]
        assert stream.status == 401 and "Authorization: Bearer" in stream.body
    allowed = Stream(server.url, headers={"Authorization": f"Bearer {KEY}"}).start()
    await until(lambda: bool(allowed.of("status")), "the stream with the key", allowed)
    await allowed.close()
    # what a browser's EventSource sends once logged in to the web UI: the session cookie (no header)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        form = await client.get("/login")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert (await client.post("/login", data={"key": KEY, "csrf_token": token})).status_code in (200, 303)
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    browser = Stream(server.url, headers={"Cookie": cookie}).start()
    await until(lambda: bool(browser.of("status")), "the stream with the session cookie", browser)
    await browser.close()


async def test_a_stream_that_falls_behind_is_dropped_with_a_final_message(tmp_path: Path) -> None:
    """A subscriber whose queue is full is not given more (memory stays bounded): it gets ``event: dropped`` and
    its stream ends; the feed kept every message, so it resumes with its last id."""
    ctx = ServerContext(ServerSettings(archive_dir=tmp_path / "archive", events_queue_size=2))
    try:
        ctx.events.start()
        subscriber = ctx.events.subscribe()
        for n in range(6):
            ctx.events.publish("ding", {"n": n})
        await until(lambda: ctx.events.published == 6, "six messages stored")
        assert subscriber.queue.qsize() == 2 and subscriber.dropped.is_set()
        assert ctx.events.dropped_clients == 1
        sent = [chunk async for chunk in _messages(ctx, subscriber, None)]
        assert sent[-1].startswith(b"event: dropped\n") and b"Last-Event-ID" in sent[-1]
        assert subscriber not in ctx.events.subscribers
        assert [m.id for m in ctx.store.feed.resume(0).messages] == [1, 2, 3, 4, 5, 6]
    finally:
        await ctx.aclose()


async def test_a_refused_login_keeps_the_server_up_says_so_once_and_recovers_after_login(
    cloud_env: SimServer,
    logged_in: Path,
    invoke: Invoke,
    archive_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = cloud_env
    await sim_call(sim, "POST", "/_sim/tokens/revoke")  # Ring answers 401 to the stored token
    settings = ServerSettings(
        archive_dir=archive_dir, token_file=logged_in, cloud_url=sim.url, sync_defaults=fast_sync_options(), watch=True
    )
    app = create_app(settings)
    ctx: ServerContext = app.state.ctx
    ctx.watcher.retry_s = (0.2,)  # the pauses are the server's (5 s, 15 s, ... 5 min); quick here
    caplog.set_level(logging.INFO, logger="ringvault.server.watcher")
    server = ServerThread(app).start()
    try:
        await until(lambda: ctx.watcher.failures >= 3, "three failed starts", within=120)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200
            watcher = (await client.get("/api/events/status")).json()["watcher"]
        assert watcher["state"] == "retrying" and "\n" not in watcher["reason"], watcher
        said = [r.getMessage() for r in caplog.records if "the watcher stopped" in r.getMessage()]
        assert len(said) == 1, said
        # the way out: log in again; the next attempt uses the new login
        email, password = sim.state.config.email, sim.state.config.password
        await asyncio.to_thread(invoke, "login", "--email", email, "--password", password)  # the CLI runs its own loop
        code = await asyncio.to_thread(two_factor_code, sim)
        result = await asyncio.to_thread(invoke, "login", "--email", email, "--password", password, "--code", code)
        assert result.exit_code == 0, result.output
        await until(lambda: ctx.watcher.state == "on", "the watcher running after the login", within=120)
        assert ctx.watcher.failures == 0 and ctx.watcher.starts == 1
    finally:
        server.stop()


async def test_hostile_resume_ids_get_a_reset_or_a_one_line_400(serve: Serve) -> None:
    """``Last-Event-ID`` and ``?last_event_id`` with the values every route is swept with: never a 500; a value too
    long is a one-line 400; anything else that is not an id the feed gave out is one ``reset``, then live (a blank
    one is no resume, and 0 on an empty feed misses nothing)."""
    server = serve()
    for value in HOSTILE:
        expected = 0 if value.strip() in ("", "0") else 1
        for stream in (
            Stream(server.url, params={"last_event_id": value}).start(),
            Stream(server.url, headers={"Last-Event-ID": value.encode("utf-8", "replace").decode("latin-1")}).start(),
        ):
            await until(partial(_answered, stream, expected), f"an answer to {value!r}")
            await stream.close()
            if stream.status is None:  # httpx refuses to send such a header (a NUL, a line break): nothing to check
                continue
            if stream.status == 200:
                assert len(stream.of("reset")) == expected, (value, stream.events)
            else:
                assert stream.status == 400 and "\n" not in json.loads(stream.body)["error"], (value, stream.body)


def _answered(stream: Stream, resets: int) -> bool:
    return stream.ended or (bool(stream.of("status")) and len(stream.of("reset")) >= resets)


async def test_a_long_backlog_is_sent_page_by_page_in_order_once(serve: Serve) -> None:
    """More missed messages than one page (``BACKLOG_PAGE``): all of them, in order, once."""
    from ringvault.server.events import BACKLOG_PAGE

    server = serve()
    ctx: ServerContext = server.app.state.ctx
    total = BACKLOG_PAGE * 2 + 50
    for n in range(total):
        ctx.store.feed.append("motion", json.dumps({"n": n}))
    stream = Stream(server.url, headers={"Last-Event-ID": "0"}).start()
    await until(lambda: len(stream.of("motion")) >= total, "the whole backlog", stream)
    assert [m.data["n"] for m in stream.of("motion")] == list(range(total))
    assert stream.numbered() == list(range(1, total + 1))
    await stream.close()
