"""The live view's generated media: a moving test pattern per camera with the simulated time burnt in, and a tone.

The picture (``width`` x ``height``, laid out from the top and the bottom so every allowed size works):

- top: seven colour bars, with the camera's own colour (:func:`camera_colour`) in a square at the top left
  (``COLOUR_BOX``), so a decoded frame shows which camera sent it;
- middle: a white block that moves one step per frame across a grey band (motion for the encoder and the eye);
- a text line: the camera id and the simulated time (``SimClock``) to a tenth of a second;
- bottom: a machine-readable marker, three rows of sixteen 16 x 16 black/white cells, most significant bit first:
  the frame counter, the simulated time in whole seconds, and the camera id (each modulo 2^16). Cells this large
  survive H.264 at any bitrate aiortc picks; :func:`read_marker` reads them back from a decoded frame.

The tone is a sine at ``tone_hz`` + ``(camera id mod 8) * 55`` Hz, 48 kHz mono, 20 ms frames (Opus's usual).
"""

from __future__ import annotations

import array
import asyncio
import fractions
import hashlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from PIL import Image, ImageDraw, ImageFont, ImageStat

from ringvault.sim.clock import SimClock

CELL = 16
MARKER_BITS = 16
MARKER_ROWS = 3
#: the camera-colour square: (left, top, right, bottom)
COLOUR_BOX = (0, 0, 48, 48)
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms
#: audio later than this skips ahead to the wall clock
LATE_AUDIO_S = 0.1
BARS = ((235, 235, 235), (235, 235, 16), (16, 235, 235), (16, 235, 16), (235, 16, 235), (235, 16, 16), (16, 16, 235))


def camera_colour(camera_id: int) -> tuple[int, int, int]:
    """The camera's colour: a saturated colour derived from its id (one channel high, one low, one between)."""
    digest = hashlib.sha256(f"ringvault-live-{camera_id}".encode()).digest()
    order = digest[0] % 6
    mid = 60 + digest[1] % 140
    high, low = 220, 30
    options = (
        (high, mid, low),
        (high, low, mid),
        (mid, high, low),
        (low, high, mid),
        (mid, low, high),
        (low, mid, high),
    )
    return options[order]


def tone_frequency(base_hz: float, camera_id: int) -> float:
    return base_hz + (camera_id % 8) * 55.0


def marker_values(counter: int, sim_seconds: float, camera_id: int) -> tuple[int, int, int]:
    mask = (1 << MARKER_BITS) - 1
    return counter & mask, int(sim_seconds) & mask, camera_id & mask


def read_marker(image: Image.Image) -> tuple[int, int, int]:
    """``(frame counter, simulated seconds, camera id)`` (each mod 2^16) from a decoded frame of the pattern."""
    grey = image.convert("L")
    height = grey.height
    values: list[int] = []
    for row in range(MARKER_ROWS):
        top = height - (MARKER_ROWS - row) * CELL
        value = 0
        for bit in range(MARKER_BITS):
            left = bit * CELL
            box = grey.crop((left + 4, top + 4, left + CELL - 4, top + CELL - 4))
            value = (value << 1) | (1 if ImageStat.Stat(box).mean[0] > 128 else 0)
        values.append(value)
    return values[0], values[1], values[2]


