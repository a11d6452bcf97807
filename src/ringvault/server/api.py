"""The JSON API over the archive: sync jobs, devices, events (keyset-paged), media (with Range), health.

Reads go straight to the archive database (SQLite in WAL mode: readers never wait for the sync writing);
routes that touch the database are plain functions, so FastAPI runs them in its thread pool, off the event loop
that runs the sync jobs.

Every parameter is bounded: texts (ids, names, dates, cursors) at most :data:`MAX_TEXT` characters (longer is a
400), numeric ids within SQLite's 64-bit range (an id outside it cannot exist: 404), and errors quote what was sent
cut short with control characters escaped (:func:`shown`).
"""

from __future__ import annotations

import dataclasses
import mimetypes
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from ringvault import __version__
from ringvault.archive.dates import parse_when
from ringvault.archive.layout import ensure_inside
from ringvault.archive.store import InvalidCursorError, MediaStatus
from ringvault.server.jobs import QueueFullError
from ringvault.server.schemas import (
    DeviceOut,
    ErrorOut,
    EventDetailOut,
    EventOut,
    EventPageOut,
    HealthOut,
    JobAccepted,
    JobOut,
    MediaOut,
    SyncRequest,
)

if TYPE_CHECKING:
    from ringvault.archive.sync import SyncOptions
    from ringvault.server.context import ServerContext

__all__ = ["MAX_ID", "MAX_TEXT", "health", "router", "shown", "text_query", "when_param"]

router = APIRouter(prefix="/api", tags=["api"])
health = APIRouter(tags=["health"])

MAX_LIMIT = 1000
#: the longest text parameter (path or query) any route reads
MAX_TEXT = 512
#: the largest row id SQLite stores (a signed 64-bit integer)
MAX_ID = 2**63 - 1
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}
BAD_INPUT: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut}}


def _ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def text_query(description: str) -> Any:
    """A text query parameter of at most :data:`MAX_TEXT` characters."""
    return Query(max_length=MAX_TEXT, description=description)


def shown(value: object, limit: int = 80) -> str:
    """``value`` as an error message quotes it: ``repr`` (control characters escaped), cut to ``limit``."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def when_param(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """A ``since``/``until`` query parameter as an aware datetime (None when empty); a bad one is a 400."""
    if value is None or not value.strip():
        return None
    try:
        return parse_when(value, end=end)
    except ValueError as exc:
        raise HTTPException(400, f"{name} {exc}") from None


def _sync_options(ctx: ServerContext, body: SyncRequest) -> SyncOptions:
    since = when_param(body.since, "since")
    until = when_param(body.until, "until", end=True)
    if since is not None and until is not None and since >= until:
        raise HTTPException(400, "since must be before until")
    return dataclasses.replace(
        ctx.settings.sync_defaults,
        devices=body.device or None, kinds=body.kind or None, since=since, until=until,
        metadata_only=body.metadata_only, oldest_first=not body.newest_first, retry_failed=body.retry_failed,
        dry_run=False, hub=body.hub and ctx.settings.sync_defaults.hub,
    )  # fmt: skip


# -- sync jobs -----------------------------------------------------------------------------------------------


@router.post(
    "/sync",
    status_code=202,
    response_model=JobAccepted,
    responses={**BAD_INPUT, 409: {"model": ErrorOut, "description": "too many jobs waiting"}},
)
async def start_sync(request: Request, body: SyncRequest | None = None) -> Any:
    """Start a sync in the background (queued behind a running one); poll ``GET /api/jobs/{job_id}``."""
    ctx = _ctx(request)
    body = body or SyncRequest()
    options = _sync_options(ctx, body)
    try:
        job, created = ctx.jobs.submit(options)
    except QueueFullError as exc:
        raise HTTPException(409, str(exc)) from None
    return JSONResponse(
        {"job_id": job.id, "state": job.state.value, "created": created},
        status_code=202,
        headers={"Location": f"/api/jobs/{job.id}"},
    )


@router.get("/jobs", response_model=list[JobOut])
async def list_jobs(request: Request) -> Any:
    """Every job this server process knows, newest first."""
    jobs = _ctx(request).jobs
    return [job.to_json(jobs.queue_position(job)) for job in jobs.all()]


@router.get("/jobs/{job_id}", response_model=JobOut, responses=NOT_FOUND)
async def get_job(request: Request, job_id: Annotated[str, Path(max_length=MAX_TEXT)]) -> Any:
    """A job's state (queued, running, done, failed), progress, summary and error."""
    jobs = _ctx(request).jobs
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {shown(job_id)} (jobs are forgotten when the server restarts)")
    return job.to_json(jobs.queue_position(job))


# -- archive -------------------------------------------------------------------------------------------------


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(request: Request) -> Any:
    """Every device in the archive, with its time zone and sync state."""
    store = _ctx(request).store
    return [DeviceOut.of(device, store.get_sync_state(device.id)) for device in store.list_devices()]


