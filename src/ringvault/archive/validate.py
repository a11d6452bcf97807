"""Is this file really media? MP4 box structure, JPEG markers and decode, and error bodies that pretend to be media.

Ring's storage hosts answer an expired or not-yet-ready recording with an XML ``NoSuchKey`` body, rate limits with
HTML pages, and the API with JSON errors; a download that breaks off leaves a truncated file. None of these may ever
be kept as media, so every archived file passes one of these checks before it gets its final name.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "MediaCheck",
    "Validator",
    "sniff_error_body",
    "validate_jpeg",
    "validate_json",
    "validate_mp4",
    "validator_for",
]

#: How much of the start of a file :func:`sniff_error_body` looks at.
SNIFF_BYTES = 1024
#: ``moov`` boxes larger than this are not parsed for duration and size (the structure is still checked).
_MOOV_PARSE_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class MediaCheck:
    """The verdict on one file: ``ok`` or a ``reason`` a person can read, plus what was learnt on the way."""

    ok: bool
    kind: str
    reason: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    size: int | None = None

    @classmethod
    def fail(cls, kind: str, reason: str, *, size: int | None = None) -> MediaCheck:
        return cls(ok=False, kind=kind, reason=reason, size=size)


Validator = Callable[[Path], MediaCheck]


def sniff_error_body(first_bytes: bytes) -> str | None:
    """Describe ``first_bytes`` if they start an HTML, JSON, XML or plain-text error body; ``None`` otherwise.

    Real MP4 files start with a binary box size and JPEGs with ``FF D8``, so text at the start is never media.
    """
    head = first_bytes[:SNIFF_BYTES]
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        return None
    lower = text.lower()
    if lower.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in lower:
        title = re.search(rb"<title[^>]*>([^<]{1,120})</title>", text, re.IGNORECASE)
        detail = f" ({title.group(1).decode('utf-8', 'replace').strip()})" if title else ""
        return f"an HTML page{detail}, not media"
    if lower.startswith(b"<?xml") or lower.startswith(b"<error"):
        code = re.search(rb"<code>([^<]{1,80})</code>", text, re.IGNORECASE)
        if code:
            return f"an XML error body ({code.group(1).decode('utf-8', 'replace').strip()}), not media"
        return "an XML body, not media"
    if lower.startswith((b"{", b"[")):
        message = re.search(rb'"(?:error|message|error_description)"\s*:\s*"([^"]{1,120})"', text, re.IGNORECASE)
        if message:
            return f"a JSON error body ({message.group(1).decode('utf-8', 'replace')}), not media"
        return "a JSON body, not media"
    printable = sum(1 for b in text[:64] if 32 <= b < 127 or b in (9, 10, 13))
    if len(text) >= 4 and printable == len(text[:64]):
        preview = text[:60].decode("ascii", "replace").splitlines()[0]
        return f"a text body ({preview!r}), not media"
    return None


def _head(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(min(size, SNIFF_BYTES))


# ---------------------------------------------------------------------------------------------------------- MP4


@dataclass(frozen=True)
class _Box:
    type: str
    offset: int
    header: int
    size: int


def _box_type(raw: bytes) -> str | None:
    if all(32 <= b < 127 for b in raw) or raw == b"\xa9too":
        return raw.decode("latin-1")
    return None


def _walk_boxes(handle: BinaryIO, start: int, end: int) -> tuple[list[_Box], str | None]:
    """The boxes between ``start`` and ``end``, or the boxes so far and why the structure is broken."""
    boxes: list[_Box] = []
    offset = start
    while offset < end:
        remaining = end - offset
        if remaining < 8:
            return boxes, f"truncated: {remaining} stray bytes at offset {offset}, too short for a box header"
        handle.seek(offset)
        raw = handle.read(8)
        size, raw_type = struct.unpack(">I4s", raw)
        box_type = _box_type(raw_type)
        if box_type is None:
            return boxes, f"not an MP4 box at offset {offset} (type bytes {raw_type!r})"
        header = 8
        if size == 1:
            if remaining < 16:
                return boxes, f"truncated: 64-bit size of '{box_type}' at offset {offset} cut off"
            (size,) = struct.unpack(">Q", handle.read(8))
            header = 16
            if size < 16:
                return boxes, f"invalid 64-bit size {size} of '{box_type}' at offset {offset}"
        elif size == 0:
            size = remaining  # the box extends to the end of the file
        elif size < 8:
            return boxes, f"invalid size {size} of '{box_type}' at offset {offset}"
        if size > remaining:
            return boxes, (
                f"truncated: '{box_type}' at offset {offset} declares {size} bytes but only {remaining} remain"
            )
        boxes.append(_Box(box_type, offset, header, size))
        offset += size
    return boxes, None


def _parse_moov(handle: BinaryIO, moov: _Box) -> tuple[float | None, int | None, int | None]:
    """Duration from ``mvhd`` and the first video-sized track's width and height from ``tkhd``."""
    if moov.size > _MOOV_PARSE_LIMIT:
        return None, None, None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    children, _ = _walk_boxes(handle, moov.offset + moov.header, moov.offset + moov.size)
    for child in children:
        handle.seek(child.offset + child.header)
        body = handle.read(child.size - child.header)
        if child.type == "mvhd" and len(body) >= 20:
            if body[0] == 1 and len(body) >= 32:
                timescale, length = struct.unpack(">IQ", body[20:32])
            else:
                timescale, length = struct.unpack(">II", body[12:20])
            if timescale:
                duration = length / timescale
        elif child.type == "trak" and width is None:
            width, height = _track_size(handle, child)
    return duration, width, height


