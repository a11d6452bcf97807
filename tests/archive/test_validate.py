"""Media validation: real MP4/JPEG pass; truncated files and error bodies fail with a clear reason."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ringvault.archive.validate import (
    MediaCheck,
    sniff_error_body,
    validate_jpeg,
    validate_json,
    validate_mp4,
    validator_for,
)
from tests.archive.media_helpers import make_jpeg, make_mp4, top_level_boxes

HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>406 Not Acceptable</title></head><body>blocked</body></html>"
JSON_ERROR = b'{"error": "Session not found for abc", "error_code": 404}'
S3_NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)


@pytest.fixture(scope="module")
def mp4_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_mp4(tmp_path_factory.mktemp("mp4") / "clip.mp4")


@pytest.fixture(scope="module")
def mp4_moov_last(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_mp4(tmp_path_factory.mktemp("mp4") / "clip.mp4", faststart=False)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def fail_reason(check: MediaCheck) -> str:
    assert not check.ok
    assert check.reason
    return check.reason


def test_real_mp4_passes(tmp_path: Path, mp4_bytes: bytes, mp4_moov_last: bytes) -> None:
    for data in (mp4_bytes, mp4_moov_last):
        check = validate_mp4(write(tmp_path, "clip.mp4", data), decode=True)
        assert check.ok, check.reason
        assert check.kind == "mp4"
        assert (check.width, check.height) == (64, 48)
        assert check.duration_s == pytest.approx(0.5, abs=0.15)
        assert check.size == len(data)
    assert [box for box, _, _ in top_level_boxes(mp4_bytes)][:2] == ["ftyp", "moov"]


def test_mp4_cut_mid_mdat(tmp_path: Path, mp4_bytes: bytes) -> None:
    (_, offset, size) = next(box for box in top_level_boxes(mp4_bytes) if box[0] == "mdat")
    reason = fail_reason(validate_mp4(write(tmp_path, "cut.mp4", mp4_bytes[: offset + size // 2])))
    assert "truncated" in reason and "'mdat'" in reason


def test_mp4_cut_before_moov(tmp_path: Path, mp4_moov_last: bytes) -> None:
    (_, offset, _) = next(box for box in top_level_boxes(mp4_moov_last) if box[0] == "moov")
    reason = fail_reason(validate_mp4(write(tmp_path, "cut.mp4", mp4_moov_last[:offset])))
    assert "no 'moov'" in reason
    reason = fail_reason(validate_mp4(write(tmp_path, "cut.mp4", mp4_moov_last[: offset + 4])))
    assert "truncated" in reason


def test_mp4_cut_anywhere_fails(tmp_path: Path, mp4_bytes: bytes) -> None:
    for cut in range(1, len(mp4_bytes), 97):
        assert not validate_mp4(write(tmp_path, "cut.mp4", mp4_bytes[:cut])).ok, cut


def test_mp4_structure_errors(tmp_path: Path, mp4_bytes: bytes) -> None:
    boxes = top_level_boxes(mp4_bytes)
    ftyp_end = boxes[0][2]
    # moov first instead of ftyp
    reason = fail_reason(validate_mp4(write(tmp_path, "x.mp4", mp4_bytes[ftyp_end:])))
    assert "expected 'ftyp'" in reason
    # no mdat: just ftyp + moov
    moov_end = boxes[1][1] + boxes[1][2]
    reason = fail_reason(validate_mp4(write(tmp_path, "x.mp4", mp4_bytes[:moov_end])))
    assert "no 'mdat'" in reason
    # a box with an impossible size
    reason = fail_reason(validate_mp4(write(tmp_path, "x.mp4", mp4_bytes[:ftyp_end] + struct.pack(">I4s", 4, b"moov"))))
    assert "invalid size 4" in reason
    # binary garbage
    reason = fail_reason(validate_mp4(write(tmp_path, "x.mp4", bytes(range(256)) * 4)))
    assert "ftyp" in reason or "not an MP4" in reason
    # trailing bytes after the last box
    assert "stray bytes" in fail_reason(validate_mp4(write(tmp_path, "x.mp4", mp4_bytes + b"\0\0\0")))


def test_mp4_largesize_and_size_zero(tmp_path: Path, mp4_bytes: bytes) -> None:
    boxes = top_level_boxes(mp4_bytes)
    (_, mdat_offset, mdat_size) = next(box for box in boxes if box[0] == "mdat")
    assert mdat_offset + mdat_size == len(mp4_bytes)  # faststart: mdat is last
    payload = mp4_bytes[mdat_offset + 8 :]
    head = mp4_bytes[:mdat_offset]
    # 64-bit largesize; the moov chunk offsets now point 8 bytes early, which the structure check does not read
    large = head + struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload
    assert validate_mp4(write(tmp_path, "large.mp4", large)).ok
    assert "truncated" in fail_reason(validate_mp4(write(tmp_path, "large.mp4", large[:-10])))
    cut_header = head + struct.pack(">I4s", 1, b"mdat") + b"\0\0"
    assert "64-bit size" in fail_reason(validate_mp4(write(tmp_path, "large.mp4", cut_header)))
    # size 0: the box runs to the end of the file
    to_end = head + struct.pack(">I4s", 0, b"mdat") + payload
    assert validate_mp4(write(tmp_path, "zero.mp4", to_end)).ok


def test_mp4_decode_check_catches_garbage_frames(tmp_path: Path, mp4_bytes: bytes) -> None:
    (_, offset, size) = next(box for box in top_level_boxes(mp4_bytes) if box[0] == "mdat")
    garbage = mp4_bytes[: offset + 8] + b"\0" * (size - 8)
    path = write(tmp_path, "garbage.mp4", garbage)
    assert validate_mp4(path).ok  # the structure is intact ...
    check = validate_mp4(path, decode=True)
    assert not check.ok and check.reason  # ... but nothing decodes


@pytest.mark.parametrize("validate", [validate_mp4, validate_jpeg])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (HTML_PAGE, "an HTML page (406 Not Acceptable)"),
        (JSON_ERROR, "a JSON error body (Session not found for abc)"),
        (S3_NO_SUCH_KEY, "an XML error body (NoSuchKey)"),
        (b"\xef\xbb\xbf  <html><body>Rate exceeded</body></html>", "an HTML page"),
        (b"Forbidden", "a text body ('Forbidden')"),
        (b"", "empty file (0 bytes)"),
    ],
)
def test_error_bodies_are_never_media(tmp_path: Path, validate: object, body: bytes, expected: str) -> None:
    assert callable(validate)
    check = validate(write(tmp_path, "media.bin", body))
    assert isinstance(check, MediaCheck)
    assert expected in fail_reason(check)


def test_sniff_error_body() -> None:
    assert sniff_error_body(b'[{"error":"x"}]') == "a JSON error body (x), not media"
    assert sniff_error_body(b"<?xml version='1.0'?><ListBucketResult/>") == "an XML body, not media"
    assert (
        sniff_error_body(b"<Error><Code>AccessDenied</Code></Error>") == "an XML error body (AccessDenied), not media"
    )
    assert sniff_error_body(b"\x00\x00\x00\x20ftypisom") is None
    assert sniff_error_body(b"\xff\xd8\xff\xe0\x00\x10JFIF") is None
    assert sniff_error_body(b"") is None


def test_real_jpeg_passes(tmp_path: Path) -> None:
    check = validate_jpeg(write(tmp_path, "snap.jpg", make_jpeg((32, 24))))
    assert check.ok, check.reason
    assert (check.kind, check.width, check.height) == ("jpeg", 32, 24)
    # NUL padding after EOI (some cameras pad) is accepted
    assert validate_jpeg(write(tmp_path, "padded.jpg", make_jpeg() + b"\0" * 16)).ok


def test_broken_jpegs_fail(tmp_path: Path) -> None:
    data = make_jpeg()
    assert "no EOI marker" in fail_reason(validate_jpeg(write(tmp_path, "a.jpg", data[:-2])))
    assert "no EOI marker" in fail_reason(validate_jpeg(write(tmp_path, "a.jpg", data[: len(data) // 2])))
    assert "no SOI marker" in fail_reason(validate_jpeg(write(tmp_path, "a.jpg", b"\x89PNG\r\n\x1a\n" + data)))
    # markers intact, the scan data cut out: Pillow refuses it
    spliced = data[: len(data) // 2] + b"\xff\xd9"
    assert "does not decode" in fail_reason(validate_jpeg(write(tmp_path, "a.jpg", spliced)))
    assert "cannot read" in fail_reason(validate_jpeg(tmp_path / "missing.jpg"))
    assert "cannot read" in fail_reason(validate_mp4(tmp_path / "missing.mp4"))


def test_validate_json_and_validator_for(tmp_path: Path) -> None:
    assert validate_json(write(tmp_path, "a.json", b'{"a": 1}')).ok
    assert "not a complete JSON" in fail_reason(validate_json(write(tmp_path, "a.json", b'{"a": ')))
    assert validator_for("x/clip.MP4") is validate_mp4
    assert validator_for("x/snap.jpeg") is validate_jpeg
    assert validator_for("x/a.json") is validate_json
    assert validator_for("x/notes.txt") is None
