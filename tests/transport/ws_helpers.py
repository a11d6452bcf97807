"""A small real WebSocket server on 127.0.0.1 for the transport's tests, scripted per connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

Script = Callable[[ServerConnection, int], Awaitable[None]]


@dataclass
class ScriptedServer:
    """Runs ``script(connection, n)`` for the n-th connection (1-based); records request paths and frames."""

    script: Script
    paths: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    connections: int = 0
    refuse_status: int | None = None
    server: Server | None = None
    port: int = 0

    @property
    def base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        await self.script(ws, self.connections)

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        if self.refuse_status is not None:
            return Response(self.refuse_status, "Refused", Headers(), b"refused\n")
        return None


@contextlib.asynccontextmanager
async def scripted_server(script: Script, **kwargs: Any) -> AsyncIterator[ScriptedServer]:
    state = ScriptedServer(script, **kwargs)
    async with serve(state._handler, "127.0.0.1", 0, process_request=state._process_request) as server:
        state.server = server
        state.port = next(iter(server.sockets)).getsockname()[1]
        yield state


async def read_into(ws: ServerConnection, sink: list[str]) -> None:
    """Keep the connection open, recording what the client sends, until it closes."""
    with contextlib.suppress(Exception):
        async for message in ws:
            sink.append(message if isinstance(message, str) else message.decode("utf-8", "replace"))


async def eventually(check: Callable[[], bool], *, within: float = 15.0, what: str = "condition") -> None:
    """Wait (generously: the machine is busy) until ``check()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
