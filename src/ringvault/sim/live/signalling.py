"""The live-view signalling WebSocket (reference §9.2–§9.5), served at
``/api.prod.signalling.ring.devices.a2z.com/ws`` (the CLOUD_URL rule; a ``Host: api.prod.signalling.ring.devices.
a2z.com`` request is routed there too).

Handshake: a ``User-Agent`` is required (rca: "the socket will close immediately" without one), refused with 403
[sim]; the fault knobs refuse the handshake as they do the hub socket's. The ``token`` is the signalsocket ticket,
redeemed once: an unknown, used or expired one gets a ``close`` frame with code 5 and the socket closes.

Every server frame is ``{"method", "body"}`` whose body carries the camera's ``doorbot_id`` as a number, and the
session's ``session_id`` once it exists (rca drops any other frame, §9.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ringvault.sim.live.service import LiveService
from ringvault.sim.live.session import CLOSE_AUTH, CLOSE_NORMAL, LiveSession, Refused
from ringvault.sim.state import SimState
from ringvault.sim.stats import record_websocket

log = logging.getLogger("ringvault.sim.live")

CLOSE_TOO_BIG = 1009
#: [sim] how long a socket with a bad ticket waits for the client's first frame (to learn its doorbot_id)
BAD_TICKET_WAIT_S = 5.0
#: [sim] trickled client candidates kept until the offer is answered
MAX_PENDING_ICE = 64


class Disconnected(Exception):
    """The client went away or sent something that ends the socket."""


class SignallingConnection:
    """One socket: its frames both ways, and the session it opened (at most one)."""

    def __init__(self, websocket: WebSocket, service: LiveService, state: SimState) -> None:
        self.websocket = websocket
        self.service = service
        self.state = state
        self.doorbot_id: int = 0
        self.session: LiveSession | None = None
        self.pending_ice: list[dict[str, Any]] = []
        self._send_lock = asyncio.Lock()
        self._open = True

    async def send(self, method: str, body: dict[str, Any]) -> None:
        if not self._open:
            return
        full = {**body, "doorbot_id": self.doorbot_id}
        if self.session is not None and method != "session_created":
            full["session_id"] = self.session.session_id
        async with self._send_lock:
            with contextlib.suppress(Exception):
                await self.websocket.send_text(json.dumps({"method": method, "body": full}, separators=(",", ":")))

    async def receive(self) -> dict[str, Any] | None:
        """The next client frame as a dict (None for frames that are not JSON objects: logged and ignored)."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise Disconnected
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
        if len(text.encode("utf-8")) > self.service.knobs.max_frame_bytes:
            log.info("signalling: closed, a client frame exceeds %d bytes", self.service.knobs.max_frame_bytes)
            await self.websocket.close(code=CLOSE_TOO_BIG, reason="message too big")
            raise Disconnected
        try:
            frame = json.loads(text)
        except ValueError:
            log.info("signalling: ignored a frame that is not JSON")
            return None
        if not isinstance(frame, dict) or not isinstance(frame.get("method"), str):
            log.info("signalling: ignored a frame without a method")
            return None
        if not isinstance(frame.get("body"), dict):
            frame["body"] = {}
        return frame

    def learn_doorbot(self, frame: dict[str, Any] | None) -> None:
        value = (frame or {}).get("body", {}).get("doorbot_id")
        if isinstance(value, int) and not isinstance(value, bool):
            self.doorbot_id = value

    async def refuse(self, code: int, text: str) -> None:
        """A ``close`` frame, then the socket closes (no session)."""
        await self.send("close", {"reason": {"code": code, "text": text}})
        self._open = False
        with contextlib.suppress(Exception):
            await self.websocket.close(code=1000)

    # ------------------------------------------------------------------------------------------ client frames

    async def handle(self, frame: dict[str, Any]) -> bool:
        """Act on one client frame; False when the socket should close."""
        method, body = frame["method"], frame["body"]
        session = self.session
        if method == "live_view":
            if session is not None:
                log.info("signalling: a second live_view on one socket ignored")
                return True
            return await self._live_view(body)
        if method == "close":
            if session is not None:  # the client hung up: no close frame back [sim]
                await self.service.close(session, CLOSE_NORMAL, "Closed by the client", "client", notify=False)
            return False
        if session is None:
            if method == "ice" and len(self.pending_ice) < MAX_PENDING_ICE:
                self.pending_ice.append(body)
            return True
        sent_id = body.get("session_id")
        if sent_id is not None and sent_id != session.session_id:
            text = "Sessions with the provided ID not found"
            await self.service.close(session, CLOSE_AUTH, text, "server: session id")
            return False
        if method == "ping":
            session.last_ping = time.monotonic()
            await self.send("pong", {})
        elif method == "activate_session":
            session.activated = True
        elif method == "stream_options":
            session.stream_options = {k: v for k, v in body.items() if k in ("audio_enabled", "video_enabled")}
        elif method == "camera_options":
            if isinstance(body.get("stealth_mode"), bool):
                session.stealth_mode = body["stealth_mode"]
        elif method == "ice":
            await self._add_ice(session, body)
        else:
            log.info("signalling: unknown method %r ignored", method[:40])
        return True

    async def _live_view(self, body: dict[str, Any]) -> bool:
        service = self.service
        try:
            session = service.open(body.get("doorbot_id"), body.get("sdp"), "socket")
        except Refused as refused:
            await self.refuse(refused.code, refused.text)
            return False
        self.session = session
        session.send = self.send
        session.on_connected = self._connected
        delay = service.knobs.answer_delay_s
        if delay > 0:  # slow start: the camera takes its time to wake up
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.ended.wait(), delay)
            if session.closed:
                return False
        await self.send("session_created", {"session_id": session.session_id})
        try:
            answer = await service.answer(session, str(body["sdp"]))
        except Refused:
            return False  # the session is closed, its close frame sent
        await self.send("sdp", {"sdp": answer, "type": "answer"})
        for pending in self.pending_ice:
            await self._add_ice(session, pending)
        self.pending_ice.clear()
        if service.knobs.trickle_ice:
            for index, candidate in _answer_candidates(answer):
                await self.send("ice", {"ice": candidate, "mlineindex": index})
        return True

    async def _connected(self) -> None:
        await self.send("notification", {"is_ok": True, "text": "camera_connected"})
        await self.send("camera_started", {})

    async def _add_ice(self, session: LiveSession, body: dict[str, Any]) -> None:
        """A trickled client candidate: added to the peer; bad or late ones are ignored (aiortc clients put all
        their candidates in the offer)."""
        from aiortc.sdp import candidate_from_sdp

        text, index = body.get("ice"), body.get("mlineindex")
        if session.pc is None or not isinstance(text, str) or not isinstance(index, int) or not text.strip():
            return
        try:
            candidate = candidate_from_sdp(text.removeprefix("a=").removeprefix("candidate:"))
            candidate.sdpMLineIndex = index
            await session.pc.addIceCandidate(candidate)
        except Exception as exc:  # malformed, or after end-of-candidates
            log.info("signalling: client candidate ignored: %s", exc)