def _device_id(ctx: ServerContext, spec: str) -> int:
    text = spec.strip()
    devices = ctx.store.list_devices()
    matches = [d for d in devices if str(d.id) == text] or [
        d for d in devices if (d.name or "").casefold() == text.casefold()
    ]
    if not matches:
        raise HTTPException(404, f"no device {shown(spec)} in the archive; GET /api/devices lists them")
    if len(matches) > 1:
        raise HTTPException(400, f"{len(matches)} devices are named {shown(spec)}; use the numeric device id")
    return matches[0].id


@router.get("/events", response_model=EventPageOut, responses={**BAD_INPUT, **NOT_FOUND})
def list_events(
    request: Request,
    device: Annotated[str | None, text_query("device id or name")] = None,
    kind: Annotated[str | None, text_query("ding, motion, on_demand, ...")] = None,
    media_status: Annotated[
        MediaStatus | None, Query(description="only events whose recording is in this state (e.g. given_up)")
    ] = None,
    since: Annotated[str | None, text_query("YYYY-MM-DD or ISO date-time (inclusive)")] = None,
    until: Annotated[str | None, text_query("YYYY-MM-DD (inclusive day) or ISO date-time (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, text_query("next_cursor of the previous page")] = None,
) -> Any:
    """Events newest first, one page at a time (keyset pagination: pages never shift while new events arrive)."""
    ctx = _ctx(request)
    device_id = _device_id(ctx, device) if device else None
    try:
        page = ctx.store.query_events(
            device_id=device_id, kind=kind or None, since=when_param(since, "since"),
            until=when_param(until, "until", end=True), limit=limit, cursor=cursor or None, media_status=media_status,
        )  # fmt: skip
    except InvalidCursorError:
        raise HTTPException(400, "invalid cursor: pass the next_cursor of a previous page unchanged") from None
    return EventPageOut(events=[EventOut.of(e) for e in page.events], next_cursor=page.next_cursor)


@router.get("/events/{event_id}", response_model=EventDetailOut, responses=NOT_FOUND)
def get_event(request: Request, event_id: Annotated[str, Path(max_length=MAX_TEXT)]) -> Any:
    """One event with its media rows (each with the URL to fetch it) and Ring's JSON for it."""
    store = _ctx(request).store
    event = store.get_event(event_id.strip())
    if event is None:
        raise HTTPException(404, f"no event {shown(event_id)} in the archive")
    return EventDetailOut(
        **EventOut.of(event).model_dump(),
        cv_properties=event.cv_properties,
        raw=event.raw,
        media=[MediaOut.of(m) for m in store.media_for_event(event.id)],
    )


@router.get(
    "/media/{media_id}",
    response_class=FileResponse,
    responses={
        **NOT_FOUND,
        200: {"content": {"video/mp4": {}, "image/jpeg": {}}, "description": "the file"},
        206: {"description": "the requested byte range (Content-Range)"},
        416: {"description": "the range starts beyond the end of the file"},
    },
)
def get_media(
    request: Request,
    media_id: int,
    download: Annotated[bool, Query(description="true: Content-Disposition attachment (save, not show)")] = False,
) -> Any:
    """The file of a media row, streamed; ``Range: bytes=...`` gives 206 with ``Content-Range``."""
    ctx = _ctx(request)
    media = ctx.store.get_media(media_id) if 1 <= media_id <= MAX_ID else None
    if media is None:
        raise HTTPException(404, f"no media {media_id} in the archive")
    try:
        path = ensure_inside(ctx.archive_dir, media.path)
        stat = path.stat()
    except (ValueError, OSError):
        raise HTTPException(404, f"media {media_id} is recorded but its file {media.path} is missing") from None
    if not path.is_file():
        raise HTTPException(404, f"media {media_id} is recorded but {media.path} is not a file")
    content_type = media.content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path, media_type=content_type, filename=path.name, stat_result=stat,
        content_disposition_type="attachment" if download else "inline",
    )  # fmt: skip


# -- health --------------------------------------------------------------------------------------------------


@health.get("/healthz", response_model=HealthOut, responses={503: {"model": ErrorOut}})
def healthz(request: Request) -> Any:
    """Liveness and archive reachability (open without the API key; no paths or names in it)."""
    ctx = _ctx(request)
    try:
        counts = ctx.store.counts()
    except Exception as exc:  # any database failure means "not healthy"; say which
        return JSONResponse({"error": f"the archive database cannot be read: {type(exc).__name__}"}, status_code=503)
    return HealthOut(
        status="ok",
        version=__version__,
        counts={
            "devices": counts.devices,
            "events": counts.events,
            "media": counts.media,
            "media_bytes": counts.media_bytes,
            "media_by_status": counts.media_by_status,
        },
        sync_running=ctx.jobs.busy,
    )
