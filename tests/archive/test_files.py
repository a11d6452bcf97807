"""Atomic files, partial-file cleanup, JSON sidecars."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import pytest

from ringvault.archive.files import (
    AtomicFile,
    MediaValidationError,
    atomic_write_bytes,
    cleanup_partials,
    is_partial_name,
    iso_utc,
    sha256_file,
    to_json_compatible,
    write_sidecar,
)
from ringvault.archive.layout import DeviceRef, MediaLayout
from ringvault.archive.sidecar import SEED_001_KEYS, SidecarEvent, build_sidecar
from ringvault.archive.validate import MediaCheck
from tests.archive.media_helpers import make_jpeg, make_mp4

DING = 7386533937534579876  # above 2^53


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_atomic_write_mp4_and_jpeg(tmp_path: Path) -> None:
    data = make_mp4(tmp_path / "src.mp4")
    dest = tmp_path / "archive" / "media" / "a" / "b" / "clip.mp4"
    result = atomic_write_bytes(dest, data)
    assert dest.read_bytes() == data
    assert result.path == dest and result.bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest() == sha256_file(dest)
    assert result.check is not None and result.check.ok and result.check.kind == "mp4"
    jpeg = atomic_write_bytes(tmp_path / "archive" / "snap.jpg", make_jpeg())
    assert jpeg.check is not None and jpeg.check.width == 32
    assert not [name for name in listing(tmp_path / "archive") if ".part-" in name]


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("clip.mp4", b"<html><title>Service Unavailable</title></html>", "HTML page"),
        ("clip.mp4", b'{"error": "not ready"}', "JSON error body"),
        ("clip.mp4", b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>", "NoSuchKey"),
        ("clip.mp4", b"", "empty file"),
        ("snap.jpg", b"\xff\xd8\xff\xe0 truncated", "no EOI"),
    ],
)
def test_invalid_media_is_never_saved(tmp_path: Path, name: str, body: bytes, reason: str) -> None:
    dest = tmp_path / "dir" / name
    with pytest.raises(MediaValidationError, match=reason) as info:
        atomic_write_bytes(dest, body)
    assert info.value.reason and reason in info.value.reason
    assert info.value.check is not None and not info.value.check.ok
    assert listing(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    dest = tmp_path / "clip.mp4"
    good = make_mp4(tmp_path / "src.mp4")
    atomic_write_bytes(dest, good)
    data = good[: len(good) // 2]
    with pytest.raises(MediaValidationError, match="truncated"):
        atomic_write_bytes(dest, data)
    assert dest.read_bytes() == good
    assert listing(tmp_path) == ["clip.mp4", "src.mp4"]


def test_exception_in_the_block_removes_the_temp(tmp_path: Path) -> None:
    dest = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError), AtomicFile(dest) as part:
        part.write(b"\0\0\0\x20ftyp")
        assert part.path.exists() and not dest.exists()
        raise RuntimeError("connection dropped")
    assert listing(tmp_path) == []


def test_no_partial_dest_at_any_point(tmp_path: Path) -> None:
    dest = tmp_path / "d" / "clip.mp4"
    data = make_mp4(tmp_path / "src.mp4")
    with AtomicFile(dest) as part:
        assert part.path.parent == dest.parent
        assert part.path.name.startswith(".clip.mp4.part-") and is_partial_name(part.path.name)
        for offset in range(0, len(data), 256):
            part.write(data[offset : offset + 256])
            assert not dest.exists()
    assert dest.read_bytes() == data
    assert not part.path.exists()
    assert part.result is not None and part.result.bytes == len(data)


def test_writer_that_uses_the_path(tmp_path: Path) -> None:
    """The HTTP layer streams into a path of its own; the AtomicFile then fsyncs, checks and renames it."""
    dest = tmp_path / "snap.jpg"
    with AtomicFile(dest) as part:
        part.path.write_bytes(make_jpeg())
    assert part.result is not None and part.result.check is not None and part.result.check.ok
    with pytest.raises(MediaValidationError, match="HTML"), AtomicFile(tmp_path / "other.jpg") as part2:
        part2.path.write_bytes(b"<html>login</html>")
    assert listing(tmp_path) == ["snap.jpg"]


def test_validation_options(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "notes.txt", b"anything")  # no check for unknown suffixes
    atomic_write_bytes(tmp_path / "raw.mp4", b"not checked", validate=None)

    def never(path: Path) -> MediaCheck:
        assert is_partial_name(path.name)  # validators see the temporary file, before the rename
        return MediaCheck.fail("custom", "refused")

    with pytest.raises(MediaValidationError, match=r"x\.txt: refused"):
        atomic_write_bytes(tmp_path / "x.txt", b"data", validate=never)
    assert listing(tmp_path) == ["notes.txt", "raw.mp4"]
    with pytest.raises(ValueError, match="invalid destination"):
        AtomicFile(tmp_path / ".x.mp4.part-abc")


def test_two_writers_never_share_a_temp_name(tmp_path: Path) -> None:
    first, second = AtomicFile(tmp_path / "a.txt"), AtomicFile(tmp_path / "a.txt")
    assert first.path != second.path


def test_cleanup_partials_after_a_kill(tmp_path: Path) -> None:
    """A process killed mid-write leaves only ``.part-`` files; the next run removes them and the rest stays."""
    root = tmp_path / "archive"
    day = root / "media" / "home" / "cam-1" / "2024" / "03" / "09"
    day.mkdir(parents=True)
    kept = atomic_write_bytes(day / "20240309-233005-ding-1.mp4", make_mp4(tmp_path / "src.mp4"))
    # simulate the kill: a temp file written half-way, never renamed
    part = AtomicFile(day / "20240309-233010-ding-2.mp4")
    part.__enter__()
    part.write(b"\0\0\0\x20ftypisom")
    part.file.flush()
    (day / ".20240309-233010-ding-2.json.part-0123abcd").write_text("{")
    (root / ".hidden-but-ours").write_text("keep me")
    assert cleanup_partials(root) == 2
    assert listing(root) == [".hidden-but-ours", str(kept.path.relative_to(root))]
    assert cleanup_partials(root) == 0
    assert cleanup_partials(tmp_path / "missing") == 0
    part.abort()


def test_cleanup_partials_spares_recent_files(tmp_path: Path) -> None:
    (tmp_path / ".a.mp4.part-1").write_bytes(b"x")
    old = tmp_path / ".b.mp4.part-2"
    old.write_bytes(b"x")
    os.utime(old, (0, 0))
    assert cleanup_partials(tmp_path, older_than_s=3600) == 1
    assert listing(tmp_path) == [".a.mp4.part-1"]


# ---------------------------------------------------------------------------------------------------------- JSON


def test_json_conversion() -> None:
    when = datetime(2021, 4, 11, 15, 57, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(when) == "2021-04-11T13:57:00.000000Z"
    assert iso_utc(datetime(2021, 4, 11, 13, 57)) == "2021-04-11T13:57:00.000000Z"
    converted = to_json_compatible(
        {"id": DING, "small": 5, "at": when, "p": PurePosixPath("a/b"), "t": (1, 2), "s": {"b", "a"}, 1: None}
    )
    assert converted == {
        "id": str(DING),
        "small": 5,
        "at": "2021-04-11T13:57:00.000000Z",
        "p": "a/b",
        "t": [1, 2],
        "s": ["a", "b"],
        "1": None,
    }
    with pytest.raises(ValueError):
        to_json_compatible(float("nan"))
    with pytest.raises(TypeError):
        to_json_compatible(object())


def test_sidecar_seed_001_format(tmp_path: Path) -> None:
    device = DeviceRef(device_id=12345, name="Front Door", location_id="loc-1", location_name="Home")
    event = SidecarEvent(ding_id=DING, created_at=datetime(2021, 4, 11, 13, 57, tzinfo=UTC), kind="ding", duration=30)
    event = SidecarEvent(**{**event.__dict__, "answered": False})
    rel = MediaLayout().recording_path(device, created_at=event.created_at, kind=event.kind, ding_id=event.ding_id)
    sidecar = build_sidecar(
        event,
        device_id=device.device_id,
        device_name=device.name,
        location_id=device.location_id,
        location_name=device.location_name,
        video_file_name=rel,
        status="UNPROCESSED",
    )
    assert list(sidecar)[: len(SEED_001_KEYS)] == list(SEED_001_KEYS)
    assert sidecar == {
        "ringId": "7386533937534579876",
        "date": "20210411",
        "eventName": "20210411-135700",
        "createdAt": "2021-04-11T13:57:00.000000Z",
        "answered": False,
        "kind": "ding",
        "duration": 30,
        "videoFileName": f"media/home/front-door-12345/2021/04/11/20210411-135700-ding-{DING}.mp4",
        "status": "UNPROCESSED",
        "deviceId": "12345",
        "deviceName": "Front Door",
        "locationId": "loc-1",
        "locationName": "Home",
    }
    assert rel.name.startswith(str(sidecar["eventName"]))
    path = tmp_path / MediaLayout.sidecar_path(rel)
    result = write_sidecar(path, sidecar)
    assert result.check is not None and result.check.kind == "json"
    text = path.read_text("utf-8")
    assert '"ringId": "7386533937534579876"' in text
    assert json.loads(text) == sidecar
    assert not [p for p in tmp_path.rglob("*") if ".part-" in p.name]


def test_sidecar_optional_fields_and_zone() -> None:
    event = SidecarEvent(
        ding_id="7386533937534579877",
        created_at=datetime(2024, 3, 10, 2, 30, 5, tzinfo=UTC),
        kind="motion",
        answered=None,
        duration=12.5,
        person_detected=True,
        detection_type="human",
    )
    sidecar = build_sidecar(
        event,
        device_id="9",
        device_name=None,
        location_id="loc",
        location_name=None,
        video_file_name="media/x.mp4",
        status="archived",
        sha256="ab" * 32,
        size=1234,
        zone=ZoneInfo("America/New_York"),
    )
    assert (sidecar["date"], sidecar["eventName"]) == ("20240309", "20240309-213005")
    assert sidecar["createdAt"] == "2024-03-10T02:30:05.000000Z"
    assert sidecar["answered"] is None and sidecar["duration"] == 12.5
    assert sidecar["personDetected"] is True and sidecar["detectionType"] == "human"
    assert sidecar["sha256"] == "ab" * 32 and sidecar["bytes"] == 1234
    assert sidecar["deviceName"] is None and sidecar["locationName"] is None
    bare = build_sidecar(
        SidecarEvent(ding_id=1, created_at=datetime(2024, 1, 1), kind="ding"),
        device_id=1,
        device_name="d",
        location_id="l",
        location_name="L",
        video_file_name="v.mp4",
        status="s",
    )
    assert set(bare) == {*SEED_001_KEYS, "deviceId", "deviceName", "locationId", "locationName"}
    assert bare["createdAt"] == "2024-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("bad", [7.386533937534579e18, True, None])
def test_sidecar_refuses_lossy_ids(bad: object) -> None:
    with pytest.raises(TypeError, match="ding id"):
        build_sidecar(
            SidecarEvent(ding_id=bad, created_at=datetime(2024, 1, 1, tzinfo=UTC), kind="ding"),  # type: ignore[arg-type]
            device_id=1,
            device_name="d",
            location_id="l",
            location_name=None,
            video_file_name="v.mp4",
            status="s",
        )


KILLED_WRITER = """
import sys, time
from pathlib import Path
from ringvault.archive.files import AtomicFile
with AtomicFile(Path(sys.argv[1])) as part:
    part.write(Path(sys.argv[2]).read_bytes()[:500])
    part.file.flush()
    print(part.path, flush=True)
    time.sleep(60)
