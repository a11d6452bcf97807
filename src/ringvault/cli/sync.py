"""``ringvault sync``: keep a local, verified archive of every event and recording."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ringvault.cli.common import EXIT_USAGE, cell, echo, fail, label, options, run, with_api

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ringvault.archive.layout import MediaLayout
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.sync import FileProgress, SyncProgress, SyncSummary
    from ringvault.cloud.api import RingApi

#: Longest label of a per-file progress bar (the rest is cut with an ellipsis).
FILE_LABEL_MAX = 40
#: Exit code of a sync that leaves recordings failed (retried on later runs), gave some up, or could not read an alarm
#: or lighting hub (README, docs/sync.md): the rest of the run was archived.
EXIT_RECORDINGS_FAILED = 7
#: Notes printed at most (errors of this run, given-up recordings); the rest are counted.
NOTES_MAX = 10


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def parse_when(value: str, option: str, *, end: bool = False) -> datetime:
    """``YYYY-MM-DD`` (a whole day: its start, or with ``end`` the start of the next day) or an ISO date-time.

    Without an offset the result is naive: a wall-clock time the sync reads in the ``--timezone`` zone of each
    device, so a day means the same day as the ``{YYYY}/{MM}/{DD}`` folders. With an offset (``Z``, ``+02:00``) it is
    that instant. Anything else exits 2 with one clear line."""
    from ringvault.archive.dates import parse_when as parse

    try:
        return parse(value, end=end, wall_clock=True)
    except ValueError as exc:
        fail(f"{option} {exc}", code=EXIT_USAGE)


def _comparable(value: datetime) -> datetime:
    """For the since < until check only: naive values are compared as if UTC (their zone differs per device)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def build_layout(template: str | None, time_zone: str) -> MediaLayout:
    """The media layout of ``--template`` and ``--timezone``; a bad value exits 2 with one clear line."""
    from ringvault.archive.layout import DEFAULT_TEMPLATE, MediaLayout, parse_time_zone

    try:
        parse_time_zone(time_zone)
    except ValueError as err:
        fail(f"--timezone: {err}", code=EXIT_USAGE)
    try:
        return MediaLayout(template if template is not None else DEFAULT_TEMPLATE, time_zone=time_zone)
    except ValueError as err:
        fail(f"--template: {err}", code=EXIT_USAGE)


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _counted(items: list[str], label: str) -> list[str]:
    lines = [f"  {label}: {item}" for item in items[:NOTES_MAX]]
    if len(items) > NOTES_MAX:
        lines.append(f"  ... and {len(items) - NOTES_MAX} more")
    return lines


def summary_line(summary: SyncSummary) -> str:
    """The one line a sync ends with: what this run did, then where the recordings of the synced devices stand."""
    failed = f"{summary.failed} failed"
    if summary.failed > summary.failed_now:
        failed += f" ({summary.failed - summary.failed_now} waiting for their retry)"
    given_up = f"{summary.given_up} given up" + (
        f" ({summary.given_up_now} in this run)" if summary.given_up_now else ""
    )
    return (
        f"sync done: {summary.new} new, {summary.downloaded} downloaded, {summary.already_archived} already "
        f"archived, {summary.pending} pending, {failed}, {given_up}, {summary.no_media} without media, "
        f"{_human_bytes(summary.bytes)} in {summary.seconds:.1f} s ({summary.requests} requests)"
    )


def hub_line(summary: SyncSummary) -> str | None:
    """What the run kept of the alarm and Smart Lighting hubs (None: no location has one, or ``--no-hub``)."""
    if not summary.hub_locations:
        return None
    removed = f", {summary.hub_devices_removed} no longer listed" if summary.hub_devices_removed else ""
    failed = f", {len(summary.hub_failures)} not read" if summary.hub_failures else ""
    return (
        f"alarm and lights: {summary.hub_devices} devices ({summary.hub_devices_new} new{removed}), "
        f"{summary.hub_history_new} new history items ({summary.hub_locations} location(s){failed})"
    )


def incomplete_line(summary: SyncSummary) -> str:
    """The error line of a run that leaves recordings failed or gave some up (exit code 7)."""
    parts: list[str] = []
    if summary.failed:
        earlier = summary.failed - summary.failed_now
        parts.append(
            f"{summary.failed} recording(s) failed ({summary.failed_now} in this run"
            + (f", {earlier} earlier and waiting for their retry" if earlier else "")
            + "); they are tried again by the next runs"
        )
    if summary.given_up_now:
        parts.append(
            f"{summary.given_up_now} recording(s) failed too many times and were given up; "
            "`ringvault sync --retry-failed` tries them again"
        )
    if summary.hub_failures:
        parts.append(
            f"{len(summary.hub_failures)} alarm/lighting hub read(s) failed (see `hub:` above); the recordings "
            "are archived and the next run reads the hubs again"
        )
    return "; ".join(parts)


