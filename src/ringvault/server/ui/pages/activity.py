"""The activity page (``/activity``): events per day by device and kind, and an hour-of-day × weekday heatmap.

The counts are GROUP BY queries (``ringvault.archive.store.activity``), in each device's own time zone, exact across
daylight saving changes. The charts are SVG written by the template (no chart library, nothing from another host, no
inline style: colours are CSS classes, positions SVG attributes); every bar and cell carries its numbers in
``data-*`` attributes and a ``<title>``, and each chart has a table of the same numbers.

Speed on a large archive: the counts of every device and kind by local day and by weekday × hour are taken once per
server process (:class:`_Totals`, two GROUP BY queries), and each later request adds only the events added since
(rows above the last ``rowid`` counted, one query over them alone); a device or kind filter is folded from these
totals in Python. Only a day range (``since``/``until``) queries the archive again, and its counts are kept until
the events change.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.activity import (
    DayCount,
    EventsState,
    HourCount,
    Per,
    device_zones,
    event_day_counts,
    event_hour_counts,
    events_state,
)
from ringvault.server.context import ServerContext
from ringvault.server.ui.render import NavItem, render

router = APIRouter()
NAV = NavItem(order=50, path="/activity", label="Activity")

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: colour classes of the kinds (``series-0`` ...), reused past this many kinds
SERIES = 8
#: shades of the heatmap (``heat-0`` is no event)
HEAT_LEVELS = 5
#: the SVG coordinate systems (the charts scale to the page width)
CHART_WIDTH, CHART_HEIGHT, CHART_TOP = 960.0, 110.0, 6.0
CELL = 36.0
#: how many filters' counts are kept (each a few kilobytes)
CACHE_SIZE = 32
#: the totals are counted afresh after this long, whatever changed (see :class:`_Totals`)
TOTALS_MAX_AGE_S = 600.0
#: the bars of a chart by default at most (the finest grouping that keeps to it), and at most when asked
AUTO_BARS, MAX_BARS = 120, 400
PERS: tuple[Per, ...] = ("day", "week", "month")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Bar:
    """One segment of a stacked bar: a device's events of one kind on one day, with its place in the SVG."""

    day: str
    device_id: int
    device: str
    kind: str
    count: int
    series: int
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True, slots=True)
class Cell:
    """One hour of one weekday in the heatmap."""

    weekday: int
    hour: int
    count: int
    level: int
    x: float
    y: float
    title: str


@dataclass
class DeviceChart:
    """The daily bars of one device."""

    device_id: int
    name: str
    zone: str
    total: int
    bars: list[Bar] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Counts:
    """What one view draws: day (or week, month) counts and hour × weekday counts, and the zones used."""

    days: list[DayCount]
    hours: list[HourCount]
    zones: dict[int, str]


@dataclass
class _Totals:
    """The archive's counts at their finest, for every device and kind: by local day, and by local weekday and hour.

    Every view without a day range is folded from these in Python (a few thousand groups, not the events), so a
    filter is never a new scan of the archive. New events (rows above ``state.last_row``, SQLite) are added with one
    query over them alone; anything else (an event removed, a device's zone changed, PostgreSQL) counts afresh. This
    rests on a stored event keeping its time and kind (a ding's are Ring's and fixed; a re-sync writes the same
    values); so that nothing else could leave the page wrong for long, the totals are counted afresh every
    ``TOTALS_MAX_AGE_S`` anyway."""

    state: EventsState
    zones: dict[int, str]
    days: Counter[tuple[int, str, date]]
    hours: Counter[tuple[int, str, date, int, int]]  # (device, kind, local month, weekday, hour)
    counted_at: float = field(default_factory=time.monotonic)  # the last full count (updates keep it)
    kinds: list[str] = field(default_factory=list)  # every kind counted, sorted (set by ``_count_into``)


def _count_into(totals: _Totals, store: ArchiveStore, rows: tuple[int, int] | None) -> None:
    """Add the counts of the events in ``rows`` (all: ``None``) to ``totals``."""
    for d in event_day_counts(store, zones=totals.zones, rows=rows):
        totals.days[(d.device_id, d.kind, d.day)] += d.count
    for h in event_hour_counts(store, zones=totals.zones, rows=rows, by_month=True):
        assert h.month is not None
        totals.hours[(h.device_id, h.kind, h.month, h.weekday, h.hour)] += h.count
    totals.kinds = sorted({kind for _device, kind, _day in totals.days})


def _fresh_totals(store: ArchiveStore, state: EventsState, zones: dict[int, str]) -> _Totals:
    totals = _Totals(state, zones, Counter(), Counter())
    _count_into(totals, store, None)
    return totals


