"""The seed-001 REST connector: ``GET /connector/download/today`` and ``POST /connector/download/{YYYYMMDD}``.

Seed 001 (ringface-connector) walked each doorbell's last 300 ``ding`` events, downloaded those of the day that
the caller did not already hold and whose recording was ready, and answered one JSON object per event. Here the
same request runs ringvault's engine instead: an incremental :func:`run_sync` limited to the day and the kind
(validated, atomic, resumable downloads; the archive stays the truth), then the answer is read from the archive.

"The day" is a calendar day in each device's own time zone (Ring's ``time_zone`` of the device): at 01:00 in
Rome it is already tomorrow there and still today in New York, so "today" is computed per device at request time.
Devices whose day covers the same instants share one sync run.

Held ids (the POST body) are not downloaded and, as in seed 001, not listed: the answer is what the caller does
not have yet. ``include_held=true`` lists them too, with status ``skipped``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from pydantic import StringConstraints

from ringvault.archive.dates import day_window, parse_compact_day, zone_named
from ringvault.archive.layout import DeviceRef
from ringvault.archive.sidecar import SidecarEvent, build_sidecar
from ringvault.archive.store import MediaKind, MediaStatus, StoredEvent
from ringvault.archive.sync import run_sync
from ringvault.server.api import MAX_TEXT, shown
from ringvault.server.schemas import ConnectorEvent, ErrorOut

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.camera import RingCamera
    from ringvault.cloud.intercom import RingIntercom
    from ringvault.server.context import ServerContext

__all__ = ["DayTarget", "download_day", "router"]

log = logging.getLogger("ringvault.server")

router = APIRouter(prefix="/connector", tags=["connector (seed 001)"])

#: ``kind`` value meaning "every kind".
ALL_KINDS = "all"
_KIND = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_PAGE = 500
#: held ids one call may name (seed 001 listed at most 300 events per doorbell and day)
MAX_HELD = 20_000
HeldId = Annotated[str, StringConstraints(max_length=64)] | int

STATUS_BY_MEDIA = {
    MediaStatus.DONE: "downloaded",
    MediaStatus.PENDING: "pending",
    MediaStatus.FAILED: "failed",
    MediaStatus.GIVEN_UP: "failed",
    MediaStatus.NO_MEDIA: "no_media",
}

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad date, kind or body"},
    503: {"model": ErrorOut, "description": "not logged in to Ring (run `ringvault login`)"},
    502: {"model": ErrorOut, "description": "Ring's cloud failed or cannot be reached"},
}


@dataclasses.dataclass(frozen=True)
class DayTarget:
    """A device and the calendar day asked for, in its time zone: ``[since, until)`` in UTC."""

    ref: DeviceRef
    zone: tzinfo
    day: date
    since: datetime
    until: datetime


def _ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def _kind(value: str) -> str | None:
    if not _KIND.match(value):
        raise HTTPException(400, f"kind {shown(value)} is not an event kind; use ding, motion, on_demand, ... or all")
    return None if value == ALL_KINDS else value


async def _targets(api: RingApi, day: date | None, now: datetime) -> list[DayTarget]:
    """Every camera, doorbell and intercom with its day window (``day`` None: today in the device's zone)."""
    targets: list[DayTarget] = []
    for location in await api.get_locations():
        devices: list[RingCamera | RingIntercom] = [*location.cameras, *location.intercoms]
        for device in devices:
            zone_name = getattr(device.data, "time_zone", None)
            zone = zone_named(zone_name)
            local_day = day or now.astimezone(zone).date()
            since, until = day_window(local_day, zone)
            ref = DeviceRef(
                device_id=device.id,
                name=device.name,
                location_id=device.location_id or location.id,
                location_name=location.name,
                time_zone=zone_name,
            )
            targets.append(DayTarget(ref=ref, zone=zone, day=local_day, since=since, until=until))
    return targets


def _entry(ctx: ServerContext, target: DayTarget, event: StoredEvent, held: bool) -> dict[str, Any]:
    media = next((m for m in ctx.store.media_for_event(event.id) if m.kind is MediaKind.RECORDING), None)
    status = "skipped" if held else STATUS_BY_MEDIA[event.media_status]
    entry = build_sidecar(
        SidecarEvent(
            ding_id=event.id, created_at=event.created_at, kind=event.kind or "unknown", answered=event.answered,
            duration=event.duration_s, person_detected=event.person_detected, detection_type=event.detection_type,
        ),
        device_id=target.ref.device_id, device_name=target.ref.name, location_id=target.ref.location_id,
        location_name=target.ref.location_name, video_file_name=media.path if media else "", status=status,
        sha256=media.sha256 if media else None, size=media.bytes if media else None, zone=target.zone,
    )  # fmt: skip
    entry["videoFileName"] = media.path if media else None
    entry["mediaId"] = media.id if media else None
    entry["videoUrl"] = f"/api/media/{media.id}" if media else None
    if status in ("pending", "failed") and event.media_last_error:
        entry["error"] = event.media_last_error
    return entry


def _answer(
    ctx: ServerContext, targets: list[DayTarget], kind: str | None, held: frozenset[str], include_held: bool
) -> list[dict[str, Any]]:
    rows: list[tuple[datetime, str, dict[str, Any]]] = []
    for target in targets:
        cursor: str | None = None
        while True:
            page = ctx.store.query_events(
                device_id=int(target.ref.device_id), kind=kind, since=target.since, until=target.until,
                limit=_PAGE, cursor=cursor, newest_first=False,
            )  # fmt: skip
            for event in page.events:
                is_held = event.id in held
                if is_held and not include_held:
                    continue
                rows.append((event.created_at, event.id, _entry(ctx, target, event, is_held)))
            cursor = page.next_cursor
            if cursor is None:
                break
    rows.sort(key=lambda row: (row[0], row[1]))
    return [entry for _, _, entry in rows]


async def download_day(
    ctx: ServerContext, day: date | None, held: frozenset[str], kind: str | None, *, include_held: bool = False
) -> list[dict[str, Any]]:
    """Sync the day's ``kind`` events of every device (skipping ``held``), then answer them seed-001 style."""
    async with ctx.jobs.exclusive(), ctx.open_api() as api:
        targets = await _targets(api, day, ctx.clock())
        windows: dict[tuple[datetime, datetime], list[str]] = {}
        for target in targets:
            windows.setdefault((target.since, target.until), []).append(str(target.ref.device_id))
        for (since, until), device_ids in windows.items():
            options = dataclasses.replace(
                ctx.settings.sync_defaults,
                devices=device_ids, kinds=[kind] if kind else None, since=since, until=until,
                exclude_ids=held, metadata_only=False, dry_run=False,
            )  # fmt: skip
            summary = await run_sync(api, ctx.store, ctx.archive_dir, options)
            for error in summary.errors:
                log.info("connector sync: %s", error)
    return _answer(ctx, targets, kind, held, include_held)


KindQuery = Annotated[
    str, Query(max_length=MAX_TEXT, description="event kind to download and list; `all` for every kind")
]
HeldQuery = Annotated[bool, Query(description="also list the held events (status `skipped`)")]


@router.get("/download/today", response_model=list[ConnectorEvent], responses=ERRORS)
async def download_today(request: Request, kind: KindQuery = "ding", include_held: HeldQuery = False) -> Any:
    """Download today's events (today in each device's time zone) and list them as seed 001 did."""
    return await download_day(_ctx(request), None, frozenset(), _kind(kind), include_held=include_held)


@router.post("/download/{day}", response_model=list[ConnectorEvent], responses=ERRORS)
async def download_for_day(
    request: Request,
    day: Annotated[str, Path(max_length=MAX_TEXT, description="YYYYMMDD")],
    held: Annotated[
        list[HeldId] | None,
        Body(max_length=MAX_HELD, description="ring ids the caller already holds: not downloaded again"),
    ] = None,
    kind: KindQuery = "ding",
    include_held: HeldQuery = False,
) -> Any:
    """Download the events of day ``YYYYMMDD`` (in each device's time zone) that the caller does not hold yet."""
    try:
        parsed = parse_compact_day(day)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    held_ids = frozenset(str(item).strip() for item in held or [])
    return await download_day(_ctx(request), parsed, held_ids, _kind(kind), include_held=include_held)
