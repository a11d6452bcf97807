"""Writing a live view to MP4 with PyAV (no ffmpeg binary): H.264 video and AAC audio, correct timestamps, and a
file that is either whole under its name or not there.

**Re-encoded, not remuxed.** aiortc hands out *decoded* frames only: the received H.264 access units stay inside
its receiver (name-mangled private attributes, fed to the decoder thread), with no public hook. Remuxing would mean
depacketizing RTP ourselves below aiortc, so the recorder re-encodes the decoded frames with libx264
(``ultrafast``, ``zerolatency``: no B-frames, the least CPU) — the same path aiortc's own ``MediaRecorder`` takes.
Audio is AAC (Opus in MP4 plays unevenly across players; AAC everywhere).

**Timestamps.** aiortc starts each track's ``pts`` at 0 on its own clock (90 kHz video, the codec's rate for
audio), so the two tracks are aligned by arrival: the first video frame is t = 0, and the audio track starts at the
wall-clock delay between that frame and its own first frame. Within a track the sender's timestamps are kept, so the
file lasts what the camera sent (``duration`` of media time), not what the network's jitter made of it.

**Atomic.** Written as ``.{name}.{random}.part`` beside ``dest``, flushed, fsynced, renamed over ``dest`` and the
directory fsynced; an error or a cancellation removes the temporary file and leaves ``dest`` as it was.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ringvault.cloud.live.media import FrameQueue, StreamEnded
from ringvault.transport.files import fsync_dir

if TYPE_CHECKING:
    import av.container

__all__ = ["RecordingResult", "record_mp4"]

log = logging.getLogger("ringvault.cloud.live")
T = TypeVar("T")

VIDEO_TIME_BASE = Fraction(1, 90000)
AUDIO_RATE = 48000
#: Longest side of a recorded frame; a bigger picture is scaled down (bounds the encoder's memory and CPU).
MAX_SIDE = 4096


@dataclass(frozen=True)
class RecordingResult:
    """A finished recording: where, how long (media time), how many frames went in."""

    path: Path
    duration_s: float
    video_frames: int
    audio_frames: int
    width: int
    height: int


class _Mp4Writer:
    """The PyAV side: called from worker threads, one call at a time."""

    def __init__(self, path: Path, *, audio: bool, fps_hint: int = 15) -> None:
        import av

        self.container: av.container.OutputContainer = av.open(str(path), mode="w", format="mp4")
        self.video: Any = None
        self.audio: Any = None
        self.width = self.height = 0
        self.last_video_pts = -1
        self.next_audio_pts: int | None = None
        self.fps_hint = fps_hint
        self.want_audio = audio

    def _open_video(self, width: int, height: int) -> None:
        width, height = min(width, MAX_SIDE) & ~1, min(height, MAX_SIDE) & ~1
        stream = self.container.add_stream(
            "libx264", rate=self.fps_hint, options={"preset": "ultrafast", "tune": "zerolatency"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = VIDEO_TIME_BASE
        stream.codec_context.time_base = VIDEO_TIME_BASE
        self.video, self.width, self.height = stream, width, height
        if self.want_audio:  # every stream before the first packet: MP4 cannot take a stream once muxing began
            self.audio = self.container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            self.audio.time_base = Fraction(1, AUDIO_RATE)

    def add_video(self, frame: Any, pts: int) -> bool:
        """Encode one frame at ``pts`` (90 kHz ticks from the start); False when it was skipped (not after the
        previous one)."""
        if pts <= self.last_video_pts:
            return False
        if self.video is None:
            self._open_video(frame.width, frame.height)
        if frame.width != self.width or frame.height != self.height or frame.format.name != "yuv420p":
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.last_video_pts = pts
        return True

    def add_audio(self, frame: Any, pts_samples: int) -> bool:
        """Encode one audio frame starting at ``pts_samples`` (48 kHz samples from the start)."""
        if self.audio is None:
            return False  # no picture yet (or no audio asked for)
        if frame.sample_rate != AUDIO_RATE or frame.layout.name != "stereo":
            return self._resample(frame, pts_samples)
        if self.next_audio_pts is not None and pts_samples < self.next_audio_pts:
            pts_samples = self.next_audio_pts  # overlapping timestamps would make the encoder refuse the frame
        frame.pts, frame.time_base = pts_samples, Fraction(1, AUDIO_RATE)
        for packet in self.audio.encode(frame):
            self.container.mux(packet)
        self.next_audio_pts = pts_samples + frame.samples
        return True

    def _resample(self, frame: Any, pts_samples: int) -> bool:
        import av

        resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
        frame.pts = None
        done = False
        for out in resampler.resample(frame):
            done = self.add_audio(out, pts_samples) or done
            pts_samples += out.samples
        return done

    def finish(self) -> None:
        if self.video is not None:
            for packet in self.video.encode(None):
                self.container.mux(packet)
        if self.audio is not None:
            for packet in self.audio.encode(None):
                self.container.mux(packet)
        self.container.close()

    def abandon(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()


class _Clock:
    """Maps each track's timestamps to the file's timeline (see the module docstring)."""

    def __init__(self) -> None:
        self.t0: float | None = None  # monotonic arrival of the first video frame
        self.video_base: int | None = None
        self.audio_base: int | None = None
        self.audio_offset_s = 0.0

    def video_pts(self, frame: Any) -> int:
        if self.t0 is None or self.video_base is None:
            self.t0, self.video_base = time.monotonic(), int(frame.pts or 0)
        ticks: Fraction = (int(frame.pts or 0) - self.video_base) * Fraction(frame.time_base) / VIDEO_TIME_BASE
        return round(ticks)

    def audio_pts(self, frame: Any) -> int | None:
        if self.t0 is None:
            return None  # audio before the picture starts is not recorded
        if self.audio_base is None:
            self.audio_base = int(frame.pts or 0)
            self.audio_offset_s = max(0.0, time.monotonic() - self.t0)
        seconds = self.audio_offset_s + float((int(frame.pts or 0) - self.audio_base) * frame.time_base)
        return round(seconds * AUDIO_RATE)


async def record_mp4(
    dest: Path,
    video: FrameQueue[Any],
    audio: FrameQueue[Any] | None,
    *,
    duration_s: float,
    first_frame_timeout_s: float,
    stall_timeout_s: float = 10.0,
) -> RecordingResult:
    """Record ``duration_s`` seconds of media time from the queues into ``dest`` (see the module docstring).

    ``TimeoutError`` when no video frame comes within ``first_frame_timeout_s`` (or none for ``stall_timeout_s``
    later on); ``StreamEnded`` when the stream ends first. Either way no file is left behind.
    """
    dest = Path(dest)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    part = Path(name)
    # Every PyAV call runs on this one thread, in the order submitted: a cancelled wait leaves its call running,
    # and the calls queued after it (the abandon below) still come after it.
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ringvault-mp4")
    loop = asyncio.get_running_loop()

    def run(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return loop.run_in_executor(executor, fn, *args)

    writer: _Mp4Writer | None = None
    try:
        writer = await run(functools.partial(_Mp4Writer, part, audio=audio is not None))
        try:
            result = await _record(writer, run, video, audio, duration_s, first_frame_timeout_s, stall_timeout_s)
        except BaseExceptionGroup as group:  # the TaskGroup's: the first real failure
            raise _first(group) from None
        await run(_commit, writer, part, dest)
        writer = None
        return RecordingResult(path=dest, **result)
    except BaseException:
        if writer is not None:
            # shielded: the file is closed (after any call still running) before it is removed
            with contextlib.suppress(BaseException):
                await asyncio.shield(run(writer.abandon))
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise
    finally:
        executor.shutdown(wait=False)


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _commit(writer: _Mp4Writer, part: Path, dest: Path) -> None:
    writer.finish()
    with open(part, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(part, dest)
    fsync_dir(dest.parent)


async def _record(
    writer: _Mp4Writer,
    run: Callable[..., Awaitable[Any]],
    video: FrameQueue[Any],
    audio: FrameQueue[Any] | None,
    duration_s: float,
    first_timeout: float,
    stall_timeout: float,
) -> dict[str, Any]:
    clock = _Clock()
    limit_video = round(duration_s / VIDEO_TIME_BASE)
    limit_audio = round(duration_s * AUDIO_RATE)
    counts = {"video": 0, "audio": 0}
    last_pts = 0
    done = asyncio.Event()

    async def take_video() -> None:
        nonlocal last_pts
        wait = first_timeout
        while True:
            try:
                frame = await asyncio.wait_for(video.get(), wait)
            except TimeoutError:
                what = "no video frame" if clock.t0 is None else "the video stalled: no frame"
                raise TimeoutError(f"{what} within {wait:g} s") from None
            wait = stall_timeout
            pts = clock.video_pts(frame)
            if pts >= limit_video:
                last_pts = max(last_pts, limit_video)
                done.set()
                return
            if await run(writer.add_video, frame, pts):
                counts["video"] += 1
                last_pts = pts

    async def take_audio() -> None:
        assert audio is not None
        with contextlib.suppress(StreamEnded):
            while not done.is_set():
                frame = await audio.get()
                pts = clock.audio_pts(frame)
                if pts is None:
                    continue
                if pts >= limit_audio:
                    return
                if await run(writer.add_audio, frame, pts):
                    counts["audio"] += 1

    async with asyncio.TaskGroup() as group:
        group.create_task(take_video())
        if audio is not None:
            audio_task = group.create_task(take_audio())
            await done.wait()
            audio_task.cancel()
    if counts["video"] == 0:
        raise StreamEnded
    return {
        "duration_s": float(last_pts * VIDEO_TIME_BASE),
        "video_frames": counts["video"],
        "audio_frames": counts["audio"],
        "width": writer.width,
        "height": writer.height,
    }
