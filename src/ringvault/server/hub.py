"""The JSON API over what the archive keeps of the alarm and Smart Lighting hubs: the devices their hubs listed
(``GET /api/hub/devices``) and the items of ``rs/history`` (``GET /api/hub/history``), both keyset-paged like
``/api/events``.

The same rules as the rest of ``/api``: behind the API key when one is set, every text parameter at most
:data:`MAX_TEXT` characters, ``limit`` 1..1000, errors one JSON line quoting what was sent escaped. History items
come back as Ring sent them (``item``), with the columns the archive derived from them; text is JSON-escaped, never
interpreted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from ringvault.archive.store import InvalidCursorError, StoredHubDevice, StoredHubHistory
from ringvault.server.api import BAD_INPUT, MAX_LIMIT, NOT_FOUND, shown, text_query, when_param

if TYPE_CHECKING:
    from ringvault.server.context import ServerContext

__all__ = ["HubDeviceOut", "HubDevicePageOut", "HubHistoryOut", "HubHistoryPageOut", "router"]

router = APIRouter(prefix="/api/hub", tags=["alarm and lighting"])


class HistoryCategory(StrEnum):
    alarm = "alarm"
    beams = "beams"


class HubDeviceOut(BaseModel):
    id: int = Field(description="the archive's row id")
    location_id: str
    zid: str = Field(description="the hub's id of the device")
    asset_uuid: str | None = Field(description="the hub (base station or lighting bridge) that lists it")
    name: str | None
    device_type: str | None = Field(description="Ring's deviceType (sensor.contact, switch.multilevel.beams, ...)")
    kind: str | None = Field(description="ringvault's kind (contact_sensor, beams_light, ... unknown)")
    type: str | None = Field(description="alarm sensor, light, keypad, ... (as `ringvault devices --json`)")
    category_id: int | None
    data: dict[str, Any] | None = Field(description="the device's flattened document as the hub last sent it")
    first_seen_at: datetime
    last_seen_at: datetime
    removed_at: datetime | None = Field(description="since when the hubs no longer list it (null: listed)")

    @classmethod
    def of(cls, device: StoredHubDevice) -> HubDeviceOut:
        return cls(
            id=device.id, location_id=device.location_id, zid=device.zid, asset_uuid=device.asset_uuid,
            name=device.name, device_type=device.device_type, kind=device.kind, type=device.type_label,
            category_id=device.category_id, data=device.data, first_seen_at=device.first_seen_at,
            last_seen_at=device.last_seen_at, removed_at=device.removed_at,
        )  # fmt: skip


class HubDevicePageOut(BaseModel):
    devices: list[HubDeviceOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class HubHistoryOut(BaseModel):
    id: int = Field(description="the archive's row id")
    location_id: str
    category: str = Field(description="alarm or beams")
    key: str = Field(description="Ring's context.eventId, or sha256:<hash of the item's canonical JSON>")
    event_at: datetime
    event_ms: int = Field(description="epoch milliseconds")
    time_source: str = Field(
        description="event: Ring's context.eventOccurredTsMs; first_seen: the item has no time, this is when a "
        "sync first saw it"
    )
    datatype: str | None
    zid: str | None = Field(description="the device the item is about")
    impulse_types: list[str] | None = Field(description="body[].impulse.v1[].impulseType (mode-switched, ...)")
    first_seen_at: datetime
    item: Any = Field(description="the item as Ring sent it")

    @classmethod
    def of(cls, row: StoredHubHistory) -> HubHistoryOut:
        return cls(
            id=row.id, location_id=row.location_id, category=row.category, key=row.item_key, event_at=row.event_at,
            event_ms=row.event_ms, time_source=row.time_source, datatype=row.datatype, zid=row.zid,
            impulse_types=row.impulse_types, first_seen_at=row.first_seen_at, item=row.item(),
        )  # fmt: skip


class HubHistoryPageOut(BaseModel):
    items: list[HubHistoryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


def _ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def _location(ctx: ServerContext, location: str | None) -> str | None:
    if location is None or not location.strip():
        return None
    location_id = location.strip()
    if not ctx.store.hub.has_location(location_id):
        raise HTTPException(404, f"no location {shown(location)} in the archive; GET /api/hub/devices lists them")
    return location_id


_BAD_CURSOR = "invalid cursor: pass the next_cursor of a previous page unchanged"


@router.get("/devices", response_model=HubDevicePageOut, responses={**BAD_INPUT, **NOT_FOUND})
def list_hub_devices(
    request: Request,
    location: Annotated[str | None, text_query("location id")] = None,
    removed: Annotated[
        bool | None, Query(description="true: only devices the hubs no longer list; false: only listed ones")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, text_query("next_cursor of the previous page")] = None,
) -> Any:
    """Every alarm and Smart Lighting device the hubs of a location listed, removed ones included (``removed_at``)."""
    ctx = _ctx(request)
    location_id = _location(ctx, location)
    try:
        page = ctx.store.hub.list_devices(location_id, removed=removed, limit=limit, cursor=cursor or None)
    except InvalidCursorError:
        raise HTTPException(400, _BAD_CURSOR) from None
    return HubDevicePageOut(devices=[HubDeviceOut.of(d) for d in page.devices], next_cursor=page.next_cursor)


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@router.get("/history", response_model=HubHistoryPageOut, responses={**BAD_INPUT, **NOT_FOUND})
def list_hub_history(
    request: Request,
    location: Annotated[str | None, text_query("location id")] = None,
    category: Annotated[HistoryCategory | None, Query(description="alarm or beams")] = None,
    zid: Annotated[str | None, text_query("only items about this device (its zid)")] = None,
    since: Annotated[str | None, text_query("YYYY-MM-DD or ISO date-time (inclusive)")] = None,
    until: Annotated[str | None, text_query("YYYY-MM-DD (inclusive day) or ISO date-time (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, text_query("next_cursor of the previous page")] = None,
) -> Any:
    """The alarm and Smart Lighting history (``rs/history``) newest first, one page at a time (keyset pagination:
    pages never shift while a sync adds items)."""
    ctx = _ctx(request)
    location_id = _location(ctx, location)
    since_at, until_at = when_param(since, "since"), when_param(until, "until", end=True)
    if since_at is not None and until_at is not None and since_at >= until_at:
        raise HTTPException(400, "since must be before until")
    try:
        page = ctx.store.hub.query_history(
            location_id, category=category.value if category is not None else None, zid=zid or None,
            since_ms=_ms(since_at), until_ms=_ms(until_at), limit=limit, cursor=cursor or None,
        )  # fmt: skip
    except InvalidCursorError:
        raise HTTPException(400, _BAD_CURSOR) from None
    return HubHistoryPageOut(items=[HubHistoryOut.of(row) for row in page.items], next_cursor=page.next_cursor)