def _answer_candidates(sdp: str) -> list[tuple[int, str]]:
    """``(m-line index, "candidate:...")`` for every candidate line of an SDP."""
    out: list[tuple[int, str]] = []
    index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
        elif line.startswith("a=candidate:") and index >= 0:
            out.append((index, line[2:]))
    return out


async def _deny(websocket: WebSocket, status: int, reason: str) -> None:
    try:
        await websocket.send_denial_response(JSONResponse({"error": reason, "status": status}, status_code=status))
    except RuntimeError:
        await websocket.close(code=1008)


async def signalling_socket(websocket: WebSocket) -> None:
    state: SimState = websocket.app.state.sim
    service = state.live
    path = str(websocket.scope.get("path", ""))
    if not websocket.headers.get("user-agent"):
        record_websocket(state, websocket.scope, 403, "no user-agent")
        await _deny(websocket, 403, "a User-Agent header is required")
        return
    decision = state.faults.handshake_fault(path)
    if decision is not None:
        status, reason = decision
        record_websocket(state, websocket.scope, status, reason)
        await _deny(websocket, status, reason)
        return
    record_websocket(state, websocket.scope, 101)
    await websocket.accept()
    conn = SignallingConnection(websocket, service, state)
    try:
        if not _ticket_ok(state, websocket.query_params.get("token", "")):
            with contextlib.suppress(Exception):
                conn.learn_doorbot(await asyncio.wait_for(conn.receive(), BAD_TICKET_WAIT_S))
            await conn.refuse(CLOSE_AUTH, "Unauthorized: invalid or expired token")
            return
        await _serve(conn)
    except (Disconnected, WebSocketDisconnect, RuntimeError):
        pass
    finally:
        conn._open = False
        session = conn.session
        if session is not None and not session.closed:
            await service.close(session, CLOSE_NORMAL, "Socket closed", "client: socket closed")
        if (
            websocket.application_state == WebSocketState.CONNECTED
            and websocket.client_state == WebSocketState.CONNECTED
        ):
            with contextlib.suppress(Exception):
                await websocket.close(code=1000)


def _ticket_ok(state: SimState, ticket: str) -> bool:
    """Redeem the signalsocket ticket once (single use [inferred]; expires after ``ticket_ttl_s`` [sim])."""
    details = state.world.consume_ticket(ticket) if ticket else None
    if details is None or details.get("purpose") != "signalsocket":
        return False
    return state.clock.now() - float(details.get("issued_at", 0.0)) <= state.config.live.ticket_ttl_s


async def _serve(conn: SignallingConnection) -> None:
    """Read client frames until the client leaves or the session ends (then the close frame is out: close)."""
    ended: asyncio.Task[Any] | None = None
    while True:
        receiving = asyncio.ensure_future(conn.receive())
        waits: set[asyncio.Future[Any]] = {receiving}
        if conn.session is not None:
            ended = asyncio.ensure_future(conn.session.ended.wait())
            waits.add(ended)
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if receiving not in done:
            receiving.cancel()
            with contextlib.suppress(BaseException):
                await receiving
            return
        if ended is not None:
            ended.cancel()
        frame = receiving.result()
        if frame is None:
            continue
        if conn.session is None:
            conn.learn_doorbot(frame)
        if not await conn.handle(frame):
            return
