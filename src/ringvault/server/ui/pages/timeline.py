"""The timeline (``/timeline``) and playback (``/timeline/{event_id}``) pages.

The timeline lists the events of every device newest first, filtered by device, kind, detection and a day range,
with the count of the events the filters keep (one ``COUNT`` with the page's WHERE, ``archive/store/timeline.py``).
The first page is rendered here; the next ones come from ``/timeline/rows`` (the same rows, rendered by the same
template, on the same keyset cursor) — by infinite scroll in ``static/timeline.js``, or through the "Load more" link,
which is a plain link to the next page for keyboards and browsers without JavaScript.

Why rows rendered here rather than built in the script from ``/api/events``: the page's filters (a detection class,
days in each device's own time zone) are not the API's, and one template keeps one place where Ring's strings are
escaped.

Days are each device's own calendar days (its Ring ``time_zone``; UTC when it has none), as everywhere in ringvault
(the connector's "today", the archive's file names): "from 2026-12-01" keeps a Rome doorbell's events from midnight
in Rome and a New York camera's from midnight in New York. Times are shown in the device's zone, with its name.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ringvault.archive.dates import day_window, zone_named
from ringvault.archive.layout import ensure_inside
from ringvault.archive.store import InvalidCursorError, MediaStatus, StoredDevice
from ringvault.archive.store.timeline import (
    DETECTIONS,
    Detection,
    TimelineEvent,
    TimelineFilter,
    TimeWindow,
    timeline_count,
    timeline_event,
    timeline_neighbours,
    timeline_page,
)
from ringvault.server.context import ServerContext
from ringvault.server.ui.render import NavItem, environment, render

router = APIRouter()
NAV = NavItem(order=20, path="/timeline", label="Timeline")

PAGE_SIZE = 50
#: kinds the filter always offers (Ring's history kinds); kinds found in the archive are added
KINDS = ("ding", "motion", "on_demand")
DETECTION_LABELS: dict[str, str] = {
    "person": "Person",
    "vehicle": "Vehicle",
    "package": "Package",
    "other": "Other (no person, vehicle or package)",
}
MAX_TEXT = 512
Text = Annotated[str, Query(max_length=MAX_TEXT)]


class FilterError(ValueError):
    """A filter value the page cannot use (shown on the page, with the events unfiltered by it)."""


@dataclass(frozen=True)
class Filters:
    """The filters as the query string carries them (text) and as the store reads them."""

    device: str = ""
    kind: str = ""
    detection: str = ""
    since: str = ""
    until: str = ""

    def query(self, **extra: str) -> str:
        """The query string of these filters (empty ones left out), plus ``extra``."""
        values = {k: v for k, v in {**self.__dict__, **extra}.items() if v}
        return urlencode(values)

    @property
    def active(self) -> bool:
        return any(self.__dict__.values())


def _zone_name(device: StoredDevice) -> str | None:
    zone = (device.raw or {}).get("time_zone")
    return zone if isinstance(zone, str) and zone else None


class Devices:
    """The archive's devices with their names and time zones (read once per request)."""

    def __init__(self, devices: list[StoredDevice]) -> None:
        self.all = sorted(devices, key=lambda d: ((d.name or "").casefold(), d.id))
        self.by_id = {d.id: d for d in devices}
        self.zones: dict[int, tzinfo] = {d.id: zone_named(_zone_name(d)) for d in devices}

    def name(self, device_id: int) -> str:
        device = self.by_id.get(device_id)
        return (device.name or f"device {device_id}") if device else f"device {device_id}"

    def zone(self, device_id: int) -> tzinfo:
        return self.zones.get(device_id, UTC)

    def windows(self, since: date | None, until: date | None, only: int | None) -> tuple[TimeWindow, ...]:
        """``[since, until]`` (whole days) in each device's zone: one window per zone; devices in UTC (or unknown
        to the archive) share the last one."""
        groups: dict[str, list[int]] = defaultdict(list)
        for device_id, zone in self.zones.items():
            if only is None or device_id == only:
                key = str(zone)
                if zone is not UTC:
                    groups[key].append(device_id)
        windows: list[TimeWindow] = []
        zoned: list[int] = []
        for ids in groups.values():
            start, end = _bounds(since, until, self.zones[ids[0]])
            windows.append(TimeWindow(tuple(sorted(ids)), start, end))
            zoned.extend(ids)
        start, end = _bounds(since, until, UTC)
        windows.append(TimeWindow(tuple(sorted(zoned)), start, end, exclude=True))
        return tuple(windows)


