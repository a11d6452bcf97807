"""Recording URLs from Ring's ``clients_api/video_search/history`` for the sync (reference §5.3, §5.5).

One video search answers, for one device and a time range, the events with the pre-signed URLs of their
recordings: one request per batch of due recordings instead of one ``dings/{id}/share/play`` per recording. The
sync plans the batches (``SearchUrls.plan``), asks for a batch's URLs when the first of its recordings gets a
download slot (so they are fresh when used) and falls back to ``share/play`` for a recording whose URL is missing,
stale or refused (``is_refusal``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ringvault.archive.files import MediaValidationError, disk_refusal
from ringvault.cloud.camera import signed_url_lifetime_s
from ringvault.cloud.errors import (
    RateLimitedError,
    RecordingNotReadyError,
    ResponseFormatError,
    RingError,
    RingHttpError,
)

if TYPE_CHECKING:
    from ringvault.archive.store import DueRecording

__all__ = ["URL_DEFAULT_LIFETIME_S", "URL_FRESH_FRACTION", "SearchUrls", "SignedUrl", "is_refusal"]

log = logging.getLogger("ringvault.sync")

#: A pre-signed URL is used while younger than this fraction of its ``X-Amz-Expires`` (ring-mqtt's rule).
URL_FRESH_FRACTION = 2 / 3
#: The lifetime assumed for a pre-signed URL without ``X-Amz-Expires`` (ring-mqtt assumes 10 minutes).
URL_DEFAULT_LIFETIME_S = 600.0


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class _Batch:
    """Due recordings of one device, consecutive in time, whose URLs one ``video_search`` request gives."""

    device: Any  # a RingCamera (anything with ``recording_urls``)
    name: str | None
    date_from_ms: int
    date_to_ms: int
    ids: frozenset[str]
    task: asyncio.Future[None] | None = None
    urls: dict[str, str] = field(default_factory=dict)
    fresh_until: float = 0.0  # monotonic


def is_refusal(exc: BaseException) -> bool:
    """Whether a download from a ``video_search`` URL failed because of that URL or what it served (expired,
    refused, missing, an error page, a broken file): then ``share/play`` is asked instead. Rate limiting, server
    errors and a broken network are not the URL's fault and go to the ordinary retries."""
    if disk_refusal(exc) is not None:
        return False
    if isinstance(exc, RateLimitedError):
        return False
    if isinstance(exc, RingHttpError):
        return 400 <= exc.status < 500
    return isinstance(exc, RecordingNotReadyError | ResponseFormatError | MediaValidationError)


class SearchUrls:
    """Recording URLs from ``video_search/history``: one request per batch of due recordings of a device, made when
    the first recording of the batch is about to be downloaded (so the URLs are fresh when used), for the span of
    the batch (plus a second on each side: history and video search round differently). Ring documents no limit
    on that span; a recording its answer does not cover, or whose URL is stale, falls back to ``share/play``."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = max(1, batch_size)
        self._batches: dict[str, _Batch] = {}

    def plan(self, due: Iterable[tuple[Any, DueRecording]]) -> None:
        """Split ``(device, recording)`` pairs into batches: per device, consecutive in time, ``batch_size`` each.
        Devices without ``recording_urls`` (intercoms) get no batch: their recordings go through share/play."""
        by_device: dict[int, tuple[Any, list[DueRecording]]] = {}
        for device, record in due:
            if hasattr(device, "recording_urls"):
                by_device.setdefault(device.id, (device, []))[1].append(record)
        for device, records in by_device.values():
            records.sort(key=lambda r: (r.created_at, r.id))
            for start in range(0, len(records), self.batch_size):
                chunk = records[start : start + self.batch_size]
                batch = _Batch(
                    device=device,
                    name=getattr(device, "name", None),
                    date_from_ms=int(_utc(chunk[0].created_at).timestamp() * 1000) - 1000,
                    date_to_ms=int(_utc(chunk[-1].created_at).timestamp() * 1000) + 1000,
                    ids=frozenset(r.id for r in chunk),
                )
                for record in chunk:
                    self._batches[record.id] = batch

    async def url_for(self, event_id: str) -> SignedUrl | None:
        """The URL for the recording of ``event_id`` (each handed out once) with the time it stops being fresh, or
        None when the video search gave none."""
        batch = self._batches.pop(event_id, None)
        if batch is None:
            return None
        if batch.task is None:
            batch.task = asyncio.ensure_future(self._search(batch))
        await asyncio.shield(batch.task)
        url = batch.urls.pop(event_id, None)
        if url is None:
            return None
        return SignedUrl(url, batch.fresh_until)

    async def _search(self, batch: _Batch) -> None:
        try:
            urls: dict[str, str] = await batch.device.recording_urls(batch.date_from_ms, batch.date_to_ms)
        except RingError as exc:  # no URLs from this batch: share/play for each of them
            log.info("video search of %s failed (%s); using share/play", batch.name, exc)
            return
        batch.urls = {ding: url for ding, url in urls.items() if ding in batch.ids}
        # Ring signs every URL of an answer alike: the first one's lifetime stands for all (parsing each of these
        # long URLs again cost more than the rest of the bookkeeping); a URL that expires sooner is refused by the
        # storage host and fetched through share/play.
        lifetime = signed_url_lifetime(next(iter(batch.urls.values()))) if batch.urls else 0.0
        batch.fresh_until = time.monotonic() + lifetime * URL_FRESH_FRACTION


@dataclass
class SignedUrl:
    """A recording URL from the video search: used while fresh and until the storage host refuses it once."""

    url: str
    fresh_until: float  # monotonic
    refused: bool = False

    @property
    def usable(self) -> bool:
        return not self.refused and time.monotonic() < self.fresh_until


def signed_url_lifetime(url: str) -> float:
    """Seconds a pre-signed URL stays valid after it was handed out (``X-Amz-Expires``, else 10 minutes)."""
    return signed_url_lifetime_s(url) or URL_DEFAULT_LIFETIME_S
