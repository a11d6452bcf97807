"""Decoded frames from the peer connection to any number of consumers, in bounded memory.

aiortc decodes H.264 and Opus in its receiver threads and hands out ``av`` frames from each remote track's
``recv()``. One pump task per track reads them as fast as they come (so aiortc's own, unbounded, queue never grows)
and offers each frame to every subscriber's ``FrameQueue``: a deque of at most N frames that drops its oldest frame
when a slow consumer falls behind. With no subscriber a frame is simply dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

__all__ = ["Fanout", "FrameQueue", "jpeg_of"]

log = logging.getLogger("ringvault.cloud.live")

F = TypeVar("F")


class StreamEnded(Exception):
    """The track ended (the session closed or the camera stopped sending)."""


class FrameQueue(Generic[F]):
    """A bounded queue of frames for one consumer: ``put`` never blocks and drops the oldest frame when full."""

    def __init__(self, limit: int) -> None:
        self._frames: collections.deque[F] = collections.deque(maxlen=limit)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def put(self, frame: F) -> None:
        if len(self._frames) == self._frames.maxlen:
            self.dropped += 1
        self._frames.append(frame)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._frames)

    async def get(self) -> F:
        """The oldest frame kept; ``StreamEnded`` once the stream ended and nothing is left."""
        while not self._frames:
            if self.closed:
                raise StreamEnded
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()


class Fanout(Generic[F]):
    """Reads one remote track and offers every frame to the current subscribers (see the module docstring)."""

    def __init__(self, kind: str, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        self.frames = 0
        self.first_frame = asyncio.Event()
        self.ended = False
        self._subscribers: set[FrameQueue[F]] = set()
        self._task: asyncio.Task[None] | None = None

    def attach(self, track: MediaStreamTrack) -> None:
        """Start reading ``track`` (once: a second track of the same kind is ignored)."""
        if self._task is None:
            self._task = asyncio.create_task(self._pump(track), name=f"ringvault-live-{self.kind}")

    async def _pump(self, track: MediaStreamTrack) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                frame = await track.recv()
                self.frames += 1
                self.first_frame.set()
                for queue in list(self._subscribers):
                    queue.put(frame)  # type: ignore[arg-type]
        except MediaStreamError:
            log.debug("the %s track ended", self.kind)
        finally:
            self.end()

    def end(self) -> None:
        self.ended = True
        self.first_frame.set()  # wake waiters: they see ``ended``
        for queue in list(self._subscribers):
            queue.close()

    def subscribe(self, limit: int | None = None) -> FrameQueue[F]:
        queue: FrameQueue[F] = FrameQueue(limit or self.limit)
        if self.ended:
            queue.close()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: FrameQueue[F]) -> None:
        self._subscribers.discard(queue)

    @contextlib.asynccontextmanager
    async def subscription(self, limit: int | None = None) -> AsyncIterator[FrameQueue[F]]:
        queue = self.subscribe(limit)
        try:
            yield queue
        finally:
            self.unsubscribe(queue)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.end()


def jpeg_of(frame: object, *, quality: int = 90) -> bytes:
    """A decoded ``av.VideoFrame`` as JPEG bytes (Pillow; runs in a worker thread for big frames)."""
    import av

    assert isinstance(frame, av.VideoFrame)
    image = frame.to_image()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
