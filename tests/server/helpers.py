"""Helpers for the server tests: run a ringvault server for real (uvicorn on a free 127.0.0.1 port, in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

START_TIMEOUT_S = 15.0


class ServerThread:
    """``create_app(...)`` served by uvicorn in a daemon thread, lifespan on (so shutdown closes the archive)."""

    def __init__(self, app: FastAPI | Callable[[str], FastAPI]) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then (no Nagle delays).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            # a factory gets the server's URL first (an app that must know its own address, e.g. its redirect URI)
            self.app = app if isinstance(app, FastAPI) else app(self.url)
        except BaseException:
            self._socket.close()
            raise
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
        )
        self._thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"ringvault-serve:{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the ringvault server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        thread = self._thread
        if thread is not None:
            self._server.should_exit = True
            thread.join(timeout=15)
            if thread.is_alive():
                self._server.force_exit = True
                thread.join(timeout=5)
            self._thread = None
        self._socket.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kwargs)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def wait_for_job(client: httpx.Client, job_id: str, *, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll ``GET /api/jobs/{id}`` until the job is done or failed; returns its last state."""
    deadline = time.monotonic() + timeout_s
    pause = 0.02  # quick at first, then backing off: the polls share the CPU with the job they wait for
    while True:
        answer = client.get(f"/api/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["state"] in ("done", "failed"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout_s} s")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)
