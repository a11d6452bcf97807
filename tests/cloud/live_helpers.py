"""Checks shared by the live-view tests: decoding a recording, finding the answerer's square, leaked tasks."""

from __future__ import annotations

import asyncio
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image

from tests.cloud.live_answerer import BACKGROUND, HEIGHT, WIDTH


@dataclass
class Decoded:
    duration_s: float
    video_frames: int
    audio_frames: int
    video_codec: str
    audio_codec: str | None
    width: int
    height: int
    images: list[Image.Image]


def decode(path: Path, *, keep_every: int = 1) -> Decoded:
    """Decode every frame of an MP4 with PyAV (the file must be valid for this to work at all)."""
    images: list[Image.Image] = []
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        last_video = 0.0
        frames = 0
        for index, frame in enumerate(container.decode(video)):
            frames += 1
            assert frame.pts is not None and frame.time_base is not None
            last_video = float(frame.pts * frame.time_base)
            if index % keep_every == 0:
                images.append(frame.to_image())
        rate = float(video.average_rate or 15)
        audio_frames = 0
        if audio is not None:
            container.seek(0)
            audio_frames = sum(1 for _ in container.decode(audio))
        return Decoded(
            duration_s=last_video + 1 / rate,
            video_frames=frames,
            audio_frames=audio_frames,
            video_codec=video.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            width=video.codec_context.width,
            height=video.codec_context.height,
            images=images,
        )


def square_x(image: Image.Image) -> int | None:
    """Where the answerer's white square starts on row 120 (None when it is not there)."""
    rgb = image.convert("RGB")
    for x in range(rgb.width):
        r, g, b = rgb.getpixel((x, 120))  # type: ignore[misc]
        if r > 200 and g > 200 and b > 200:
            return x
    return None


def shows_pattern(image: Image.Image) -> bool:
    """The answerer's picture: its size, a blue field in the corners, a white square on row 120."""
    rgb = image.convert("RGB")
    if (rgb.width, rgb.height) != (WIDTH, HEIGHT):
        return False
    for corner in ((4, 4), (WIDTH - 5, 4), (4, HEIGHT - 5)):
        pixel = rgb.getpixel(corner)
        assert isinstance(pixel, tuple)
        if any(abs(a - b) > 40 for a, b in zip(pixel, BACKGROUND, strict=True)):
            return False
    return square_x(rgb) is not None


def jpeg_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def advancing(positions: list[int | None]) -> float:
    """The share of consecutive frames whose square moved (the picture is live, not a still)."""
    pairs = [(a, b) for a, b in itertools.pairwise(positions) if a is not None and b is not None]
    return sum(1 for a, b in pairs if a != b) / max(1, len(pairs))


def live_tasks() -> list[str]:
    """Tasks of ringvault's live view (or its sockets) still running."""
    return sorted(
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().startswith(("ringvault-live", "ringvault-ws-live")) and not task.done()
    )


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())
