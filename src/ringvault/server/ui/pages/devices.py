"""The devices page (``/``): every camera, doorbell, chime and intercom in the archive — type, location, online
state, battery, Wi-Fi signal, newest event and newest snapshot — and the alarm and lighting devices of the hubs.

Two statements, whatever the archive's size: ``device_overview`` (one indexed statement for every device) and one
page of hub devices. Thumbnails are the snapshots themselves, served by ``GET /api/media/{id}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ringvault.archive.store.device_overview import DeviceOverview, device_overview
from ringvault.archive.store.hub_records import StoredHubDevice
from ringvault.server.context import ServerContext
from ringvault.server.ui.pages.live import has_live_view
from ringvault.server.ui.render import NavItem, render

router = APIRouter()
NAV = NavItem(order=10, path="/", label="Devices")
#: the most alarm and lighting devices listed (a hub holds far fewer)
MAX_HUB_DEVICES = 500


@dataclass(frozen=True, slots=True)
class HubRow:
    device: StoredHubDevice
    location_name: str | None
    battery: str | None
    state: str | None


def local_time(value: datetime | None, zone: str | None) -> str:
    """``value`` in the device's time zone (``YYYY-MM-DD HH:MM``, with the zone's abbreviation); UTC when unknown."""
    if value is None:
        return "—"
    try:
        tz = ZoneInfo(zone) if zone else None
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    shown = value.astimezone(tz) if tz is not None else value
    return shown.strftime("%Y-%m-%d %H:%M ") + (shown.tzname() or "UTC")


def _hub_battery(data: dict[str, Any] | None) -> str | None:
    if not data:
        return None
    level = data.get("batteryLevel")
    if isinstance(level, int | float) and not isinstance(level, bool) and 0 <= level <= 100:
        return f"{round(level)} %"
    status = data.get("batteryStatus")
    return status if isinstance(status, str) and status not in ("none", "") and len(status) <= 20 else None


def _hub_state(data: dict[str, Any] | None) -> str | None:
    """The live state the hub last reported: faulted (open), tampered, a light's on/off, or the panel's mode."""
    if not data:
        return None
    parts: list[str] = []
    if data.get("faulted") is True:
        parts.append("open / triggered")
    elif data.get("faulted") is False:
        parts.append("closed / clear")
    if isinstance(data.get("on"), bool):
        parts.append("on" if data["on"] else "off")
    mode = data.get("mode")
    if isinstance(mode, str) and len(mode) <= 20:
        parts.append(f"mode {mode}")
    if data.get("tamperStatus") == "tamper":
        parts.append("tampered")
    return ", ".join(parts) or None


def _hub_rows(ctx: ServerContext, locations: dict[str, str | None]) -> list[HubRow]:
    page = ctx.store.hub.list_devices(removed=False, limit=MAX_HUB_DEVICES)
    rows = [HubRow(d, locations.get(d.location_id), _hub_battery(d.data), _hub_state(d.data)) for d in page.devices]
    return sorted(rows, key=lambda r: (r.location_name or r.device.location_id, (r.device.name or "").casefold()))


@router.get("/", response_class=HTMLResponse)
def devices_page(request: Request) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    devices: list[DeviceOverview] = device_overview(ctx.store)
    locations = {d.location_id: d.location_name for d in devices if d.location_id}
    hub_devices = _hub_rows(ctx, locations)
    return render(
        request,
        "devices.html",
        title="Devices",
        devices=devices,
        hub_devices=hub_devices,
        local_time=local_time,
        has_live_view=has_live_view,
    )
