"""``HttpClient``: the one ``httpx.AsyncClient`` of a Ring-facing client, with timeouts, counters, redacted logging,
retries (``retry``) and streamed downloads (``download``).

It knows nothing of Ring: which hosts get credentials, which answers are errors, and what a failure means to the
user are decided by its owner (``ringvault.cloud.http.RingHttp``, ``ringvault.portability.http.PortabilityHttp``).
Redirects are never followed unless asked for.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ringvault.transport._httpx import httpx
from ringvault.transport.download import DownloadProgress, DownloadResult, Opener, StatusMapper, run_download
from ringvault.transport.redaction import install_log_redaction
from ringvault.transport.retry import BodyBrokeOff, RetryPolicy, Tally, describe_failure, retry
from ringvault.transport.stats import TransportStats

T = TypeVar("T")

#: The response type every Ring-facing module reads (httpx's; only this package creates them).
Response = httpx.Response
Request = httpx.Request
#: What tests inject instead of the network (``httpx.MockTransport`` is one).
AsyncBaseTransport = httpx.AsyncBaseTransport
#: A per-request timeout: seconds, or httpx's ``Timeout`` for separate connect/read limits.
Timeout = httpx.Timeout
USE_CLIENT_DEFAULT = httpx.USE_CLIENT_DEFAULT

_DEBUG_BODY_CHARS = 2000


def host_of(url: str) -> str:
    """The lower-case host of ``url`` ("" when it has none)."""
    return (urlsplit(url).hostname or "").lower()


def display_url(url: str) -> str:
    """``host/path`` of a URL for messages: no scheme, no query string (presigned URLs carry credentials there)."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


class HttpClient:
    """One connection pool with its timeouts, counters and logger. Use as an async context manager or ``aclose()``.

    ``logger`` receives the request lines (redacted by its filter; debug level, headers and bodies too when
    ``debug``); ``transport`` is for tests.
    """

    def __init__(
        self,
        *,
        timeout_s: float,
        user_agent: str,
        logger: logging.Logger,
        http2: bool = False,
        debug: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        stats: TransportStats | None = None,
    ) -> None:
        self.log = logger
        self.debug = debug
        self.stats = stats if stats is not None else TransportStats()
        install_log_redaction(logger.name)
        self._client = httpx.AsyncClient(
            http2=http2,
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": user_agent},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- one attempt ---------------------------------------------------------------------------------------------
    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> httpx.Request:
        if timeout is None:
            chosen: Any = httpx.USE_CLIENT_DEFAULT
        else:
            chosen = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        return self._client.build_request(
            method, url, params=params, json=json, content=content, data=data, headers=headers, timeout=chosen
        )

    async def send(self, request: httpx.Request, *, display: str, follow_redirects: bool = False) -> httpx.Response:
        """Send one request and read its whole body. A body that breaks off after the answer started raises
        ``BodyBrokeOff`` (``retry`` reports it as a cut-off, not as an unreachable host)."""
        started = self._before(request, display)
        response = await self._client.send(request, stream=True, follow_redirects=follow_redirects)
        try:
            await response.aread()
        except httpx.TransportError as err:
            await response.aclose()
            announced = response.headers.get("content-length", "")
            raise BodyBrokeOff(
                host_of(str(request.url)),
                f"{type(err).__name__}: {err}" if str(err) else type(err).__name__,
                total=int(announced) if announced.isdigit() else None,
            ) from err
        self._after(response, display, started, body=True)
        return response

    async def open(self, request: httpx.Request, *, display: str, follow_redirects: bool = False) -> httpx.Response:
        """Send one request and return as soon as the answer's headers arrived; the caller reads the body (or not)
        and must ``await response.aclose()``."""
        started = self._before(request, display)
        response = await self._client.send(request, stream=True, follow_redirects=follow_redirects)
        self._after(response, display, started, body=False)
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self, request: httpx.Request, *, display: str, follow_redirects: bool = False
    ) -> AsyncIterator[httpx.Response]:
        """``open`` as a block: the body is read inside it and closed after it."""
        response = await self.open(request, display=display, follow_redirects=follow_redirects)
        try:
            yield response
        finally:
            await response.aclose()

    def _before(self, request: httpx.Request, display: str) -> float:
        self.stats.requests += 1
        if self.debug:
            self.log.debug("→ %s headers=%s body=%s", display, dict(request.headers), _body_for_log(request))
        else:
            self.log.debug("→ %s", display)
        return time.monotonic()

    def _after(self, response: httpx.Response, display: str, started: float, *, body: bool) -> None:
        self.stats.count_status(response.status_code)
        elapsed_ms = (time.monotonic() - started) * 1000
        if self.debug and body:
            text = response.text[:_DEBUG_BODY_CHARS]
            self.log.debug("← %s %d (%.0f ms) body=%s", display, response.status_code, elapsed_ms, text)
        else:
            self.log.debug("← %s %d (%.0f ms)", display, response.status_code, elapsed_ms)

    # -- retries and downloads -----------------------------------------------------------------------------------
    async def retry(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        policy: RetryPolicy,
        retryable: Callable[[BaseException], bool],
        what: str,
        progress: Callable[[], int] | None = None,
        tally: Tally | None = None,
        describe: Callable[[BaseException | None], str] = describe_failure,
        level: int = logging.WARNING,
    ) -> T:
        """``transport.retry.retry`` with this client's counters and logger."""
        return await retry(
            attempt,
            policy=policy,
            retryable=retryable,
            what=what,
            stats=self.stats,
            log=self.log,
            progress=progress,
            tally=tally,
            describe=describe,
            level=level,
        )

    async def download(
        self,
        open_body: Opener,
        dest: Path,
        *,
        what: str,
        policy: RetryPolicy,
        on_status: StatusMapper,
        retryable: Callable[[BaseException], bool],
        atomic: bool,
        fsync: bool = True,
        max_bytes: int | None = None,
        expected_type: str | None = None,
        progress: DownloadProgress | None = None,
        tally: Tally | None = None,
        describe: Callable[[BaseException | None], str] = describe_failure,
        level: int = logging.INFO,
    ) -> DownloadResult:
        """Stream a body to ``dest`` with resume, checks and retries: see ``transport.download.run_download``."""
        return await run_download(
            self,
            open_body,
            dest,
            what=what,
            policy=policy,
            on_status=on_status,
            retryable=retryable,
            atomic=atomic,
            fsync=fsync,
            max_bytes=max_bytes,
            expected_type=expected_type,
            progress=progress,
            tally=tally,
            describe=describe,
            level=level,
        )


def _body_for_log(request: httpx.Request) -> str:
    try:
        body = request.content
    except httpx.RequestNotRead:
        return "<stream>"
    return body[:_DEBUG_BODY_CHARS].decode("utf-8", "replace") if body else ""
