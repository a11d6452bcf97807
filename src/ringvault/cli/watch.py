"""``ringvault watch``: print each event as Ring reports it (push notifications, or polling when push cannot be set
up), and with ``--archive`` archive it and its recording as soon as Ring has it."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ringvault.cli.common import EXIT_USAGE, echo, fail, options, run, with_api

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ringvault.archive.follow import DeviceInfo
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.sync import SyncOptions
    from ringvault.archive.watch import FollowReport
    from ringvault.cli.common import GlobalOptions
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.push import RingEvent

#: What ``--kind`` accepts: the kinds of ``RingEvent`` (kept here so ``--help`` needs no import of the client).
WATCH_KINDS = ("ding", "motion", "intercom_ding", "intercom_unlock", "alarm")


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


def event_fields(event: RingEvent, device: DeviceInfo | None) -> dict[str, Any]:
    """The JSON Lines object of one event (``ringvault.archive.follow.event_fields``: the live feed sends the same)."""
    from ringvault.archive.follow import event_fields as fields

    return fields(event, device)


def event_line(event: RingEvent, device: DeviceInfo | None) -> str:
    """One line: time in the device's zone, device, kind (and detection or alarm kind), ding id."""
    fields = event_fields(event, device)
    when = datetime.fromisoformat(fields["local_time"])
    what = event.kind + (f" ({event.detection or event.alarm_kind})" if event.detection or event.alarm_kind else "")
    name = fields["device_name"] or fields["device_id"] or fields["location_id"] or "?"
    ding = f" ding {event.ding_id}" if event.ding_id else ""
    return f"{when:%Y-%m-%d %H:%M:%S %Z}  {name}  {what}{ding}"


def follow_line(report: FollowReport) -> str:
    if report.summary is None:
        return f"archive: not archived yet ({report.error}); trying again"
    s = report.summary
    scope = "all cameras" if report.devices is None else f"{len(report.devices)} camera(s)"
    return (
        f"archive: {scope}: {s.new} new event(s), {s.downloaded} recording(s) downloaded, {s.pending} pending, "
        f"{s.failed} failed"
    )


def _pass_options(not_ready_deadline_s: float, kinds: set[str]) -> SyncOptions:
    """The options of ``--archive``'s sync passes. Under ``--kind`` only the recordings of dings and motions asked
    for are downloaded (the only kinds with recordings); every event of the watched cameras is stored regardless,
    as ``sync --kind`` does, and asked for other kinds only, nothing is downloaded."""
    from ringvault.archive.watch import watch_options

    recorded = sorted(kinds & {"ding", "motion"}) if kinds else None
    options = watch_options(not_ready_deadline_s, recorded)
    options.metadata_only = bool(kinds) and not recorded
    return options


def watch(
    ctx: typer.Context,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="Also archive each event and its recording here (the same rows and files as `ringvault sync`).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines (one object per event).")] = False,
    device: Annotated[list[str] | None, typer.Option("--device", help="Only this device (id or name); repeat.")] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only events of this kind (ding, motion, intercom_ding, intercom_unlock, alarm)."),
    ] = None,
    not_ready_deadline: Annotated[
        float,
        typer.Option(
            "--recording-wait",
            min=0,
            help="Seconds to wait for Ring to prepare a recording before leaving it pending for `ringvault sync`.",
        ),
    ] = 120.0,
    snapshot_on_motion: Annotated[
        bool,
        typer.Option(
            "--snapshot-on-motion",
            help="With --archive: on each motion of a camera, take a snapshot into the archive (battery cameras at "
            "most every 10 minutes).",
        ),
    ] = False,
) -> None:
    """Print each event (doorbell press, motion, intercom, alarm) as it happens, until Ctrl+C or SIGTERM; with
    --archive, archive it and download its recording as soon as Ring has it, after catching up on what happened
    since the archive's newest event."""
    kinds = set(kind or [])
    bad = sorted(kinds - set(WATCH_KINDS))
    if bad:
        fail(f"--kind {bad[0]!r} is not an event kind watch knows; kinds: {', '.join(WATCH_KINDS)}", code=EXIT_USAGE)
    if snapshot_on_motion and archive is None:
        fail("--snapshot-on-motion keeps the snapshots in the archive: add --archive DIR", code=EXIT_USAGE)
    opts = options(ctx)
    store: ArchiveStore | None = None
    if archive is not None:
        from ringvault.archive.store import ArchiveStore

        archive = archive.expanduser()
        store = ArchiveStore.open(archive)

    async def body(api: RingApi) -> None:
        await _watch(api, store, archive, as_json=as_json, queries=list(device or []), kinds=kinds,
                     not_ready_deadline_s=not_ready_deadline, snapshots=snapshot_on_motion)  # fmt: skip

    try:
        run(_with_api(opts, body, spare_batteries=snapshot_on_motion), debug=opts.debug)
    finally:
        if store is not None:
            store.close()


