"""The schema and data files a completed query exposes, and the response that streams them.

File contract (ours; the seed does not specify formats): a data file is a UTF-8 JSON array of records, one record
per line (``[\\n{...},\\n{...}\\n]\\n``); a schema file is laid out as ``PortabilityConfig.schema_style`` says
(``datasets.Dataset.schema``). Files are named ``{queryId}/{data set}/schema.json`` and ``.../part-NNNNN.json`` in the
bucket, or with ``file_names: opaque`` ``{queryId}/set-NN/...``, a name that says nothing of the data set (the seed
documents no naming, so a client must not depend on it). The optional big file (``big_file_bytes``) has the same
layout, every record padded with spaces to a fixed width, so any byte of it can be computed from its offset: it is
generated while it is sent, never held in memory, answers ``Range`` requests, and is the same bytes every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ringvault.sim.faults import MediaDropped, parse_range
from ringvault.sim.portability.config import DATASETS

CHUNK = 1024 * 1024
BIG_RECORD_WIDTH = 1024
_OPEN = b"[\n"
_SEP = b",\n"
_CLOSE = b"\n]\n"


def render_records(records: list[dict[str, Any]]) -> bytes:
    """A data file: a JSON array, one record per line."""
    if not records:
        return b"[]\n"
    lines = [json.dumps(r, ensure_ascii=False, separators=(", ", ": ")).encode() for r in records]
    return _OPEN + _SEP.join(lines) + _CLOSE


def render_schema(schema: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    return json.dumps(schema, indent=2, ensure_ascii=False).encode() + b"\n"


# ---------------------------------------------------------------------------------------------------------------------
# names in the bucket

_KEY = re.compile(
    r"^(?P<query>[0-9a-f-]{36})/(?P<folder>[A-Za-z0-9.-]+)/(?:(?P<schema>schema)|part-(?P<part>\d{5}))\.json$"
)


def object_key(query_id: str, dataset: str, name: str, style: str = "dataset") -> str:
    """The bucket key of a file of ``dataset`` (``name``: ``schema.json`` or ``part-NNNNN.json``)."""
    folder = dataset if style == "dataset" else f"set-{DATASETS.index(dataset) + 1:02d}"
    return f"{query_id}/{folder}/{name}"


def parse_object_key(key: str) -> tuple[str, str, int | None] | None:
    """(query id, data set, part number or None for the schema) of a bucket key in either naming; None if it is not
    one."""
    match = _KEY.match(key)
    if match is None:
        return None
    folder = match.group("folder")
    if folder.startswith("set-") and folder[4:].isdigit() and 1 <= int(folder[4:]) <= len(DATASETS):
        dataset = DATASETS[int(folder[4:]) - 1]
    elif folder in DATASETS:
        dataset = folder
    else:
        return None
    part = None if match.group("schema") else int(match.group("part"))
    return match.group("query"), dataset, part


# ---------------------------------------------------------------------------------------------------------------------
# the big file

_EVENT_TYPES = ("motion", "ding", "on_demand", "motion", "on_demand_link", "motion", "alarm")
_DETECTIONS = ("motion", "human", "vehicle", "motion", "human")
_BIG_TEMPLATE = (
    '{"duration": %d, "eventType": "%s", "eventDate": "%s", "expiresAt": "%s", "status": "%s", '
    '"endToEndEncryption": false, "detections": [{"detectionType": "motion", "eventDate": "%s"}], '
    '"humanDetected": %s, "detectionType": "%s", "isFavorited": %s, "eventCreatedWithAlexa": false, '
    '"eventFromSidewalk": false, "eventRespondedByAlexa": false, "securityAlerts": [], "streamingMode": "non-24x7", '
    '"reviewedByVirtualSecurityGuard": false, "virtualSecurityGuard": "", "latitude": %.6f, "longitude": %.6f, '
    '"isInitiatedByEventOwner": false, "bulkSequence": %d}'
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BigFile:
    """A deterministic JSON array of ``count`` fixed-width event records spread over ``[start, end]``.

    The records have the ``Ring.EventManager.Events`` shape (plus ``bulkSequence``, the record's index, so a reader
    can check it saw every record once); each is padded to ``BIG_RECORD_WIDTH`` bytes with spaces.
    """

    def __init__(self, target_bytes: int, start: float, end: float, latitude: float, longitude: float) -> None:
        unit = BIG_RECORD_WIDTH + len(_SEP)
        self.count = max(1, (target_bytes - len(_OPEN) - len(_CLOSE) + len(_SEP)) // unit)
        self.size = len(_OPEN) + self.count * BIG_RECORD_WIDTH + (self.count - 1) * len(_SEP) + len(_CLOSE)
        self.start = start
        self.step = max(0.0, end - start) / self.count
        self.latitude = latitude
        self.longitude = longitude
        self._day_cache: dict[int, str] = {}

    def _date(self, at: int) -> str:
        """``YYYY-MM-DDTHH:MM:SSZ``, with the day part cached (the hot path of a multi-GB file)."""
        day, second = divmod(at, 86400)
        prefix = self._day_cache.get(day)
        if prefix is None:
            prefix = _iso(day * 86400)[:11]
            self._day_cache[day] = prefix
        hours, rest = divmod(second, 3600)
        return f"{prefix}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"

    def record(self, index: int) -> bytes:
        at = int(self.start + index * self.step)
        date = self._date(at)
        detection = _DETECTIONS[index % len(_DETECTIONS)]
        text = _BIG_TEMPLATE % (
            index % 60,
            _EVENT_TYPES[index % len(_EVENT_TYPES)],
            date,
            self._date(at + 60 * 86400),
            "timed_out" if index % 3 else "completed",
            date,
            "true" if detection == "human" else "false",
            detection,
            "true" if index % 97 == 0 else "false",
            self.latitude,
            self.longitude,
            index,
        )
        if len(text) > BIG_RECORD_WIDTH:  # cannot happen with the template above; keep the layout honest anyway
            raise ValueError("big-file record wider than its slot")
        return text.ljust(BIG_RECORD_WIDTH).encode()

    def _unit(self, index: int) -> bytes:
        return self.record(index) + (_CLOSE if index == self.count - 1 else _SEP)

    def iter_range(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start..end`` (inclusive) in chunks of about ``CHUNK``."""
        unit = BIG_RECORD_WIDTH + len(_SEP)
        pos = start
        while pos <= end:
            if pos < len(_OPEN):
                piece = _OPEN[pos : end + 1]
                pos += len(piece)
                yield piece
                continue
            first = (pos - len(_OPEN)) // unit
            offset = len(_OPEN) + first * unit
            parts: list[bytes] = []
            size = 0
            index = first
            while index < self.count and offset + size <= end and size < CHUNK:
                unit_bytes = self._unit(index)
                parts.append(unit_bytes)
                size += len(unit_bytes)
                index += 1
            block = b"".join(parts)
            piece = block[pos - offset : end + 1 - offset]
            if not piece:
                return
            pos += len(piece)
            yield piece