def _bounds(since: date | None, until: date | None, zone: tzinfo) -> tuple[datetime | None, datetime | None]:
    start = day_window(since, zone)[0] if since else None
    end = day_window(until, zone)[1] if until else None
    return start, end


def _day(value: str, name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FilterError(f"{name} {value[:40]!r} is not a day; use YYYY-MM-DD, e.g. 2026-12-01") from None


def _detection(value: str) -> Detection | None:
    for known in DETECTIONS:
        if value == known:
            return known
    return None


def _store_filter(filters: Filters, devices: Devices) -> TimelineFilter:
    """The store's filter for ``filters``; raises :class:`FilterError` with one line for a value it cannot use."""
    device_id: int | None = None
    if filters.device:
        try:
            device_id = int(filters.device)
        except ValueError:
            raise FilterError(f"device {filters.device[:40]!r} is not a device id; pick one in the list") from None
        if device_id not in devices.by_id:
            raise FilterError(f"there is no device {device_id} in the archive; pick one in the list")
    if filters.detection and filters.detection not in DETECTIONS:
        raise FilterError(f"detection {filters.detection[:40]!r} is not one of {', '.join(DETECTIONS)}")
    since, until = _day(filters.since, "from"), _day(filters.until, "to")
    if since and until and since > until:
        raise FilterError("the first day is after the last day; swap them")
    windows = devices.windows(since, until, device_id) if (since or until) else None
    return TimelineFilter(
        device_id=device_id, kind=filters.kind or None, detection=_detection(filters.detection),
        windows=windows,
    )  # fmt: skip


def _local(when: datetime | None, zone: tzinfo) -> str:
    if when is None:
        return "—"
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".strip()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}" if whole >= 60 else f"{whole} s"


def media_state(event: TimelineEvent, zone: tzinfo) -> tuple[str, str, str]:
    """(state word, sentence saying why, CSS class) of an event's recording."""
    next_try = f"; next try {_local(event.media_next_attempt_at, zone)}" if event.media_next_attempt_at else ""
    error = event.media_last_error
    if event.media_status is MediaStatus.DONE:
        if event.recording_id is None:
            return "missing", "marked archived, but the archive has no file row for it (run ringvault sync)", "bad"
        return "archived", "the recording is in the archive", "ok"
    if event.media_status is MediaStatus.PENDING:
        if error:
            why = error
        elif event.media_attempts == 0:
            why = "not downloaded yet: the next sync fetches it"
        else:
            why = "Ring has not prepared the recording yet"
        return "pending", why + (next_try or "; the next sync tries again"), "warn"
    if event.media_status is MediaStatus.FAILED:
        runs = f"failed on {event.media_failures} run{'s' if event.media_failures != 1 else ''}"
        return "failed", f"{runs}: {error or 'no error was recorded'}{next_try or '; the next sync retries it'}", "bad"
    if event.media_status is MediaStatus.GIVEN_UP:
        why = f"given up after {event.media_failures} failed runs: {error or 'no error was recorded'}"
        return "given up", why + " (ringvault sync --retry-failed tries again)", "bad"
    return "no recording", "Ring keeps no recording of it (no Ring Protect plan, or recordings off)", "muted"


@dataclass(frozen=True)
class Row:
    """One event as a template prints it (every string escaped by Jinja2)."""

    event: TimelineEvent
    device: str
    when: str
    when_iso: str
    kind: str
    detection: str
    duration: str
    answered: str
    state: str
    why: str
    state_class: str
    image_url: str | None
    image_alt: str
    link: str


def _row(event: TimelineEvent, devices: Devices, filters: Filters) -> Row:
    zone = devices.zone(event.device_id)
    device = devices.name(event.device_id)
    when = _local(event.created_at, zone)
    state, why, css = media_state(event, zone)
    detection = "" if event.detection == "other" else DETECTION_LABELS[event.detection]
    if event.image_id is None:
        alt = ""
    elif event.image_at is None:
        alt = f"Snapshot of {device} at {when}"
    else:
        alt = f"Snapshot of {device} taken {_local(event.image_at, zone)}"
    query = filters.query()
    return Row(
        event=event, device=device, when=when, when_iso=event.created_at.isoformat(), kind=event.kind or "unknown",
        detection=detection or "—", duration=_duration(event.duration_s),
        answered={True: "yes", False: "no", None: "—"}[event.answered], state=state, why=why, state_class=css,
        image_url=f"/api/media/{event.image_id}" if event.image_id else None, image_alt=alt,
        link=f"/timeline/{event.id}" + (f"?{query}" if query else ""),
    )  # fmt: skip


def _filters(device: str, kind: str, detection: str, since: str, until: str) -> Filters:
    return Filters(device=device.strip(), kind=kind.strip(), detection=detection.strip(), since=since, until=until)


def _page_data(ctx: ServerContext, filters: Filters, cursor: str | None) -> dict[str, Any]:
    """What the timeline and its rows need: the rows of one page, the next page's links, the count, the error."""
    devices = Devices(ctx.store.list_devices())
    error = None
    try:
        flt = _store_filter(filters, devices)
    except FilterError as exc:
        error, filters, flt = str(exc), Filters(), TimelineFilter()
    try:
        page = timeline_page(ctx.store, flt, limit=PAGE_SIZE, cursor=cursor or None)
    except InvalidCursorError:
        error = "that page link is broken (its cursor was not made by this server); here is the first page"
        page = timeline_page(ctx.store, flt, limit=PAGE_SIZE)
    rows = [_row(event, devices, filters) for event in page.events]
    next_url = rows_url = None
    if page.next_cursor:
        next_url = "/timeline?" + filters.query(cursor=page.next_cursor)
        rows_url = "/timeline/rows?" + filters.query(cursor=page.next_cursor)
    return {
        "devices": devices, "flt": flt, "filters": filters, "rows": rows, "next_url": next_url,
        "rows_url": rows_url, "error": error,
    }  # fmt: skip


#: the kinds each store holds, read at most once a minute (a ``SELECT DISTINCT`` reads every row of a big archive;
#: a new kind shows in the list a minute late at worst, and a kind typed into the URL works at once)
_KINDS_TTL_S = 60.0
_kinds_cache: dict[int, tuple[float, frozenset[str]]] = {}


def _kinds(ctx: ServerContext) -> list[str]:
    now = time.monotonic()
    cached = _kinds_cache.get(id(ctx.store))
    if cached is None or now - cached[0] > _KINDS_TTL_S:
        cached = (now, frozenset(ctx.store.event_kinds()))
        _kinds_cache[id(ctx.store)] = cached
    return sorted(set(KINDS) | cached[1])


def _stream_url(request: Request) -> str:
    """``/api/events/stream`` when this server has it (the live indicator stays off otherwise: no request to a
    route that is not there, so no 404 in the browser's console)."""
    for route in request.app.routes:
        if getattr(route, "path", None) == "/api/events/stream":
            return "/api/events/stream"
    return ""


@router.get("/timeline", response_class=HTMLResponse)
def timeline(
    request: Request,
    device: Text = "",
    kind: Text = "",
    detection: Text = "",
    since: Text = "",
    until: Text = "",
    cursor: Text = "",
) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    data = _page_data(ctx, _filters(device, kind, detection, since, until), cursor)
    count = timeline_count(ctx.store, data["flt"])
    kinds = _kinds(ctx)
    if data["filters"].kind and data["filters"].kind not in kinds:
        kinds.append(data["filters"].kind)
    return render(
        request, "timeline.html", title="Timeline", count=count, kinds=kinds, detections=DETECTION_LABELS,
        deeper=bool(cursor) and not data["error"], stream_url=_stream_url(request),
        first_url="/timeline" + (f"?{data['filters'].query()}" if data["filters"].active else ""), **data,
    )  # fmt: skip


@router.get("/timeline/rows", response_class=HTMLResponse)
def timeline_rows(
    request: Request,
    device: Text = "",
    kind: Text = "",
    detection: Text = "",
    since: Text = "",
    until: Text = "",
    cursor: Text = "",
) -> HTMLResponse:
    """The next page's rows (a ``<table>`` whose ``<tbody>`` carries the next links), for the infinite scroll."""
    ctx: ServerContext = request.app.state.ctx
    data = _page_data(ctx, _filters(device, kind, detection, since, until), cursor)
    html = environment.get_template("timeline_rows.html").render(**data)
    status = 400 if data["error"] else 200
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@dataclass(frozen=True)
class Recording:
    """The playable recording of an event, or why there is none."""

    url: str | None
    download_url: str | None
    path: str | None
    bytes: int | None
    sha256: str | None
    problem: str | None


def _recording(ctx: ServerContext, event: TimelineEvent) -> Recording:
    media = next((m for m in ctx.store.media_for_event(event.id) if m.kind.value == "recording"), None)
    if media is None:
        return Recording(None, None, None, None, None, None)
    try:
        present = ensure_inside(ctx.archive_dir, media.path).is_file()
    except (ValueError, OSError):
        present = False
    problem = None if present else f"the recording is recorded in the archive, but its file {media.path} is missing"
    url = f"/api/media/{media.id}"
    return Recording(url, url + "?download=1", media.path, media.bytes, media.sha256, problem)


@router.get("/events/{event_id}", response_class=RedirectResponse, status_code=307)
def event_link(request: Request, event_id: Annotated[str, Path(max_length=MAX_TEXT)]) -> RedirectResponse:
    """``/events/{id}`` (the Sync page links recordings so) is the playback page, ``/timeline/{id}``."""
    query = request.url.query
    return RedirectResponse(f"/timeline/{quote(event_id, safe='')}" + (f"?{query}" if query else ""), 307)


@router.get("/timeline/{event_id}", response_class=HTMLResponse)
def playback(
    request: Request,
    event_id: Annotated[str, Path(max_length=MAX_TEXT)],
    device: Text = "",
    kind: Text = "",
    detection: Text = "",
    since: Text = "",
    until: Text = "",
) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    filters = _filters(device, kind, detection, since, until)
    devices = Devices(ctx.store.list_devices())
    event = timeline_event(ctx.store, event_id.strip())
    if event is None:
        return render(
            request, "playback.html", title="No such event", status_code=404, event=None, event_id=event_id[:80],
            timeline_url="/timeline",
        )  # fmt: skip
    try:
        flt = _store_filter(filters, devices)
    except FilterError:
        filters, flt = Filters(), TimelineFilter()
    older, newer = timeline_neighbours(ctx.store, flt, event)
    query = filters.query()
    suffix = f"?{query}" if query else ""
    row = _row(event, devices, filters)
    zone = devices.zone(event.device_id)
    return render(
        request, "playback.html", title=f"{row.kind} · {row.device} · {row.when}", event=event, row=row,
        recording=_recording(ctx, event), zone=str(zone),
        when_utc=f"{event.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        next_try=_local(event.media_next_attempt_at, zone) if event.media_next_attempt_at else None,
        older_url=f"/timeline/{older}{suffix}" if older else None,
        newer_url=f"/timeline/{newer}{suffix}" if newer else None,
        timeline_url="/timeline" + suffix,
    )  # fmt: skip
