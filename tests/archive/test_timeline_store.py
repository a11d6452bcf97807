"""The timeline's queries (``archive/store/timeline.py``) on SQLite and PostgreSQL: pages walk every event once
newest first, each filter's count is the number of events it keeps (counted here in Python), day windows differ by
device, neighbours are the events just before and after, and migration 0016 goes down and up."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from ringvault.archive.store import (
    DB_FILENAME,
    ArchiveStore,
    DeviceRecord,
    EventRecord,
    InvalidCursorError,
    MediaKind,
    MediaRecord,
    downgrade,
    migrate,
)
from ringvault.archive.store.timeline import (
    TimelineFilter,
    TimeWindow,
    timeline_count,
    timeline_event,
    timeline_neighbours,
    timeline_page,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
#: (detection_type, person_detected) → the class the timeline puts it in
WORDS: list[tuple[str | None, bool | None, str]] = [
    ("human", True, "person"), (None, True, "person"), ("loitering", None, "person"), ("vehicle", False, "vehicle"),
    ("vehicle", True, "person"), ("package_delivery", False, "package"), ("motion", False, "other"),
    (None, None, "other"), ("other_motion", None, "other"),
]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else None
    with ArchiveStore.open(tmp_path / "archive", database_url=url) as opened:
        yield opened


def _fill(store: ArchiveStore) -> list[tuple[EventRecord, int, str]]:
    """240 events of 3 devices over 20 days, some at the same instant (the id breaks the tie)."""
    rng = random.Random(5)
    for device in (1, 2, 3):
        store.upsert_device(DeviceRecord(id=device, family="doorbots", kind="lpd_v4", name=f"D{device}"))
    made: list[tuple[EventRecord, int, str]] = []
    for n in range(240):
        device = 1 + n % 3
        at = START + timedelta(minutes=rng.randrange(0, 20 * 24 * 60)) if n % 10 else START + timedelta(days=5)
        word, person, detection = WORDS[n % len(WORDS)]
        kind = ("motion", "ding", "on_demand")[n % 4 % 3]
        record = EventRecord(
            id=str(7_500_000_000_000_000_000 + n), created_at=at, kind=kind, detection_type=word,
            person_detected=person, duration_s=30.0,
        )  # fmt: skip
        made.append((record, device, detection))
    for device in (1, 2, 3):
        store.upsert_events(device, [record for record, d, _ in made if d == device])
    return made


def _ordered(made: list[tuple[EventRecord, int, str]]) -> list[tuple[EventRecord, int, str]]:
    return sorted(made, key=lambda m: (m[0].created_at, m[0].id), reverse=True)


def _walk(store: ArchiveStore, flt: TimelineFilter, limit: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = timeline_page(store, flt, limit=limit, cursor=cursor)
        ids += [e.id for e in page.events]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_pages_and_counts_of_every_filter(store: ArchiveStore) -> None:
    made = _ordered(_fill(store))
    cases: list[tuple[TimelineFilter, list[tuple[EventRecord, int, str]]]] = [(TimelineFilter(), made)]
    cases += [(TimelineFilter(device_id=d), [m for m in made if m[1] == d]) for d in (1, 2, 3)]
    cases += [(TimelineFilter(kind=k), [m for m in made if m[0].kind == k]) for k in ("ding", "motion", "nothing")]
    for name in ("person", "vehicle", "package", "other"):
        cases.append((TimelineFilter(detection=name), [m for m in made if m[2] == name]))
    cases.append((TimelineFilter(device_id=2, kind="motion", detection="person"),
                  [m for m in made if m[1] == 2 and m[0].kind == "motion" and m[2] == "person"]))  # fmt: skip
    for flt, expected in cases:
        assert timeline_count(store, flt) == len(expected), flt
        assert _walk(store, flt, 7) == [m[0].id for m in expected], flt
    assert (
        sum(timeline_count(store, TimelineFilter(detection=n)) for n in ("person", "vehicle", "package", "other"))
        == 240
    )


def test_day_windows_are_per_device(store: ArchiveStore) -> None:
    made = _ordered(_fill(store))
    since, until = START + timedelta(days=3), START + timedelta(days=9)
    shift = timedelta(hours=9)  # device 2's days start 9 hours later (a zone west of the others)
    windows = (TimeWindow((2,), since + shift, until + shift), TimeWindow((2,), since, until, exclude=True))
    expected = [
        m for m in made
        if (since + shift <= m[0].created_at < until + shift if m[1] == 2 else since <= m[0].created_at < until)
    ]  # fmt: skip
    flt = TimelineFilter(windows=windows)
    assert timeline_count(store, flt) == len(expected)
    assert _walk(store, flt, 10) == [m[0].id for m in expected]
    only = TimelineFilter(device_id=3, kind="motion", windows=windows)
    assert _walk(store, only, 4) == [m[0].id for m in expected if m[1] == 3 and m[0].kind == "motion"]
    assert timeline_count(store, TimelineFilter(windows=())) == 0


def test_neighbours_in_time_order(store: ArchiveStore) -> None:
    made = _ordered(_fill(store))
    ids = [m[0].id for m in made]
    for index in (0, 1, 57, len(ids) - 1):
        event = timeline_event(store, ids[index])
        assert event is not None
        older, newer = timeline_neighbours(store, TimelineFilter(), event)
        assert older == (ids[index + 1] if index + 1 < len(ids) else None)
        assert newer == (ids[index - 1] if index > 0 else None)
    dings = [m[0].id for m in made if m[0].kind == "ding"]
    event = timeline_event(store, dings[3])
    assert event is not None
    assert timeline_neighbours(store, TimelineFilter(kind="ding"), event) == (dings[4], dings[2])
    assert timeline_event(store, "1") is None


def test_an_event_shows_its_recording_and_the_nearest_snapshot(store: ArchiveStore) -> None:
    made = _ordered(_fill(store))
    record, device, _ = made[0]
    store.add_media(MediaRecord(kind=MediaKind.RECORDING, path="r.mp4", bytes=1, sha256="0", event_id=record.id,
                                device_id=device), mark_event_done=True)  # fmt: skip
    later = record.created_at + timedelta(seconds=30)
    near = store.add_media(MediaRecord(kind=MediaKind.SNAPSHOT, path="near.jpg", bytes=1, sha256="1",
                                       device_id=device, captured_at=later))  # fmt: skip
    store.add_media(MediaRecord(kind=MediaKind.SNAPSHOT, path="far.jpg", bytes=1, sha256="2", device_id=device,
                                captured_at=record.created_at - timedelta(seconds=80)))  # fmt: skip
    event = timeline_event(store, record.id)
    assert event is not None and event.recording_id is not None and event.media_status.value == "done"
    assert (event.image_id, event.image_at) == (near, record.created_at + timedelta(seconds=30))
    page = timeline_page(store, TimelineFilter(device_id=device), limit=3)
    assert page.events[0].image_id == near
    others = [e for e in page.events[1:] if abs(e.created_at - record.created_at) > timedelta(seconds=200)]
    assert all(e.image_id is None for e in others)


def test_a_cursor_not_made_by_the_store_is_refused(store: ArchiveStore) -> None:
    with pytest.raises(InvalidCursorError):
        timeline_page(store, TimelineFilter(), cursor="bm90IGEgY3Vyc29y")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_0016_goes_down_and_up(request: pytest.FixtureRequest, tmp_path: Path, database: str) -> None:
    url = str(request.getfixturevalue("pg_url")) if database == "postgresql" else f"sqlite:///{tmp_path / DB_FILENAME}"
    with ArchiveStore.open_url(url) as opened:
        _fill(opened)

    def indexes() -> set[str]:
        engine = create_engine(url)
        try:
            names = {i["name"] for i in inspect(engine).get_indexes("events")}
            return names | {i["name"] for i in inspect(engine).get_indexes("media")}
        finally:
            engine.dispose()

    ours = {"ix_events_timeline", "ix_events_device_timeline", "ix_media_device_id_kind_captured_at"}
    assert ours <= indexes()
    downgrade(url, "0015_uidevices")  # the revision before 0016_timeline
    assert not ours & indexes()
    migrate(url)
    assert ours <= indexes()
    with ArchiveStore.open_url(url) as opened:
        assert timeline_count(opened, TimelineFilter()) == 240
