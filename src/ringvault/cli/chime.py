"""``ringvault chime DEVICE [play [--kind ding|motion] | volume N | snooze MINUTES|off]``: what ``RingChime`` does."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from ringvault.cli.common import EXIT_USAGE, echo, fail, options, run, with_api

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.chime import RingChime

# Mirrors ringvault.cloud.chime (not imported here: `ringvault --help` stays light).
MAX_VOLUME = 11
MAX_SNOOZE_MINUTES = 1440


class ChimeAction(StrEnum):
    play = "play"
    volume = "volume"
    snooze = "snooze"


class SoundKind(StrEnum):
    ding = "ding"
    motion = "motion"


def register(app: typer.Typer) -> None:
    app.command("chime")(chime)


def _int_value(value: str | None, action: str, low: int, high: int, unit: str = "") -> int:
    """The number after ``volume`` / ``snooze``, within ``low..high``; a usage error (exit 2) otherwise."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        shown = f" (got {value!r})" if value is not None else ""
        fail(f"{action} takes a whole number {low}..{high}{unit}{shown}", code=EXIT_USAGE)
    return int(text)


def _state(chime: RingChime) -> str:
    volume = "?" if chime.volume is None else str(chime.volume)
    left = chime.snooze_seconds_left
    snooze = f"snoozed for {(left + 59) // 60} more min" if left else "not snoozed"
    return f"volume {volume} of {MAX_VOLUME}, {snooze}"


def chime(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="Chime id or name.")],
    action: Annotated[
        ChimeAction | None, typer.Argument(help="play, volume or snooze; none shows the chime's volume and snooze.")
    ] = None,
    value: Annotated[
        str | None,
        typer.Argument(help=f"volume: 0..{MAX_VOLUME}; snooze: minutes 1..{MAX_SNOOZE_MINUTES}, or off."),
    ] = None,
    kind: Annotated[SoundKind, typer.Option("--kind", help="play: the ding or the motion sound.")] = SoundKind.ding,
) -> None:
    """Ring a chime (a test sound), set its volume, or snooze it (do not disturb)."""
    opts = options(ctx)
    if action in (None, ChimeAction.play) and value is not None:
        fail(f"{action or 'chime DEVICE'} takes no value (got {value!r})", code=EXIT_USAGE)
    volume = _int_value(value, "volume", 0, MAX_VOLUME) if action is ChimeAction.volume else None
    snooze: int | None = None
    if action is ChimeAction.snooze and (value or "").strip().casefold() != "off":
        snooze = _int_value(value, "snooze", 1, MAX_SNOOZE_MINUTES, " minutes, or off")

    async def body(api: RingApi) -> str:
        from ringvault.cli.targets import find_of_type, require_online
        from ringvault.cloud.chime import RingChime

        target = await find_of_type(api, device, RingChime, "a chime")
        if action is None:
            return f"{target.name}: {_state(target)}"
        require_online(target)
        if action is ChimeAction.play:
            await target.play_sound(kind.value)
            return f"{target.name}: played the {kind.value} sound"
        if volume is not None:
            before = target.volume
            await target.set_volume(volume)
            return f"{target.name}: volume {volume}" + (f" (was {before})" if before is not None else "")
        if snooze is not None:
            await target.snooze(snooze)
            return f"{target.name}: snoozed for {snooze} min (do not disturb)"
        await target.clear_snooze()
        return f"{target.name}: snooze off"

    echo(run(with_api(opts, body), debug=opts.debug))
