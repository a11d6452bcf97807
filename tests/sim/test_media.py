"""Real media: JPEGs that decode, MP4s that play, deterministic bytes, and an atomic on-disk cache."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import av
from PIL import Image

from ringvault.sim.config import SimConfig
from ringvault.sim.media import MediaStore

DING = "7412345678901234567"


def _store(path: Path, **overrides: object) -> MediaStore:
    return MediaStore(SimConfig(media_cache_dir=path, **overrides))  # type: ignore[arg-type]


def test_jpeg_decodes_and_is_deterministic(tmp_path: Path) -> None:
    data = _store(tmp_path / "a").jpeg(123456789, 1_724_945_624_512, "Front Door")
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "JPEG" and image.size == (320, 180)
    assert _store(tmp_path / "b").jpeg(123456789, 1_724_945_624_512, "Front Door") == data
    assert _store(tmp_path / "b").jpeg(123456789, 1_724_945_625_512, "Front Door") != data


def test_mp4_plays_has_the_right_length_and_moov_first(tmp_path: Path) -> None:
    data = _store(tmp_path).mp4(DING, seconds=2.0, label="Garden")
    assert data[4:8] == b"ftyp"
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "faststart: moov before mdat"
    with av.open(io.BytesIO(data)) as container:
        assert DING in container.metadata.get("comment", "")
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (160, 90)
        assert container.duration is not None
        assert abs(container.duration / 1_000_000 - 2.0) < 0.15
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 20


def test_mp4_bytes_are_deterministic_and_differ_per_ding(tmp_path: Path) -> None:
    one = _store(tmp_path / "a").mp4(DING, seconds=1.0, label="Garden")
    again = _store(tmp_path / "b").mp4(DING, seconds=1.0, label="Garden")
    other = _store(tmp_path / "b").mp4("7412345678901234568", seconds=1.0, label="Garden")
    assert one == again
    assert one != other


def test_cache_hit_and_no_temporary_files(tmp_path: Path) -> None:
    first = _store(tmp_path)
    data = first.mp4(DING, seconds=1.0, label="Garden")
    image = first.jpeg(1, 1000, "x")
    assert first.generated == 2
    assert first.mp4(DING, seconds=1.0, label="Garden") == data and first.generated == 2
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and not any(name.startswith(".") for name in files)
    second = _store(tmp_path)  # another process would see the same cache directory
    assert second.mp4(DING, seconds=1.0, label="Garden") == data
    assert second.jpeg(1, 1000, "x") == image
    assert second.generated == 0 and second.disk_hits == 2


def test_concurrent_requests_generate_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    results: list[bytes] = []
    lock = threading.Lock()

    def fetch() -> None:
        data = store.mp4(DING, seconds=1.0, label="Garden")
        with lock:
            results.append(data)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert store.generated == 1


def test_clips_are_cheap(tmp_path: Path) -> None:
    store = _store(tmp_path)
    started = time.perf_counter()
    for n in range(20):
        store.mp4(str(7412345678901234000 + n), seconds=2.0, label="Driveway")
    per_clip = (time.perf_counter() - started) / 20
    assert per_clip < 0.25, f"{per_clip * 1000:.0f} ms per clip"  # ~10-15 ms on a laptop; generous for CI


def test_prune_removes_old_files_and_stale_temporaries(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.jpeg(1, 1000, "old")
    store.jpeg(1, 2000, "recent")
    old, recent = sorted(tmp_path.iterdir(), key=lambda p: p.name)
    temporary = tmp_path / ".clip-v1-x.mp4.abc.tmp"
    temporary.write_bytes(b"partial")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("keep me")
    week_ago = time.time() - 8 * 86400
    os.utime(old, (week_ago, week_ago))
    os.utime(temporary, (week_ago, week_ago))
    os.utime(unrelated, (week_ago, week_ago))
    fresh = _store(tmp_path)
    assert fresh.pruned == 2
    assert not old.exists() and not temporary.exists() and recent.exists() and unrelated.exists()
