"""Streamed downloads: constant memory, SHA-256 on the way, resume with ``Range`` after a break, size cap, content-type
check, and a file that is complete or not there.

``run_download`` drives the attempts (``retry``) and owns the file; the owner's ``open_body`` sends each request
(credentials, redirects and the owner's own answers are its business) and ``on_status`` says what a non-2xx answer
means. Every break of the body after the answer started counts as a cut-off (``CutOffError`` when the retries run
out): the host was reachable.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ringvault.transport._httpx import httpx
from ringvault.transport.body import media_type, type_matches
from ringvault.transport.errors import BodyFormatError, TooLargeError
from ringvault.transport.files import PartFile
from ringvault.transport.retry import BodyBrokeOff, RetryPolicy, Tally, describe_failure, retryable_failure

if TYPE_CHECKING:
    from ringvault.transport.http import HttpClient

#: ``progress(bytes_written, total_or_None)`` as the body starts, after every chunk, and with 0 when it starts over.
DownloadProgress = Callable[[int, int | None], None]
#: Sends one GET with these extra headers (``Range``, ``Accept-Encoding``) and yields the final answer, body unread.
Opener = Callable[[dict[str, str]], AbstractAsyncContextManager[httpx.Response]]
#: The exception for an answer that is not 2xx, given up to ``ERROR_BODY_LIMIT`` bytes of its body. Set its
#: ``retry_after`` (seconds) to have a ``Retry-After`` honoured when the caller's ``retryable`` accepts it.
StatusMapper = Callable[[httpx.Response, bytes], BaseException]

ERROR_BODY_LIMIT = 64 * 1024
#: Bigger files are fsynced off the event loop.
_THREADED_FSYNC_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: where it is, its size and SHA-256, and the served content type."""

    path: Path
    bytes: int
    sha256: str
    content_type: str | None


@dataclass
class _Body:
    """A download in progress: the open file, what has been written and its running hash."""

    handle: IO[bytes]
    progress: DownloadProgress | None
    log: logging.Logger
    sha: Any = field(default_factory=hashlib.sha256)
    written: int = 0
    total: int | None = None
    content_type: str | None = None

    def write(self, chunk: bytes) -> None:
        self.handle.write(chunk)
        self.sha.update(chunk)
        self.written += len(chunk)
        self.report()

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.sha = hashlib.sha256()
        self.written = 0
        self.total = None
        self.report()

    def report(self) -> None:
        """Tell the progress callback; a failing display is logged and never breaks the download."""
        if self.progress is None:
            return
        try:
            self.progress(self.written, self.total)
        except Exception:
            self.log.exception("download progress callback %r failed", self.progress)


