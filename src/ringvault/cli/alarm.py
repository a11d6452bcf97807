"""``ringvault alarm status | arm home|away | disarm | siren on|off | history``: the Ring Alarm over the hub socket.

Modes are shown in the Ring app's words (disarmed, home, away; Ring's own are none, some, all). Arming goes
through the client's ``set_alarm_mode``, which waits for the security panel's answer: a refusal (an open sensor
that was not bypassed) ends the command with the client's one line naming the sensors."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ringvault.cli.common import EXIT_USAGE, echo, fail, options, run, with_api
from ringvault.cli.devices import OnOff

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.hub import HubDevice
    from ringvault.cloud.location import Location


class ArmMode(StrEnum):
    home = "home"
    away = "away"


app = typer.Typer(
    name="alarm",
    help="The Ring Alarm: status, arm home or away (bypassing sensors), disarm, siren, history.",
    invoke_without_command=True,
)

LocationOption = Annotated[
    str | None,
    typer.Option("--location", help="Location name or id (needed when several locations have an alarm)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(root: typer.Typer) -> None:
    root.add_typer(app)


@app.callback()
def _default(ctx: typer.Context, location: LocationOption = None, as_json: JsonOption = False) -> None:
    """The Ring Alarm: status (the default), arm home or away, disarm, siren, history."""
    if ctx.invoked_subcommand is None:
        status(ctx, location=location, as_json=as_json)


# -- status ------------------------------------------------------------------------------------------------------


def _delay(panel: HubDevice, now_ms: int) -> dict[str, Any] | None:
    """The exit or entry delay running now (``transitionDelayEndTimestamp`` in the future), else None."""
    end = panel.data.get("transitionDelayEndTimestamp")
    if isinstance(end, bool) or not isinstance(end, int | float) or end <= now_ms:
        return None
    info = panel.data.get("alarmInfo")
    entry = isinstance(info, dict) and info.get("state") == "entry-delay"
    return {
        "transition": "entry" if entry else "exit",
        "ends_at": datetime.fromtimestamp(end / 1000, UTC).isoformat(),
        "seconds_left": round((end - now_ms) / 1000),
    }


def _siren_state(data: dict[str, Any]) -> str | None:
    siren = data.get("siren")
    state = siren.get("state") if isinstance(siren, dict) else None
    return state if isinstance(state, str) else None


def _siren(devices: list[HubDevice]) -> str | None:
    """``on`` when the panel or any siren reports ``siren.state: on``, ``off`` when one reports off, else None."""
    states = [_siren_state(d.data) for d in devices]
    if "on" in states:
        return "on"
    return "off" if "off" in states else None


def _alarm_state(panel: HubDevice) -> str | None:
    """``alarmInfo.state`` (burglar-alarm, fire-alarm, entry-delay, ...) while the alarm is going off, else None."""
    info = panel.data.get("alarmInfo")
    state = info.get("state") if isinstance(info, dict) else None
    return str(state) if state else None


async def _status(location: Location) -> dict[str, Any]:
    from ringvault.cli.hubs import device_brief, is_alarm_device, low_battery, mode_word
    from ringvault.cloud.errors import RingError

    devices = [d for d in await location.get_devices() if is_alarm_device(d)]
    panel = await location.get_security_panel()
    sensors = [d for d in devices if d.zid != panel.zid]
    monitoring: dict[str, Any] | None = None
    monitoring_error: str | None = None
    try:
        monitoring = await location.get_monitoring_status()
    except RingError as exc:  # the alarm's own state is still worth showing
        monitoring_error = exc.one_line
    return {
        "location_id": location.id,
        "location_name": location.name,
        "mode": mode_word(panel.mode),
        "ring_mode": panel.mode,
        "alarm": _alarm_state(panel),
        "delay": _delay(panel, int(time.time() * 1000)),
        "siren": _siren([panel, *sensors]),
        "faulted": [device_brief(d) for d in sensors if d.faulted],
        "offline": [device_brief(d) for d in sensors if d.is_offline],
        "low_battery": [
            {**device_brief(d), "battery_level": d.battery_level, "battery_status": d.battery_status}
            for d in sensors
            if low_battery(d)
        ],
        "monitoring": monitoring,
        "monitoring_error": monitoring_error,
    }


def _names(items: list[dict[str, Any]]) -> str:
    return ", ".join(f'"{item["name"]}"' for item in items) or "none"


def _monitoring_line(doc: dict[str, Any]) -> str:
    if doc.get("monitoring_error"):
        return f"unknown ({doc['monitoring_error']})"
    monitoring = doc.get("monitoring") or {}
    state = monitoring.get("accountState") or "unknown"
    professional = monitoring.get("professionallyMonitored")
    suffix = "" if professional is None else (", professionally monitored" if professional else ", self-monitored")
    return f"{str(state).lower()}{suffix}"


def _status_lines(doc: dict[str, Any]) -> list[str]:
    delay = doc["delay"]
    lines = [
        f"{doc['location_name']}: {doc['mode']}",
        f"  alarm: {doc['alarm'] or 'quiet'}",
        f"  delay: {delay['transition']} delay, {delay['seconds_left']} s left" if delay else "  delay: none",
        f"  siren: {doc['siren'] or 'unknown'}",
        f"  faulted: {_names(doc['faulted'])}",
        f"  offline: {_names(doc['offline'])}",
        "  low battery: "
        + (
            ", ".join(
                f'"{d["name"]}" ({d["battery_level"]}%)' if d["battery_level"] is not None else f'"{d["name"]}"'
                for d in doc["low_battery"]
            )
            or "none"
        ),
        f"  monitoring: {_monitoring_line(doc)}",
    ]
    return lines


@app.command("status")
def status(ctx: typer.Context, location: LocationOption = None, as_json: JsonOption = False) -> None:
    """Mode, alarm state, exit/entry delay, siren, faulted and offline devices, low batteries, monitoring."""
    opts = options(ctx)

    async def body(api: RingApi) -> dict[str, Any]:
        from ringvault.cli.hubs import alarm_location

        return await _status(await alarm_location(api, location))

    doc = run(with_api(opts, body), debug=opts.debug)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    for line in _status_lines(doc):
        echo(line)


# -- arm, disarm, siren ------------------------------------------------------------------------------------------


@app.command("arm")
def arm(
    ctx: typer.Context,
    mode: Annotated[ArmMode, typer.Argument(help="home or away")],
    bypass: Annotated[
        list[str] | None,
        typer.Option("--bypass", help="Bypass this sensor (name, unique part of a name, or zid); repeatable."),
    ] = None,
    bypass_faulted: Annotated[
        bool, typer.Option("--bypass-faulted", help="Bypass every sensor that is open or faulted now.")
    ] = False,
    location: LocationOption = None,
) -> None:
    """Arm the alarm (home or away); open sensors must be bypassed or the alarm refuses."""
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        from ringvault.cli.hubs import alarm_location, is_alarm_device, pick_sensors

        place = await alarm_location(api, location)
        devices = [d for d in await place.get_devices() if is_alarm_device(d)]
        chosen = pick_sensors(devices, list(bypass or []))
        if bypass_faulted:
            chosen += [d for d in devices if d.type_label == "alarm sensor" and d.faulted and d not in chosen]
        zids = [d.zid for d in chosen]
        if mode is ArmMode.home:
            await place.arm_home(bypass=zids)
        else:
            await place.arm_away(bypass=zids)
        # The client has seen the panel confirm the mode (a refusal raised AlarmArmError, naming the sensors).
        panel = await place.get_security_panel()
        line = f"{place.name}: armed {mode.value}"
        if chosen:
            line += " (bypassed " + ", ".join(f'"{d.name}"' for d in chosen) + ")"
        delay = _delay(panel, int(time.time() * 1000))
        if delay:
            line += f"; {delay['transition']} delay {delay['seconds_left']} s"
        return line

    echo(run(with_api(opts, body), debug=opts.debug))


@app.command("disarm")
def disarm(ctx: typer.Context, location: LocationOption = None) -> None:
    """Disarm the alarm."""
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        from ringvault.cli.hubs import alarm_location

        place = await alarm_location(api, location)
        await place.disarm()
        return f"{place.name}: disarmed"

    echo(run(with_api(opts, body), debug=opts.debug))


@app.command("siren")
def siren(
    ctx: typer.Context,
    state: Annotated[OnOff, typer.Argument(help="on or off")],
    location: LocationOption = None,
) -> None:
    """Sound or silence the alarm's siren."""
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        from ringvault.cli.hubs import alarm_location, confirmed

        place = await alarm_location(api, location)
        if state is OnOff.on:
            await place.sound_siren()
        else:
            await place.silence_siren()
        # Ring sends no answer to a siren command but the panel's update: wait a little for it, and say so if not.
        panel = await place.get_security_panel()
        if not await confirmed(panel, lambda data: _siren_state(data) == state.value):
            return f"{place.name}: siren {state.value} sent, but the alarm has not confirmed it yet"
        return f"{place.name}: siren {state.value}"

    echo(run(with_api(opts, body), debug=opts.debug))