class PatternRenderer:
    """Draws frame ``n`` of one camera's pattern; the static parts are drawn once."""

    def __init__(self, camera_id: int, width: int, height: int) -> None:
        self.camera_id = camera_id
        self.size = (width, height)
        self._font = ImageFont.load_default()
        base = Image.new("RGB", self.size, (0, 0, 0))
        draw = ImageDraw.Draw(base)
        bars_bottom = height // 2
        bar_width = width / len(BARS)
        for index, colour in enumerate(BARS):
            draw.rectangle((round(index * bar_width), 0, round((index + 1) * bar_width) - 1, bars_bottom), fill=colour)
        left, top, right, bottom = COLOUR_BOX
        draw.rectangle((left, top, right - 1, bottom - 1), fill=camera_colour(camera_id))
        self._band = (bars_bottom + 8, bars_bottom + 8 + 28)
        draw.rectangle((0, self._band[0], width - 1, self._band[1]), fill=(90, 90, 90))
        self._text_top = self._band[1] + 6
        self._base = base

    def render(self, counter: int, sim_now: float) -> Image.Image:
        width, height = self.size
        image = self._base.copy()
        draw = ImageDraw.Draw(image)
        block = 24
        x = (counter * 6) % (width - block)
        draw.rectangle((x, self._band[0] + 2, x + block - 1, self._band[0] + 2 + block - 1), fill=(255, 255, 255))
        stamp = datetime.fromtimestamp(sim_now, tz=UTC)
        text = f"cam {self.camera_id}  {stamp:%Y-%m-%d %H:%M:%S}.{stamp.microsecond // 100000} UTC  #{counter}"
        draw.text((4, self._text_top), text, fill=(255, 255, 255), font=self._font)
        for row, value in enumerate(marker_values(counter, sim_now, self.camera_id)):
            top = height - (MARKER_ROWS - row) * CELL
            for bit in range(MARKER_BITS):
                on = (value >> (MARKER_BITS - 1 - bit)) & 1
                left = bit * CELL
                draw.rectangle((left, top, left + CELL - 1, top + CELL - 1), fill=(255, 255, 255) if on else (0, 0, 0))
        return image


class PatternTrack(MediaStreamTrack):
    """The camera's video: the pattern at ``fps``, paced on the wall clock, stamped with the simulated time.

    Timestamps follow the wall clock, so a stream lasts as long as it ran; when the machine is too busy to keep up,
    frames are skipped (as a camera on a poor link would) rather than sent late in a burst. The marker's counter is
    the frame's slot number, so a skipped frame shows as a gap."""

    kind = "video"

    def __init__(self, camera_id: int, clock: SimClock, width: int, height: int, fps: int) -> None:
        super().__init__()
        self._renderer = PatternRenderer(camera_id, width, height)
        self._clock = clock
        self._fps = fps
        self._start: float | None = None
        self._slot = 0
        self.frames_sent = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._slot / self._fps
        if due > now:
            await asyncio.sleep(due - now)
        else:  # late: take the slot of the current time
            self._slot = int((now - self._start) * self._fps)
            due = self._start + self._slot / self._fps
        image = self._renderer.render(self._slot, self._clock.now())
        frame: av.VideoFrame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
        frame.pts = round((due - self._start) * VIDEO_CLOCK)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._slot += 1
        self.frames_sent += 1
        return frame


def _tone_second(frequency: float) -> bytes:
    """One second of the tone as 16-bit little-endian mono samples (a whole number of periods for integer Hz)."""
    samples = array.array(
        "h", (int(9000 * math.sin(2 * math.pi * frequency * i / AUDIO_RATE)) for i in range(AUDIO_RATE))
    )
    return samples.tobytes()


class ToneTrack(MediaStreamTrack):
    """The camera's microphone: a steady tone in 20 ms frames, paced on the wall clock."""

    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self._second = _tone_second(round(frequency))
        self._start: float | None = None
        self._slot = 0
        self.frames_sent = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        delay = self._start + self._slot * AUDIO_SAMPLES / AUDIO_RATE - now
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -LATE_AUDIO_S:  # too busy to keep up: skip ahead to the wall clock (a gap, not a burst)
            self._slot = int((now - self._start) * AUDIO_RATE / AUDIO_SAMPLES)
        offset = (self._slot * AUDIO_SAMPLES) % AUDIO_RATE * 2
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(self._second[offset : offset + AUDIO_SAMPLES * 2])
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._slot * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._slot += 1
        self.frames_sent += 1
        return frame


async def drain(track: MediaStreamTrack, on_frame: Callable[[], None]) -> None:
    """Receive and discard a remote track (the client's microphone), counting its frames, until it ends."""
    try:
        while True:
            await track.recv()
            on_frame()
    except MediaStreamError:
        return