"""


def test_a_killed_process_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGKILL in the middle of a write: the final name never exists, the next run's cleanup removes the temp."""
    import signal
    import subprocess
    import sys

    source = tmp_path / "src.mp4"
    data = make_mp4(source)
    root = tmp_path / "archive"
    dest = root / "media" / "clip.mp4"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(dest), str(source)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        temp = Path(child.stdout.readline().strip())
        assert temp.exists() and not dest.exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert not dest.exists()
    assert cleanup_partials(root) == 1
    assert listing(root) == []
    # the re-run writes the file completely
    atomic_write_bytes(dest, data)
    assert listing(root) == ["media/clip.mp4"]


def test_commit_takes_a_known_digest_instead_of_reading_the_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download hashes its bytes on the way: the commit uses that digest and does not read the file back."""
    import hashlib

    import ringvault.archive.files as files

    def no_read_back(path: object) -> str:
        raise AssertionError(f"{path} was read back to hash it")

    monkeypatch.setattr(files, "sha256_file", no_read_back)
    data = b"written by somebody else"
    part = AtomicFile(tmp_path / "blob.bin", validate=None).__enter__()
    part.path.write_bytes(data)
    result = part.commit(sha256=hashlib.sha256(data).hexdigest())
    assert (tmp_path / "blob.bin").read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.bytes == len(data)
    sidecar = write_sidecar(tmp_path / "blob.json", {"a": 1})  # atomic_write_bytes hashes its bytes in memory
    assert sidecar.sha256 == hashlib.sha256((tmp_path / "blob.json").read_bytes()).hexdigest()
