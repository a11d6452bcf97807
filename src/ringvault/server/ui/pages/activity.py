"""The activity page (``/activity``): events per day by device and kind, and an hour-of-day × weekday heatmap.

The counts are GROUP BY queries (``ringvault.archive.store.activity``), in each device's own time zone, exact across
daylight saving changes. The charts are SVG written by the template (no chart library, nothing from another host, no
inline style: colours are CSS classes, positions SVG attributes); every bar and cell carries its numbers in
``data-*`` attributes and a ``<title>``, and each chart has a table of the same numbers. The counts of a filter are
kept in memory until the events change (:func:`~ringvault.archive.store.activity.activity_marker`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.activity import (
    DayCount,
    HourCount,
    Per,
    activity_marker,
    device_zones,
    event_day_counts,
    event_hour_counts,
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
#: the bars of a chart by default at most (the finest grouping that keeps to it), and at most when asked
AUTO_BARS, MAX_BARS = 120, 400
PERS: tuple[Per, ...] = ("day", "week", "month")
NO_KIND = ""
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


@dataclass(frozen=True, slots=True)
class Cell:
    """One hour of one weekday in the heatmap."""

    weekday: int
    hour: int
    count: int
    level: int
    x: float
    y: float


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
    days: list[DayCount]
    hours: list[HourCount]
    zones: dict[int, str]


class _CountsCache:
    """The counts of recent filters (and the archive's kinds), dropped as soon as the archive's events change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def _memo(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                found: T = self._entries[key]
                return found
        value = compute()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)
        return value

    def kinds(self, store: ArchiveStore, marker: tuple[Any, ...]) -> list[str]:
        """Every event kind of the archive (``""`` for events without one), sorted."""
        return self._memo(("kinds", id(store), marker), lambda: _kinds(store))

    def counts(self, store: ArchiveStore, marker: tuple[Any, ...], filters: Filters, per: Per) -> Counts:
        """The bars' and the heatmap's counts of ``filters``."""

        def compute() -> Counts:
            zones = device_zones(store)
            devices = None if filters.device_id is None else {filters.device_id}
            kinds = None if filters.kind is None else {filters.kind}
            since, until = filters.since, filters.until
            return Counts(
                event_day_counts(
                    store, device_ids=devices, kinds=kinds, zones=zones, per=per, since=since, until=until
                ),
                event_hour_counts(store, device_ids=devices, kinds=kinds, zones=zones, since=since, until=until),
                zones,
            )

        return self._memo(("counts", id(store), marker, filters, per), compute)


_cache = _CountsCache()


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
        bar = Bar(c.day.isoformat(), c.device_id, chart.name, c.kind, c.count, series.get(c.kind, 0) % SERIES,
                  round(place[c.day] * slot, 2), round(y, 2), width, round(height, 2))  # fmt: skip
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
            cells.append(Cell(weekday, hour, count, level, hour * CELL, weekday * CELL))
    return cells, peak


def _span(marker: tuple[Any, ...], filters: Filters) -> tuple[date, date] | None:
    """The local days the page covers: the filter's, else the archive's first and last (widened by a day each way
    for the zones: the exact days come from the counts)."""
    _count, low, high = marker
    if low is None:
        return None
    first = filters.since or (low.date() - timedelta(days=1))
    last = filters.until or (high.date() + timedelta(days=1))
    return first, max(first, last)


@router.get("/activity", response_class=HTMLResponse)
def activity_page(request: Request) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    store = ctx.store
    names = {d.id: d.name or f"device {d.id}" for d in store.list_devices()}
    marker = activity_marker(store)
    kinds = _cache.kinds(store, marker)
    series = {k: i for i, k in enumerate(kinds)}
    devices = sorted(names.items(), key=lambda item: (item[1].casefold(), item[0]))
    base: dict[str, Any] = {
        "devices": devices, "kinds": kinds, "kind_label": kind_label, "filters": Filters(), "error": None,
        "charts": [], "axis": [], "peak": 0, "cells": [], "heat_peak": 0, "weekdays": WEEKDAYS, "series": series,
        "zones": [], "total": 0, "per": "day", "pers": PERS, "note": None, "table_kinds": [], "table_rows": [],
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "top": CHART_TOP, "cell": CELL},
    }  # fmt: skip
    try:
        filters = _filters(request, names, kinds)
    except _BadFilterError as exc:
        return render(request, "activity.html", title="Activity", status_code=400, **{**base, "error": str(exc)})
    span = _span(marker, filters)
    if span is None:
        return render(request, "activity.html", title="Activity", **{**base, "filters": filters})
    per, note = choose_per(*span, filters.per)
    counts = _cache.counts(store, marker, filters, per)
    charts, axis, peak = _day_charts(counts.days, names, counts.zones, series, per)
    cells, heat_peak = _heat_cells(counts.hours)
    shown = {c.device_id for c in counts.days}
    zones = sorted({(names.get(d, str(d)), counts.zones.get(d, "UTC")) for d in shown}, key=lambda z: z[0].casefold())
    table_kinds = sorted({c.kind for c in counts.days}, key=lambda k: series.get(k, 0))
    values = {
        **base, "filters": filters, "charts": charts, "axis": axis, "peak": peak, "cells": cells,
        "heat_peak": heat_peak, "zones": zones, "total": sum(c.count for c in counts.days), "per": per, "note": note,
        "table_kinds": table_kinds, "table_rows": _table_rows(counts.days, names, table_kinds),
    }  # fmt: skip
    return render(request, "activity.html", title="Activity", **values)


def _kinds(store: ArchiveStore) -> list[str]:
    from sqlalchemy import func, select

    from ringvault.archive.store.models import Event

    with store.engine.connect() as connection:
        return sorted(str(k) for k in connection.scalars(select(func.coalesce(Event.kind, NO_KIND)).distinct()))
