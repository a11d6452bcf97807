"""``ringvault sync``: keep a local, verified archive of every event and recording."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ringvault.cli.common import EXIT_USAGE, fail, options, run, with_api

if TYPE_CHECKING:
    from ringvault.archive.sync import SyncProgress, SyncSummary
    from ringvault.cloud.api import RingApi


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def parse_when(value: str, option: str, *, end: bool = False) -> datetime:
    """``YYYY-MM-DD`` (a whole day: its start, or with ``end`` the start of the next day) or an ISO date-time
    (naive = UTC). Anything else exits 2 with one clear line."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM]", code=EXIT_USAGE)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _print_summary(summary: SyncSummary, archive: Path, db: Path, *, dry_run: bool) -> None:
    if dry_run:
        typer.echo(
            f"dry run: {summary.new} new events, {summary.would_download} recordings would be downloaded "
            f"({summary.devices} devices, {summary.requests} requests); nothing was written"
        )
    else:
        typer.echo(
            f"sync done: {summary.new} new, {summary.downloaded} downloaded, {summary.skipped} skipped, "
            f"{summary.pending} pending, {summary.failed} failed, {summary.no_media} without media, "
            f"{_human_bytes(summary.bytes)} in {summary.seconds:.1f} s ({summary.requests} requests)"
        )
    for error in summary.errors[:10]:
        typer.echo(f"  note: {error}")
    typer.echo(f"archive: {archive}")
    typer.echo(f"database: {db}")


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
    since: Annotated[str | None, typer.Option("--since", help="Download recordings from this date (UTC).")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Download recordings up to this date (inclusive).")
    ] = None,
    on_date: Annotated[str | None, typer.Option("--date", help="Download the recordings of this day only.")] = None,
    newest_first: Annotated[bool, typer.Option("--newest-first", help="Download newest recordings first.")] = False,
    metadata_only: Annotated[bool, typer.Option("--metadata-only", help="Store events; download nothing.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be done; write nothing.")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=32, help="Parallel downloads.")] = 8,
) -> None:
    """Archive every event and recording incrementally (resumable; a re-run only fetches what is new)."""
    since_at = parse_when(since, "--since") if since else None
    until_at = parse_when(until, "--until", end=True) if until else None
    if on_date:
        if since or until:
            fail("--date cannot be combined with --since/--until", code=EXIT_USAGE)
        since_at = parse_when(on_date, "--date")
        until_at = parse_when(on_date, "--date", end=True)
    if since_at is not None and until_at is not None and since_at >= until_at:
        fail("--since must be before --until", code=EXIT_USAGE)
    opts = options(ctx)

    from ringvault.archive.store import DB_FILENAME, ArchiveStore, default_archive_dir
    from ringvault.archive.sync import SyncOptions, run_sync

    archive_dir = (archive or default_archive_dir()).expanduser()
    db_path = archive_dir / DB_FILENAME
    sync_options = SyncOptions(
        devices=list(device) if device else None,
        kinds=list(kind) if kind else None,
        since=since_at,
        until=until_at,
        oldest_first=not newest_first,
        metadata_only=metadata_only,
        dry_run=dry_run,
        concurrency=concurrency,
    )
    if dry_run:
        # Read the existing archive if there is one; never create anything.
        store = ArchiveStore.open(archive_dir) if db_path.exists() else ArchiveStore.open_url("sqlite:///:memory:")
    else:
        store = ArchiveStore.open(archive_dir)

    tty = sys.stdout.isatty()

    async def body(api: RingApi) -> SyncSummary:
        if not tty:
            last: dict[str, int] = {}

            def plain(event: SyncProgress) -> None:
                if event.phase == "history" and event.message:
                    typer.echo(f"history: {event.message} ({event.done + 1}/{event.total})")
                elif event.phase == "media" and event.total:
                    step = max(1, event.total // 10)
                    if event.done == event.total or event.done - last.get("media", 0) >= step:
                        last["media"] = event.done
                        typer.echo(f"recordings: {event.done}/{event.total}")

            return await run_sync(api, store, archive_dir, sync_options, progress=plain)
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            tasks: dict[str, Any] = {}

            def fancy(event: SyncProgress) -> None:
                label = "history" if event.phase == "history" else "recordings"
                if event.phase not in tasks:
                    tasks[event.phase] = bar.add_task(label, total=event.total or None)
                bar.update(tasks[event.phase], completed=event.done, total=event.total or None)

            return await run_sync(api, store, archive_dir, sync_options, progress=fancy)

    try:
        summary = run(with_api(opts, body), debug=opts.debug)
    finally:
        store.close()
    _print_summary(summary, archive_dir, db_path, dry_run=dry_run)
