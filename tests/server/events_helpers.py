"""Helpers of the live-feed tests: ``ringvault serve`` as a real process, and a Server-Sent Events reader over
loopback (httpx streaming) that collects parsed messages in an asyncio task (cancel it to disconnect)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ringvault.sim.server import SimServer
from tests.cli.watch_helpers import WAIT_S, describe, output
from tests.cli_process import CliProcess, cli_env


@dataclass
class Sse:
    """One message: ``event`` (None: the default ``message``), ``id`` (None when the message set none), ``data``
    (parsed JSON) — or a comment line (``comment``)."""

    event: str | None = None
    id: str | None = None
    data: Any = None
    comment: str | None = None


def parse_sse(lines: list[str]) -> Sse | None:
    """One block of the stream (the lines before a blank line), as the HTML standard reads it."""
    message = Sse()
    data: list[str] = []
    for line in lines:
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            message.comment = value
        elif name == "event":
            message.event = value
        elif name == "id":
            message.id = value
        elif name == "data":
            data.append(value)
    if data:
        message.data = json.loads("\n".join(data))
    return message if (data or message.comment is not None or message.event) else None


@dataclass
class Stream:
    """An open ``/api/events/stream``: ``messages`` as they arrive (comments included), ``status`` the HTTP code."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    messages: list[Sse] = field(default_factory=list)
    status: int | None = None
    body: str = ""
    ended = False
    task: asyncio.Task[None] | None = None

    def start(self) -> Stream:
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
                client.stream("GET", f"{self.url}/api/events/stream", headers=self.headers, params=self.params) as r,
            ):
                self.status = r.status_code
                if r.status_code != 200:
                    self.body = (await r.aread()).decode()
                    return
                block: list[str] = []
                async for line in r.aiter_lines():
                    if line == "":
                        parsed = parse_sse(block)
                        if parsed is not None:
                            self.messages.append(parsed)
                        block = []
                    else:
                        block.append(line)
        finally:
            self.ended = True

    async def close(self) -> None:
        """Disconnect (cancel the reader)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    @property
    def events(self) -> list[Sse]:
        """The messages that are not comments."""
        return [m for m in self.messages if m.comment is None]

    def of(self, event: str) -> list[Sse]:
        return [m for m in self.events if m.event == event]

    def dings(self, ding_id: str) -> list[Sse]:
        return [m for m in self.of("ding") if m.data.get("ding_id") == ding_id]

    def recordings(self, event_id: str, status: str = "done") -> list[Sse]:
        return [m for m in self.of("recording") if m.data["event_id"] == event_id and m.data["status"] == status]

    @property
    def last_id(self) -> str:
        ids = [m.id for m in self.events if m.id is not None]
        assert ids, "no message with an id yet"
        return ids[-1]

    def numbered(self) -> list[int]:
        """The ids of the messages that carry one (``reset`` included)."""
        return [int(m.id) for m in self.events if m.id is not None]


async def until(check: Any, what: str, stream: Stream | None = None, within: float = WAIT_S) -> None:
    """Wait (widely) until ``check()``; an AssertionError naming ``what`` and what the stream got otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if stream is not None and stream.ended and not check():
            raise AssertionError(f"the stream ended before {what}: {stream.status} {stream.body} {stream.events}")
        if loop.time() > deadline:
            got = [(m.event, m.id, m.data) for m in stream.events][-12:] if stream is not None else ""
            raise AssertionError(f"no {what} after {within:.0f} s; got {got}")
        await asyncio.sleep(0.05)


class Serve:
    """``ringvault serve --port 0`` in its own process, with ``home``'s login (or none) and the simulator."""

    def __init__(self, sim: SimServer, home: Path, archive: Path, workdir: Path, name: str, *args: str) -> None:
        self.proc = CliProcess(
            ["serve", "--port", "0", "--archive", str(archive), *args], cli_env(sim, home), workdir, name
        )
        started = time.monotonic()
        # wait for the whole banner, not only its first line: it ends with the watcher's line, then the bridge's
        last = "MQTT: " if "--broker" in args else "watcher: "
        while last not in output(self.proc):
            if self.proc.poll() is not None:
                raise AssertionError(f"serve ended at start: {self.proc.result().describe()}")
            if time.monotonic() - started > WAIT_S:
                self.proc.kill()
                raise AssertionError(f"serve did not start:\n{describe(self.proc)}")
            time.sleep(0.05)
        self.url = output(self.proc).split("listening on ", 1)[1].split()[0]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30, **kwargs)

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.get("/api/events/status").json()
        return answer

    def stream(self, last_event_id: str | None = None, *, as_query: bool = False) -> Stream:
        if last_event_id is None:
            return Stream(self.url).start()
        if as_query:
            return Stream(self.url, params={"last_event_id": last_event_id}).start()
        return Stream(self.url, headers={"Last-Event-ID": last_event_id}).start()

    def stop(self) -> int:
        """Ctrl+C (SIGINT), and the exit code: uvicorn stops gracefully, serve exits 0."""
        import signal

        self.proc.popen.send_signal(signal.SIGINT)
        return self.proc.wait(60).returncode
