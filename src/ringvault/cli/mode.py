"""``ringvault mode [get | set home|away|disarmed]``: a location's mode (Ring's "Modes" for camera locations).

A location with a Ring Alarm base station takes its mode from the alarm's security panel, not from the mode API
(reference §4.8; ring-client-api's ``supportsLocationModeSwitching`` says no for such a location). ``mode get``
shows such a location's alarm mode in the same words (none → disarmed, some → home, all → away), read from the
hub; ``mode set`` refuses there and points to ``ringvault alarm``: arming an alarm, which may call a monitoring
centre, is done by the command that can bypass sensors and that says which sensor refused."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ringvault.cli.common import echo, options, run, with_api

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.location import Location


class ModeName(StrEnum):
    home = "home"
    away = "away"
    disarmed = "disarmed"


app = typer.Typer(
    name="mode",
    help="Show or switch a location's mode (home, away, disarmed). A location with a Ring Alarm follows the "
    "alarm: `ringvault alarm` arms and disarms it.",
    no_args_is_help=False,
    invoke_without_command=True,
)

LocationOption = Annotated[
    str | None, typer.Option("--location", help="Location name or id (default: every location / the only one).")
]


def register(root: typer.Typer) -> None:
    root.add_typer(app)


@app.callback()
def _default(
    ctx: typer.Context,
    location: LocationOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Show or switch a location's mode (home, away, disarmed)."""
    if ctx.invoked_subcommand is None:
        get(ctx, location=location, as_json=as_json)


async def _mode_row(location: Location) -> dict[str, Any]:
    """One location's mode, from the alarm's security panel when it has one, else from the mode API."""
    from ringvault.cli.hubs import mode_word

    row: dict[str, Any] = {"location_id": location.id, "location_name": location.name}
    if location.has_alarm_base_station:
        word = mode_word(await location.get_alarm_mode())
        return {**row, "mode": word, "source": "alarm", "switchable": False}
    mode = await location.get_location_mode()
    return {**row, "mode": mode.mode, "source": "location", "switchable": mode.is_switchable}


async def _tolerant_row(location: Location) -> dict[str, Any]:
    """``_mode_row`` when every location is listed: a hub that fails costs its own row (one warning line and
    ``mode: null`` with the ``error``), not the other locations'."""
    from ringvault.cloud.errors import RingError

    try:
        return await _mode_row(location)
    except RingError as exc:
        echo(f"warning: {location.name}: {exc.one_line}", err=True)
        return {
            "location_id": location.id,
            "location_name": location.name,
            "mode": None,
            "source": "alarm" if location.has_alarm_base_station else "location",
            "switchable": False,
            "error": exc.one_line,
        }


def _mode_line(row: dict[str, Any]) -> str:
    if row.get("error"):
        return f"{row['location_name']}: unknown ({row['error']})"
    if row["source"] == "alarm":
        return f"{row['location_name']}: {row['mode']} (the Ring Alarm's mode; `ringvault alarm` changes it)"
    note = "" if row["switchable"] else " (modes are off or read-only for this location; the Ring app turns them on)"
    return f"{row['location_name']}: {row['mode'] or 'unknown'}{note}"


@app.command("get")
def get(
    ctx: typer.Context,
    location: LocationOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Show the mode of every location (or of --location)."""
    opts = options(ctx)

    async def body(api: RingApi) -> list[dict[str, Any]]:
        from ringvault.cli.targets import pick_location

        locations = [loc for loc in await api.get_locations() if loc.known]
        if location is not None:
            return [await _mode_row(pick_location(locations, location))]
        return [await _tolerant_row(loc) for loc in locations]

    rows = run(with_api(opts, body), debug=opts.debug)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        echo(_mode_line(row))


@app.command("set")
def set_mode(
    ctx: typer.Context,
    mode: Annotated[ModeName, typer.Argument(help="home, away or disarmed")],
    location: LocationOption = None,
) -> None:
    """Switch a location's mode (a camera location; a Ring Alarm location is armed with `ringvault alarm`)."""
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        from ringvault.cli.targets import pick_location
        from ringvault.cloud.errors import CapabilityError

        place = pick_location([loc for loc in await api.get_locations() if loc.known], location)
        if place.has_alarm_base_station:
            verb = "ringvault alarm disarm" if mode is ModeName.disarmed else f"ringvault alarm arm {mode.value}"
            raise CapabilityError(
                f"{place.name} has a Ring Alarm, and Ring takes its mode from the alarm",
                hint=f"Use `{verb}` (with --bypass SENSOR for an open sensor).",
            )
        current = await place.get_location_mode()
        if not current.is_switchable:
            state = "read-only" if current.read_only else (current.mode or "unset")
            raise CapabilityError(
                f"modes cannot be switched for {place.name} (mode {state})",
                hint="Turn Modes on for this location in the Ring app.",
            )
        result = await place.set_location_mode(mode.value)
        was = "" if current.mode == result.mode else f" (was {current.mode})"
        return f"{place.name}: mode {result.mode}{was}"

    echo(run(with_api(opts, body), debug=opts.debug))
