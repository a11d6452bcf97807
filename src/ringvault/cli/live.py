"""``ringvault live``: a live view of one camera (WebRTC, reference §9) recorded to MP4, or one frame as a JPEG.

aiortc and PyAV are imported inside the command only (``ringvault --help`` stays fast). Ctrl-C and SIGTERM stop the
command cleanly: the session hangs up and closes, and no partial file is left (a recording appears only complete).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ringvault.cli.common import EXIT_UNREACHABLE, echo, exit_code_for, fail, options, run

if TYPE_CHECKING:
    from ringvault.cli.common import GlobalOptions
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.camera import RingCamera
    from ringvault.cloud.live import LiveViewSession

#: Exit code after SIGTERM (128 + 15), as a shell reports a process the signal ended.
EXIT_TERMINATED = 143
MAX_DURATION_S = 600.0


def register(app: typer.Typer) -> None:
    app.command("live")(live)


def _code_for(exc: BaseException) -> int:
    from ringvault.cloud.live import LiveViewUnavailableError

    if isinstance(exc, LiveViewUnavailableError):
        return EXIT_UNREACHABLE
    return exit_code_for(exc)


async def _camera(api: RingApi, query: str) -> RingCamera:
    from ringvault.cli.targets import find_of_type, require_online
    from ringvault.cloud.camera import RingCamera

    camera = await find_of_type(api, query, RingCamera, "a camera")
    require_online(camera)  # as every device command: Ring reports it offline, so no ticket and no socket
    return camera


class _Terminated(Exception):
    """SIGTERM arrived: the command stopped cleanly."""


async def _run(
    opts: GlobalOptions,
    *,
    device: str,
    record: Path | None,
    frame: Path | None,
    archive: Path | None,
    duration: float,
) -> int:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.auth import RefreshTokenAuth

    task = asyncio.current_task()
    assert task is not None
    terminated = False

    def on_term() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers off the main thread
        loop.add_signal_handler(signal.SIGTERM, on_term)
    try:
        auth = RefreshTokenAuth(token_store=opts.token_store())
        async with RingApi(auth, opts.api_options()) as api:
            camera = await _camera(api, device)
            session = await camera.start_live_view()
            async with session:
                return await _act(api, camera, session, record=record, frame=frame, archive=archive, duration=duration)
    except asyncio.CancelledError:
        if terminated:
            echo("stopped (SIGTERM); nothing partial was kept", err=True)
            return EXIT_TERMINATED
        raise
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)


async def _act(
    api: RingApi,
    camera: RingCamera,
    session: LiveViewSession,
    *,
    record: Path | None,
    frame: Path | None,
    archive: Path | None,
    duration: float,
) -> int:
    if frame is not None:
        from ringvault.archive.files import atomic_write_bytes

        image = await session.frame()
        await asyncio.to_thread(atomic_write_bytes, frame, image)  # checked as a JPEG, fsynced, renamed in place
        echo(f"{camera.name}: saved a frame to {frame} ({len(image)} bytes)")
        return 0
    if record is not None:
        result = await session.record(record, duration)
        echo(f"{camera.name}: recorded {result.duration_s:.1f} s to {record} ({result.width}x{result.height})")
        return 0
    assert archive is not None
    from ringvault.archive.live import record_into_archive
    from ringvault.archive.store import ArchiveStore

    names = {loc.id: loc.name for loc in await api.get_locations()}
    store = await asyncio.to_thread(ArchiveStore.open, archive)
    try:
        kept = await record_into_archive(
            session, camera, store, archive, duration=duration, location_name=names.get(camera.location_id or ""),
            on_wait=lambda: echo("live: a sync of this archive is running; recording once it is done", err=True),
        )  # fmt: skip
    finally:
        store.close()
    echo(f"{camera.name}: archived a {kept.duration_s:.1f} s live view as on_demand event {kept.event_id}")
    echo(f"  {kept.path}")
    return 0


def live(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="The camera (id or name).")],
    record: Annotated[
        Path | None, typer.Option("--record", help="Record the live view to this MP4 (H.264 + AAC).")
    ] = None,
    duration: Annotated[
        float,
        typer.Option("--duration", min=1.0, max=MAX_DURATION_S, help="Seconds to record (Ring ends a view at 10 min)."),
    ] = 30.0,
    frame: Annotated[Path | None, typer.Option("--frame", help="Save one frame of the live view as a JPEG.")] = None,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="Record into this archive as an on_demand event (like Ring's own live views) instead of a file.",
        ),
    ] = None,
) -> None:
    """Watch a camera live (WebRTC): record it to MP4, keep it in the archive, or save one frame as a JPEG."""
    opts = options(ctx)
    chosen = [name for name, value in (("--record", record), ("--frame", frame), ("--archive", archive)) if value]
    if len(chosen) != 1:
        fail("choose one of --record FILE, --frame FILE or --archive DIR", code=2)
    target = (record or frame or archive or Path()).expanduser()
    if record is not None or frame is not None:
        if target.is_dir():
            fail(f"{target} is a directory; give a file name", code=2)
        if not target.parent.is_dir():
            fail(f"the folder {target.parent} does not exist", code=2)
    code = run(
        _run(
            opts,
            device=device,
            record=target if record is not None else None,
            frame=target if frame is not None else None,
            archive=target if archive is not None else None,
            duration=duration,
        ),
        debug=opts.debug,
        code_for=_code_for,
        interrupted="interrupted; nothing partial was kept",
    )
    if code:
        raise typer.Exit(code)
