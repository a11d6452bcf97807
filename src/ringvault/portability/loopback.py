"""Receive the redirect of Login with Ring on a loopback port (RFC 8252 §7.3), for a command-line login.

    async with LoopbackReceiver("http://127.0.0.1/portability/callback", expected_state=state) as receiver:
        print(receiver.redirect_uri)        # http://127.0.0.1:54321/portability/callback (the port bound)
        redirect = await receiver.wait(timeout_s=300)

A redirect URI registered without a port (or with port 0) matches any loopback port at the authorization server, so
the receiver binds a free port and ``redirect_uri`` names it; a URI with a port binds exactly that port. Only a GET of
the URI's path carrying this login's ``state`` ends the wait (with the full redirect URL, code or error); anything
else is answered 404/400 and ignored, so a stray or forged request cannot end the login. The server listens on the
loopback address only and stops when the ``async with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import secrets
from types import TracebackType
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ringvault.portability.errors import PortabilityError

__all__ = ["LoginTimeoutError", "LoopbackError", "LoopbackReceiver", "is_loopback_redirect"]

_MAX_REQUEST = 16 * 1024
_PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><title>ringvault</title></head>"
    "<body style='font-family:sans-serif;margin:3em'><h1>{title}</h1><p>{text}</p></body></html>"
)


class LoopbackError(PortabilityError):
    """The redirect URI cannot be received on this machine."""

    hint = (
        "Set RINGVAULT_PORTABILITY_REDIRECT_URI to a loopback URI registered for the app, e.g. "
        "http://127.0.0.1/portability/callback."
    )


class LoginTimeoutError(PortabilityError):
    """No redirect came back in time."""

    hint = (
        "Run `ringvault portability login` again and finish the authorization in the browser (--timeout to wait "
        "longer)."
    )


def _loopback_host(host: str) -> str | None:
    """The address to bind for a redirect host, or None when the host is not a loopback one."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(address) if address.is_loopback else None


def is_loopback_redirect(uri: str) -> bool:
    """Whether ``uri`` is an ``http://`` URI on a loopback host (something this machine can receive)."""
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname is not None and _loopback_host(parts.hostname) is not None


class LoopbackReceiver:
    """A one-shot HTTP server on the loopback interface that waits for the redirect; see the module docstring."""

    def __init__(self, redirect_uri: str, *, expected_state: str | None = None) -> None:
        parts = urlsplit(redirect_uri)
        host = parts.hostname
        bind = _loopback_host(host) if host else None
        if parts.scheme != "http" or host is None or bind is None:
            raise LoopbackError(
                f"redirect URI {redirect_uri!r} is not an http:// loopback address this machine can receive"
            )
        self._parts = parts
        self._host = host
        self._bind = bind
        self._port = parts.port or 0
        self.path = parts.path or "/"
        self.expected_state = expected_state
        self.redirect_uri = redirect_uri
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[str] | None = None
        #: requests answered without ending the wait (wrong path, method or state)
        self.ignored = 0

    async def __aenter__(self) -> LoopbackReceiver:
        self._result = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(self._handle, self._bind, self._port)
        except OSError as err:
            raise LoopbackError(
                f"cannot listen on {self._bind}:{self._port} for the redirect: {err.strerror or err}",
                hint="Stop what uses that port, or register a redirect URI without a port (any free port is used).",
            ) from err
        port = self._server.sockets[0].getsockname()[1]
        netloc = f"[{self._host}]:{port}" if ":" in self._host else f"{self._host}:{port}"
        self.redirect_uri = urlunsplit((self._parts.scheme, netloc, self._parts.path, self._parts.query, ""))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def wait(self, timeout_s: float | None = None) -> str:
        """The redirect URL (``redirect_uri`` + its query) once it arrives; ``LoginTimeoutError`` after
        ``timeout_s``."""
        assert self._result is not None, "use LoopbackReceiver as an async context manager"
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout_s)
        except TimeoutError:
            raise LoginTimeoutError(
                f"no answer from Login with Ring within {timeout_s:.0f} s (waited on {self.redirect_uri})"
            ) from None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            writer.close()
            return
        try:
            status, page = self._answer(head[:_MAX_REQUEST].decode("latin-1"))
            body = page.encode("utf-8")
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode("ascii")
                + body
            )
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _answer(self, head: str) -> tuple[str, str]:
        request_line = head.split("\r\n", 1)[0]
        method, _, rest = request_line.partition(" ")
        target = rest.rsplit(" ", 1)[0] if " " in rest else rest
        parts = urlsplit(target)
        if method != "GET" or parts.path != self.path:
            self.ignored += 1
            return "404 Not Found", _PAGE.format(title="Not found", text="This is ringvault's login receiver.")
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        state = params.get("state", "")
        if self.expected_state is not None and not secrets.compare_digest(state.encode(), self.expected_state.encode()):
            self.ignored += 1
            return "400 Bad Request", _PAGE.format(
                title="Not this login", text="This redirect does not belong to the login ringvault is waiting for."
            )
        if not ("code" in params or "error" in params):
            self.ignored += 1
            return "400 Bad Request", _PAGE.format(title="Nothing to do", text="The redirect carries no answer.")
        assert self._result is not None
        if not self._result.done():
            netloc = urlsplit(self.redirect_uri).netloc
            self._result.set_result(urlunsplit(("http", netloc, parts.path, parts.query, "")))
        if "error" in params:
            reason = html.escape(params.get("error_description") or params["error"])
            return "200 OK", _PAGE.format(
                title="Not authorized", text=f"ringvault was not authorized ({reason}). You can close this window."
            )
        return "200 OK", _PAGE.format(
            title="Authorized", text="ringvault received the authorization. You can close this window."
        )
