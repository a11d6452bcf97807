"""The live-view signalling socket (reference §9.2-§9.4) on the one transport, ``ReconnectingWebSocket``.

- **One shot.** The socket is opened once per session (``reconnect=False``): a ticket is good for one session, and a
  new connection would be a new session on Ring's side.
- **Frames we send** are JSON ``{"method", "dialog_id", "body"}`` with one ``dialog_id`` per connection; session
  messages carry ``doorbot_id`` and ``session_id`` (§9.3). The hang-up is rca's ``{"reason": {"code": 0, "text":
  ""}, "method": "close"}``, sent on every end.
- **Frames we accept**: ``body.doorbot_id`` must equal the camera id (a number, not a string) and ``session_id``
  must be absent or the one the first ``session_created``/``session_started`` fixed; anything else is dropped, as
  rca's ``handleMessage`` does. Accepted frames are queued (bounded) for the session's task.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ringvault.cloud.endpoints import USER_AGENT
from ringvault.transport import ReconnectingWebSocket, WebSocketUnavailableError, register_secret

__all__ = ["SESSION_METHODS", "Signalling", "SocketEnded", "accept_frame", "client_id"]

log = logging.getLogger("ringvault.cloud.live")

#: Server methods that announce the session id (prd knows only the first; rca accepts both, §9.3).
SESSION_METHODS = frozenset({"session_created", "session_started"})
#: Frames waiting for the session's task; a flood beyond this is dropped (the socket stays bounded).
MAX_PENDING_FRAMES = 256


class SocketEnded:
    """Put on the frame queue when the socket is gone; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def client_id() -> str:
    """``ring_site-<uuid4>``, new for every connection (§9.2)."""
    return f"ring_site-{uuid.uuid4()}"


def accept_frame(frame: dict[str, Any], doorbot_id: int, session_id: str | None) -> bool:
    """Whether rca would handle ``frame``: its ``body.doorbot_id`` is the camera's (same JSON type: a number), and
    its ``session_id``, when it has one, is the established one (or the first ``session_created``)."""
    body = frame.get("body")
    if not isinstance(body, dict) or not isinstance(frame.get("method"), str):
        return False
    camera = body.get("doorbot_id")
    if isinstance(camera, bool) or not isinstance(camera, int) or camera != doorbot_id:
        return False
    sid = body.get("session_id")
    if sid is None:
        return True
    if session_id is None:
        return frame["method"] in SESSION_METHODS and isinstance(sid, str) and bool(sid)
    return bool(sid == session_id)


class Signalling:
    """One signalling connection for one camera: ``start()``, ``send_*``, ``frames`` (accepted frames, then one
    ``SocketEnded``), ``close()``."""

    def __init__(
        self,
        url: Callable[[], Awaitable[str]],
        doorbot_id: int,
        *,
        name: str,
        max_message_bytes: int,
        open_timeout_s: float,
    ) -> None:
        self.doorbot_id = doorbot_id
        self.dialog_id = str(uuid.uuid4())
        self.session_id: str | None = None
        self.frames: asyncio.Queue[dict[str, Any] | SocketEnded] = asyncio.Queue()
        self.dropped = 0
        self.ended: str | None = None
        self._socket = ReconnectingWebSocket(
            url,
            on_message=self._on_message,
            on_close=self._on_close,
            name=name,
            reconnect=False,
            max_failures=1,
            max_size=max_message_bytes,
            open_timeout_s=open_timeout_s,
            headers={"User-Agent": USER_AGENT},  # must be present (§9.2)
            close_timeout_s=1.0,
        )

    @property
    def socket(self) -> ReconnectingWebSocket:
        return self._socket

    async def open(self, timeout: float) -> None:  # noqa: ASYNC109 - a wait bound
        """Connect (once); ``WebSocketUnavailableError`` when that fails."""
        self._socket.start()
        await self._socket.wait_open(timeout=timeout)

    def _on_message(self, frame: dict[str, Any]) -> None:
        if not accept_frame(frame, self.doorbot_id, self.session_id):
            self.dropped += 1
            log.debug("%s: dropped a frame for another camera or session (%s)", self._socket.name, frame.get("method"))
            return
        body = frame["body"]
        if self.session_id is None and frame["method"] in SESSION_METHODS and isinstance(body.get("session_id"), str):
            self.session_id = body["session_id"]
            register_secret(self.session_id)  # it authenticates the session's messages: never in a log line
        if self.frames.qsize() >= MAX_PENDING_FRAMES:
            self.dropped += 1
            log.warning("%s: dropped a %s frame (too many waiting)", self._socket.name, frame["method"])
            return
        self.frames.put_nowait(frame)

    def _on_close(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
            self.frames.put_nowait(SocketEnded(reason))

    # -- sending ---------------------------------------------------------------------------------------------
    async def _send(self, message: dict[str, Any]) -> None:
        await self._socket.send(message, timeout=5.0)

    async def send_live_view(self, sdp: str, *, audio: bool) -> None:
        await self._send(
            {
                "method": "live_view",
                "dialog_id": self.dialog_id,
                "body": {
                    "doorbot_id": self.doorbot_id,
                    "stream_options": {"audio_enabled": audio, "video_enabled": True},
                    "sdp": sdp,
                },
            }
        )

    async def send_ice(self, candidate: str, mlineindex: int) -> None:
        body: dict[str, Any] = {"doorbot_id": self.doorbot_id, "ice": candidate, "mlineindex": mlineindex}
        await self._send({"method": "ice", "dialog_id": self.dialog_id, "body": body})

    async def send_session(self, method: str, **fields: Any) -> None:
        """A session message (``activate_session``, ``stream_options``, ``ping``, ``camera_options``)."""
        if self.session_id is None:
            raise RuntimeError(f"{method} before the session id is known")
        body = {**fields, "doorbot_id": self.doorbot_id, "session_id": self.session_id}
        await self._send({"method": method, "dialog_id": self.dialog_id, "body": body})

    async def hang_up(self) -> None:
        """rca's ``close {code 0}`` (no dialog id, no body), when the socket is still open; never raises."""
        if not self._socket.is_open:
            return
        try:
            await self._socket.send({"reason": {"code": 0, "text": ""}, "method": "close"}, timeout=1.0)
        except (WebSocketUnavailableError, OSError) as err:
            log.debug("%s: the hang-up did not go out (%s)", self._socket.name, err)

    async def close(self) -> None:
        """Hang up and close the socket (idempotent)."""
        await self.hang_up()
        await self._socket.close()
