"""The transport's streamed download on its own: atomic or in place, size cap, content type, resume."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.transport import (
    BodyFormatError,
    DownloadResult,
    ExponentialBackoff,
    HttpClient,
    RetryPolicy,
    TooLargeError,
)

PAYLOAD = bytes(range(256)) * 40
URL = "https://files.example/data.bin"


class Failed(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def client(handler: httpx.MockTransport) -> HttpClient:
    return HttpClient(
        timeout_s=5, user_agent="test", logger=logging.getLogger("ringvault.transport.test"), transport=handler
    )


async def fetch(http: HttpClient, dest: Path, **options: Any) -> DownloadResult:
    @contextlib.asynccontextmanager
    async def open_body(headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        async with http.stream(http.build_request("GET", URL, headers=headers), display="GET data") as response:
            yield response

    return await http.download(
        open_body,
        dest,
        what="download of data",
        policy=RetryPolicy(ExponentialBackoff(initial_s=0.0, jitter_s=0.0), max_retries=2),
        on_status=lambda response, body: Failed(response.status_code),
        retryable=lambda exc: isinstance(exc, Failed) and exc.status >= 500,
        **options,
    )


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def previous_version(dest: Path) -> Path:
    dest.write_bytes(b"the previous version")
    return dest


def serve(body: bytes, content_type: str = "application/octet-stream") -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": content_type})
    )


async def test_an_atomic_download_replaces_the_file_only_when_complete(tmp_path: Path) -> None:
    dest = previous_version(tmp_path / "data.bin")
    async with client(serve(PAYLOAD)) as http:
        result = await fetch(http, dest, atomic=True)
    assert dest.read_bytes() == PAYLOAD and result.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert names(tmp_path) == ["data.bin"]  # no temporary file left


@pytest.mark.parametrize("atomic", [True, False])
async def test_a_body_over_the_cap_keeps_nothing(tmp_path: Path, atomic: bool) -> None:
    dest = previous_version(tmp_path / "data.bin")
    async with client(serve(PAYLOAD)) as http:
        with pytest.raises(TooLargeError, match="more than the limit of 1000"):
            await fetch(http, dest, atomic=atomic, max_bytes=1000)
    # atomic: the earlier complete file is untouched; in place: the half-written file is removed
    assert (dest.read_bytes() == b"the previous version") if atomic else not dest.exists()
    assert names(tmp_path) == (["data.bin"] if atomic else [])


async def test_an_error_page_is_never_kept_as_media(tmp_path: Path) -> None:
    async with client(serve(b"<html>oops</html>", "text/html")) as http:
        with pytest.raises(BodyFormatError, match="text/html, expected video/mp4"):
            await fetch(http, tmp_path / "clip.mp4", atomic=False, expected_type="video/mp4")
    assert not (tmp_path / "clip.mp4").exists()


async def test_a_server_error_is_retried_and_a_client_error_is_not(tmp_path: Path) -> None:
    answers = [503, 200]
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0) if answers else 404
        seen.append(status)
        return httpx.Response(status, content=PAYLOAD if status == 200 else b"no")

    async with client(httpx.MockTransport(handler)) as http:
        await fetch(http, tmp_path / "a.bin", atomic=True)
        with pytest.raises(Failed, match="HTTP 404"):
            await fetch(http, tmp_path / "b.bin", atomic=True)
    assert seen == [503, 200, 404]


@pytest.mark.parametrize(("atomic", "fsync", "synced"), [(False, True, 1), (False, False, 0), (True, False, 1)])
async def test_fsync_is_left_to_the_caller_only_when_asked_and_never_for_an_atomic_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, atomic: bool, fsync: bool, synced: int
) -> None:
    """``fsync=False`` hands durability to a caller that fsyncs the file itself off the event loop (the archive's
    AtomicFile); a file the transport renames into place itself is always fsynced first."""
    import ringvault.transport.files as files

    calls: list[int] = []
    real = files.os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(files.os, "fsync", counting)
    monkeypatch.setattr(files, "fsync_dir", lambda _directory: None)  # directories are not what is counted here
    dest = tmp_path / "data.bin"
    async with client(serve(PAYLOAD)) as http:
        result = await fetch(http, dest, atomic=atomic, fsync=fsync)
    assert dest.read_bytes() == PAYLOAD and result.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert len(calls) == synced
