"""``ringvault motion DEVICE on|off``: switch a camera's motion detection (``RingCamera.set_motion_detection``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ringvault.cli.common import echo, options, run, with_api
from ringvault.cli.devices import OnOff

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi


def register(app: typer.Typer) -> None:
    app.command("motion")(motion)


def motion(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="Camera or doorbell id or name.")],
    state: Annotated[OnOff, typer.Argument(help="on or off")],
) -> None:
    """Switch a camera's or doorbell's motion detection on or off."""
    opts = options(ctx)

    async def body(api: RingApi) -> str:
        from ringvault.cli.targets import require_online
        from ringvault.cloud.errors import CapabilityError

        camera = await api.find_camera(device)
        before = camera.motion_detection_enabled
        if before is None:  # no motion setting in its entry (third-party cameras): Ring has nothing to switch
            raise CapabilityError(
                f"{camera.name} ({camera.model}) has no motion detection setting in Ring",
                hint="`ringvault devices` shows what each device is.",
            )
        require_online(camera)
        wanted = state is OnOff.on
        await camera.set_motion_detection(wanted)
        was = " (already)" if before is wanted else f" (was {'on' if before else 'off'})"
        return f"{camera.name}: motion detection {state.value}{was}"

    echo(run(with_api(opts, body), debug=opts.debug))