def _print_summary(summary: SyncSummary, archive: Path, db: str, *, dry_run: bool) -> None:
    if dry_run:
        echo(
            f"dry run: {summary.new} new events, {summary.would_download} recordings would be downloaded "
            f"({summary.devices} devices, {summary.requests} requests); nothing was written"
        )
    else:
        echo(summary_line(summary))
    hubs = hub_line(summary)
    if hubs is not None:
        echo(("dry run: " if dry_run else "") + hubs)
    for line in _counted(summary.errors, "note"):
        echo(line)
    for line in _counted(summary.hub_failures, "hub"):
        echo(line)
    if summary.retried:
        echo(f"  retried: {summary.retried} failed or given-up recording(s) were made due again")
    for line in _counted(summary.given_up_notes, "given up"):
        echo(line)
    if summary.given_up and not summary.given_up_now:
        echo("  (`ringvault sync --retry-failed` tries the given-up recordings again)")
    echo(f"archive: {archive}")
    echo(f"database: {db}")


def check_kinds(kinds: list[str], store: ArchiveStore | None) -> None:
    """Refuse (exit 2) a ``--kind`` that is neither one of Ring's event kinds nor a kind the archive holds."""
    from ringvault.archive.sync import RING_EVENT_KINDS, unknown_kinds

    bad = unknown_kinds(kinds, store)
    if not bad:
        return
    known = list(RING_EVENT_KINDS)
    if store is not None:
        known += sorted(store.event_kinds() - set(known))
    fail(
        f"--kind {bad[0]!r} is not an event kind Ring uses or the archive holds (kinds are case-sensitive); "
        f"known kinds: {', '.join(known)}",
        code=EXIT_USAGE,
    )