# -- history -----------------------------------------------------------------------------------------------------

#: The alarm's impulse types (ring-mqtt reads ``body[0].impulse.v1[].impulseType``) in words.
IMPULSE_WORDS = {
    "security-panel.mode-switched.none": "disarmed",
    "security-panel.mode-switched.some": "armed home",
    "security-panel.mode-switched.all": "armed away",
    "security-panel.exit-delay": "exit delay started",
    "security-panel.alarm-cleared": "alarm cleared",
    "keypad.motion": "motion at the keypad",
}


def _first_body(item: dict[str, Any]) -> dict[str, Any]:
    body = item.get("body")
    first = body[0] if isinstance(body, list) and body else None
    return first if isinstance(first, dict) else {}


def _part(doc: dict[str, Any], outer: str, version: str) -> dict[str, Any]:
    part = doc.get(outer)
    inner = part.get(version) if isinstance(part, dict) else None
    return inner if isinstance(inner, dict) else {}


def _event_ms(item: dict[str, Any]) -> int | None:
    context = item.get("context")
    value = context.get("eventOccurredTsMs") if isinstance(context, dict) else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _what(first: dict[str, Any]) -> str:
    """What happened: the impulses in words (unknown ones as Ring names them), else the state the device reported."""
    impulses = first.get("impulse")
    listed = impulses.get("v1") if isinstance(impulses, dict) else None
    types = [
        str(i["impulseType"])
        for i in (listed if isinstance(listed, list) else [])
        if isinstance(i, dict) and i.get("impulseType")
    ]
    if types:
        return ", ".join(IMPULSE_WORDS.get(t, t) for t in types)
    device = _part(first, "device", "v1")
    if isinstance(device.get("faulted"), bool):
        return "faulted (open)" if device["faulted"] else "cleared (closed)"
    siren = _siren_state(device)
    if siren is not None:
        return f"siren {siren}"
    if "alarmInfo" in device:
        info = device["alarmInfo"]
        state = info.get("state") if isinstance(info, dict) else None
        return f"alarm: {state}" if state else "alarm cleared"
    if "mode" in device:
        from ringvault.cli.hubs import mode_word

        return f"mode {mode_word(str(device['mode']))}"
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(device.items())) or "update"


