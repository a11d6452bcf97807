"""Media layout: slugs, templates, time zones, and paths that never leave the archive."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

import pytest

from ringvault.archive.layout import DEFAULT_TEMPLATE, DeviceRef, MediaLayout, ensure_inside, slugify

HOSTILE = [
    "../../etc/passwd",
    "/abs",
    "/",
    "..",
    ".",
    "con",
    "COM1",
    "📷🚪",
    "",
    "   ",
    "a" * 500,
    "x/../../y",
    "C:\\Windows\\System32",
    "nul\x00byte",
    "~root",
    "Front\nDoor\t",
]
WHEN = datetime(2024, 3, 9, 23, 30, 5, tzinfo=UTC)
DING = 7386533937534579876  # above 2^53


def device(name: str | None = "Front Door", **kwargs: object) -> DeviceRef:
    values: dict[str, object] = {
        "device_id": 12345,
        "name": name,
        "location_id": "5e7c0c3a-aaaa-bbbb-cccc-0123456789ab",
        "location_name": "Home",
    }
    values.update(kwargs)
    return DeviceRef(**values)  # type: ignore[arg-type]


def test_default_layout_matches_the_issue() -> None:
    path = MediaLayout().recording_path(device(), created_at=WHEN, kind="ding", ding_id=DING)
    assert path == PurePosixPath(f"media/home/front-door-12345/2024/03/09/20240309-233005-ding-{DING}.mp4")
    assert not path.is_absolute()


def test_snapshot_and_sidecar_paths() -> None:
    layout = MediaLayout()
    snap = layout.snapshot_path(device(), WHEN)
    assert snap == PurePosixPath("media/home/front-door-12345/snapshots/2024/03/09/20240309-233005-snapshot.jpg")
    assert layout.sidecar_path(snap) == snap.with_name("20240309-233005-snapshot.json")
    assert layout.sidecar_path(Path("/a/b.mp4")) == Path("/a/b.json")
    assert layout.sidecar_path(PurePosixPath("a/noext")) == PurePosixPath("a/noext.json")
    with pytest.raises(ValueError, match="already a JSON"):
        layout.sidecar_path(PurePosixPath("a/b.json"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Front Door", "front-door"),
        ("Café — Garten  ", "cafe-garten"),
        ("Ünïcödé__Cam!!", "unicode-cam"),
        ("../../etc/passwd", "etc-passwd"),
        ("/abs", "abs"),
        ("con", "con-x"),
        ("LPT9", "lpt9-x"),
        ("📷🚪", "unnamed"),
        ("", "unnamed"),
        ("..", "unnamed"),
    ],
)
def test_slugify(name: str, expected: str) -> None:
    assert slugify(name) == expected


@pytest.mark.parametrize("name", HOSTILE)
def test_slugify_is_safe_bounded_and_stable(name: str) -> None:
    slug = slugify(name)
    assert slug == slugify(name)
    assert slug not in ("", ".", "..")
    assert len(slug) <= 64
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in slug)
    assert "--" not in slug and not slug.startswith("-") and not slug.endswith("-")


def test_long_names_are_truncated_but_stay_distinct() -> None:
    a, b = slugify("a" * 500), slugify("a" * 499 + "b")
    assert len(a) == len(b) == 64
    assert a != b
    assert slugify(None) == "unnamed"
    assert slugify("", fallback="device") == "device"


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("field", ["name", "location_name", "device_id", "location_id"])
def test_hostile_values_never_escape(tmp_path: Path, name: str, field: str) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    layout = MediaLayout()
    dev = device(**{field: name})
    if field == "device_id" and not any(c.isalnum() for c in name):
        with pytest.raises(ValueError, match="device id"):
            layout.recording_path(dev, created_at=WHEN, kind="ding", ding_id=DING)
        return
    paths = [
        layout.recording_path(dev, created_at=WHEN, kind=name or "x", ding_id=DING),
        layout.snapshot_path(dev, WHEN),
    ]
    # stable: the same inputs give the same paths
    assert paths == [
        layout.recording_path(dev, created_at=WHEN, kind=name or "x", ding_id=DING),
        layout.snapshot_path(dev, WHEN),
    ]
    assert len(paths[0].parts) == 7 and len(paths[1].parts) == 8  # hostile values never add or remove levels
    for rel in paths:
        assert not rel.is_absolute()
        assert rel.parts[0] == "media"
        for part in rel.parts:
            assert part not in ("", ".", "..")
            assert "/" not in part and "\\" not in part and "\x00" not in part
            assert len(part.encode()) <= 255
        full = ensure_inside(root, rel)
        assert full.is_relative_to(root.resolve())


def test_location_falls_back_to_its_id() -> None:
    rel = MediaLayout().recording_path(
        device(location_name="🏠", location_id="loc-1"), created_at=WHEN, kind="motion", ding_id=1
    )
    assert rel.parts[1] == "loc-1"
    rel = MediaLayout().recording_path(device(location_name=None), created_at=WHEN, kind="motion", ding_id=1)
    assert rel.parts[1] == "5e7c0c3a-aaaa-bbbb-cccc-0123456789ab"


def test_kind_and_ids_are_sanitized() -> None:
    layout = MediaLayout()
    rel = layout.recording_path(device(), created_at=WHEN, kind="On_Demand/../x", ding_id="12/34")
    assert rel.name == "20240309-233005-on_demand-x-12-34.mp4"
    with pytest.raises(ValueError, match="ding id"):
        layout.recording_path(device(), created_at=WHEN, kind="ding", ding_id="../")
    with pytest.raises(ValueError, match="extension"):
        layout.recording_path(device(), created_at=WHEN, kind="ding", ding_id=1, ext="/")


def test_custom_template_with_every_placeholder() -> None:
    layout = MediaLayout(
        "{location_id}/{location}/{device_id}_{device_slug}/{YYYY}-{MM}-{DD}/{hh}{mm}{ss}_{stamp}_{kind}_{ding_id}.{ext}"
    )
    rel = layout.recording_path(device(), created_at=WHEN, kind="ding", ding_id=7, ext="MP4")
    assert rel == PurePosixPath(
        "5e7c0c3a-aaaa-bbbb-cccc-0123456789ab/home/12345_front-door/2024-03-09/233005_20240309-233005_ding_7.mp4"
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("media/{device}/{ding_id}.mp4", r"unknown placeholder \{device\}"),
        ("media/{}/{ding_id}.mp4", r"unknown placeholder \{\}"),
        ("/media/{ding_id}.mp4", "relative to the archive root"),
        ("~/media/{ding_id}.mp4", "relative to the archive root"),
        ("C:/media/{ding_id}.mp4", "relative to the archive root"),
        ("media/../{ding_id}.mp4", r"'\.\.'"),
        ("media/./{ding_id}.mp4", r"'\.'"),
        ("media//{ding_id}.mp4", "empty"),
        ("media/{ding_id}.mp4/", "empty"),
        ("media\\{ding_id}.mp4", "use '/'"),
        ("media/{YYYY:>6}/{ding_id}.mp4", "format specs"),
        ("media/{YYYY!r}/{ding_id}.mp4", "format specs"),
        ("media/{stamp}.mp4", r"must contain \{ding_id\}"),
        ("media/{ding_id", "not a valid template"),
        ("media/a:b/{ding_id}.mp4", "not allowed"),
        ("", "non-empty"),
    ],
)
def test_template_errors(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MediaLayout(template)


def test_snapshot_template_errors() -> None:
    with pytest.raises(ValueError, match=r"\{ding_id\} is not available"):
        MediaLayout(snapshot_template="snaps/{ding_id}.jpg")
    with pytest.raises(ValueError, match=r"must contain \{stamp\}"):
        MediaLayout(snapshot_template="snaps/{YYYY}.jpg")
    assert MediaLayout(snapshot_template="s/{device_id}/{hh}{mm}{ss}.{ext}").snapshot_path(device(), WHEN) == (
        PurePosixPath("s/12345/233005.jpg")
    )
    with pytest.raises(ValueError, match="unknown time zone"):
        MediaLayout(time_zone="Mars/Olympus")


def test_utc_by_default_and_device_time_zone() -> None:
    ny = device(time_zone="America/New_York")
    utc_path = MediaLayout().recording_path(ny, created_at=WHEN, kind="ding", ding_id=1)
    assert utc_path.parts[3:6] == ("2024", "03", "09") and utc_path.name.startswith("20240309-233005")
    local = MediaLayout(time_zone="device").recording_path(ny, created_at=WHEN, kind="ding", ding_id=1)
    assert local.parts[3:6] == ("2024", "03", "09") and local.name.startswith("20240309-183005")
    # the device zone follows daylight saving: 2024-07-01 is EDT (UTC-4)
    summer = MediaLayout(time_zone="device").recording_path(
        ny, created_at=datetime(2024, 7, 1, 2, 0, tzinfo=UTC), kind="ding", ding_id=1
    )
    assert summer.parts[3:6] == ("2024", "06", "30") and summer.name.startswith("20240630-220000")
    # an unknown or missing device zone falls back to UTC; a fixed zone applies to every device
    assert MediaLayout(time_zone="device").zone_for(device(time_zone="Nowhere/Else")) is UTC
    assert MediaLayout(time_zone="device").zone_for(device()) is UTC
    tokyo = MediaLayout(time_zone="Asia/Tokyo").snapshot_path(device(), WHEN)
    assert tokyo.name == "20240310-083005-snapshot.jpg"


def test_naive_and_offset_datetimes() -> None:
    layout = MediaLayout()
    naive = layout.recording_path(device(), created_at=WHEN.replace(tzinfo=None), kind="ding", ding_id=1)
    offset = layout.recording_path(
        device(), created_at=WHEN.astimezone(timezone(timedelta(hours=2))), kind="ding", ding_id=1
    )
    assert naive == offset == layout.recording_path(device(), created_at=WHEN, kind="ding", ding_id=1)


def test_ensure_inside(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    assert ensure_inside(root, "media/a.mp4") == root.resolve() / "media" / "a.mp4"
    for bad in ("/etc/passwd", "../x", "media/../../x", "~/x"):
        with pytest.raises(ValueError):
            ensure_inside(root, bad)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(ValueError, match="outside the archive root"):
        ensure_inside(root, "link/file.mp4")


def test_default_template_constant() -> None:
    assert MediaLayout().template == DEFAULT_TEMPLATE


def test_wall_clock_bounds_are_read_in_the_layout_zone() -> None:
    """A naive bound is a wall-clock time where the files are filed; an aware one is an instant."""
    ny = device(time_zone="America/New_York")
    midnight = datetime(2024, 7, 1)
    assert MediaLayout(time_zone="device").wall_clock_to_utc(ny, midnight) == datetime(2024, 7, 1, 4, tzinfo=UTC)
    assert MediaLayout(time_zone="device").wall_clock_to_utc(ny, datetime(2024, 1, 1)) == datetime(
        2024, 1, 1, 5, tzinfo=UTC
    )
    assert MediaLayout().wall_clock_to_utc(ny, midnight) == midnight.replace(tzinfo=UTC)
    assert MediaLayout(time_zone="Asia/Tokyo").wall_clock_to_utc(ny, midnight) == datetime(2024, 6, 30, 15, tzinfo=UTC)
    aware = datetime(2024, 7, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert MediaLayout(time_zone="device").wall_clock_to_utc(ny, aware) == datetime(2024, 7, 1, 10, tzinfo=UTC)


def test_local_time_zone_is_this_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    import tzlocal

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    tzlocal.reload_localzone()
    try:
        path = MediaLayout(time_zone="local").recording_path(device(), created_at=WHEN, kind="ding", ding_id=1)
        assert str(MediaLayout(time_zone="LOCAL").zone_for(device())) == "Asia/Kolkata"
    finally:
        monkeypatch.undo()
        tzlocal.reload_localzone()
    local = WHEN.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert path.name == f"{local:%Y%m%d-%H%M%S}-ding-1.mp4"