def _track_size(handle: BinaryIO, trak: _Box) -> tuple[int | None, int | None]:
    children, _ = _walk_boxes(handle, trak.offset + trak.header, trak.offset + trak.size)
    for child in children:
        if child.type != "tkhd":
            continue
        handle.seek(child.offset + child.header)
        body = handle.read(child.size - child.header)
        at = 4 + (32 if body[:1] == b"\x01" else 20) + 52  # version/flags, times/ids/duration, reserved..matrix
        if len(body) >= at + 8:
            w, h = struct.unpack(">II", body[at : at + 8])
            if w >> 16 and h >> 16:
                return w >> 16, h >> 16
    return None, None


def _decode_first_frame(path: Path) -> tuple[str | None, int | None, int | None, float | None]:
    """Decode one video frame with PyAV; returns (error, width, height, duration)."""
    import av  # lazily: only needed when a decode check is asked for

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "no video stream", None, None, None
            stream = container.streams.video[0]
            duration = None
            if container.duration is not None:
                duration = container.duration / 1_000_000
            for frame in container.decode(stream):
                return None, frame.width, frame.height, duration
            return "the video stream has no decodable frame", None, None, duration
    except (av.FFmpegError, ValueError, OSError) as err:
        return f"the video does not decode: {err}", None, None, None


