"""``ringvault snapshot``: list cameras, or take snapshots into the archive or a folder (once or every N seconds)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ringvault.cli.common import EXIT_ERROR, EXIT_PARTIAL, echo, fail, options, run

if TYPE_CHECKING:
    from datetime import datetime

    from ringvault.archive.snapshots import SnapshotOutcome, SnapshotSink
    from ringvault.cli.common import GlobalOptions
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.camera import RingCamera

#: Below this interval battery cameras reuse their last image (``avoid_snapshot_battery_drain``).
BATTERY_MIN_INTERVAL_S = 600.0


def register(app: typer.Typer) -> None:
    app.command("snapshot")(snapshot)


def _camera_line(camera: RingCamera, location_names: dict[str, str]) -> str:
    level = camera.battery_level
    power = f"battery {level}%" if level is not None else ("battery" if camera.has_battery else "wired")
    location = location_names.get(camera.location_id or "") or camera.location_id or ""
    return f"  {camera.id}  {camera.name}  ({camera.model}, {power})  {location}"


def _listing(cameras: list[RingCamera], location_names: dict[str, str]) -> list[str]:
    owned = [c for c in cameras if c.is_doorbot and c.family != "authorized_doorbots"]
    shared = [c for c in cameras if c.family == "authorized_doorbots"]
    others = [c for c in cameras if not c.is_doorbot and c.family != "authorized_doorbots"]
    lines: list[str] = []
    for title, group in (("Doorbells", owned), ("Shared doorbells", shared), ("Cameras", others)):
        lines.append(f"{title} ({len(group)}):")
        lines.extend(_camera_line(c, location_names) for c in sorted(group, key=lambda c: (c.name, c.id)))
    lines.append(f"{len(cameras)} cameras in total")
    return lines


def _unsupported_in_all(camera: RingCamera, outcome: SnapshotOutcome) -> bool:
    """A third-party (ONVIF) camera for which Ring serves no snapshot: with ``--all`` it is skipped with its note and
    is no failure (nobody asked for it by name, and no later run can fix it)."""
    from ringvault.archive.snapshots import THIRD_PARTY_KIND, THIRD_PARTY_SNAPSHOT_NOTE

    return not outcome.ok and camera.kind == THIRD_PARTY_KIND and outcome.error == THIRD_PARTY_SNAPSHOT_NOTE


def _outcome_line(outcome: SnapshotOutcome, *, skipped: bool = False) -> str:
    if skipped:
        return f"{outcome.name}: skipped: {outcome.error}"
    if outcome.status == "saved":
        return f"{outcome.name}: saved {outcome.path}"
    if outcome.status == "unchanged":
        when = outcome.captured_at.isoformat() if outcome.captured_at else "?"
        return f"{outcome.name}: unchanged (captured {when}), not saved again"
    return f"{outcome.name}: failed: {outcome.error}"


async def _resolve(api: RingApi, devices: list[str], all_cameras: bool) -> tuple[list[RingCamera], list[str]]:
    """The cameras to snapshot, plus one line per chosen device that is not a camera."""
    from ringvault.cloud.camera import RingCamera

    if all_cameras:
        return await api.get_cameras(), []
    cameras: list[RingCamera] = []
    problems: list[str] = []
    for query in devices:
        device = await api.find_device(query)  # unknown → DeviceNotFoundError → exit 4
        if isinstance(device, RingCamera):
            if all(c.id != device.id for c in cameras):
                cameras.append(device)
        else:
            problems.append(f"{device.name}: failed: a {device.model} ({device.kind}) is not a camera")
    return cameras, problems


async def _run(
    opts: GlobalOptions,
    *,
    devices: list[str],
    all_cameras: bool,
    list_only: bool,
    force: bool,
    max_retries: int,
    validate: bool,
    out: Path | None,
    archive: Path | None,
    every: float | None,
    count: int | None,
) -> int:
    from ringvault.archive.snapshots import ArchiveSink, FolderSink, take_snapshot
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.auth import RefreshTokenAuth

    api_options = opts.api_options()
    # --max-retries bounds the whole command's patience: each snapshot attempt's own HTTP retries too (otherwise
    # every attempt would retry up to the client's default on its own, and `--max-retries 2` took over a minute).
    api_options.max_retries = min(api_options.max_retries, max_retries)
    if every is not None and every < BATTERY_MIN_INTERVAL_S:
        api_options.avoid_snapshot_battery_drain = True
    auth = RefreshTokenAuth(token_store=opts.token_store())
    async with RingApi(auth, api_options) as api:
        locations = await api.get_locations()
        names = {loc.id: loc.name for loc in locations}
        if list_only:
            for line in _listing(await api.get_cameras(), names):
                echo(line)
            return 0
        cameras, problems = await _resolve(api, devices, all_cameras)
        for line in problems:
            echo(line, err=True)
        if not cameras:
            fail("no camera to snapshot" + (" (none of the chosen devices is a camera)" if problems else ""))
        if api_options.avoid_snapshot_battery_drain and any(c.has_battery for c in cameras):
            echo(
                f"note: battery cameras are snapshotted at most every {BATTERY_MIN_INTERVAL_S:.0f} s "
                "(to spare their batteries); in between their last image is reused and not saved again",
                err=True,
            )

        sink: SnapshotSink
        store = None
        if out is not None:
            sink = FolderSink(out)
        else:
            from ringvault.archive.store import ArchiveStore, default_archive_dir

            root = archive or default_archive_dir()
            store = ArchiveStore.open(root)
            sink = ArchiveSink(store, root, location_names=names)
        last_seen: dict[int, datetime] = {}
        tally = _Tally(failed=len(problems), taken=len(problems))
        try:
            rounds = itertools.count() if count is None else range(count)
            if every is None:
                rounds = range(1)
            for index in rounds:
                if index:
                    await asyncio.sleep(every or 0)
                for camera in cameras:
                    outcome = await take_snapshot(
                        camera,
                        sink,
                        force=force,
                        max_retries=max_retries,
                        validate=validate,
                        last_seen=last_seen,
                    )
                    if all_cameras and _unsupported_in_all(camera, outcome):
                        echo(_outcome_line(outcome, skipped=True))
                        continue
                    echo(_outcome_line(outcome), err=not outcome.ok)
                    tally.add(outcome)
        except asyncio.CancelledError:  # Ctrl-C while looping: stop cleanly
            echo("stopped", err=True)
        finally:
            if store is not None:
                store.close()
        return tally.exit_code()


@dataclass
class _Tally:
    """Snapshots taken and failed in this run. Any failure makes the exit code non-zero — ``EXIT_PARTIAL`` when
    other snapshots were kept, ``EXIT_ERROR`` when none was — with one line that counts them (each failed camera
    already has its own line above it)."""

    failed: int = 0
    taken: int = 0

    def add(self, outcome: SnapshotOutcome) -> None:
        self.taken += 1
        self.failed += 0 if outcome.ok else 1

    def exit_code(self) -> int:
        if not self.failed:
            return 0
        if self.failed == self.taken:
            echo(f"error: {self._count()} failed; nothing was kept", err=True)
            return EXIT_ERROR
        echo(f"error: {self.failed} of {self._count()} failed; the others were kept", err=True)
        return EXIT_PARTIAL

    def _count(self) -> str:
        return f"{self.taken} snapshot{'s' if self.taken != 1 else ''}"


def snapshot(
    ctx: typer.Context,
    devices: Annotated[list[str] | None, typer.Argument(help="Camera ids or names (or --all).")] = None,
    all_cameras: Annotated[bool, typer.Option("--all", help="Every camera and doorbell.")] = False,
    force: Annotated[
        bool, typer.Option("--force/--no-force", help="Ask the camera for a fresh capture (at most every 10 s).")
    ] = True,
    max_retries: Annotated[
        int, typer.Option("--max-retries", min=1, help="Attempts per camera, 1 s apart, when Ring answers an error.")
    ] = 3,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Decode every JPEG before keeping it.")
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Save into this plain folder instead of the archive, as {device-slug}-{id}-{YYYYMMDD-HHMMSS}.jpg.",
        ),
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            envvar="RINGVAULT_ARCHIVE",
            show_envvar=True,
            help="The archive directory (default: the platform data directory).",
        ),
    ] = None,
    every: Annotated[
        float | None, typer.Option("--every", min=1.0, help="Take snapshots every SECONDS until Ctrl-C (or --count).")
    ] = None,
    count: Annotated[int | None, typer.Option("--count", min=1, help="With --every: stop after N rounds.")] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="List cameras (doorbells, shared, cameras) and exit.")
    ] = False,
) -> None:
    """Take a snapshot of cameras into the archive (or a folder), once or every N seconds; or list cameras."""
    opts = options(ctx)
    chosen = list(devices or [])
    if not list_only:
        if all_cameras and chosen:
            fail("give camera names or --all, not both", code=2)
        if not all_cameras and not chosen:
            fail("name at least one camera (id or name), or use --all; --list shows them", code=2)
    if count is not None and every is None:
        fail("--count needs --every", code=2)
    code = run(
        _run(
            opts,
            devices=chosen,
            all_cameras=all_cameras,
            list_only=list_only,
            force=force,
            max_retries=max_retries,
            validate=validate,
            out=out.expanduser() if out is not None else None,
            archive=archive.expanduser() if archive is not None else None,
            every=every,
            count=count,
        ),
        debug=opts.debug,
    )
    if code:
        raise typer.Exit(code)
