"""A minimal Ring signalling server and camera for the live-view tests, written from the reference (§9.2-§9.6):
a WebSocket server on 127.0.0.1 that speaks the signalling messages, and per session an aiortc peer that answers
the offer and streams a small generated picture (320x240, 15 fps: a blue field with a white square that moves 4 px
a frame) and a 400 Hz tone. Faults: ``offline`` (a ``close`` naming an offline camera instead of an answer),
``close_after`` (a ``close`` with code 6 that many seconds after the answer), ``ice_fail`` (an answer whose
candidates were removed and that says ``end-of-candidates``, so ICE has nothing to try), ``silent`` (no answer),
``noise`` (frames for another camera and another session before the real ones: the client must drop them),
``garbage_sdp`` (an answer that is no session description).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from PIL import Image, ImageDraw
from websockets.asyncio.server import ServerConnection, serve

SIGNALLING_PATH = "/api.prod.signalling.ring.devices.a2z.com/ws"
WIDTH, HEIGHT, FPS = 320, 240, 15
SQUARE = 40
STEP = 4
BACKGROUND = (30, 60, 200)


def square_x(index: int) -> int:
    return (index * STEP) % (WIDTH - SQUARE)


class PatternTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.started: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.started is None:
            self.started = time.monotonic()
        else:
            self.index += 1
            await asyncio.sleep(max(0.0, self.started + self.index / FPS - time.monotonic()))
        image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
        x = square_x(self.index)
        ImageDraw.Draw(image).rectangle([x, 100, x + SQUARE - 1, 100 + SQUARE - 1], fill=(255, 255, 255))
        frame = av.VideoFrame.from_image(image)
        frame.pts = self.index * (90000 // FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


_TONE = b"".join(
    struct.pack("<hh", v, v) for v in (int(8000 * math.sin(2 * math.pi * 400 * i / 48000)) for i in range(960))
)


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.started is None:
            self.started = time.monotonic()
        else:
            self.index += 1
            await asyncio.sleep(max(0.0, self.started + self.index * 0.02 - time.monotonic()))
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(_TONE)
        frame.sample_rate = 48000
        frame.pts = self.index * 960
        frame.time_base = fractions.Fraction(1, 48000)
        return frame


@dataclass
class AnswererSession:
    doorbot_id: int
    query: dict[str, str]
    user_agent: str | None
    received: list[dict[str, Any]] = field(default_factory=list)
    pc: RTCPeerConnection | None = None
    session_id: str = field(default_factory=lambda: f"jwt-{uuid.uuid4().hex}")
    socket_closed: bool = False

    def methods(self) -> list[str]:
        return [str(m.get("method")) for m in self.received]


@dataclass
class Answerer:
    """The server; ``url`` is its base (``http://127.0.0.1:PORT``), usable as a cloud URL for the socket."""

    fault: str | None = None
    close_after_s: float = 2.0
    sessions: list[AnswererSession] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}{SIGNALLING_PATH}"

    def all_closed(self) -> bool:
        return all(s.socket_closed and (s.pc is None or s.pc.connectionState == "closed") for s in self.sessions)

    async def handler(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        parts = urlsplit(request.path)
        if parts.path != SIGNALLING_PATH:
            await ws.close(4004, "not found")
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        session: AnswererSession | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            async for raw in ws:
                message = json.loads(raw)
                if session is None:
                    body = message.get("body") or {}
                    session = AnswererSession(
                        doorbot_id=body.get("doorbot_id"), query=query, user_agent=request.headers.get("User-Agent")
                    )
                    self.sessions.append(session)
                session.received.append(message)
                method = message.get("method")
                if method == "live_view":
                    await self._live_view(ws, session, message["body"], tasks)
                elif method == "ping":
                    await self._send(ws, session, "pong", {})
                elif method == "ice" and session.pc is not None and self.fault != "ice_fail":
                    text = message["body"]["ice"]
                    candidate = candidate_from_sdp(text.split(":", 1)[1])
                    candidate.sdpMLineIndex = message["body"]["mlineindex"]
                    with contextlib.suppress(Exception):
                        await session.pc.addIceCandidate(candidate)
                elif method == "close":
                    break
        finally:
            for task in tasks:
                task.cancel()
            if session is not None:
                if session.pc is not None:
                    await session.pc.close()
                session.socket_closed = True

    async def _send(self, ws: ServerConnection, session: AnswererSession, method: str, body: dict[str, Any]) -> None:
        payload = {"doorbot_id": session.doorbot_id, "session_id": session.session_id, **body}
        await ws.send(json.dumps({"method": method, "dialog_id": str(uuid.uuid4()), "body": payload}))

    async def _live_view(
        self, ws: ServerConnection, session: AnswererSession, body: dict[str, Any], tasks: list[asyncio.Task[None]]
    ) -> None:
        if self.fault == "silent":
            return
        if self.fault == "offline":
            await ws.send(
                json.dumps(
                    {
                        "method": "close",
                        "body": {"doorbot_id": session.doorbot_id, "reason": {"code": 1, "text": "Camera is offline"}},
                    }
                )
            )
            return
        if self.fault == "noise":
            other = {"doorbot_id": session.doorbot_id + 1, "session_id": "other", "reason": {"code": 6, "text": "x"}}
            await ws.send(json.dumps({"method": "close", "body": other}))
            as_text = {"doorbot_id": str(session.doorbot_id), "reason": {"code": 6, "text": "string id"}}
            await ws.send(json.dumps({"method": "close", "body": as_text}))
        pc = session.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
        pc.addTrack(PatternTrack())
        pc.addTrack(ToneTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        sdp = pc.localDescription.sdp
        if self.fault == "garbage_sdp":
            sdp = "v=0\r\nthis is not a session description\r\n"
        if self.fault == "ice_fail":
            sdp = "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith("a=candidate:"))
        await self._send(ws, session, "session_created", {})
        if self.fault == "noise":
            await ws.send(json.dumps({"method": "close", "body": {
                "doorbot_id": session.doorbot_id, "session_id": "another-session", "reason": {"code": 6, "text": "y"},
            }}))  # fmt: skip
        await self._send(ws, session, "sdp", {"sdp": sdp, "type": "answer"})
        await self._send(ws, session, "notification", {"is_ok": True, "text": "camera_connected"})
        if self.fault == "close_after":

            async def close_later() -> None:
                await asyncio.sleep(self.close_after_s)
                await self._send(ws, session, "close", {"reason": {"code": 6, "text": "Timeout waiting for ping"}})

            tasks.append(asyncio.create_task(close_later()))


@contextlib.asynccontextmanager
async def running_answerer(fault: str | None = None, **kwargs: Any) -> AsyncIterator[Answerer]:
    answerer = Answerer(fault=fault, **kwargs)
    async with serve(answerer.handler, "127.0.0.1", 0) as server:
        answerer.port = server.sockets[0].getsockname()[1]
        yield answerer
        deadline = time.monotonic() + 10
        while not answerer.all_closed() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls aiortc state
            await asyncio.sleep(0.05)