async def run_download(
    client: HttpClient,
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
    """Stream the body ``open_body`` answers into ``dest``.

    - ``atomic``: write a temporary file next to ``dest`` and rename it over ``dest`` when complete (on failure
      ``dest`` keeps what it held); otherwise write ``dest`` itself (created or truncated, removed on failure).
    - ``fsync=False`` (not with ``atomic``): the file is closed without an fsync, for a caller that makes it durable
      itself off the event loop (the archive's ``AtomicFile``); the result's SHA-256 spares it reading the file again.
    - A break after the answer started resumes with ``Range`` from the bytes kept (starting over when the server
      ignores it); the announced length is checked (for bodies sent without a content coding).
    - ``max_bytes``: a larger announced or streamed body raises ``TooLargeError`` at once.
    - ``expected_type`` (e.g. ``video/mp4``, ``image/``): another content type raises ``BodyFormatError`` (an error
      page must never be kept as media).
    - Retries follow ``policy``: a break that kept more bytes resumes at once (bounded by its attempt cap); answers
      ``on_status`` maps are retried when ``retryable`` says so. ``OSError`` is the local disk.
    """
    part = PartFile(dest, atomic=atomic)
    body = _Body(part.handle, progress, client.log)
    finished = False
    try:

        async def attempt() -> None:
            headers = {"Accept-Encoding": "identity"}
            if body.written:
                headers["Range"] = f"bytes={body.written}-"
            async with open_body(headers) as response:
                await _consume(client, response, body, what, on_status, max_bytes, expected_type)

        await client.retry(
            attempt,
            policy=policy,
            retryable=lambda exc: retryable_failure(exc, idempotent=True) or retryable(exc),
            what=what,
            progress=lambda: body.written,
            tally=tally,
            describe=describe,
            level=level,
        )
        if not fsync and not atomic:
            part.finish(fsync=False)
        elif body.written >= _THREADED_FSYNC_BYTES:
            await asyncio.to_thread(part.finish)
        else:
            part.finish()
        finished = True
    finally:
        if not finished:
            part.discard()
    client.stats.bytes_downloaded += body.written
    return DownloadResult(path=dest, bytes=body.written, sha256=body.sha.hexdigest(), content_type=body.content_type)


async def _consume(
    client: HttpClient,
    response: httpx.Response,
    body: _Body,
    what: str,
    on_status: StatusMapper,
    max_bytes: int | None,
    expected_type: str | None,
) -> None:
    host = (response.request.url.host or "").lower()
    status = response.status_code
    if status >= 300:
        raise on_status(response, await _read_bounded(response.aiter_bytes(), ERROR_BODY_LIMIT))
    _continue_or_restart(client, response, body, what, host)
    ctype = response.headers.get("content-type")
    if body.content_type is None or status == 200:
        body.content_type = ctype
    if expected_type and not type_matches(ctype, expected_type):
        raise BodyFormatError(what, f"{media_type(ctype) or 'nothing'}, expected {expected_type}")
    if max_bytes is not None and body.total is not None and body.total > max_bytes:
        raise TooLargeError(
            f"{what}: the file announces {body.total} bytes, more than the limit of {max_bytes}", limit=max_bytes
        )
    body.report()
    try:
        async for chunk in response.aiter_bytes():  # as received: a break loses nothing already read
            if max_bytes is not None and body.written + len(chunk) > max_bytes:
                raise TooLargeError(f"{what}: stopped after more than {max_bytes} bytes (the limit)", limit=max_bytes)
            body.write(chunk)
    except httpx.TransportError as err:
        reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise BodyBrokeOff(host, reason, received=body.written, total=body.total) from err
    if body.total is None or response.headers.get("content-encoding"):
        return  # no length to check (a decoded body's length is not the announced one)
    if body.written < body.total:
        reason = f"the body ended early ({body.written} of {body.total} bytes)"
        raise BodyBrokeOff(host, reason, received=body.written, total=body.total)
    if body.written > body.total:
        raise BodyFormatError(what, "more bytes than announced")


def _continue_or_restart(client: HttpClient, response: httpx.Response, body: _Body, what: str, host: str) -> None:
    """Make the file match what this answer continues from, and note the full size."""
    if response.status_code == 206:
        span = content_range(response.headers.get("content-range"))
        if span is None or span[0] != body.written:
            client.log.info("%s: unusable Content-Range; starting over", what)
            body.restart()
            client.stats.restarts += 1
            raise BodyBrokeOff(host, "unusable Content-Range", received=0)
        if body.written:
            client.stats.resumes += 1
        body.total = span[1]
        return
    if body.written:
        client.log.info("%s: the server ignored Range; starting over", what)
        body.restart()
        client.stats.restarts += 1
    body.total = content_length(response)


def content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes START-END/TOTAL`` → ``(START, TOTAL | None)``."""
    if not value:
        return None
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if not match:
        return None
    return int(match.group(1)), None if match.group(3) == "*" else int(match.group(3))


def content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def _read_bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """At most ``limit`` bytes of an error body (a hostile server may send gigabytes)."""
    data = bytearray()
    try:
        async for chunk in chunks:
            data.extend(chunk[: limit - len(data)])
            if len(data) >= limit:
                break
    except httpx.TransportError:
        pass  # an error answer whose body broke off: what arrived is enough to describe it
    return bytes(data)