class _CountsCache:
    """The totals of the server's archive, and the counts of recent day ranges (dropped when the events change).
    One per app (``app.state``), so two servers in one process never share counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: _Totals | None = None
        self._ranges: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def totals(self, store: ArchiveStore) -> _Totals:
        """The totals now: the kept ones, brought up to date (one lock: two requests never count the same rows)."""
        with self._lock:
            state = events_state(store)
            zones = device_zones(store)
            kept = self._totals
            if kept is not None and time.monotonic() - kept.counted_at > TOTALS_MAX_AGE_S:
                kept = None
            if kept is not None and kept.state == state and kept.zones == zones:
                return kept
            last, before = state.last_row, (kept.state.last_row if kept is not None else None)
            if kept is not None and kept.zones == zones and last is not None and before is not None and last > before:
                grown = _Totals(state, zones, Counter(kept.days), Counter(kept.hours), kept.counted_at)
                _count_into(grown, store, (before, last))
                self._totals = grown
                return grown
            fresh = _fresh_totals(store, state, zones)
            self._totals = fresh
            return fresh

    def ranged(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """The counts of a day range, kept for the same events (``key`` holds the events' state)."""
        with self._lock:
            if key in self._ranges:
                self._ranges.move_to_end(key)
                found: T = self._ranges[key]
                return found
        value = compute()
        with self._lock:
            self._ranges[key] = value
            while len(self._ranges) > CACHE_SIZE:
                self._ranges.popitem(last=False)
        return value


_cache_guard = threading.Lock()


def _cache_of(request: Request) -> _CountsCache:
    with _cache_guard:
        cache: _CountsCache | None = getattr(request.app.state, "ui_activity_counts", None)
        if cache is None:
            cache = _CountsCache()
            request.app.state.ui_activity_counts = cache
        return cache


def _month_end(month: date) -> date:
    return _step(month, "month") - timedelta(days=1)


def _fold(totals: _Totals, filters: Filters, per: Per) -> tuple[list[DayCount], Counter[tuple[int, str, int, int]]]:
    """The bars of ``filters`` and the hours of the local months wholly inside its day range, from the totals."""

    def wanted(device: int, kind: str) -> bool:
        return (filters.device_id is None or device == filters.device_id) and (
            filters.kind is None or kind == filters.kind
        )

    low, high = filters.since or date.min, filters.until or date.max
    days: Counter[tuple[int, str, date]] = Counter()
    for (device, kind, day), n in totals.days.items():
        if wanted(device, kind) and low <= day <= high:
            days[(device, kind, _start_of(day, per))] += n
    hours: Counter[tuple[int, str, int, int]] = Counter()
    for (device, kind, month, weekday, hour), n in totals.hours.items():
        if wanted(device, kind) and low <= month and _month_end(month) <= high:
            hours[(device, kind, weekday, hour)] += n
    day_counts = sorted(
        (DayCount(day, device, kind, n) for (device, kind, day), n in days.items()),
        key=lambda c: (c.day, c.device_id, c.kind),
    )
    return day_counts, hours


def _partial_months(filters: Filters) -> list[tuple[date, date]]:
    """The parts of the day range in local months it covers only in part (at most two: its first and its last)."""
    spans: list[tuple[date, date]] = []
    low, high = filters.since, filters.until
    if low is not None and low.day != 1:
        spans.append((low, min(high or date.max, _month_end(low))))
    if high is not None and high != _month_end(high):
        start = max(low or date.min, _start_of(high, "month"))
        if (start, high) not in spans:
            spans.append((start, high))
    return spans


def _counts(cache: _CountsCache, store: ArchiveStore, totals: _Totals, filters: Filters, per: Per) -> Counts:
    """Everything from the totals, but for the hours of the days of a range in months it covers only in part: those
    come from the database (one GROUP BY per zone over at most two partial months, kept until the events change)."""
    days, hours = _fold(totals, filters, per)
    devices = None if filters.device_id is None else {filters.device_id}
    kinds = None if filters.kind is None else {filters.kind}
    for since, until in _partial_months(filters):
        key = ("hours", totals.state, totals.counted_at, filters.device_id, filters.kind, since, until)
        count = partial(
            event_hour_counts, store, device_ids=devices, kinds=kinds, zones=totals.zones, since=since, until=until
        )
        part = cache.ranged(key, count)
        for h in part:
            hours[(h.device_id, h.kind, h.weekday, h.hour)] += h.count
    hour_counts = [HourCount(d, k, w, h, n) for (d, k, w, h), n in hours.items()]
    return Counts(days, hour_counts, totals.zones)


class _BadFilterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Filters:
    """What the page shows: a device (or all), a kind (or all), local days ``since`` .. ``until``, and how the bars
    group the days (``per``: ``None`` = chosen by the span)."""

    device_id: int | None = None
    kind: str | None = None
    since: date | None = None
    until: date | None = None
    per: Per | None = None


def _device_filter(value: str | None, known: dict[int, str]) -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) not in known:
        raise _BadFilterError(f"{value[:40]!r} is not a device of the archive; pick one from the list")
    return int(text)


