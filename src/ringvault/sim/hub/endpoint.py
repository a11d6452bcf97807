"""The hub WebSocket: ``wss://{host}/ws?authcode={ticket}&ack=false`` served at ``/{HUB_HOST}/ws`` (reference §7.3).

Handshake: the ticket is redeemed once; an unknown, used or expired ticket is refused with HTTP 401 and a JSON body
[sim: Ring's status is not in any public source]. The fault knobs apply as they do to REST calls: ``error_rate`` /
``timeout_rate`` / ``rate_limit_rps`` refuse the handshake with 500/503, 504 or 429, ``latency_ms`` (+ jitter)
delays every frame the simulator sends, ``socket_drop_rate`` drops the socket abruptly instead of sending a frame.

After the handshake: plain JSON text frames ``{"channel","msg"}`` both ways. A client frame longer than
``hub_max_frame_bytes`` closes the socket with 1009 (message too big); malformed frames are logged and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.types import Receive
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ringvault.sim.hub.service import CLOSE, DROP, HubConnection, HubService
from ringvault.sim.state import SimState
from ringvault.sim.stats import record_websocket

log = logging.getLogger("ringvault.sim.hub")

#: RFC 6455 close codes used here.
CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001


def _abort(websocket: WebSocket) -> None:
    """Drop the TCP connection without a close frame (what a crashed hub or a lost network looks like).

    uvicorn's protocol object is the owner of the ASGI ``receive`` callable; its transport is aborted. Servers that
    do not expose it get a 1011 close instead (see ``hub_socket``)."""
    receive: Receive = websocket._receive
    protocol = getattr(receive, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is None:
        raise RuntimeError("no transport to abort")
    transport.abort()


async def _sender(websocket: WebSocket, conn: HubConnection, service: HubService, state: SimState) -> None:
    path = str(websocket.scope.get("path", ""))
    while True:
        text = await conn.queue.get()
        if text == DROP:
            try:
                _abort(websocket)
            except RuntimeError:
                await websocket.close(code=1011)
            return
        if text == CLOSE:
            await websocket.close(code=CLOSE_GOING_AWAY)
            return
        delay = service.frame_delay_s(conn.location_id) + state.faults.socket_frame_delay_s(path)
        if delay > 0:
            await asyncio.sleep(delay)
        if state.faults.socket_drop(path):
            log.info("hub socket %s: dropped by socket_drop_rate", conn.id)
            try:
                _abort(websocket)
            except RuntimeError:
                await websocket.close(code=1011)
            return
        await websocket.send_text(text)


async def _refuse(websocket: WebSocket, status: int, reason: str) -> None:
    body = {"error": reason, "status": status}
    try:
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    except RuntimeError:  # the server does not support denial responses: a plain 403
        await websocket.close(code=1008)


async def hub_socket(websocket: WebSocket) -> None:
    state: SimState = websocket.app.state.sim
    service = state.hub
    path = str(websocket.scope.get("path", ""))
    decision = state.faults.handshake_fault(path)
    if decision is not None:
        status, reason = decision
        record_websocket(state, websocket.scope, status, reason)
        await _refuse(websocket, status, reason)
        return
    verdict = service.check_ticket(websocket.query_params.get("authcode", ""))
    record_websocket(state, websocket.scope, verdict.status)
    if verdict.location_id is None:
        await _refuse(websocket, verdict.status, verdict.reason)
        return
    loop = asyncio.get_running_loop()
    conn = HubConnection(verdict.location_id, loop)
    await websocket.accept()
    service.register(conn)
    service.ensure_ticker()
    sender = loop.create_task(_sender(websocket, conn, service, state), name=f"hub-socket-{conn.id}")
    receiver = loop.create_task(_receive(websocket, conn, service, state), name=f"hub-recv-{conn.id}")
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        service.unregister(conn)
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if (
            websocket.application_state == WebSocketState.CONNECTED
            and websocket.client_state == WebSocketState.CONNECTED
        ):
            with contextlib.suppress(Exception):
                await websocket.close()


async def _receive(websocket: WebSocket, conn: HubConnection, service: HubService, state: SimState) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                data = message.get("bytes") or b""
                text = data.decode("utf-8", errors="replace")
            limit = state.config.hub_max_frame_bytes
            if len(text.encode("utf-8")) > limit:
                log.info("hub socket %s: closed, a client frame exceeds %d bytes", conn.id, limit)
                await websocket.close(code=CLOSE_TOO_BIG, reason="message too big")
                return
            for answer in service.handle_frame(conn, text):
                conn.post(_dump(answer))
    except WebSocketDisconnect:
        return


def _dump(frame: object) -> str:
    return json.dumps(frame, separators=(",", ":"))
