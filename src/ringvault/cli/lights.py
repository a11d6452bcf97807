"""``ringvault lights [list | on | off LIGHT|GROUP [--brightness N] [--duration S]]``: Smart Lighting.

Lights (Beams lights, Z-Wave bulbs) are switched over the location's hub socket; light groups over Ring's REST
``groups/v1`` API (reference §4.7), which switches a group on or off for a while but has no brightness. A name
that matches both a light and a group is refused with both named: the id (a light's zid, a group's id) decides."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ringvault.cli.common import EXIT_USAGE, cell, echo, fail, options, run, with_api

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.hub import HubDevice, LightGroup
    from ringvault.cloud.location import Location

#: The longest ``duration`` Ring's light commands take (homebridge caps it there; reference §4.7, §7.8).
MAX_DURATION_S = 32767

app = typer.Typer(
    name="lights",
    help="Smart Lighting: list lights and light groups, switch them on (brightness, duration) or off.",
    invoke_without_command=True,
)

LocationOption = Annotated[str | None, typer.Option("--location", help="Only this location (name or id).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON list.")]


def register(root: typer.Typer) -> None:
    root.add_typer(app)


@app.callback()
def _default(ctx: typer.Context, location: LocationOption = None, as_json: JsonOption = False) -> None:
    """Smart Lighting: list lights and light groups (the default), switch them on or off."""
    if ctx.invoked_subcommand is None:
        list_lights(ctx, location=location, as_json=as_json)


@dataclass
class Target:
    """A light (over the hub) or a light group (over REST), with the location it belongs to."""

    location: Location
    light: HubDevice | None = None
    group: LightGroup | None = None

    @property
    def id(self) -> str:
        return self.light.zid if self.light is not None else self.group.id if self.group is not None else ""

    @property
    def name(self) -> str:
        return self.light.name if self.light is not None else self.group.name if self.group is not None else ""

    @property
    def type(self) -> str:
        return "light" if self.light is not None else "light group"

    def describe(self) -> str:
        return f'{self.type} "{self.name}" (id {self.id}, {self.location.name})'


async def _targets(api: RingApi, location: str | None) -> tuple[list[Target], list[BaseException]]:
    """Every light and light group (of ``--location``), and the failures of hubs (or group lists) that could not be
    read; each failure has printed one warning line."""
    from ringvault.cli.hubs import LIGHT_TYPES, each_location, hub_locations, lighting_locations
    from ringvault.cli.targets import pick_location

    locations = [loc for loc in await api.get_locations() if loc.known]
    if location is not None:
        locations = [pick_location(locations, location)]
    with_hubs = hub_locations(locations)
    if not with_hubs:
        from ringvault.cloud.errors import CapabilityError

        where = locations[0].name if location is not None else "this account"
        raise CapabilityError(f"{where} has no Smart Lighting bridge or alarm base station, so no lights")
    lights = await each_location(with_hubs, lambda loc: loc.get_devices())
    groups = await each_location(lighting_locations(with_hubs), lambda loc: loc.get_light_groups())
    found: list[Target] = []
    for place, devices in lights.results:
        found += [Target(place, light=d) for d in devices if d.type_label in LIGHT_TYPES]
    for place, light_groups in groups.results:
        found += [Target(place, group=g) for g in light_groups]
    for line in lights.warning_lines("lights") + groups.warning_lines("light groups"):
        echo(line, err=True)
    return found, [exc for _, exc in lights.failures + groups.failures]


async def _row(target: Target) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": target.id,
        "name": target.name,
        "type": target.type,
        "location_id": target.location.id,
        "location_name": target.location.name,
    }
    if target.light is not None:
        level = target.light.data.get("level")
        on = target.light.data.get("on")
        return {
            **row,
            "on": on if isinstance(on, bool) else None,
            "brightness": round(level * 100)
            if isinstance(level, int | float) and not isinstance(level, bool)
            else None,
            "is_offline": target.light.is_offline,
        }
    assert target.group is not None
    state = await target.group.get_state()
    lights_on = state.get("lights_on")
    return {
        **row,
        "on": lights_on if isinstance(lights_on, bool) else None,
        "brightness": None,
        "lights": len(target.group.device_ids),
    }


@app.command("list")
def list_lights(ctx: typer.Context, location: LocationOption = None, as_json: JsonOption = False) -> None:
    """List the lights and light groups with their state."""
    opts = options(ctx)

    async def body(api: RingApi) -> list[dict[str, Any]]:
        targets, _ = await _targets(api, location)
        return [await _row(t) for t in targets]

    rows = run(with_api(opts, body), debug=opts.debug)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} lights and groups", title_justify="left")
    for column in ("id", "name", "type", "location", "state", "brightness"):
        table.add_column(column, no_wrap=column in ("state", "brightness"), overflow="fold")
    for row in sorted(rows, key=lambda r: (r["location_name"].casefold(), r["type"], r["name"].casefold())):
        state = "?" if row["on"] is None else ("on" if row["on"] else "off")
        if row.get("is_offline"):
            state += " (offline)"
        table.add_row(
            cell(row["id"]),
            cell(row["name"]),
            cell(row["type"] + (f" ({row['lights']} lights)" if "lights" in row else "")),
            cell(row["location_name"]),
            cell(state),
            cell("" if row["brightness"] is None else f"{row['brightness']}%"),
        )
    Console().print(table)


def _switch(
    ctx: typer.Context,
    name: str,
    *,
    on: bool,
    brightness: int | None,
    duration: int | None,
    location: str | None,
) -> None:
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        from ringvault.cli.targets import pick, require_online
        from ringvault.cloud.errors import DeviceNotFoundError

        targets, failures = await _targets(api, location)
        try:
            target = pick(
                targets, name, ids=lambda t: [t.id], name=lambda t: t.name, what="light", describe=Target.describe
            )
        except DeviceNotFoundError:
            if failures:  # it may well be behind the hub that failed: that failure is the news
                raise failures[0] from None
            raise
        if target.group is not None:
            if brightness is not None:
                fail(
                    f'light group "{target.name}" has no brightness (Ring switches groups on and off); '
                    "set it on each light",
                    code=EXIT_USAGE,
                )
            await target.group.set_lights(on, duration_s=duration if on else None)
        else:
            assert target.light is not None
            require_online(target.light)
            if brightness is not None:
                if "level" not in target.light.data:
                    fail(f'"{target.name}" cannot be dimmed (it reports no brightness level)')
                await target.light.set_brightness(brightness / 100)
            await target.light.set_light(on, duration_s=duration if on else None)
            if not await _light_confirmed(target.light, on, brightness):
                return f"{target.name}: {'on' if on else 'off'} sent, but the hub has not confirmed it yet"
        done = f"{target.name}: {'on' if on else 'off'}"
        details = [f"brightness {brightness}%"] if brightness is not None else []
        details += [f"for {duration} s"] if duration is not None and on else []
        return done + (f" ({', '.join(details)})" if details else "")

    echo(run(with_api(opts, body), debug=opts.debug))


async def _light_confirmed(light: HubDevice, on: bool, brightness: int | None) -> bool:
    """Whether the light reports the state asked for (``on``, and the ``level`` asked for) within a few seconds."""
    from ringvault.cli.hubs import confirmed

    def check(data: dict[str, Any]) -> bool:
        level = data.get("level")
        level_ok = brightness is None or (isinstance(level, int | float) and abs(level * 100 - brightness) < 1)
        return data.get("on") is on and level_ok

    return await confirmed(light, check)


NameArgument = Annotated[str, typer.Argument(help="Light or light group: name, unique part of a name, or id.")]


@app.command("on")
def lights_on(
    ctx: typer.Context,
    name: NameArgument,
    brightness: Annotated[
        int | None, typer.Option("--brightness", min=0, max=100, help="Brightness in percent (lights only).")
    ] = None,
    duration: Annotated[
        int | None,
        typer.Option("--duration", min=1, max=MAX_DURATION_S, help=f"Stay on this many seconds (1..{MAX_DURATION_S})."),
    ] = None,
    location: LocationOption = None,
) -> None:
    """Switch a light or a light group on."""
    _switch(ctx, name, on=True, brightness=brightness, duration=duration, location=location)


@app.command("off")
def lights_off(ctx: typer.Context, name: NameArgument, location: LocationOption = None) -> None:
    """Switch a light or a light group off."""
    _switch(ctx, name, on=False, brightness=None, duration=None, location=location)