async def _with_api(opts: GlobalOptions, body: Callable[[RingApi], Awaitable[None]], *, spare_batteries: bool) -> None:
    """``with_api``, with battery cameras' snapshots spared when motions take them (``avoid_snapshot_battery_drain``,
    as ``snapshot --every`` below 10 minutes does)."""
    if not spare_batteries:
        await with_api(opts, body)
        return
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.auth import RefreshTokenAuth

    api_options = opts.api_options()
    api_options.avoid_snapshot_battery_drain = True
    async with RingApi(RefreshTokenAuth(token_store=opts.token_store()), api_options) as api:
        await body(api)


async def _watch(
    api: RingApi,
    store: ArchiveStore | None,
    archive: Path | None,
    *,
    as_json: bool,
    queries: list[str],
    kinds: set[str],
    not_ready_deadline_s: float,
    snapshots: bool = False,
) -> None:
    """Print the events ``EventWatch`` publishes (filtered by ``--device``/``--kind``); it does the rest: push or
    polling, the catch-ups from history, and the archive."""
    import json

    from ringvault.archive.follow import EventWatch, device_infos
    from ringvault.textsafe import printable_json

    devices = await device_infos(api)
    wanted: set[int] | None = None
    if queries:
        wanted = {(await api.find_device(query)).id for query in queries}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    follower = None
    if store is not None and archive is not None:
        from ringvault.archive.watch import ArchiveFollower

        def reported(report: FollowReport) -> None:
            if not as_json:
                echo(follow_line(report))

        # the sync reads cameras, doorbells and intercoms only: a --device naming a chime has nothing to archive
        media_ids = {d.id for d in await api.get_cameras()} | {d.id for d in await api.get_intercoms()}
        follower = ArchiveFollower(
            api, store, archive, _pass_options(not_ready_deadline_s, kinds),
            devices=sorted(str(i) for i in wanted & media_ids) if wanted is not None else None, report=reported,
        )  # fmt: skip

    def chosen(event: RingEvent) -> bool:
        if wanted is not None and event.device_id not in wanted:
            return False
        return not kinds or event.kind in kinds

    def on_event(event: RingEvent) -> None:
        if not chosen(event):
            return
        info = devices.get(event.device_id) if event.device_id is not None else None
        if as_json:
            typer.echo(printable_json(json.dumps(event_fields(event, info))))
        else:
            echo(event_line(event, info))

    watcher = EventWatch(api, follower, archives=chosen)
    watcher.on_event.subscribe(on_event)
    snapper = None
    if snapshots and store is not None and archive is not None:
        from ringvault.archive.follow import MotionSnapshots
        from ringvault.archive.snapshots import ArchiveSink
        from ringvault.cli.snapshot import _outcome_line

        names = {loc.id: loc.name for loc in await api.get_locations()}
        snapper = MotionSnapshots(
            api,
            ArchiveSink(store, archive, location_names=names),
            report=lambda outcome: echo(f"snapshot: {_outcome_line(outcome)}", err=as_json or not outcome.ok),
        )
        watcher.on_event.subscribe(lambda event: snapper.on_event(event) if chosen(event) else None)
    watcher.on_catch_up_failed.subscribe(
        lambda exc: echo(f"catch-up from history failed ({type(exc).__name__}); events keep arriving", err=True)
    )
    try:
        status = await watcher.start()
        how = (
            "push notifications"
            if status.mode == "push"
            else f"polling the cameras' history (push unavailable: {status.reason or 'unknown reason'})"
        )
        echo(f"watching: events arrive by {how}; Ctrl+C stops", err=as_json)
        await stop.wait()
    finally:
        if snapper is not None:
            await snapper.aclose()
        await watcher.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    echo("watch stopped", err=True)
