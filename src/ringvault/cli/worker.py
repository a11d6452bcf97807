"""``ringvault worker``: run the Data Portability steps of an app whose archive is on PostgreSQL, beside ``ringvault
serve`` (which takes the customers' logins and Ring's notifications and queues the steps) and any number of other
workers, on any number of machines."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from ringvault.cli.common import EXIT_USAGE, echo, fail, options, run

PORTABILITY_VARIABLES = "RINGVAULT_PORTABILITY_CLIENT_ID, _CLIENT_SECRET and _REDIRECT_URI"


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    ctx: typer.Context,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            envvar="RINGVAULT_ARCHIVE",
            show_envvar=True,
            help="Where this worker keeps the downloaded export files (default: the platform data dir). The "
            "database is RINGVAULT_DATABASE_URL's.",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Steps run at once (default: RINGVAULT_PORTABILITY_MAX_IMPORTS + 2; imports never take more than "
            "RINGVAULT_PORTABILITY_MAX_IMPORTS of them).",
        ),
    ] = None,
) -> None:
    """Run Data Portability exports and imports queued by `ringvault serve` (archive on PostgreSQL: set
    RINGVAULT_DATABASE_URL and the same RINGVAULT_PORTABILITY_* variables as serve). Stops cleanly on SIGTERM or
    Ctrl+C: a step still running is queued again for another worker."""
    opts = options(ctx)
    api_options = opts.api_options()

    from ringvault.archive.store import configured_database_url, default_archive_dir
    from ringvault.archive.store.engine import ArchiveDatabaseError

    database_url = configured_database_url()
    if database_url is None:
        fail(
            "ringvault worker needs the archive on PostgreSQL: set RINGVAULT_DATABASE_URL=postgresql+psycopg://... "
            "(with SQLite, `ringvault serve` runs the Data Portability steps itself)",
            code=EXIT_USAGE,
        )
    from ringvault.portability.config import PortabilityConfigError
    from ringvault.server.portability_jobs import WorkerSettings, conninfo
    from ringvault.server.portability_settings import PortabilityServerSettings
    from ringvault.server.portability_worker import default_concurrency, run_worker

    try:
        conninfo(database_url)  # PostgreSQL, not a SQLite URL
    except ArchiveDatabaseError as exc:
        fail(str(exc), code=EXIT_USAGE)
    try:
        settings = PortabilityServerSettings.from_env(cloud_url=api_options.cloud_url)
    except PortabilityConfigError as exc:
        fail(exc.one_line, code=EXIT_USAGE)
    if settings is None:
        fail(f"Data Portability is not configured: set {PORTABILITY_VARIABLES}, as for serve", code=EXIT_USAGE)
    try:
        steps = WorkerSettings.from_env(concurrency=concurrency or default_concurrency(settings))
    except ValueError as exc:
        fail(str(exc), code=EXIT_USAGE)
    archive_dir = (archive or default_archive_dir()).expanduser()
    if not opts.debug:  # a service's log: what each step did (the CLI shows warnings only)
        logging.getLogger("ringvault.server.portability").setLevel(logging.INFO)

    def ready(database: str) -> None:
        echo(
            f"ringvault worker: running Data Portability steps from {database} ({steps.concurrency} at once, "
            f"{settings.max_concurrent} imports)"
        )
        echo(f"archive files: {archive_dir}")

    run(run_worker(archive_dir, database_url, settings, steps, ready=ready), debug=opts.debug)
    echo("ringvault worker: stopped")
