"""Real media for the archive tests: a small H.264 MP4 (PyAV, libx264) and a JPEG (Pillow)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image


def make_mp4(path: Path, *, frames: int = 5, faststart: bool = True, size: tuple[int, int] = (64, 48)) -> bytes:
    """Encode ``frames`` frames at 10 fps; ``faststart`` puts ``moov`` before ``mdat``. Returns the bytes."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 10)
        for index in range(frames):
            image = Image.new("RGB", size, (index * 40 % 256, 90, 160))
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.read_bytes()


def make_jpeg(size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def top_level_boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level box (32-bit sizes only, enough for the test files)."""
    boxes = []
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append((data[offset + 4 : offset + 8].decode("latin-1"), offset, size))
        if size < 8:
            break
        offset += size
    return boxes
