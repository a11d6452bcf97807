"""Run the simulated Ring cloud: in a background thread for tests (``SimServer``) or in the foreground (``run``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from ringvault.sim.app import create_app
from ringvault.sim.config import SimConfig
from ringvault.sim.push.mcs import McsServer
from ringvault.sim.push.service import PushService
from ringvault.sim.push.tls import server_context, write_certificate
from ringvault.sim.state import SimState

log = logging.getLogger("ringvault.sim")

START_TIMEOUT_S = 15.0
#: How long the simulator keeps an idle keep-alive connection open (see the uvicorn.Config below).
KEEP_ALIVE_S = 60


class _Server(uvicorn.Server):
    """uvicorn's server, except that ``wake()`` makes a requested exit take effect at once (not at the next
    0.1 s tick): every test starts and stops a server, so this adds up."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wakeup: asyncio.Event | None = None
    #: the push service's MCS endpoint, served on the same event loop (``ringvault.sim.push.mcs``)
    mcs: McsServer | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.mcs is not None:
            await self.mcs.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        state = getattr(getattr(app, "state", None), "sim", None)
        if state is not None:  # live views end on both sides before the sockets go (close frames, peers closed)
            await state.live.close_all()
        if self.mcs is not None:
            await self.mcs.close()
        await super().shutdown(sockets)

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def wake(self) -> None:
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wakeup.set)


def _banner(url: str) -> str:
    return f"simulated Ring cloud listening on {url} (control API and index: {url}/_sim/)"


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class SimServer:
    """A real uvicorn server for the simulator on a loopback port, run in a daemon thread.

    ``port=0`` picks a free port; ``url`` holds the real one once constructed. Use as a context manager or call
    ``start()``/``stop()``.
    """

    def __init__(self, config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimConfig()
        self.host = host
        self.app: FastAPI = create_app(self.config)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY on accept
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.port: int = self._socket.getsockname()[1]
        self.url = _url(host, self.port)
        self._server = _Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
                # The middleware sends Date from the simulated clock (clients compute snapshot age from it).
                date_header=False,
                server_header=False,
                # hard cap on a WebSocket message (the hub socket closes with 1009 above hub_max_frame_bytes first)
                ws_max_size=1024 * 1024,
                # [sim] an idle keep-alive connection stays open 60 s, the usual idle timeout of the load balancers
                # in front of HTTPS APIs. uvicorn's default, 5 s, equals httpx's pool expiry, so a client under load
                # could send on a pooled connection in the very instant the server closed it: a ReadError on a
                # request nobody may retry (an OAuth code exchange), seen in the 100-customer burst.
                timeout_keep_alive=KEEP_ALIVE_S,
            )
        )
        self._thread: threading.Thread | None = None
        self._mcs_dir: Path | None = None
        try:
            self._server.mcs = self._make_mcs(host, family)
        except BaseException:
            self._socket.close()
            raise

    def _make_mcs(self, host: str, family: socket.AddressFamily) -> McsServer:
        """Bind the MCS endpoint's TLS port beside the HTTP port and write its throwaway certificate (the key
        0600 in a private temporary directory, removed at ``stop``); ``GET /_sim/push`` tells clients both."""
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.bind((host, 0))
        except OSError:
            sock.close()
            raise
        self._mcs_dir = Path(tempfile.mkdtemp(prefix="ringvault-sim-mcs-"))
        cert_path, key_path = write_certificate(self._mcs_dir)
        server = McsServer(sock, server_context(cert_path, key_path), self._push_service)
        push = self.state.push
        push.mcs_host, push.mcs_port, push.mcs_certificate = host, server.port, str(cert_path)
        self.mcs_port = server.port
        self.mcs_certificate = cert_path
        return server

    def _push_service(self) -> PushService:
        return self.state.push

    @property
    def state(self) -> SimState:
        """The live simulator state (a new object after ``POST /_sim/reset``)."""
        state: SimState = self.app.state.sim
        return state

    def start(self) -> SimServer:
        """Start serving; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"ringvault-sim:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator server failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator server did not start within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.005)
        log.info(_banner(self.url))
        self._log_mcs()
        return self

    def _log_mcs(self) -> None:
        push = self.state.push
        log.info("push MCS endpoint on %s:%s (TLS; trust %s)", self.host, push.mcs_port, push.mcs_certificate)

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl+C or SIGTERM in the main thread)."""
        log.info(_banner(self.url))
        self._log_mcs()
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self.stop()

    def stop(self) -> None:
        """Shut down gracefully and wait for the server thread."""
        thread = self._thread
        if thread is not None:
            self._server.should_exit = True
            self._server.wake()
            thread.join(timeout=10)
            if thread.is_alive():
                self._server.force_exit = True
                thread.join(timeout=5)
            self._thread = None
        self._socket.close()
        if self._server.mcs is not None:
            self._server.mcs.close_socket()
        if self._mcs_dir is not None:
            shutil.rmtree(self._mcs_dir, ignore_errors=True)
            self._mcs_dir = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run(config: SimConfig, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the simulator in the foreground until interrupted (``ringvault sim``)."""
    if not logging.getLogger().handlers and not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    SimServer(config, host=host, port=port).serve_forever()
