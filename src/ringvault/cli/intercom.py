"""``ringvault unlock INTERCOM``: open the door of a Ring Intercom (``RingIntercom.unlock``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ringvault.cli.common import echo, options, run, with_api

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi


def register(app: typer.Typer) -> None:
    app.command("unlock")(unlock)


def unlock(
    ctx: typer.Context,
    intercom: Annotated[str, typer.Argument(help="Intercom id or name.")],
) -> None:
    """Unlock the door of a Ring Intercom (for as long as the intercom is set to hold it open)."""
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        from ringvault.cli.targets import find_of_type, require_online
        from ringvault.cloud.intercom import RingIntercom

        target = await find_of_type(api, intercom, RingIntercom, "an intercom")
        require_online(target)
        await target.unlock()  # IntercomUnlockError (one line) unless the intercom reports success
        held = target.unlock_duration_s
        return f"{target.name}: unlocked" + (f" (for {held} s)" if held else "")

    echo(run(with_api(opts, body), debug=opts.debug))
