"""The Data Portability client's side of the shared transport (``ringvault.transport``): its retry policy, its size
cap and its error mapping.

What it adds for every call:

- retries what the service says to retry (``PortabilityError.retryable``: 429 but not a daily quota, every 5xx,
  ``BLOCKED_REQUEST`` and any error type the seed's table does not list), waiting 1, 2, 4, 10 and 30 s by default
  (``RetryPolicy.delays``), or longer when a ``Retry-After`` header asks for more; then it raises the typed error of
  the last answer, noting the number of attempts (the sleep function is injectable);
- a refused connection (nothing was sent) is retried on the same schedule; other transport failures are retried for
  GETs only, since a repeated POST could create a second query;
- every attempt passes through the caller's ``guard`` (the rate limiter), so retries count against the limits too;
- error answers become the exception of their documented type (``errors.error_from_response``);
- downloads (the transport's: constant memory, ``Range`` resume, atomic rename) are capped at 2 GB by default and never
  send credentials (presigned URLs carry their own);
- logging goes to ``ringvault.portability`` with tokens, codes, secrets and URL signatures redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ringvault.portability.errors import (
    DownloadError,
    DownloadTooLargeError,
    DownloadWriteError,
    PortabilityError,
    PortabilityResponseError,
    PortabilityUnreachableError,
    PresignedUrlExpiredError,
    error_from_response,
)
from ringvault.transport import (
    AsyncBaseTransport,
    BodyFormatError,
    CutOffError,
    DownloadProgress,
    DownloadResult,
    HttpClient,
    Response,
    ScheduledBackoff,
    Sleep,
    Tally,
    Timeout,
    TooLargeError,
    UnreachableError,
    describe_failure,
    display_url,
    parse_json,
    parse_retry_after,
    retryable_failure,
)
from ringvault.transport import RetryPolicy as TransportRetryPolicy

logger = logging.getLogger("ringvault.portability")

#: The seed's example schedule: "1s, 2s, 4s, 10s, and 30s".
DEFAULT_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 10.0, 30.0)
#: "All schemas and responses ... after download, will be at 2GB max."
DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024**3
USER_AGENT = "ringvault-portability"
#: A download that keeps moving forward may make this many times the schedule's attempts (a 2 GB file over a link
#: that breaks every few hundred MB needs several resumes).
ATTEMPTS_PER_SCHEDULED_ATTEMPT = 20

ErrorMapper = Callable[..., PortabilityError]
Guard = Callable[[], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a request again.

    ``delays[n]`` is the wait before attempt ``n + 2``, so the default makes at most 6 attempts. A ``Retry-After``
    larger than the scheduled delay wins (capped at ``max_retry_after_s``). Which answers are worth another attempt is
    the error's own ``retryable`` (the seed's advice, see ``errors``). ``sleep`` is injectable (tests record the
    waits instead of sleeping).
    """

    delays: tuple[float, ...] = DEFAULT_DELAYS
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
        return ScheduledBackoff(self.delays, self.max_retry_after_s).wait(attempt, retry_after)

    def should_retry(self, exc: BaseException, *, idempotent: bool) -> bool:
        if isinstance(exc, PortabilityError):
            return exc.retryable
        return retryable_failure(exc, idempotent=idempotent)

    def for_transport(self) -> TransportRetryPolicy:
        """The same schedule as the transport runs it."""
        return TransportRetryPolicy(
            backoff=ScheduledBackoff(self.delays, self.max_retry_after_s),
            max_retries=len(self.delays),
            max_attempts=self.max_attempts * ATTEMPTS_PER_SCHEDULED_ATTEMPT,
            sleep=self.sleep,
        )


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: status, headers and the parsed JSON body (None when empty)."""

    status: int
    data: Any
    headers: Mapping[str, str]


class PortabilityHttp:
    """One transport client with the retry policy; use as an async context manager or call ``aclose()``.

    ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        download_timeout_s: float = 300.0,
        transport: AsyncBaseTransport | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._download_timeout = Timeout(download_timeout_s, connect=timeout_s)
        self._http = HttpClient(timeout_s=timeout_s, user_agent=user_agent, logger=logger, transport=transport)
        self.stats = self._http.stats

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> PortabilityHttp:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- retries -------------------------------------------------------------------------------------------------
    async def _with_retries(self, attempt: Callable[[], Awaitable[Any]], *, idempotent: bool, what: str) -> Any:
        """Run ``attempt`` under the retry policy; give up with the last answer's typed error (noting the attempts)
        or ``PortabilityUnreachableError``."""
        tally = Tally()
        try:
            return await self._http.retry(
                attempt,
                policy=self.retry.for_transport(),
                retryable=lambda exc: self.retry.should_retry(exc, idempotent=idempotent),
                what=what,
                tally=tally,
                describe=_why,
            )
        except PortabilityError as err:
            err.gave_up_after(tally.attempts)
            raise
        except (UnreachableError, CutOffError) as err:
            raise _unreachable(err, what, tally.attempts) from err

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
                request = self._http.build_request(
                    method, url, headers={"Accept": "application/json", **(headers or {})}, params=params, data=data
                )
                response = await self._http.send(request, display=what)
            status = response.status_code
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
        URLs carry their own credentials). ``progress(written, total)`` is called as the body starts and after every
        chunk (``total`` is None when the server announces no length; ``written`` goes back to 0 when a download
        starts over).
        """
        dest = Path(dest)
        what = f"download of {display_url(url)}"

        @contextlib.asynccontextmanager
        async def open_body(extra: dict[str, str]) -> AsyncIterator[Response]:
            async with guard() if guard is not None else contextlib.nullcontext():
                request = self._http.build_request("GET", url, headers=extra, timeout=self._download_timeout)
                display = f"GET {display_url(url)} (download to {dest.name})"
                async with self._http.stream(request, display=display, follow_redirects=True) as response:
                    yield response

        def on_status(response: Response, body: bytes) -> BaseException:
            return _download_error(response.status_code, body, what, response.headers.get("retry-after"))

        tally = Tally()
        try:
            return await self._http.download(
                open_body,
                dest,
                what=what,
                policy=self.retry.for_transport(),
                on_status=on_status,
                retryable=lambda exc: self.retry.should_retry(exc, idempotent=True),
                atomic=True,
                max_bytes=max_bytes,
                progress=progress,
                tally=tally,
                describe=_why,
                level=logging.WARNING,
            )
        except OSError as err:  # the transport's own errors are not OSErrors: this is the local disk
            raise DownloadWriteError(f"{what}: cannot write {dest}: {err.strerror or err}") from err
        except TooLargeError as err:
            raise DownloadTooLargeError(str(err)) from err
        except PortabilityError as err:
            err.gave_up_after(tally.attempts)
            raise
        except (UnreachableError, CutOffError) as err:
            raise _unreachable(err, what, tally.attempts) from err
        except BodyFormatError as err:
            raise PortabilityResponseError(str(err)) from err


def _unreachable(err: UnreachableError | CutOffError, what: str, attempts: int) -> PortabilityUnreachableError:
    if isinstance(err, CutOffError):
        return PortabilityUnreachableError(f"{err} after {attempts} attempt(s)")
    detail = f" ({err.detail})" if err.detail else ""
    return PortabilityUnreachableError(f"{what}: {err.kind}{detail} after {attempts} attempt(s)")


def _download_error(status: int, body: bytes, what: str, retry_after: str | None) -> PortabilityError:
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
    error.retry_after = parse_retry_after(retry_after)
    return error


def _json_or_none(response: Response, what: str) -> Any:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return parse_json(response.content, what=what, content_type=response.headers.get("content-type"))
    except BodyFormatError as err:
        raise PortabilityResponseError(str(err)) from err


def _why(exc: BaseException | None) -> str:
    if exc is None:
        return "?"
    if isinstance(exc, PortabilityError):
        return f"HTTP {exc.status} {exc.type or ''}".strip()
    return describe_failure(exc)
