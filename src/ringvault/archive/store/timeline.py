"""The web UI's timeline queries: a page of events with what the page shows of each (recording and image rows), the
count of the events a filter keeps, and an event's neighbours in time under the same filter.

One :class:`TimelineFilter` builds the WHERE clause of all three, so the count the page shows is the count of the
rows it pages through. Every query reads narrow columns (never Ring's ``raw`` JSON) and runs on the ``events``
indexes: the page walks ``(created_at, id)`` newest first with a keyset cursor and stops after ``limit`` rows; the
count is one ``COUNT(*)`` answered from the covering index of migration ``0016_timeline``.

Detections are Ring's words (``cv_properties.detection_type``, ``person_detected``) sorted into four classes that
exclude each other, so the four counts add up to the total: ``person`` (``person_detected`` or a person word),
``vehicle``, ``package``, and ``other`` (none of those: plain motion, a ding, an unknown word). The words are those
``ringvault.cloud.push.events.detection_of`` understands (a test checks both agree); the store does not import
``ringvault.cloud``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    tuple_,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from ringvault.archive.store.models import Event, Media, UTCDateTime
from ringvault.archive.store.records import MediaKind, MediaStatus
from ringvault.archive.store.rows import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = [
    "DETECTIONS",
    "DETECTION_WORDS",
    "TimeWindow",
    "TimelineEvent",
    "TimelineFilter",
    "TimelinePage",
    "count_query",
    "detection_class",
    "page_query",
    "timeline_count",
    "timeline_neighbours",
    "timeline_page",
]

Detection = Literal["person", "vehicle", "package", "other"]
#: the detection classes, in the order the filter offers them
DETECTIONS: tuple[Detection, ...] = ("person", "vehicle", "package", "other")
#: Ring's detection words of each class (``detection_type``, ``detection_types``; as ``cloud.push.events`` reads them)
DETECTION_WORDS: dict[str, tuple[str, ...]] = {
    "person": ("human", "person", "person_detected", "loitering"),
    "vehicle": ("vehicle", "vehicle_detected"),
    "package": ("package", "package_delivery", "package_pickup", "package_detected"),
}
#: how far from an event a device snapshot (``ringvault snapshot --archive``) may be taken to stand for it
SNAPSHOT_NEAR = timedelta(seconds=90)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """``[since, until)`` for the events of ``device_ids`` (``exclude``: of every device but those; at most one such
    window): a day range in each device's time zone is one window per zone. Every window of a filter bounds the same
    sides (all have a ``since``, or none)."""

    device_ids: tuple[int, ...]
    since: datetime | None
    until: datetime | None
    exclude: bool = False


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    """What the timeline keeps: one device, one kind, one detection class, and time windows (``None``: all time;
    an empty tuple: nothing)."""

    device_id: int | None = None
    kind: str | None = None
    detection: Detection | None = None
    windows: tuple[TimeWindow, ...] | None = None


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """An event as the timeline shows it: the narrow columns, its detection class, its recording and its image."""

    id: str
    device_id: int
    kind: str | None
    created_at: datetime
    duration_s: float | None
    answered: bool | None
    detection: Detection
    detection_type: str | None
    recording_status: str | None
    media_status: MediaStatus
    media_attempts: int
    media_failures: int
    media_next_attempt_at: datetime | None
    media_last_error: str | None
    recording_id: int | None
    image_id: int | None
    image_at: datetime | None
    """When the image was taken (a device snapshot near the event; ``None`` for the event's own snapshot)."""


@dataclass(frozen=True, slots=True)
class TimelinePage:
    events: list[TimelineEvent]
    next_cursor: str | None


def _words(name: str) -> ColumnElement[bool]:
    return Event.detection_type.in_(DETECTION_WORDS[name])


def _no_person_flag() -> ColumnElement[bool]:
    return func.coalesce(Event.person_detected, false()) == false()


def _detection_condition(detection: Detection) -> ColumnElement[bool]:
    """The rows of one class (the word lists are disjoint, so a word names one class; ``person_detected`` wins)."""
    if detection == "person":
        return or_(not_(_no_person_flag()), _words("person"))
    if detection in ("vehicle", "package"):
        return and_(_no_person_flag(), _words(detection))
    every = [word for words in DETECTION_WORDS.values() for word in words]
    return and_(_no_person_flag(), func.coalesce(Event.detection_type, "").not_in(every))


def detection_class(person_detected: bool | None, detection_type: str | None) -> Detection:
    """The class :func:`_detection_condition` puts a row in (the same rule, in Python)."""
    word = detection_type or ""
    if person_detected or word in DETECTION_WORDS["person"]:
        return "person"
    if word in DETECTION_WORDS["vehicle"]:
        return "vehicle"
    if word in DETECTION_WORDS["package"]:
        return "package"
    return "other"


def _bound(windows: tuple[TimeWindow, ...], which: str) -> list[ColumnElement[bool]]:
    """``created_at`` against each window's ``since`` (or ``until``): a plain range over every window first (the
    index walks it in order), then the exact bound of the row's device as a CASE (the windows differ by hours)."""
    values = [getattr(w, which) for w in windows]
    if all(v is None for v in values):
        return []
    arms = [(Event.device_id.in_(w.device_ids), literal(v, UTCDateTime())) for w, v in zip(windows, values, strict=True)
            if not w.exclude and w.device_ids]  # fmt: skip
    rest = next((literal(v, UTCDateTime()) for w, v in zip(windows, values, strict=True) if w.exclude), None)
    exact = case(*arms, else_=rest) if arms else rest
    if which == "since":
        return [Event.created_at >= min(v for v in values if v is not None), Event.created_at >= exact]
    return [Event.created_at < max(v for v in values if v is not None), Event.created_at < exact]


def conditions(flt: TimelineFilter) -> list[ColumnElement[bool]]:
    """The WHERE clause of ``flt`` (shared by the page, the count and the neighbours)."""
    where: list[ColumnElement[bool]] = []
    if flt.device_id is not None:
        where.append(Event.device_id == flt.device_id)
    if flt.kind is not None:
        where.append(Event.kind == flt.kind)
    if flt.detection is not None:
        where.append(_detection_condition(flt.detection))
    if flt.windows is not None:
        if not flt.windows:
            where.append(false())
        where.extend(_bound(flt.windows, "since"))
        where.extend(_bound(flt.windows, "until"))
    return where


#: the timeline's order: newest first, the id breaking ties
ORDER = (Event.created_at.desc(), Event.id.desc())


def _key() -> Any:
    """The keyset, (created_at, id), as a row value: SQLite and PostgreSQL both compare it on an index range."""
    return tuple_(Event.created_at, Event.id)


def _at(created_at: datetime, event_id: str) -> Any:
    return tuple_(literal(created_at, UTCDateTime()), literal(event_id, Text()))


_RECORDING = aliased(Media)
_OWN_IMAGE = aliased(Media)
#: what the timeline reads of an event (never ``raw`` or ``cv_properties``), then its recording and own snapshot
_COLUMNS: tuple[Any, ...] = (
    Event.id, Event.device_id, Event.kind, Event.created_at, Event.duration_s, Event.answered, Event.person_detected,
    Event.detection_type, Event.recording_status, Event.media_status, Event.media_attempts, Event.media_failures,
    Event.media_next_attempt_at, Event.media_last_error, _RECORDING.id, _OWN_IMAGE.id,
)  # fmt: skip


def _rows(flt: TimelineFilter) -> Select[Any]:
    own = MediaKind.SNAPSHOT.value
    return (
        select(*_COLUMNS)
        .outerjoin(_RECORDING, and_(_RECORDING.event_id == Event.id, _RECORDING.kind == MediaKind.RECORDING.value))
        .outerjoin(_OWN_IMAGE, and_(_OWN_IMAGE.event_id == Event.id, _OWN_IMAGE.kind == own))
        .where(*conditions(flt))
    )


def _event(row: Any, image: tuple[int, datetime | None] | None) -> TimelineEvent:
    (event_id, device_id, kind, created_at, duration, answered, person, detection_type, recording_status, status,
     attempts, failures, next_at, error, recording_id, own_image) = row  # fmt: skip
    if own_image is not None:
        image = (int(own_image), None)
    return TimelineEvent(
        id=str(event_id), device_id=int(device_id), kind=kind, created_at=created_at,
        duration_s=duration, answered=answered, detection=detection_class(person, detection_type),
        detection_type=detection_type, recording_status=recording_status,
        media_status=MediaStatus(status), media_attempts=int(attempts), media_failures=int(failures),
        media_next_attempt_at=next_at, media_last_error=error,
        recording_id=None if recording_id is None else int(recording_id),
        image_id=image[0] if image else None, image_at=image[1] if image else None,
    )  # fmt: skip


def page_query(flt: TimelineFilter, *, limit: int, cursor: str | None = None) -> Select[Any]:
    """The statement of :func:`timeline_page` (``limit`` + 1 rows: the last one says there is a next page)."""
    stmt = _rows(flt)
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(_key() < _at(at, last_id))
    return stmt.order_by(*ORDER).limit(limit + 1)


def count_query(flt: TimelineFilter) -> Select[Any]:
    """The statement of :func:`timeline_count`."""
    return select(func.count()).select_from(Event).where(*conditions(flt))


def timeline_page(
    store: ArchiveStore, flt: TimelineFilter, *, limit: int = 50, cursor: str | None = None
) -> TimelinePage:
    """A page of the events ``flt`` keeps, newest first (keyset over (created_at, id): pass ``next_cursor`` back);
    raises ``InvalidCursorError`` for a cursor this store did not make."""
    stmt = page_query(flt, limit=limit, cursor=cursor)
    with store.engine.connect() as connection:
        rows: list[Any] = list(connection.execute(stmt))
        page = rows[:limit]
        images = _device_images(connection, [(int(r[1]), r[3]) for r in page if r[15] is None])
    events = [_event(row, images.get((int(row[1]), row[3]))) for row in page]
    next_cursor = encode_cursor(events[-1].created_at, events[-1].id) if len(rows) > limit else None
    return TimelinePage(events=events, next_cursor=next_cursor)


#: a device's snapshots within :data:`SNAPSHOT_NEAR` of a time (index ``ix_media_device_id_kind_captured_at``)
_NEAR = (
    select(Media.id, Media.captured_at)
    .where(
        Media.device_id == bindparam("device"), Media.kind == MediaKind.SNAPSHOT.value,
        Media.captured_at >= bindparam("start", type_=UTCDateTime()),
        Media.captured_at <= bindparam("end", type_=UTCDateTime()),
    )
    .order_by(Media.captured_at)
    .limit(200)
)  # fmt: skip


def _device_images(
    connection: Connection, wanted: Collection[tuple[int, datetime]]
) -> dict[tuple[int, datetime], tuple[int, datetime | None]]:
    """For each (device, event time), the device snapshot (``ringvault snapshot --archive``) taken nearest to it
    within :data:`SNAPSHOT_NEAR`: first which of the page's devices have snapshots at all (one query; none, in most
    archives), then one index range per event of those."""
    if not wanted:
        return {}
    devices = sorted({device for device, _ in wanted})
    having = select(Media.device_id).where(Media.device_id.in_(devices), Media.kind == MediaKind.SNAPSHOT.value)
    with_snapshots = set(connection.scalars(having.distinct()))
    found: dict[tuple[int, datetime], tuple[int, datetime | None]] = {}
    for device, at in wanted:
        if device not in with_snapshots:
            continue
        near = connection.execute(_NEAR, {"device": device, "start": at - SNAPSHOT_NEAR, "end": at + SNAPSHOT_NEAR})
        best = min(((abs(row[1] - at), int(row[0]), row[1]) for row in near if row[1] is not None), default=None)
        if best is not None:
            found[(device, at)] = (best[1], best[2])
    return found


def timeline_count(store: ArchiveStore, flt: TimelineFilter) -> int:
    """How many events ``flt`` keeps (one ``COUNT(*)`` with the page's WHERE)."""
    with store.engine.connect() as connection:
        return int(connection.execute(count_query(flt)).scalar_one())


def timeline_event(store: ArchiveStore, event_id: str) -> TimelineEvent | None:
    """One event as the timeline shows it (the playback page)."""
    stmt = _rows(TimelineFilter()).where(Event.id == event_id)
    with store.engine.connect() as connection:
        row = connection.execute(stmt).first()
        if row is None:
            return None
        images = _device_images(connection, [(int(row[1]), row[3])]) if row[15] is None else {}
    return _event(row, images.get((int(row[1]), row[3])))


def timeline_neighbours(
    store: ArchiveStore, flt: TimelineFilter, event: TimelineEvent
) -> tuple[str | None, str | None]:
    """The ids of the events just before (older) and just after (newer) ``event`` in time among those ``flt`` keeps."""
    where = conditions(flt)
    at, key = event.created_at, event.id
    older = (
        select(Event.id).where(*where, _key() < _at(at, key))
        .order_by(Event.created_at.desc(), Event.id.desc()).limit(1)
    )  # fmt: skip
    newer = (
        select(Event.id).where(*where, _key() > _at(at, key))
        .order_by(Event.created_at, Event.id).limit(1)
    )  # fmt: skip
    with store.engine.connect() as connection:
        return connection.execute(older).scalar(), connection.execute(newer).scalar()
