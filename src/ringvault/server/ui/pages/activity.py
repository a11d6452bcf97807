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

    def counts(
        self,
        store: ArchiveStore,
        marker: tuple[Any, ...],
        device_ids: frozenset[int] | None,
        kinds: frozenset[str] | None,
    ) -> Counts:
        def compute() -> Counts:
            zones = device_zones(store)
            return Counts(
                event_day_counts(store, device_ids=device_ids, kinds=kinds, zones=zones),
                event_hour_counts(store, device_ids=device_ids, kinds=kinds, zones=zones),
                zones,
            )

        return self._memo(("counts", id(store), marker, device_ids, kinds), compute)


_cache = _CountsCache()


class _BadFilterError(ValueError):
    pass


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


def kind_label(kind: str) -> str:
    return kind or "(no kind)"


def _day_charts(
    days: list[DayCount], names: dict[int, str], zones: dict[int, str], series: dict[str, int]
) -> tuple[list[DeviceChart], list[str], int]:
    """One chart per device, the same day axis and scale for all (so they compare at a glance)."""
    if not days:
        return [], [], 0
    first, last = days[0].day, days[-1].day
    span = (last - first).days + 1
    axis = [(first + timedelta(days=i)).isoformat() for i in range(span)]
    totals: dict[tuple[int, date], int] = defaultdict(int)
    for c in days:
        totals[(c.device_id, c.day)] += c.count
    peak = max(totals.values())
    slot = CHART_WIDTH / span
    width = max(slot * 0.85, 0.5)
    charts: dict[int, DeviceChart] = {}
    stacked: dict[tuple[int, date], float] = defaultdict(float)
    for c in sorted(days, key=lambda c: (c.device_id, c.day, series[c.kind])):
        chart = charts.get(c.device_id)
        if chart is None:
            name = names.get(c.device_id, f"device {c.device_id}")
            chart = charts[c.device_id] = DeviceChart(c.device_id, name, zones.get(c.device_id, "UTC"), 0)
        chart.total += c.count
        height = CHART_HEIGHT * c.count / peak
        below = stacked[(c.device_id, c.day)]
        stacked[(c.device_id, c.day)] = below + height
        x = (c.day - first).days * slot
        y = CHART_TOP + CHART_HEIGHT - below - height
        bar = Bar(c.day.isoformat(), c.device_id, chart.name, c.kind, c.count, series[c.kind] % SERIES,
                  round(x, 2), round(y, 2), round(width, 2), round(height, 2))  # fmt: skip
        chart.bars.append(bar)
    ordered = sorted(charts.values(), key=lambda ch: (ch.name.casefold(), ch.device_id))
    return ordered, axis, peak


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


@router.get("/activity", response_class=HTMLResponse)
def activity_page(request: Request, device: str | None = None, kind: str | None = None) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    store = ctx.store
    names = {d.id: d.name or f"device {d.id}" for d in store.list_devices()}
    marker = activity_marker(store)
    kinds = _cache.kinds(store, marker)
    series = {k: i for i, k in enumerate(kinds)}
    devices = sorted(names.items(), key=lambda item: (item[1].casefold(), item[0]))
    base: dict[str, Any] = {
        "devices": devices, "kinds": kinds, "kind_label": kind_label, "device_id": None, "kind": None,
        "error": None, "charts": [], "axis": [], "peak": 0, "cells": [], "heat_peak": 0, "weekdays": WEEKDAYS,
        "series": series, "zones": [], "total": 0, "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT,
        "top": CHART_TOP, "cell": CELL}, "day_rows": [],
    }  # fmt: skip
    try:
        device_id = _device_filter(device, names)
        chosen_kind = _kind_filter(kind, kinds)
    except _BadFilterError as exc:
        return render(request, "activity.html", title="Activity", status_code=400, **{**base, "error": str(exc)})
    counts = _cache.counts(
        store,
        marker,
        frozenset({device_id}) if device_id is not None else None,
        frozenset({chosen_kind}) if chosen_kind is not None else None,
    )
    charts, axis, peak = _day_charts(counts.days, names, counts.zones, series)
    cells, heat_peak = _heat_cells(counts.hours)
    shown = {c.device_id for c in counts.days}
    zones = sorted({(names.get(d, str(d)), counts.zones.get(d, "UTC")) for d in shown}, key=lambda z: z[0].casefold())
    day_rows = [(c, names.get(c.device_id, f"device {c.device_id}")) for c in counts.days]
    values = {
        **base, "device_id": device_id, "kind": chosen_kind, "charts": charts, "axis": axis, "peak": peak,
        "cells": cells, "heat_peak": heat_peak, "zones": zones, "total": sum(c.count for c in counts.days),
        "day_rows": day_rows,
    }  # fmt: skip
    return render(request, "activity.html", title="Activity", **values)


def _kinds(store: ArchiveStore) -> list[str]:
    from sqlalchemy import distinct, func, select

    from ringvault.archive.store.models import Event

    with store.engine.connect() as connection:
        return sorted(str(k) for k in connection.scalars(select(distinct(func.coalesce(Event.kind, NO_KIND)))))
