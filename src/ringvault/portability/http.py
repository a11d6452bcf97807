"""The HTTP transport of the Data Portability client: the only module of ``ringvault.portability`` that uses httpx.

What it does for every call:

- retries only what the service says to retry — HTTP 429, 500 and 504 — waiting 1, 2, 4, 10 and 30 s by default
  (``RetryPolicy.delays``), or longer when a ``Retry-After`` header asks for more; then it raises the typed error of
  the last answer, noting the number of attempts (tenacity does the loop; the sleep function is injectable);
- a refused connection (nothing was sent) is retried on the same schedule; other transport failures are retried for
  GETs only, since a repeated POST could create a second query;
- every attempt passes through the caller's ``guard`` (the rate limiter), so retries count against the limits too;
- error answers become the exception of their documented type (``errors.error_from_response``);
- downloads stream to a temporary file next to the destination in constant memory, stop and delete it when the
  file grows past the cap, check the announced length, resume a dropped body with ``Range``, fsync and rename
  atomically, and never send credentials (presigned URLs carry their own);
- logging goes to ``ringvault.portability`` with tokens, codes, secrets and URL signatures redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from ringvault.cloud.http import install_log_redaction, parse_retry_after, redact
from ringvault.cloud.tokens import ensure_private_dir, fsync_dir
from ringvault.portability.errors import (
    RETRYABLE_STATUSES,
    DownloadError,
    DownloadTooLargeError,
    DownloadWriteError,
    PortabilityError,
    PortabilityResponseError,
    PortabilityUnreachableError,
    PresignedUrlExpiredError,
    error_from_response,
)

logger = logging.getLogger("ringvault.portability")
install_log_redaction("ringvault.portability")

#: The seed's example schedule: "1s, 2s, 4s, 10s, and 30s".
DEFAULT_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 10.0, 30.0)
#: "All schemas and responses ... after download, will be at 2GB max."
DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024**3
USER_AGENT = "ringvault-portability"
_MAX_ERROR_BODY = 64 * 1024

ErrorMapper = Callable[..., PortabilityError]
Guard = Callable[[], AbstractAsyncContextManager[None]]
Sleep = Callable[[float], Awaitable[None]]
#: ``progress(bytes_written, total_or_None)`` during a download
DownloadProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a request again.

    ``delays[n]`` is the wait before attempt ``n + 2``, so the default makes at most 6 attempts. A ``Retry-After``
    larger than the scheduled delay wins (capped at ``max_retry_after_s``). ``statuses`` are the HTTP statuses worth
    retrying (the service names 429, 500 and 504; a daily quota 429 is never retried). ``sleep`` is injectable.
    """

    delays: tuple[float, ...] = DEFAULT_DELAYS
    statuses: frozenset[int] = RETRYABLE_STATUSES
    max_retry_after_s: float = 300.0
    sleep: Sleep = asyncio.sleep

    def __post_init__(self) -> None:
        if any(d < 0 for d in self.delays):
            raise ValueError("retry delays must not be negative")

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def wait_before(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed."""
        scheduled = self.delays[min(attempt, len(self.delays)) - 1]
        if retry_after is not None and retry_after > scheduled:
            return min(retry_after, max(self.max_retry_after_s, scheduled))
        return scheduled

    def should_retry(self, exc: BaseException, *, idempotent: bool) -> bool:
        if isinstance(exc, PortabilityError):
            return exc.status in self.statuses and exc.retryable
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True
        if isinstance(exc, _IncompleteBody):
            return True
        return idempotent and isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


@dataclass
class TransportStats:
    """Counters (for tests, benchmarks and progress output)."""

    requests: int = 0
    retries: int = 0
    waits: list[float] = field(default_factory=list)
    bytes_downloaded: int = 0
    resumes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: status, headers and the parsed JSON body (None when empty)."""

    status: int
    data: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: where it is, its size and SHA-256, and the served content type."""

    path: Path
    bytes: int
    sha256: str
    content_type: str | None


class _IncompleteBody(Exception):
    """The body ended before Content-Length bytes arrived (a dropped connection)."""


def display_url(url: str) -> str:
    """``host/path`` of a URL for messages: no scheme, no query string (presigned URLs carry credentials there)."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


class PortabilityHttp:
    """One ``httpx.AsyncClient`` with the retry policy; use as an async context manager or call ``aclose()``.

    ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        download_timeout_s: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.stats = TransportStats()
        self._download_timeout = httpx.Timeout(download_timeout_s, connect=timeout_s)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": user_agent},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> PortabilityHttp:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- retries -------------------------------------------------------------------------------------------------
    async def _with_retries(
        self,
        attempt: Callable[[], Awaitable[Any]],
        *,
        idempotent: bool,
        what: str,
        progress: Callable[[], int] | None = None,
    ) -> Any:
        """Run ``attempt`` under the retry policy.

        ``progress`` (downloads: bytes written so far) lets a failure that moved forward be retried at once without
        using up the schedule: only failures that made no progress count, so a long download over a flaky link is
        not abandoned while it keeps advancing (a hard cap of 20 times the schedule still bounds it).
        """
        policy = self.retry
        attempts = 0
        stalled = 0  # consecutive failed attempts that made no progress
        advanced = False

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None and outcome.failed else None
            seconds = 0.0 if advanced else policy.wait_before(stalled, getattr(exc, "retry_after", None))
            self.stats.waits.append(seconds)
            return seconds

        def stop(state: RetryCallState) -> bool:
            return stalled >= policy.max_attempts or state.attempt_number >= policy.max_attempts * 20

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            logger.warning(
                "%s: %s; %s in %.1f s (attempt %d)",
                what,
                _why(exc),
                "resuming" if advanced else "retrying",
                state.next_action.sleep if state.next_action else 0.0,
                state.attempt_number + 1,
            )

        async def counted() -> Any:
            nonlocal attempts, stalled, advanced
            attempts += 1
            before = progress() if progress is not None else 0
            try:
                return await attempt()
            except BaseException:
                advanced = progress is not None and progress() > before
                stalled = 0 if advanced else stalled + 1
                raise

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(lambda exc: policy.should_retry(exc, idempotent=idempotent)),
            before_sleep=before_sleep,
            sleep=policy.sleep,
            reraise=True,
        )
        try:
            return await retrying(counted)
        except PortabilityError as err:
            err.gave_up_after(attempts)
            raise
        except (httpx.TransportError, _IncompleteBody) as err:
            detail = redact(str(err)) if str(err) else ""
            raise PortabilityUnreachableError(
                f"{what}: {type(err).__name__}" + (f" ({detail})" if detail else "") + f" after {attempts} attempt(s)"
            ) from err

    # -- JSON API calls ------------------------------------------------------------------------------------------
    async def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        guard: Guard | None = None,
        error_mapper: ErrorMapper = error_from_response,
    ) -> ApiResponse:
        """Send a request (with retries) and return the parsed JSON answer; error answers raise their typed error."""
        method = method.upper()
        what = f"{method} {display_url(url)}"
        idempotent = method in ("GET", "HEAD")

        async def attempt() -> ApiResponse:
            async with guard() if guard is not None else contextlib.nullcontext():
                request = self._client.build_request(
                    method,
                    url,
                    headers={"Accept": "application/json", **(headers or {})},
                    params=params,
                    data=data,
                )
                self.stats.requests += 1
                logger.debug("→ %s", what)
                response = await self._client.send(request)
            status = response.status_code
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            logger.debug("← %s %d", what, status)
            if status >= 400:
                error = error_mapper(status, response.content, context=what)
                error.retry_after = parse_retry_after(response.headers.get("retry-after"))
                raise error
            if status >= 300:
                raise PortabilityResponseError(f"{what} answered a redirect (HTTP {status}) where JSON was expected")
            return ApiResponse(status=status, data=_json_or_none(response, what), headers=dict(response.headers))

        result: ApiResponse = await self._with_retries(attempt, idempotent=idempotent, what=what)
        return result

    # -- downloads -----------------------------------------------------------------------------------------------
    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        guard: Guard | None = None,
        progress: DownloadProgress | None = None,
    ) -> DownloadResult:
        """Stream ``url`` to ``dest`` in constant memory; at most ``max_bytes`` are accepted.

        The body goes to a temporary file in ``dest``'s directory, which is fsynced and renamed over ``dest`` only when
        complete: on any failure (over the cap, expired URL, retries exhausted) ``dest`` is left as it was and the
        temporary file is removed. A connection dropped mid-body is resumed with ``Range`` from the bytes already
        written (started over when the server ignores the range). No ``Authorization`` header is ever sent (presigned
        URLs carry their own credentials). ``progress(written, total)`` is called after every chunk (``total`` is
        None when the server announces no length; ``written`` goes back to 0 when a download starts over).
        """
        dest = Path(dest)
        what = f"download of {display_url(url)}"
        try:
            ensure_private_dir(dest.parent)
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        except OSError as err:
            raise DownloadWriteError(f"{what}: cannot write {dest}: {err.strerror or err}") from err
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                state = _Partial(handle, on_progress=progress)

                async def attempt() -> None:
                    async with guard() if guard is not None else contextlib.nullcontext():
                        await self._stream_into(url, state, tmp, max_bytes=max_bytes, what=what)

                await self._with_retries(attempt, idempotent=True, what=what, progress=lambda: state.written)
                handle.flush()
                await asyncio.to_thread(os.fsync, handle.fileno())
            os.replace(tmp, dest)
        except OSError as err:  # httpx's own errors are not OSErrors: this is the local disk
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise DownloadWriteError(f"{what}: cannot write {dest}: {err.strerror or err}") from err
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_dir(dest.parent)
        self.stats.bytes_downloaded += state.written
        return DownloadResult(
            path=dest, bytes=state.written, sha256=state.sha.hexdigest(), content_type=state.content_type
        )

    async def _stream_into(self, url: str, state: _Partial, tmp: Path, *, max_bytes: int, what: str) -> None:
        headers = {"Accept-Encoding": "identity"}
        if state.written:
            headers["Range"] = f"bytes={state.written}-"
        request = self._client.build_request("GET", url, headers=headers, timeout=self._download_timeout)
        self.stats.requests += 1
        logger.debug("→ GET %s (download to %s, from byte %d)", display_url(url), tmp.name, state.written)
        response = await self._client.send(request, stream=True, follow_redirects=True)
        try:
            status = response.status_code
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            if status >= 300:
                body = await _read_bounded(response.aiter_bytes(), _MAX_ERROR_BODY)
                raise _download_error(status, body, what, parse_retry_after(response.headers.get("retry-after")))
            total = self._expected_total(response, state, what)
            if total is not None and total > max_bytes:
                raise DownloadTooLargeError(
                    f"{what}: the file announces {total} bytes, more than the limit of {max_bytes}"
                )
            state.content_type = response.headers.get("content-type") or state.content_type
            async for chunk in response.aiter_bytes():
                if state.written + len(chunk) > max_bytes:
                    raise DownloadTooLargeError(f"{what}: stopped after more than {max_bytes} bytes (the limit)")
                state.handle.write(chunk)
                state.sha.update(chunk)
                state.written += len(chunk)
                if state.on_progress is not None:
                    state.on_progress(state.written, total)
            if total is not None and state.written < total and not response.headers.get("content-encoding"):
                raise _IncompleteBody(f"{state.written} of {total} bytes")
        finally:
            await response.aclose()

    def _expected_total(self, response: httpx.Response, state: _Partial, what: str) -> int | None:
        """The full size of the file, after making the partial file match what this response continues from."""
        if response.status_code == 206:
            span = _content_range(response.headers.get("content-range"))
            if span is not None and span[0] == state.written:
                self.stats.resumes += 1
                return span[1]
            logger.info("%s: unusable Content-Range; starting over", what)
            state.restart()
            raise _IncompleteBody("unusable Content-Range")
        if state.written:
            logger.info("%s: the server ignored Range; starting over", what)
            state.restart()
        return _content_length(response)


@dataclass
class _Partial:
    """A download in progress: the open temporary file, what has been written and its running hash."""

    handle: Any
    written: int = 0
    sha: Any = field(default_factory=hashlib.sha256)
    content_type: str | None = None
    on_progress: DownloadProgress | None = None

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.written = 0
        self.sha = hashlib.sha256()
        if self.on_progress is not None:
            self.on_progress(0, None)


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes START-END/TOTAL`` -> ``(START, TOTAL | None)``."""
    if not value:
        return None
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if not match:
        return None
    return int(match.group(1)), None if match.group(3) == "*" else int(match.group(3))


def _download_error(status: int, body: bytes, what: str, retry_after: float | None) -> PortabilityError:
    """The error for a failed download: the documented JSON error if the body is one, else by status."""
    error: PortabilityError
    mapped = error_from_response(status, body, context=what)
    if mapped.type is not None:
        error = mapped
    elif status == 403:
        error = PresignedUrlExpiredError(
            f"{what}: HTTP 403 from the storage host (the presigned URL expired or is invalid)", status=403
        )
    elif status == 404:
        error = DownloadError(f"{what}: HTTP 404 from the storage host (no such file)", status=404)
    else:
        error = DownloadError(f"{what}: HTTP {status}", status=status)
    error.retry_after = retry_after
    return error


async def _read_bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    data = bytearray()
    async for chunk in chunks:
        data.extend(chunk[: limit - len(data)])
        if len(data) >= limit:
            break
    return bytes(data)


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _json_or_none(response: httpx.Response, what: str) -> Any:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError as err:
        kind = response.headers.get("content-type", "no content type").split(";", 1)[0]
        raise PortabilityResponseError(f"{what} answered {kind} that is not JSON") from err


def _why(exc: BaseException | None) -> str:
    if exc is None:
        return "?"
    if isinstance(exc, PortabilityError):
        return f"HTTP {exc.status} {exc.type or ''}".strip()
    return type(exc).__name__