# ---------------------------------------------------------------------------------------------------------------------
# the response


class StreamedFile(Response):
    """A file body produced by ``reader(start, end)`` in chunks: ``Content-Length``, ``Range`` (206/416), HEAD,
    and the fault engine's bandwidth cap and mid-body drops. The reader runs in a worker thread."""

    def __init__(
        self,
        size: int,
        reader: Callable[[int, int], Iterator[bytes]],
        *,
        content_type: str,
        headers: dict[str, str],
        request_range: str | None,
        bandwidth: Callable[[], float],
        roll_drop: Callable[[], bool],
    ) -> None:
        super().__init__(status_code=200, headers=headers, media_type=content_type)
        self._reader = reader
        self._bandwidth = bandwidth
        self._roll_drop = roll_drop
        self.first, self.last = 0, size - 1
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.raw_headers.append((b"accept-ranges", b"bytes"))
        selected = parse_range(request_range, size)
        if selected is False:
            self.status_code = 416
            self.first, self.last = 0, -1
            self.raw_headers.append((b"content-range", f"bytes */{size}".encode()))
        elif isinstance(selected, tuple):
            self.status_code = 206
            self.first, self.last = selected
            self.raw_headers.append((b"content-range", f"bytes {self.first}-{self.last}/{size}".encode()))
        self.raw_headers.append((b"content-length", str(self.last - self.first + 1).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        length = self.last - self.first + 1
        if scope.get("method") == "HEAD" or length <= 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        drop = length > 1 and self._roll_drop()
        limit = length // 2 if drop else length
        rate = self._bandwidth()
        chunks = self._reader(self.first, self.first + limit - 1)
        started = asyncio.get_running_loop().time()
        sent = 0
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        try:
            while not gone.is_set():  # uvicorn drops what is sent after a disconnect: stop generating then
                piece = await run_in_threadpool(next, chunks, None)
                if piece is None:
                    break
                if rate > 0:
                    step = max(256, int(rate / 20))
                    for at in range(0, len(piece), step):
                        await send({"type": "http.response.body", "body": piece[at : at + step], "more_body": True})
                        sent += min(step, len(piece) - at)
                        ahead = sent / rate - (asyncio.get_running_loop().time() - started)
                        if ahead > 0:
                            await asyncio.sleep(ahead)
                else:
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                    sent += len(piece)
        finally:
            watcher.cancel()
            close = getattr(chunks, "close", None)
            if close is not None:
                with contextlib.suppress(ValueError):  # cancelled while a worker thread was inside next()
                    close()
        if gone.is_set():
            return
        if drop:
            raise MediaDropped(f"dropped the connection after {sent} of {length} bytes")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    """Set ``gone`` when the client hangs up (a refused or aborted download must not keep the file generating)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


def bytes_reader(data: bytes) -> Callable[[int, int], Iterator[bytes]]:
    """A reader over an in-memory body."""

    def read(start: int, end: int) -> Iterator[bytes]:
        for at in range(start, end + 1, CHUNK):
            yield data[at : min(end + 1, at + CHUNK)]

    return read
