"""The live feed: ``GET /api/events/stream`` (Server-Sent Events) and ``GET /api/events/status``.

- **What it sends.** Each event Ring reports (``event: ding``, ``motion``, ``intercom_ding``, ``intercom_unlock``,
  ``alarm``; data as ``ringvault watch --json`` prints it) and each recording the server's watcher settled
  (``event: recording``; ``status`` ``done``, ``pending`` or ``failed``), each with an ``id:``. First, on every
  connection, an ``event: status`` without an id says whether the watcher runs (and if not, why).
- **Resume.** Messages are rows of the archive (``event_feed``; ids only grow, the newest 10,000 kept for at most 7
  days), so ``Last-Event-ID`` — the header browsers send when they reconnect, or ``?last_event_id=`` for clients
  that cannot send it — resumes after a disconnect and after a server restart: the client gets every message after
  that id it missed, exactly once, then live ones. An id the feed cannot resume from (never given out, or pruned)
  gets one ``event: reset`` message (its id is the newest, so a browser resumes from there next time), then live.
- **Bounds.** At most ``events_max_subscribers`` streams at once (one more: 503, one line); each has a queue of
  ``events_queue_size`` messages: a client that falls that far behind gets ``event: dropped`` and is disconnected
  (it resumes with its last id), so a slow reader never grows the server's memory. A comment line every
  ``events_heartbeat_s`` (15 s) keeps proxies from closing an idle stream.
- **Security.** The stream is under ``/api``: the API key middleware applies as everywhere (the key in
  ``Authorization: Bearer``, or the web UI's session cookie, which is what a browser's ``EventSource`` — it cannot
  send headers — carries; the key is never accepted in a URL).

Why ``StreamingResponse`` and FastAPI's ``format_sse_event`` rather than a generator route or sse-starlette: the
route must answer 503 (a plain JSON error) before it commits to a stream, take the subscriber slot before it
reads the backlog so no message falls between the two, and its heartbeat interval is a setting; the wire format
comes from FastAPI (already a dependency), so no SSE encoding is written here and no dependency is added.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.feed import FeedMessage
    from ringvault.server.context import ServerContext

__all__ = ["EventBroker", "Subscriber", "TooManySubscribersError", "router"]

log = logging.getLogger("ringvault.server.events")

router = APIRouter(prefix="/api/events", tags=["events"])

MAX_SUBSCRIBERS = 100
QUEUE_SIZE = 256
HEARTBEAT_S = 15.0
#: messages waiting to be written to the feed (events come in bursts of a few; a stuck database drops, said once)
INBOX_SIZE = 10_000
#: the browser's reconnect delay the stream asks for (ms)
RETRY_MS = 3000
#: a resumed stream reads what it missed this many messages at a time (memory per stream stays small)
BACKLOG_PAGE = 200


class TooManySubscribersError(RuntimeError):
    """Every stream slot is taken."""


@dataclass(eq=False)
class Subscriber:
    """One open stream: its queue of live messages, and whether it fell behind (then it is closed)."""

    queue: asyncio.Queue[FeedMessage | tuple[str, dict[str, Any]]]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


class EventBroker:
    """Writes each message to the feed (in order, one writer task) and hands it to every open stream."""

    def __init__(
        self,
        store: ArchiveStore,
        *,
        max_subscribers: int = MAX_SUBSCRIBERS,
        queue_size: int = QUEUE_SIZE,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.store = store
        self.max_subscribers = max_subscribers
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.subscribers: set[Subscriber] = set()
        self.published = 0
        self.dropped_clients = 0
        self._inbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(INBOX_SIZE)
        self._writer: asyncio.Task[None] | None = None
        self._inbox_full_said = False
        self.stopping = False

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="ringvault-event-feed")

    def close_streams(self) -> None:
        """The server is stopping: every open stream ends with ``event: shutdown`` (its client resumes after the
        restart), and no new one opens. Called before uvicorn waits for the open connections to finish."""
        self.stopping = True
        for subscriber in list(self.subscribers):
            subscriber.dropped.set()

    async def aclose(self) -> None:
        self.close_streams()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Queue one message for the feed and the streams (never blocks, never raises)."""
        try:
            self._inbox.put_nowait((kind, data))
        except asyncio.QueueFull:
            if not self._inbox_full_said:
                self._inbox_full_said = True
                log.warning("the live feed cannot keep up (the archive database is slow); messages are dropped")

    def announce(self, kind: str, data: dict[str, Any]) -> None:
        """A message for the open streams only (no id, not kept): the watcher's state changing."""
        for subscriber in list(self.subscribers):
            self._offer(subscriber, (kind, data))

    async def _write_loop(self) -> None:
        while True:
            kind, data = await self._inbox.get()
            try:
                message = await asyncio.to_thread(self.store.feed.append, kind, json.dumps(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database refused: the message is lost for resumes, say so once a burst
                log.warning("the live feed could not store a %s message (%s)", kind, type(exc).__name__)
                continue
            self.published += 1
            self._inbox_full_said = False
            for subscriber in list(self.subscribers):
                self._offer(subscriber, message)

    def _offer(self, subscriber: Subscriber, item: FeedMessage | tuple[str, dict[str, Any]]) -> None:
        if subscriber.dropped.is_set():
            return
        try:
            subscriber.queue.put_nowait(item)
        except asyncio.QueueFull:
            subscriber.dropped.set()
            self.dropped_clients += 1

    def subscribe(self) -> Subscriber:
        if self.stopping:
            raise TooManySubscribersError("the server is stopping")
        if len(self.subscribers) >= self.max_subscribers:
            raise TooManySubscribersError(
                f"too many live streams open ({self.max_subscribers}); close one or try again later"
            )
        subscriber = Subscriber(asyncio.Queue(self.queue_size))
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)


def _ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def _wire(message: FeedMessage) -> bytes:
    return format_sse_event(data_str=message.data, event=message.kind, id=str(message.id))


def _transient(kind: str, data: dict[str, Any], *, id: int | None = None) -> bytes:
    return format_sse_event(data_str=json.dumps(data), event=kind, id=str(id) if id is not None else None)


def _last_id(header: str | None, query: str | None) -> tuple[bool, int | None]:
    """(asked to resume, the id as a number or None when it is not one this server gives out)."""
    text = (query if query is not None else header or "").strip()
    if not text:
        return False, None
    return True, int(text) if text.isdigit() and len(text) <= 18 else None


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, 503: {}},
)
async def stream(
    request: Request,
    last_event_id: Annotated[
        str | None,
        Query(max_length=64, description="Resume after this id (for clients that cannot send Last-Event-ID)."),
    ] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """The live feed as Server-Sent Events: Ring's events and the archive's recordings, resumable by id."""
    ctx = _ctx(request)
    broker = ctx.events
    try:
        subscriber = broker.subscribe()
    except TooManySubscribersError as exc:
        raise HTTPException(503, str(exc)) from None
    resuming, last = _last_id(last_event_id_header, last_event_id)
    try:
        backlog = (
            await asyncio.to_thread(ctx.store.feed.resume, last if last is not None else -1, BACKLOG_PAGE)
            if resuming
            else None
        )
    except BaseException:
        broker.unsubscribe(subscriber)
        raise
    return StreamingResponse(
        _messages(ctx, subscriber, backlog),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _messages(ctx: ServerContext, subscriber: Subscriber, backlog: Any) -> AsyncIterator[bytes]:
    broker = ctx.events
    try:
        yield format_sse_event(comment="ringvault live feed", retry=RETRY_MS)
        yield _transient("status", ctx.watcher.status())
        sent = 0
        if backlog is not None:
            if not backlog.known:
                yield _transient(
                    "reset",
                    {"error": "that id cannot be resumed (unknown, or older than the feed keeps); live from here",
                     "newest": backlog.newest},
                    id=backlog.newest,
                )  # fmt: skip
            sent = backlog.after if backlog.known else backlog.newest
            page = backlog.messages
            while page:  # page by page: a client far behind never holds the whole backlog in memory
                for message in page:
                    yield _wire(message)
                sent = page[-1].id
                page = (
                    await asyncio.to_thread(ctx.store.feed.after, sent, BACKLOG_PAGE)
                    if len(page) == BACKLOG_PAGE
                    else []
                )
        while True:
            item = await _next(subscriber, broker.heartbeat_s)
            if item is None:
                yield b": heartbeat\n\n"
                continue
            if item == "dropped":
                if broker.stopping:
                    yield _transient("shutdown", {"error": "the server is stopping; reconnect with Last-Event-ID"})
                else:
                    yield _transient(
                        "dropped",
                        {"error": "this stream fell behind and is closed; reconnect with Last-Event-ID to resume"},
                    )
                return
            if isinstance(item, tuple):
                yield _transient(*item)
            elif item.id > sent:
                sent = item.id
                yield _wire(item)
    finally:
        broker.unsubscribe(subscriber)


async def _next(subscriber: Subscriber, heartbeat_s: float) -> Any:
    """The next queued message, ``"dropped"`` once the stream must end (at once: the client resumes from the last
    id it got), or None after ``heartbeat_s`` of quiet."""
    if subscriber.dropped.is_set():
        return "dropped"
    getter = asyncio.ensure_future(subscriber.queue.get())
    dropped = asyncio.ensure_future(subscriber.dropped.wait())
    try:
        done, _ = await asyncio.wait({getter, dropped}, timeout=heartbeat_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (getter, dropped):
            if not task.done():
                task.cancel()
    if getter in done:
        return getter.result()
    if dropped in done:
        return "dropped"
    return None


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    """Whether the server's watcher follows Ring's events (and if not, why), and the live feed's numbers."""
    ctx = _ctx(request)
    oldest, newest = ctx.store.feed.bounds()
    return {
        "watcher": ctx.watcher.status(),
        "streams": len(ctx.events.subscribers),
        "max_streams": ctx.events.max_subscribers,
        "feed": {"oldest_id": oldest, "newest_id": newest},
    }
