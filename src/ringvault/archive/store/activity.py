"""Counts for the web UI's activity plots and the snapshot gallery, aggregated in the database (issue 13).

**Local time, exactly.** Days, hours and weekdays are those of each device's own time zone (Ring's ``time_zone`` of
the device, else its location's, else UTC). Shifting every timestamp by one fixed offset would be wrong for the
events of the other half of the year (daylight saving), and grouping by UTC hour and converting the groups afterwards
is wrong for zones whose offset is not a whole number of hours (India, Nepal, parts of Australia). So:

- on **SQLite** the archive's span is cut, per zone, into the intervals of constant UTC offset (found with
  :mod:`zoneinfo`: a handful per year), and the query shifts each timestamp by its interval's offset with one
  ``CASE`` (``created_at < transition₁ THEN '-18000 seconds' ...``) before ``date()``/``strftime()`` read the day,
  hour and weekday. The shift is exact to the second, and the GROUP BY still runs in SQLite over the
  ``(device_id, kind, created_at)`` index, never over Python rows;
- on **PostgreSQL** ``timezone(zone, created_at)`` does the same natively.

One query per distinct zone (the devices of that zone), so an archive of many devices in one home is one query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    case,
    cast,
    extract,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from ringvault.archive.dates import day_window, zone_named
from ringvault.archive.store.models import Device, Event, Location, Media

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = [
    "DayCount",
    "EventsState",
    "HourCount",
    "Per",
    "SnapshotCamera",
    "SnapshotDay",
    "SnapshotFrame",
    "device_zones",
    "event_day_counts",
    "event_hour_counts",
    "events_state",
    "offset_spans",
    "snapshot_cameras",
    "snapshot_days",
    "snapshots_of_day",
]

#: how the days of the activity plot are grouped: each bucket is named by its first day (weeks start on Monday)
Per = Literal["day", "week", "month"]
#: ``media`` rows the snapshot tool writes: kind ``snapshot``, a device, no event
SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class DayCount:
    """Events of one device and kind on one local day (``kind`` ``""`` for events without one)."""

    day: date
    device_id: int
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class HourCount:
    """Events of one device and kind in one local hour of one weekday (``weekday`` 0 = Monday ... 6 = Sunday)."""

    device_id: int
    kind: str
    weekday: int
    hour: int
    count: int
    month: date | None = None  # the local month (its first day), when asked for ``by_month``


@dataclass(frozen=True, slots=True)
class SnapshotCamera:
    """A device with snapshots: how many, and when the newest was captured."""

    device_id: int
    count: int
    newest: datetime


@dataclass(frozen=True, slots=True)
class SnapshotDay:
    """How many snapshots a device has on one local day."""

    device_id: int
    day: date
    count: int


@dataclass(frozen=True, slots=True)
class SnapshotFrame:
    """One snapshot of a day, in capture order."""

    media_id: int
    captured_at: datetime
    bytes: int


# -- time zones ------------------------------------------------------------------------------------------------------


def device_zones(store: ArchiveStore) -> dict[int, str]:
    """Each device's IANA zone name: the device's own ``time_zone`` (Ring's device JSON), else its location's, else
    ``UTC``; a name :mod:`zoneinfo` does not know is ``UTC`` too (as everywhere in the archive)."""
    stmt = select(Device.id, Device.raw, Location.time_zone).outerjoin(Location, Location.id == Device.location_id)
    zones: dict[int, str] = {}
    with store.engine.connect() as connection:
        for device_id, raw, location_zone in connection.execute(stmt):
            name = (raw or {}).get("time_zone") if isinstance(raw, dict) else None
            if not isinstance(name, str) or not name:
                name = location_zone
            zones[int(device_id)] = name if name and zone_named(name) is not UTC else "UTC"
    return zones


@lru_cache(maxsize=256)
def _spans(zone_name: str, first: date, last: date) -> tuple[tuple[datetime | None, int], ...]:
    """:func:`offset_spans` of a zone over whole days, remembered (every page load asks for the same span)."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last, datetime.min.time(), tzinfo=UTC)
    return tuple(offset_spans(zone_named(zone_name), start, end))


def _offset_s(zone: tzinfo, epoch_s: int) -> int:
    offset = datetime.fromtimestamp(epoch_s, UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offset_spans(zone: tzinfo, start: datetime, end: datetime) -> list[tuple[datetime | None, int]]:
    """The UTC offsets (seconds) of ``zone`` between ``start`` and ``end``: ``[(until, offset), ...]``, each offset in
    force for the instants before its ``until`` (and from the previous ``until`` on); the last ``until`` is ``None``.

    Walks the span a day at a time and finds each change to the second by bisection (zone transitions fall on whole
    seconds); two transitions within one day do not occur in the time zone database."""
    day = 86_400
    t = int(start.timestamp()) - day
    stop = int(end.timestamp()) + day
    current = _offset_s(zone, t)
    spans: list[tuple[datetime | None, int]] = []
    while t < stop:
        nxt = min(t + day, stop)
        offset = _offset_s(zone, nxt)
        if offset != current:
            lo, hi = t, nxt  # offset(lo) == current, offset(hi) == offset
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_s(zone, mid) == current:
                    lo = mid
                else:
                    hi = mid
            spans.append((datetime.fromtimestamp(hi, UTC), current))
            current = offset
        t = nxt
    spans.append((None, current))
    return spans


@dataclass(frozen=True, slots=True)
class _Local:
    """SQL expressions for a timestamp column read in one zone: its local day, the Monday of its week, the first day of
    its month, its hour and its weekday (0 = Sunday)."""

    day: ColumnElement[Any]
    week: ColumnElement[Any]
    month: ColumnElement[Any]
    hour: ColumnElement[Any]
    weekday: ColumnElement[Any]
    weekday_hour: ColumnElement[Any]  # weekday (0 = Sunday) × 100 + hour: one function call per row on SQLite

    def bucket(self, per: Per) -> ColumnElement[Any]:
        return {"day": self.day, "week": self.week, "month": self.month}[per]


def _local(column: Any, zone_name: str, span: tuple[datetime, datetime], dialect: str) -> _Local:
    if dialect == "postgresql":
        local = func.timezone(zone_name, column)
        return _Local(
            cast(local, Date),
            cast(func.date_trunc("week", local), Date),  # ISO weeks: Monday
            cast(func.date_trunc("month", local), Date),
            cast(extract("hour", local), Integer),
            cast(extract("dow", local), Integer),
            cast(extract("dow", local) * 100 + extract("hour", local), Integer),
        )
    spans = _spans(zone_name, span[0].date(), span[1].date())
    modifiers = [f"{offset:+d} seconds" for _until, offset in spans]
    if len(spans) == 1:
        shift: ColumnElement[Any] = literal(modifiers[0])
    else:
        whens = [(column < until, literal(modifiers[i])) for i, (until, _offset) in enumerate(spans[:-1])]
        shift = case(*whens, else_=literal(modifiers[-1]))
    return _Local(
        func.date(column, shift),
        func.date(column, shift, "-6 days", "weekday 1"),  # the Monday on or before the day
        func.date(column, shift, "start of month"),
        cast(func.strftime("%H", column, shift), Integer),
        cast(func.strftime("%w", column, shift), Integer),
        cast(func.strftime("%w%H", column, shift), Integer),
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _by_zone(zones: dict[int, str], device_ids: Collection[int] | None) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for device_id, zone in sorted(zones.items()):
        if device_ids is None or device_id in device_ids:
            groups[zone].append(device_id)
    return groups


# -- events ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventsState:
    """What tells whether the archive's events changed. On SQLite the highest ``rowid`` of ``events`` (an O(1)
    look-up): events are only ever added (an upsert of a known event keeps its row, and Ring does not change an
    event's time or kind), so counts of the rows ``<= last_row`` stay right and new events are the rows above it.
    Elsewhere (PostgreSQL) the number of events and the newest and oldest time."""

    last_row: int | None
    summary: tuple[Any, ...] = ()


def events_state(store: ArchiveStore) -> EventsState:
    """The :class:`EventsState` now."""
    if store.engine.dialect.name == "sqlite":
        rowid: ColumnElement[int] = literal_column("events.rowid", Integer)
        with store.engine.connect() as connection:
            last = connection.execute(select(func.max(rowid)).select_from(Event)).scalar()
        return EventsState(None if last is None else int(last))
    stmt = select(func.count(), func.min(Event.created_at), func.max(Event.created_at))
    with store.engine.connect() as connection:
        return EventsState(None, tuple(connection.execute(stmt).one()))


def _row_window(rows: tuple[int, int] | None) -> list[ColumnElement[bool]]:
    """Events with ``low < rowid <= high`` (SQLite): the ones added since counts were last taken."""
    if rows is None:
        return []
    rowid: ColumnElement[int] = literal_column("events.rowid", Integer)
    return [rowid > rows[0], rowid <= rows[1]]


def _event_span(store: ArchiveStore) -> tuple[datetime, datetime] | None:
    stmt = select(func.min(Event.created_at), func.max(Event.created_at))
    with store.engine.connect() as connection:
        low, high = connection.execute(stmt).one()
    return None if low is None else (low, high)


def _kind_filter(kinds: Collection[str] | None) -> list[ColumnElement[bool]]:
    if kinds is None:
        return []
    named = [k for k in kinds if k]
    conditions: list[ColumnElement[bool]] = []
    if named:
        conditions.append(Event.kind.in_(named))
    if "" in kinds:
        conditions.append(Event.kind.is_(None))
    return [or_(*conditions) if conditions else false()]


def _day_range(
    local_day: ColumnElement[Any], since: date | None, until: date | None, dialect: str
) -> list[ColumnElement[bool]]:
    """Local days ``since`` .. ``until`` (inclusive): a UTC range on the index (wide by the largest offsets, ±14 h,
    plus a day), then the exact test on the local day."""
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        low = datetime.combine(since - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        conditions += [Event.created_at >= low, local_day >= _day_value(since, dialect)]
    if until is not None:
        high = datetime.combine(until + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
        conditions += [Event.created_at < high, local_day <= _day_value(until, dialect)]
    return conditions


def _day_value(day: date, dialect: str) -> Any:
    """A day as the local-day expression compares with it: a date on PostgreSQL, ``YYYY-MM-DD`` text on SQLite."""
    return day if dialect == "postgresql" else literal(day.isoformat())


def event_day_counts(
    store: ArchiveStore,
    *,
    device_ids: Collection[int] | None = None,
    kinds: Collection[str] | None = None,
    zones: dict[int, str] | None = None,
    per: Per = "day",
    since: date | None = None,
    until: date | None = None,
    rows: tuple[int, int] | None = None,
) -> list[DayCount]:
    """Events per local day (or week, or month: ``per``; each named by its first day), device and kind, of
    ``device_ids`` and ``kinds`` (``None``: all) on local days ``since`` .. ``until``; sorted by day, device, kind.
    One GROUP BY query per time zone. ``rows``: only the events with ``low < rowid <= high`` (SQLite)."""
    span = _event_span(store)
    if span is None:
        return []
    zones = device_zones(store) if zones is None else zones
    dialect = store.engine.dialect.name
    kind = func.coalesce(Event.kind, "")
    out: list[DayCount] = []
    with store.engine.connect() as connection:
        for zone_name, ids in _by_zone(zones, device_ids).items():
            local = _local(Event.created_at, zone_name, span, dialect)
            bucket = local.bucket(per).label("bucket")
            stmt = (
                select(Event.device_id, kind, bucket, func.count())
                .where(Event.device_id.in_(ids), *_kind_filter(kinds), *_day_range(local.day, since, until, dialect))
                .where(*_row_window(rows))
                .group_by(Event.device_id, kind, bucket)
            )
            out.extend(DayCount(_as_date(d), int(dev), str(k), int(n)) for dev, k, d, n in connection.execute(stmt))
    out.sort(key=lambda c: (c.day, c.device_id, c.kind))
    return out


def event_hour_counts(
    store: ArchiveStore,
    *,
    device_ids: Collection[int] | None = None,
    kinds: Collection[str] | None = None,
    zones: dict[int, str] | None = None,
    since: date | None = None,
    until: date | None = None,
    rows: tuple[int, int] | None = None,
    by_month: bool = False,
) -> list[HourCount]:
    """Events per device, kind, local weekday (0 = Monday) and local hour (and local month, ``by_month``), in each
    device's zone, on local days ``since`` .. ``until`` (one query per zone); ``rows`` as for
    :func:`event_day_counts`."""
    span = _event_span(store)
    if span is None:
        return []
    zones = device_zones(store) if zones is None else zones
    dialect = store.engine.dialect.name
    kind = func.coalesce(Event.kind, "")
    out: list[HourCount] = []
    with store.engine.connect() as connection:
        for zone_name, ids in _by_zone(zones, device_ids).items():
            local = _local(Event.created_at, zone_name, span, dialect)
            slot = local.weekday_hour.label("slot")
            month = (local.month if by_month else literal(None)).label("month")
            stmt = (
                select(Event.device_id, kind, slot, month, func.count())
                .where(Event.device_id.in_(ids), *_kind_filter(kinds), *_day_range(local.day, since, until, dialect))
                .where(*_row_window(rows))
                .group_by(Event.device_id, kind, slot, month)
            )
            for dev, k, value, m, n in connection.execute(stmt):
                sunday0, h = divmod(int(value), 100)
                month_start = None if m is None else _as_date(m)
                out.append(HourCount(int(dev), str(k), (sunday0 + 6) % 7, h, int(n), month_start))
    out.sort(key=lambda c: (c.device_id, c.kind, c.weekday, c.hour))
    return out


# -- snapshots -------------------------------------------------------------------------------------------------------


def _is_snapshot() -> list[ColumnElement[bool]]:
    return [Media.kind == SNAPSHOT, Media.event_id.is_(None), Media.captured_at.is_not(None)]


def snapshot_cameras(store: ArchiveStore) -> list[SnapshotCamera]:
    """The devices with snapshots (the snapshot tool's ``media`` rows), newest snapshot first."""
    stmt = (
        select(Media.device_id, func.count(), func.max(Media.captured_at))
        .where(Media.device_id.is_not(None), *_is_snapshot())
        .group_by(Media.device_id)
    )
    with store.engine.connect() as connection:
        rows = connection.execute(stmt).all()
    cameras = [SnapshotCamera(int(dev), int(n), _aware(newest)) for dev, n, newest in rows if dev is not None]
    cameras.sort(key=lambda c: (c.newest, c.device_id), reverse=True)
    return cameras


def _aware(value: Any) -> datetime:
    """``max()`` over a column comes back as the database wrote it (text on SQLite): an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def snapshot_days(store: ArchiveStore, device_id: int, zone_name: str) -> list[SnapshotDay]:
    """The local days (in ``zone_name``) on which ``device_id`` has snapshots, newest first, with their counts."""
    bounds = select(func.min(Media.captured_at), func.max(Media.captured_at)).where(
        Media.device_id == device_id, Media.kind == SNAPSHOT
    )
    with store.engine.connect() as connection:
        low, high = connection.execute(bounds).one()
        if low is None:
            return []
        span = (_aware(low), _aware(high))
        day = _local(Media.captured_at, zone_name, span, store.engine.dialect.name).day.label("day")
        stmt = select(day, func.count()).where(Media.device_id == device_id, *_is_snapshot()).group_by(day)
        days = [SnapshotDay(device_id, _as_date(d), int(n)) for d, n in connection.execute(stmt)]
    days.sort(key=lambda d: d.day, reverse=True)
    return days


def snapshots_of_day(store: ArchiveStore, device_id: int, day: date, zone: tzinfo) -> list[SnapshotFrame]:
    """The snapshots of ``device_id`` captured on local ``day`` in ``zone``, oldest first (a range on the
    ``(device_id, kind, captured_at)`` index)."""
    start, end = day_window(day, zone)
    stmt = (
        select(Media.id, Media.captured_at, Media.bytes)
        .where(Media.device_id == device_id, *_is_snapshot(), Media.captured_at >= start, Media.captured_at < end)
        .order_by(Media.captured_at, Media.id)
    )
    with store.engine.connect() as connection:
        return [SnapshotFrame(int(i), _aware(at), int(b)) for i, at, b in connection.execute(stmt)]