class TtyProgress:
    """Rich progress bars on a terminal: one per phase (history by device, recordings done of total) and one per
    download in flight (bytes), removed as soon as that recording is settled."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.phases: dict[str, TaskID] = {}
        self.files: dict[str, TaskID] = {}

    def phase(self, event: SyncProgress) -> None:
        if event.phase == "wait":
            self.bar.console.print(cell(f"waiting: {event.message}"))
            return
        title = {"history": "history", "hub": "alarm and lights"}.get(event.phase, "recordings")
        detail = f"{event.done}/{event.total}" if event.total else str(event.done)
        task = self.phases.get(event.phase)
        if task is None:
            task = self.phases[event.phase] = self.bar.add_task(title, total=event.total or None, detail=detail)
        self.bar.update(task, completed=event.done, total=event.total or None, detail=detail)

    def file(self, event: FileProgress) -> None:
        task = self.files.get(event.event_id)
        if event.finished:
            if task is not None:
                self.bar.remove_task(self.files.pop(event.event_id))
            return
        detail = _human_bytes(event.done) + (f" / {_human_bytes(event.total)}" if event.total else "")
        if task is None:
            name = event.name if len(event.name) <= FILE_LABEL_MAX else event.name[: FILE_LABEL_MAX - 1] + "…"
            task = self.files[event.event_id] = self.bar.add_task(f"  {label(name)}", total=event.total, detail=detail)
        self.bar.update(task, completed=event.done, total=event.total, detail=detail)


def sync(
    ctx: typer.Context,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            envvar="RINGVAULT_ARCHIVE",
            show_envvar=True,
            help="Archive directory (default: the platform data dir, e.g. ~/.local/share/ringvault/archive).",
        ),
    ] = None,
    device: Annotated[list[str] | None, typer.Option("--device", help="Only this device (id or name); repeat.")] = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only events of this kind (ding, motion, ...).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Download recordings from this date or date-time on (in the --timezone zone)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Download recordings up to this date (inclusive).")
    ] = None,
    on_date: Annotated[str | None, typer.Option("--date", help="Download the recordings of this day only.")] = None,
    newest_first: Annotated[bool, typer.Option("--newest-first", help="Download newest recordings first.")] = False,
    metadata_only: Annotated[bool, typer.Option("--metadata-only", help="Store events; download nothing.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be done; write nothing.")] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Try the recordings given up after too many failed runs (and those failed, waiting for their "
            "retry) again now, with a fresh retry budget.",
        ),
    ] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=32, help="Parallel downloads.")] = 8,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            envvar="RINGVAULT_TEMPLATE",
            show_envvar=True,
            help="Path of each recording in the archive; placeholders {location} {location_id} {device_slug} "
            "{device_id} {YYYY} {MM} {DD} {hh} {mm} {ss} {stamp} {kind} {ding_id} {ext}; must contain {ding_id}. "
            "Default: under media/, by location, device and day (docs/sync.md).",
        ),
    ] = None,
    time_zone: Annotated[
        str,
        typer.Option(
            "--timezone",
            envvar="RINGVAULT_TIMEZONE",
            show_envvar=True,
            help="Zone of the dates in file names and of --date/--since/--until: device (each device's own zone, "
            "from Ring), local (this machine's), UTC, or an IANA name such as Europe/Berlin.",
        ),
    ] = "device",
    no_hub: Annotated[
        bool,
        typer.Option(
            "--no-hub",
            envvar="RINGVAULT_NO_HUB",
            show_envvar=True,
            help="Leave the alarm and Smart Lighting hubs out (their device list and history are kept otherwise).",
        ),
    ] = False,
    hub_history_days: Annotated[
        float | None,
        typer.Option(
            "--hub-history-days",
            help="How far back the first read of a location's alarm and lighting history goes (days; 0: all Ring "
            "keeps). Default 90; later runs read what is new since.",
        ),
    ] = None,
) -> None:
    """Archive every event and recording incrementally (resumable; a re-run only fetches what is new), and the
    device list and history of the alarm and Smart Lighting hubs.

    Exit code 7 when recordings failed (they are retried by the next runs) or were given up in this run, or when a
    hub could not be read (the rest was archived; the next run reads it again)."""
    if hub_history_days is not None and hub_history_days < 0:
        fail("--hub-history-days must be 0 (everything) or more", code=EXIT_USAGE)
    since_at = parse_when(since, "--since") if since else None
    until_at = parse_when(until, "--until", end=True) if until else None
    if on_date:
        if since or until:
            fail("--date cannot be combined with --since/--until", code=EXIT_USAGE)
        since_at = parse_when(on_date, "--date")
        until_at = parse_when(on_date, "--date", end=True)
    if since_at is not None and until_at is not None and _comparable(since_at) >= _comparable(until_at):
        fail("--since must be before --until", code=EXIT_USAGE)
    layout = build_layout(template, time_zone)
    opts = options(ctx)

    from ringvault.archive.store import ArchiveStore, archive_exists, database_label, default_archive_dir
    from ringvault.archive.sync import SyncOptions, run_sync

    archive_dir = (archive or default_archive_dir()).expanduser()
    exists = archive_exists(archive_dir)  # with RINGVAULT_DATABASE_URL: the PostgreSQL database
    kinds = list(kind) if kind else None
    if kinds and not exists:
        check_kinds(kinds, None)  # before anything is created
    sync_options = SyncOptions(
        devices=list(device) if device else None,
        kinds=kinds,
        since=since_at,
        until=until_at,
        oldest_first=not newest_first,
        metadata_only=metadata_only,
        dry_run=dry_run,
        concurrency=concurrency,
        layout=layout,
        retry_failed=retry_failed,
        hub=not no_hub,
    )
    if hub_history_days is not None:
        sync_options.hub_history_days = hub_history_days or None
    if dry_run:
        # Read the existing archive if there is one; never create anything.
        store = ArchiveStore.open(archive_dir) if exists else ArchiveStore.open_url("sqlite:///:memory:")
    else:
        store = ArchiveStore.open(archive_dir)
    if kinds:
        try:
            check_kinds(kinds, store)
        except typer.Exit:
            store.close()
            raise

    tty = sys.stdout.isatty()

    async def body(api: RingApi) -> SyncSummary:
        if not tty:
            last: dict[str, int] = {}

            def plain(event: SyncProgress) -> None:
                if event.phase == "wait":
                    echo(f"waiting: {event.message}")
                elif event.phase in ("history", "hub") and event.message:
                    echo(f"{event.phase}: {event.message} ({event.done + 1}/{event.total})")
                elif event.phase == "media" and event.total:
                    step = max(1, event.total // 10)
                    if event.done == event.total or event.done - last.get("media", 0) >= step:
                        last["media"] = event.done
                        echo(f"recordings: {event.done}/{event.total}")

            return await run_sync(api, store, archive_dir, sync_options, progress=plain)
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"))
        with Progress(*columns, TimeRemainingColumn(), transient=True) as bar:
            display = TtyProgress(bar)
            return await run_sync(
                api, store, archive_dir, sync_options, progress=display.phase, file_progress=display.file
            )

    try:
        summary = run(with_api(opts, body), debug=opts.debug)
    finally:
        store.close()
    _print_summary(summary, archive_dir, database_label(archive_dir), dry_run=dry_run)
    if summary.incomplete and not dry_run:
        fail(incomplete_line(summary), code=EXIT_RECORDINGS_FAILED)
