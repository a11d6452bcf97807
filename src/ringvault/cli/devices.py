"""``ringvault devices``, ``health``, ``light`` and ``siren``.

``devices`` lists the account's devices (``ring_devices``) and the devices of every alarm and Smart Lighting hub
(over the hub socket; ``--no-hub`` skips them). Every row has a ``type`` a script can rely on: ``doorbell``,
``camera``, ``chime``, ``intercom``, ``base station``, ``lighting bridge``, ``garage door opener``, ``other`` for
the account's devices, the client's ``HubDevice.type_label`` for hub devices (``alarm panel``, ``alarm sensor``,
``keypad``, ``light``, ...)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ringvault.cli.common import cell, echo, fail, options, run, with_api

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.hub import HubDevice

#: ``type`` of the account's devices by ringvault's device class (``DeviceClass`` values), and by kind where the
#: class says too little.
CLASS_TYPES = {
    "doorbell": "doorbell",
    "camera": "camera",
    "chime": "chime",
    "intercom": "intercom",
    "base_station": "base station",
    "beams_bridge": "lighting bridge",
}
KIND_TYPES = {"third_party_gdo": "garage door opener", "three_p_cam": "camera"}


class OnOff(StrEnum):
    on = "on"
    off = "off"


def register(app: typer.Typer) -> None:
    app.command("devices")(devices)
    app.command("health")(health)
    app.command("light")(light)
    app.command("siren")(siren)


def _device_row(device: Any, location_names: dict[str, str]) -> dict[str, Any]:
    location_id = getattr(device, "location_id", None)
    row: dict[str, Any] = {
        "id": device.id,
        "name": device.name,
        "kind": device.kind,
        "family": device.family,
        "location_id": location_id,
        "location_name": location_names.get(location_id or ""),
        "model": device.model,
        "type": KIND_TYPES.get(device.kind or "") or CLASS_TYPES.get(str(device.device_class), "other"),
    }
    for attr in ("battery_level", "is_offline", "has_light", "has_siren"):
        if hasattr(device, attr):
            row[attr] = getattr(device, attr)
    return row


def _hub_row(device: HubDevice, location_names: dict[str, str]) -> dict[str, Any]:
    """A hub device as a ``devices`` row: the same fields as the account's devices (``id`` is the zid, ``kind``
    and ``model`` Ring's ``deviceType``, ``family`` "hub"), plus what the hub reports."""
    row: dict[str, Any] = {
        "id": device.zid,
        "name": device.name,
        "kind": device.device_type,
        "family": "hub",
        "location_id": device.location_id,
        "location_name": location_names.get(device.location_id),
        "model": device.device_type,
        "type": device.type_label,
        "zid": device.zid,
        "hub_kind": str(device.kind),
        "battery_level": device.battery_level,
        "is_offline": device.is_offline,
    }
    if device.faulted is not None:
        row["faulted"] = device.faulted
    return row


async def _hub_rows(api: RingApi, location_names: dict[str, str]) -> list[dict[str, Any]]:
    """Every hub's devices; a hub that fails costs its own devices and one warning line, not the listing."""
    from ringvault.cli.hubs import each_location, hub_locations

    outcome = await each_location(hub_locations(await api.get_locations()), lambda loc: loc.get_devices())
    for line in outcome.warning_lines("hub devices"):
        echo(line, err=True)
    return [_hub_row(d, location_names) for _, devices in outcome.results for d in devices]


def _location_shown(row: dict[str, Any]) -> str:
    return str(row["location_name"] or row["location_id"] or "")


def _shown_order(row: dict[str, Any]) -> tuple[str, str, str]:
    """The table's order is that of what it shows: location, then name (then id, for equal names)."""
    return (_location_shown(row).casefold(), str(row["name"] or "").casefold(), str(row["id"]))


def devices(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list (id, name, type, kind, family, ...).")
    ] = False,
    no_hub: Annotated[
        bool, typer.Option("--no-hub", help="Skip the alarm and Smart Lighting devices (no hub connection).")
    ] = False,
) -> None:
    """List every device of every location, with the alarm's and Smart Lighting's devices."""
    opts = options(ctx)

    async def body(api: RingApi) -> list[dict[str, Any]]:
        locations = await api.get_locations()
        names = {loc.id: loc.name for loc in locations}
        rows = [_device_row(d, names) for d in await api.get_all_devices()]
        return rows if no_hub else rows + await _hub_rows(api, names)

    rows = run(with_api(opts, body), debug=opts.debug)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} devices", title_justify="left")
    for column in ("id", "name", "type", "model", "location", "status", "battery"):
        table.add_column(column, no_wrap=column in ("id", "status", "battery"), overflow="fold")
    for row in sorted(rows, key=_shown_order):
        offline = row.get("is_offline")
        battery = row.get("battery_level")
        table.add_row(
            cell(row["id"]),
            cell(row["name"]),
            cell(row["type"]),
            cell(row["model"]),
            cell(_location_shown(row)),
            cell("" if offline is None else ("offline" if offline else "online")),
            cell("" if battery is None else f"{battery}%"),
        )
    Console().print(table)


def health(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="Device id or name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print Ring's health document as JSON.")] = False,
) -> None:
    """Show a device's health: Wi-Fi signal, battery, firmware."""
    opts = options(ctx)

    async def body(api: RingApi) -> tuple[str, dict[str, Any]]:
        target = await api.find_device(device)
        get_health = getattr(target, "get_health", None)
        if get_health is None:
            fail(f"{target.name} ({target.kind}) has no health report in Ring's API")
        report = await get_health()
        raw = getattr(report, "raw", None)
        data = dict(raw) if isinstance(raw, dict) else report.model_dump(mode="json")
        return target.name, data

    name, data = run(with_api(opts, body), debug=opts.debug)
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    echo(name)
    for key in sorted(data, key=str):
        value = data[key]
        if value is None or isinstance(value, dict | list):
            continue
        echo(f"  {key}: {value}")


def light(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="Device id or name.")],
    state: Annotated[OnOff, typer.Argument(help="on or off")],
) -> None:
    """Switch a camera's light on or off."""
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        camera = await api.find_camera(device)
        if not camera.has_light:
            fail(f"{camera.name} ({camera.model or camera.kind}) has no light")
        await camera.set_light(state is OnOff.on)
        return str(camera.name)

    name = run(with_api(opts, body), debug=opts.debug)
    echo(f"{name}: light {state.value}")


def siren(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="Device id or name.")],
    state: Annotated[OnOff, typer.Argument(help="on or off")],
    duration: Annotated[
        int | None, typer.Option("--duration", min=1, max=120, help="Seconds the siren sounds (1-120).")
    ] = None,
) -> None:
    """Sound or silence a camera's siren."""
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        camera = await api.find_camera(device)
        if not camera.has_siren:
            fail(f"{camera.name} ({camera.model or camera.kind}) has no siren")
        if state is OnOff.on:
            await camera.set_siren(True, duration_s=duration)
        else:
            await camera.set_siren(False)
        return str(camera.name)

    name = run(with_api(opts, body), debug=opts.debug)
    suffix = f" for {duration} s" if duration and state is OnOff.on else ""
    echo(f"{name}: siren {state.value}{suffix}")