def _kind_filter(value: str | None, kinds: Sequence[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in kinds:
        raise _BadFilterError(f"{value[:40]!r} is not an event kind of the archive; pick one from the list")
    return value


def _day_filter(value: str | None, name: str) -> date | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise _BadFilterError(f"{name} {value[:40]!r} is not a day; use YYYY-MM-DD, e.g. 2026-12-06") from None


def _per_filter(value: str | None) -> Per | None:
    if value is None or value in ("", "auto"):
        return None
    if value not in PERS:
        raise _BadFilterError(f"{value[:40]!r} is not a grouping; use day, week or month")
    return value


def _filters(request: Request, names: dict[int, str], kinds: Sequence[str]) -> Filters:
    q = request.query_params
    filters = Filters(
        _device_filter(q.get("device"), names),
        _kind_filter(q.get("kind"), kinds),
        _day_filter(q.get("since"), "since"),
        _day_filter(q.get("until"), "until"),
        _per_filter(q.get("per")),
    )
    if filters.since and filters.until and filters.since > filters.until:
        raise _BadFilterError("since is after until; swap them")
    return filters


def kind_label(kind: str) -> str:
    return kind or "(no kind)"


def _step(day: date, per: Per) -> date:
    if per == "day":
        return day + timedelta(days=1)
    if per == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _start_of(day: date, per: Per) -> date:
    if per == "week":
        return day - timedelta(days=day.weekday())
    if per == "month":
        return day.replace(day=1)
    return day


def _buckets(first: date, last: date, per: Per) -> int:
    if per == "day":
        return (last - first).days + 1
    if per == "week":
        return (_start_of(last, "week") - _start_of(first, "week")).days // 7 + 1
    return (last.year - first.year) * 12 + last.month - first.month + 1


def choose_per(first: date, last: date, wanted: Per | None) -> tuple[Per, str | None]:
    """The grouping of the bars: ``wanted``, unless it would draw more than ``MAX_BARS`` of them (then the next
    coarser one, with a note saying so); by default the finest one with at most ``AUTO_BARS``."""
    order: tuple[Per, ...] = ("day", "week", "month")
    if wanted is None:
        return next((p for p in order if _buckets(first, last, p) <= AUTO_BARS), "month"), None
    for per in order[order.index(wanted) :]:
        if _buckets(first, last, per) <= MAX_BARS or per == "month":
            note = None if per == wanted else f"too many {wanted}s to draw ({_buckets(first, last, wanted)}): per {per}"
            return per, note
    return "month", None


def _axis(first: date, last: date, per: Per) -> list[date]:
    days, day = [], _start_of(first, per)
    while day <= last:
        days.append(day)
        day = _step(day, per)
    return days


def _day_charts(
    days: list[DayCount], names: dict[int, str], zones: dict[int, str], series: dict[str, int], per: Per
) -> tuple[list[DeviceChart], list[date], int]:
    """One chart per device, the same axis and scale for all (so they compare at a glance)."""
    if not days:
        return [], [], 0
    axis = _axis(days[0].day, days[-1].day, per)
    place = {day: i for i, day in enumerate(axis)}
    totals: dict[tuple[int, date], int] = defaultdict(int)
    for c in days:
        totals[(c.device_id, c.day)] += c.count
    peak = max(totals.values())
    slot = CHART_WIDTH / len(axis)
    width = round(max(slot * 0.85, 0.5), 2)
    charts: dict[int, DeviceChart] = {}
    stacked: dict[tuple[int, date], float] = defaultdict(float)
    for c in sorted(days, key=lambda c: (c.device_id, c.day, series.get(c.kind, 0))):
        chart = charts.get(c.device_id)
        if chart is None:
            name = names.get(c.device_id, f"device {c.device_id}")
            chart = charts[c.device_id] = DeviceChart(c.device_id, name, zones.get(c.device_id, "UTC"), 0)
        chart.total += c.count
        height = CHART_HEIGHT * c.count / peak
        below = stacked[(c.device_id, c.day)]
        stacked[(c.device_id, c.day)] = below + height
        y = CHART_TOP + CHART_HEIGHT - below - height
        title = f"{per} of {c.day.isoformat()} · {chart.name} · {kind_label(c.kind)}: {c.count}"
        bar = Bar(c.day.isoformat(), c.device_id, chart.name, c.kind, c.count, series.get(c.kind, 0) % SERIES,
                  round(place[c.day] * slot, 2), round(y, 2), width, round(height, 2), title)  # fmt: skip
        chart.bars.append(bar)
    ordered = sorted(charts.values(), key=lambda ch: (ch.name.casefold(), ch.device_id))
    return ordered, axis, peak


def _table_rows(days: list[DayCount], names: dict[int, str], kinds: list[str]) -> list[tuple[str, int, str, list[int]]]:
    """The numbers of the bars, one row per day (or week, month) and device, one column per kind."""
    rows: dict[tuple[date, int], dict[str, int]] = defaultdict(dict)
    for c in days:
        rows[(c.day, c.device_id)][c.kind] = c.count
    return [
        (day.isoformat(), device, names.get(device, f"device {device}"), [by_kind.get(k, 0) for k in kinds])
        for (day, device), by_kind in sorted(rows.items())
    ]


def _heat_cells(hours: list[HourCount]) -> tuple[list[Cell], int]:
    grid: dict[tuple[int, int], int] = defaultdict(int)
    for h in hours:
        grid[(h.weekday, h.hour)] += h.count
    peak = max(grid.values(), default=0)
    cells = []
    for weekday in range(7):
        for hour in range(24):
            count = grid.get((weekday, hour), 0)
            level = 0 if count == 0 else 1 + min(HEAT_LEVELS - 1, (HEAT_LEVELS * (count - 1)) // max(peak, 1))
            title = f"{WEEKDAYS[weekday]} {hour:02d}:00–{(hour + 1) % 24:02d}:00: {count}"
            cells.append(Cell(weekday, hour, count, level, hour * CELL, weekday * CELL, title))
    return cells, peak


def _span(totals: _Totals, filters: Filters) -> tuple[date, date] | None:
    """The local days the page covers: the filter's, else the archive's first and last."""
    if not totals.days:
        return None
    days = [day for _device, _kind, day in totals.days]
    first = filters.since or min(days)
    last = filters.until or max(days)
    return first, max(first, last)


@router.get("/activity", response_class=HTMLResponse)
def activity_page(request: Request) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    store = ctx.store
    names = {d.id: d.name or f"device {d.id}" for d in store.list_devices()}
    cache = _cache_of(request)
    totals = cache.totals(store)
    kinds = totals.kinds
    devices = sorted(names.items(), key=lambda item: (item[1].casefold(), item[0]))
    base: dict[str, Any] = {
        "devices": devices, "kinds": kinds, "kind_label": kind_label, "filters": Filters(), "error": None,
        "charts": [], "axis": [], "peak": 0, "cells": [], "heat_peak": 0, "weekdays": WEEKDAYS, "series": {},
        "zones": [], "total": 0, "per": "day", "pers": PERS, "note": None, "table_kinds": [], "table_rows": [],
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "top": CHART_TOP, "cell": CELL},
    }  # fmt: skip
    try:
        filters = _filters(request, names, kinds)
    except _BadFilterError as exc:
        return render(request, "activity.html", title="Activity", status_code=400, **{**base, "error": str(exc)})
    key = ("view", totals.state, totals.counted_at, filters, tuple(sorted(names.items())))
    view = cache.ranged(key, lambda: _view(cache, store, totals, filters, names))
    return render(request, "activity.html", title="Activity", **{**base, "filters": filters, **view})


def _view(
    cache: _CountsCache, store: ArchiveStore, totals: _Totals, filters: Filters, names: dict[int, str]
) -> dict[str, Any]:
    """What the template draws for ``filters`` (kept with the counts: the same events draw the same charts)."""
    series = {k: i for i, k in enumerate(totals.kinds)}
    span = _span(totals, filters)
    if span is None:
        return {"series": series}
    per, note = choose_per(*span, filters.per)
    counts = _counts(cache, store, totals, filters, per)
    charts, axis, peak = _day_charts(counts.days, names, counts.zones, series, per)
    cells, heat_peak = _heat_cells(counts.hours)
    shown = {c.device_id for c in counts.days}
    by_zone: dict[str, list[str]] = defaultdict(list)
    for device in shown:
        by_zone[counts.zones.get(device, "UTC")].append(names.get(device, str(device)))
    zones = [(zone, sorted(members, key=str.casefold)) for zone, members in sorted(by_zone.items())]
    table_kinds = sorted({c.kind for c in counts.days}, key=lambda k: series.get(k, 0))
    return {
        "series": series, "charts": charts, "axis": axis, "peak": peak, "cells": cells, "heat_peak": heat_peak,
        "zones": zones, "total": sum(c.count for c in counts.days), "per": per, "note": note,
        "table_kinds": table_kinds, "table_rows": _table_rows(counts.days, names, table_kinds),
    }  # fmt: skip