def history_row(item: dict[str, Any]) -> dict[str, Any]:
    """One rs/history item as the command shows it; ``raw`` keeps Ring's item as it came."""
    first = _first_body(item)
    general = _part(first, "general", "v2")
    context = item.get("context") if isinstance(item.get("context"), dict) else {}
    assert isinstance(context, dict)
    when = _event_ms(item)
    return {
        "time": datetime.fromtimestamp(when / 1000, UTC).isoformat() if when is not None else None,
        "time_ms": when,
        "zid": general.get("zid") or context.get("affectedEntityId"),
        "device": general.get("name") or context.get("affectedEntityName"),
        "event": _what(first),
        "by": context.get("initiatingEntityName"),
        "raw": item,
    }


def _zone(location: Location) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = location.data.timezone
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _history_line(row: dict[str, Any], zone: tzinfo) -> str:
    when = (
        datetime.fromtimestamp(row["time_ms"] / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")
        if row["time_ms"] is not None
        else "(no time)"
    )
    by = f" (by {row['by']})" if row["by"] and row["by"] != row["device"] else ""  # a sensor "did" its own change
    return f"{when}  {row['device'] or row['zid'] or '?'}: {row['event']}{by}"


@app.command("history")
def history(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="Only events from this date or date-time on (the location's zone).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many events.")] = 50,
    location: LocationOption = None,
    as_json: JsonOption = False,
) -> None:
    """The alarm's history (rs/history), newest first."""
    opts = options(ctx)
    since_at = None
    if since is not None:
        from ringvault.archive.dates import parse_when

        try:
            since_at = parse_when(since, wall_clock=True)
        except ValueError as exc:
            fail(f"--since {exc}", code=EXIT_USAGE)

    async def body(api: RingApi) -> tuple[list[dict[str, Any]], tzinfo]:
        from ringvault.cli.hubs import alarm_location

        place = await alarm_location(api, location)
        zone = _zone(place)
        since_ms = None
        if since_at is not None:
            aware = since_at if since_at.tzinfo is not None else since_at.replace(tzinfo=zone)
            since_ms = int(aware.timestamp() * 1000)
        rows: list[dict[str, Any]] = []
        async for item in place.iter_alarm_history(category="alarm", page_size=min(limit, 50)):
            row = history_row(item)
            if since_ms is not None and row["time_ms"] is not None and row["time_ms"] < since_ms:
                break  # newest first: everything after this is older still
            rows.append(row)
            if len(rows) >= limit:
                break
        return rows, zone

    rows, zone = run(with_api(opts, body), debug=opts.debug)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        echo(_history_line(row, zone))
    if not rows:
        echo("no alarm events" + (f" since {since}" if since else ""))