def validate_mp4(path: str | Path, *, decode: bool = False) -> MediaCheck:
    """Check an MP4 (ISO BMFF) file: consistent top-level boxes, ``ftyp`` first, ``moov`` and ``mdat`` present.

    Box sizes must add up to the file length exactly (64-bit ``largesize`` and size 0 = "to the end" included), so a
    download cut off anywhere is refused. ``decode=True`` also decodes the first video frame with PyAV.
    """
    path = Path(path)
    try:
        size = os.stat(path).st_size
    except OSError as err:
        return MediaCheck.fail("mp4", f"cannot read the file: {err.strerror or err}")
    if size == 0:
        return MediaCheck.fail("mp4", "empty file (0 bytes)", size=0)
    sniffed = sniff_error_body(_head(path, size))
    if sniffed:
        return MediaCheck.fail("mp4", sniffed, size=size)
    with open(path, "rb") as handle:
        boxes, problem = _walk_boxes(handle, 0, size)
        types = [box.type for box in boxes]
        if boxes and boxes[0].type != "ftyp":
            return MediaCheck.fail("mp4", f"not an MP4: first box is '{boxes[0].type}', expected 'ftyp'", size=size)
        if problem:
            return MediaCheck.fail("mp4", problem, size=size)
        if not boxes:
            return MediaCheck.fail("mp4", "not an MP4: no boxes", size=size)
        missing = [name for name in ("moov", "mdat") if name not in types]
        if missing:
            return MediaCheck.fail(
                "mp4", f"incomplete MP4: no {' or '.join(repr(m) for m in missing)} box (boxes: {types})", size=size
            )
        moov = boxes[types.index("moov")]
        duration, width, height = _parse_moov(handle, moov)
    if decode:
        error, frame_w, frame_h, decoded_duration = _decode_first_frame(path)
        if error:
            return MediaCheck.fail("mp4", error, size=size)
        width, height = width or frame_w, height or frame_h
        duration = duration if duration is not None else decoded_duration
    return MediaCheck(ok=True, kind="mp4", duration_s=duration, width=width, height=height, size=size)


# ---------------------------------------------------------------------------------------------------------- JPEG


def validate_jpeg(path: str | Path) -> MediaCheck:
    """Check a JPEG: ``FF D8`` at the start, ``FF D9`` at the end (trailing NUL padding allowed), Pillow
    ``verify()`` and a full decode."""
    from PIL import Image  # lazily: Pillow is heavy to import

    path = Path(path)
    try:
        size = os.stat(path).st_size
    except OSError as err:
        return MediaCheck.fail("jpeg", f"cannot read the file: {err.strerror or err}")
    if size == 0:
        return MediaCheck.fail("jpeg", "empty file (0 bytes)", size=0)
    head = _head(path, size)
    sniffed = sniff_error_body(head)
    if sniffed:
        return MediaCheck.fail("jpeg", sniffed, size=size)
    if not head.startswith(b"\xff\xd8"):
        return MediaCheck.fail("jpeg", "not a JPEG: no SOI marker (FF D8) at the start", size=size)
    with open(path, "rb") as handle:
        handle.seek(max(0, size - 4096))
        tail = handle.read().rstrip(b"\x00")
    if not tail.endswith(b"\xff\xd9"):
        return MediaCheck.fail("jpeg", "truncated JPEG: no EOI marker (FF D9) at the end", size=size)
    try:
        with Image.open(path) as image:
            if image.format != "JPEG":
                return MediaCheck.fail("jpeg", f"not a JPEG: Pillow reads it as {image.format}", size=size)
            image.verify()
        with Image.open(path) as image:
            image.load()
            width, height = image.size
    except Exception as err:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...) for broken data
        return MediaCheck.fail("jpeg", f"the JPEG does not decode: {err}", size=size)
    return MediaCheck(ok=True, kind="jpeg", width=width, height=height, size=size)


# ---------------------------------------------------------------------------------------------------------- JSON


def validate_json(path: str | Path) -> MediaCheck:
    """Check that a file (a sidecar) is one complete UTF-8 JSON document."""
    import json

    path = Path(path)
    try:
        data = path.read_bytes()
        json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return MediaCheck.fail("json", f"not a complete JSON document: {err}")
    return MediaCheck(ok=True, kind="json", size=len(data))


_BY_SUFFIX: dict[str, Validator] = {
    ".mp4": validate_mp4,
    ".m4v": validate_mp4,
    ".jpg": validate_jpeg,
    ".jpeg": validate_jpeg,
    ".json": validate_json,
}


def validator_for(path: str | Path) -> Validator | None:
    """The check for a file name's suffix (``.mp4``, ``.jpg``/``.jpeg``, ``.json``), ``None`` for other files."""
    return _BY_SUFFIX.get(Path(path).suffix.lower())
