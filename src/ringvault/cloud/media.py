"""Media downloads of ``RingHttp`` (recordings, snapshots, share links): Ring's side of the transport's streamed
download. Split out of ``ringvault.cloud.http`` by concern; it uses that module's request plumbing.

- Follows up to 5 redirects itself; ``Authorization`` is only ever sent to Ring's API hosts (never to the storage
  hosts the signed URLs point at); a 401 refreshes as for any request, a lost session is re-created.
- The transport resumes with ``Range`` after a dropped connection (restarts when the server ignores it), checks
  Content-Length, and retries 429/5xx with backoff. A body that keeps breaking off stops after ``max_retries``
  attempts that gained nothing (or ``1 + 4 × max_retries`` attempts in all, each wait after a cut-off at most
  ``CUT_OFF_MAX_WAIT_S``) with ``ConnectionCutOffError`` naming the host that cut it off.
- 404 from a storage host → ``RecordingNotReadyError``; 403 → ``RingHttpError`` (expired URL); no retry.
- ``expected_type`` (e.g. ``video/mp4`` or ``image/``) guards against error pages saved as media.
- ``progress(bytes_written, total)`` is called once the body starts (``total`` from Content-Length or
  Content-Range, None when unknown), after every chunk, and with 0 when the download starts over.
- ``dest`` is written in place (callers such as ``archive.files.AtomicFile`` pass a temporary name) and removed
  on failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from ringvault.cloud.errors import (
    CloudUnreachableError,
    ConnectionCutOffError,
    RateLimitedError,
    RecordingNotReadyError,
    ResponseFormatError,
    RingError,
    RingHttpError,
)
from ringvault.cloud.http import MAX_AUTH_REFRESHES, MAX_REDIRECTS, RING_API_HOSTS, RING_HOSTS, times
from ringvault.transport import (
    BodyFormatError,
    CutOffError,
    DownloadProgress,
    DownloadResult,
    Response,
    Timeout,
    UnreachableError,
    error_detail,
    parse_retry_after,
)

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp


async def download_media(
    http: RingHttp,
    url: str,
    dest: Path,
    *,
    auth: bool = False,
    expected_type: str | None = None,
    progress: DownloadProgress | None = None,
    fsync: bool = True,
) -> DownloadResult:
    """``RingHttp.download``: stream ``url`` into ``dest`` (see the module's docstring)."""
    path = http._ring_path(url)
    what = f"download of {path}"

    def on_status(response: Response, body: bytes) -> BaseException:
        return _media_error(http, response, body, path)

    @contextlib.asynccontextmanager
    async def open_body(extra: dict[str, str]) -> AsyncIterator[Response]:
        response = await _media_response(http, url, extra, auth=auth)
        try:
            yield response
        finally:
            await response.aclose()

    try:
        return await http._http.download(
            open_body,
            dest,
            what=what,
            policy=http._retry_policy(),
            on_status=on_status,
            retryable=_retryable_media_error,
            atomic=False,
            fsync=fsync,
            expected_type=expected_type,
            progress=progress,
        )
    except CutOffError as err:
        where = f"Ring ({err.host})" if err.host in RING_HOSTS else f"the storage host ({err.host})"
        raise ConnectionCutOffError(
            f"{what}: {where} cut the download off {times(err.times)} ({_kept(err)}; last: {err.reason})"
        ) from err
    except UnreachableError as err:
        raise CloudUnreachableError(f"download of {path} failed: {err.reason}") from err
    except BodyFormatError as err:
        raise ResponseFormatError(str(err)) from err


async def _media_response(http: RingHttp, url: str, extra: Mapping[str, str], *, auth: bool) -> Response:
    """GET ``url`` for a download, following redirects (bearer token only to Ring's API hosts), refreshing on 401
    and re-creating a lost session; the final answer, body unread (the caller closes it)."""
    current = url
    refreshes = 0
    rejected: str | None = None
    session_retried = False
    hops = 0
    timeout = Timeout(http.options.media_timeout_s, connect=http.options.timeout_s)
    while True:
        host = http.ring_host(current)
        use_bearer = auth and host in RING_API_HOSTS
        if use_bearer and http._is_clients_api(current):
            await http._ensure_session()
        generation = http._session_generation
        resolved = http.resolve(current)
        what = f"GET {http._ring_path(current)}"
        async with http._bearer_for_attempt(use_bearer, what, refreshes, rejected) as bearer:
            await http._limit(host)
            request = http._http.build_request(
                "GET", resolved, headers=http._headers(host, bearer, extra), timeout=timeout
            )
            offset = extra.get("Range", "").removeprefix("bytes=").rstrip("-")
            display = f"GET {resolved} (media" + (f", from byte {offset})" if offset else ")")
            response = await http._http.open(request, display=display)
        rejected = None
        if response.is_redirect and "location" in response.headers:
            await response.aclose()
            hops += 1
            if hops > MAX_REDIRECTS:
                raise RingHttpError(f"too many redirects from {http._ring_path(url)}", status=response.status_code)
            current = urljoin(resolved, response.headers["location"])
            continue
        if response.status_code == 401 and use_bearer and refreshes < MAX_AUTH_REFRESHES:
            await response.aclose()
            refreshes += 1
            rejected = bearer
            continue
        if use_bearer and not session_retried and response.status_code == 404 and http._is_clients_api(current):
            await response.aread()  # a short JSON error from Ring's API (the download reads it again from memory)
            if http._is_session_not_found(response):
                await response.aclose()
                session_retried = True
                await http._ensure_session(force_after_generation=generation)
                continue
        return response


def _media_error(http: RingHttp, response: Response, body: bytes, path: str) -> RingError:
    """The typed error for a media answer that is not 2xx (429 and 5xx carry ``retry_after`` and are retried)."""
    status = response.status_code
    url = str(response.request.url)
    if status == 429 or status >= 500:
        error: RingHttpError
        if status == 429:
            error = RateLimitedError(f"download of {path}: HTTP 429", status=429)
        else:
            error = RingHttpError(f"download of {path}: HTTP {status}", status=status)
        error.retry_after = parse_retry_after(response.headers.get("retry-after"))
        return error
    if http.ring_host(url) in RING_HOSTS:
        return http._status_error(response, body, method="GET", url=url)
    where = http._ring_path(url)
    if status == 404:
        return RecordingNotReadyError(f"GET {where}: HTTP 404 from the storage host (not ready yet, or deleted)")
    if status == 403:
        return RingHttpError(
            f"GET {where}: HTTP 403 from the storage host",
            status=403,
            hint="The signed media URL has expired; ask Ring for a new one.",
        )
    detail = error_detail(body, response.headers.get("content-type"))
    return RingHttpError(f"GET {where}: HTTP {status} ({detail})", status=status)


def _kept(err: CutOffError) -> str:
    if err.received is None:
        return "nothing kept"
    return f"{err.received} of {err.total} bytes" if err.total is not None else f"{err.received} bytes"


def _retryable_media_error(exc: BaseException) -> bool:
    return isinstance(exc, RingHttpError) and (exc.status == 429 or exc.status >= 500)
