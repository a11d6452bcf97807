"""``ringvault portability ...``: Ring's Data Portability API for one customer — login, export, status, records, scopes.

Everything heavy (httpx, pydantic, the archive) is imported inside the commands, so ``ringvault --help`` stays light.
The app's client id, secret and redirect URI come from ``RINGVAULT_PORTABILITY_*`` (see
``ringvault.portability.config``); ``RINGVAULT_CLOUD_URL`` / ``--cloud-url`` points everything at the simulator.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ringvault.cli.common import (
    EXIT_AUTH,
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    EXIT_RATE_LIMITED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    GlobalOptions,
    cell,
    echo,
    exit_code_for,
    fail,
    label,
    options,
    run,
)

if TYPE_CHECKING:
    from datetime import datetime

    from rich.progress import Progress, TaskID

    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import GrantRow
    from ringvault.archive.store.portability_schedule import ScheduleRow
    from ringvault.portability.client import PortabilityClient
    from ringvault.portability.config import PortabilityConfig
    from ringvault.portability.importer import ImportProgress, ImportResult, PollPolicy, PortabilityImporter

T = TypeVar("T")

DEFAULT_LOGIN_TIMEOUT_S = 300.0
DEFAULT_WAIT_TIMEOUT_S = 3600.0
FILE_LABEL_MAX = 44

portability_app = typer.Typer(
    name="portability",
    help="Ring's official Data Portability export: authorize with Login with Ring, export the data sets into the "
    "archive, see what was imported.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(portability_app, name="portability")


# ---------------------------------------------------------------------------------------------------------------
# Plumbing


def portability_exit_code(exc: BaseException) -> int:
    """The documented exit code of a failure: authorization 3, not found 4, unreachable 5, rate-limited 6, else 1."""
    from ringvault.portability import errors as e
    from ringvault.portability.importer import ExportCanceledError
    from ringvault.portability.loopback import LoginTimeoutError

    if not isinstance(exc, e.PortabilityError):
        return exit_code_for(exc)
    auth = (
        e.OAuthError,
        e.NotAuthorizedError,
        e.AccessDeniedError,
        e.MissingAccessTokenError,
        e.MissingAuthorizationHeaderError,
        e.AppNotAllowlistedError,
        e.ScopeNotEnabledError,
        e.AppIdentificationFailureError,
        ExportCanceledError,
        LoginTimeoutError,
    )
    if isinstance(exc, auth):
        return EXIT_AUTH
    if isinstance(exc, e.NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, e.PortabilityUnreachableError):
        return EXIT_UNREACHABLE
    if isinstance(exc, e.RateLimitError | e.DailyQuotaReachedError):
        return EXIT_RATE_LIMITED
    return EXIT_ERROR


def _run(coro: Coroutine[Any, Any, T], opts: GlobalOptions) -> T:
    """Run a coroutine; any failure becomes one line on stderr and its exit code (``common.run``)."""
    return run(
        coro,
        debug=opts.debug,
        code_for=portability_exit_code,
        interrupted="interrupted (run the command again to resume)",
    )


def _config(opts: GlobalOptions, brand: str | None, region: str | None, *, login: bool = False) -> PortabilityConfig:
    """The app's configuration from the environment; ``--cloud-url`` wins over ``RINGVAULT_CLOUD_URL``."""
    from dataclasses import replace

    from ringvault.cloud.endpoints import normalize_cloud_url
    from ringvault.portability.config import PortabilityConfig, PortabilityConfigError

    try:
        config = PortabilityConfig.from_env(brand=brand, region=region, require_redirect_uri=login)
        if opts.cloud_url:
            config = replace(config, cloud_url=normalize_cloud_url(opts.cloud_url))
    except (PortabilityConfigError, ValueError) as exc:
        message = exc.one_line if isinstance(exc, PortabilityConfigError) else str(exc)
        fail(message, code=portability_exit_code(exc) if isinstance(exc, PortabilityConfigError) else EXIT_USAGE)
    return config


def _customer(value: str) -> str:
    from ringvault.portability.tokens import check_customer

    try:
        return check_customer(value)
    except ValueError as exc:
        fail(f"--customer: {exc}", code=EXIT_USAGE)


def _archive_dir(archive: Path | None) -> Path:
    from ringvault.archive.store import default_archive_dir

    return (archive or default_archive_dir()).expanduser()


def _grant(store: ArchiveStore, config: PortabilityConfig, customer: str) -> GrantRow:
    """The grant of this app and customer in the archive (recorded now if the login was made elsewhere)."""
    dp = store.portability
    for grant in dp.list_grants():
        if (grant.brand, grant.client_id, grant.customer) == (config.brand, config.credentials.client_id, customer):
            return grant
    return dp.upsert_grant(
        brand=config.brand, region=config.region, client_id=config.credentials.client_id, customer=customer
    )


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


BrandOption = Annotated[
    str | None,
    typer.Option("--brand", help="ring or blink (default: RINGVAULT_PORTABILITY_BRAND, else ring)."),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region", help="eu-west-1, us-east-1 or us-west-2 (default: RINGVAULT_PORTABILITY_REGION, else eu-west-1)."
    ),
]
CustomerOption = Annotated[
    str, typer.Option("--customer", help="Your name for the customer whose data this is (one authorization each).")
]
ArchiveOption = Annotated[
    Path | None,
    typer.Option(
        "--archive",
        envvar="RINGVAULT_ARCHIVE",
        show_envvar=True,
        help="Archive directory (default: the platform data dir, e.g. ~/.local/share/ringvault/archive).",
    ),
]


# ---------------------------------------------------------------------------------------------------------------
# login


@portability_app.command("login")
def login(
    ctx: typer.Context,
    brand: BrandOption = None,
    region: RegionOption = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the authorization URL instead of opening a browser.")
    ] = False,
    customer: CustomerOption = "default",
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds to wait for the authorization to come back.")
    ] = DEFAULT_LOGIN_TIMEOUT_S,
    archive: ArchiveOption = None,
) -> None:
    """Authorize ringvault with Login with Ring (PKCE); the redirect is received on a loopback port."""
    opts = options(ctx)
    config = _config(opts, brand, region, login=True)
    customer = _customer(customer)
    archive_dir = _archive_dir(archive)

    async def body() -> None:
        import webbrowser

        from ringvault.archive.store import ArchiveStore
        from ringvault.portability.loopback import LoopbackReceiver
        from ringvault.portability.oauth import PortabilityAuth, new_state

        redirect_uri = config.credentials.redirect_uri
        assert redirect_uri is not None
        state = new_state()
        async with (
            LoopbackReceiver(redirect_uri, expected_state=state) as receiver,
            PortabilityAuth.from_config(config, customer=customer) as auth,
        ):
            request = auth.authorization_request(state=state, redirect_uri=receiver.redirect_uri)
            if no_browser or not webbrowser.open(request.url):
                echo("Open this URL in a browser and authorize ringvault:")
                echo(request.url)
            else:
                echo("Opened the browser for Login with Ring; if nothing appeared, open:")
                echo(request.url)
            echo(f"Waiting up to {timeout:.0f} s for the answer on {receiver.redirect_uri} ...")
            redirect = await receiver.wait(timeout)
            await auth.complete(request, redirect)
            token_path = auth.store.path_for(config.brand, customer) if auth.store else None
        with ArchiveStore.open(archive_dir) as store:
            store.portability.upsert_grant(
                brand=config.brand, region=config.region, client_id=config.credentials.client_id, customer=customer
            )
        echo(
            f"Authorized: {config.brand} customer {customer!r} (region {config.region}); authorization stored in "
            f"{token_path}. Next: ringvault portability export"
        )

    _run(body(), opts)


# ---------------------------------------------------------------------------------------------------------------
# export


class _TtyDisplay:
    """Rich progress on a terminal: the phase with its file count, and one bar per file in flight (bytes while
    downloading), removed when that file is done."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.phase: TaskID | None = None
        self.phase_name: str | None = None
        self.files: dict[str, TaskID] = {}

    def __call__(self, event: ImportProgress) -> None:
        if event.phase in ("create", "wait", "list", "done") and event.message:
            self.bar.console.print(cell(event.message), highlight=False)
        if event.phase not in ("download", "import"):
            return
        if self.phase is None or self.phase_name != event.phase:
            if self.phase is not None:
                self.bar.remove_task(self.phase)
            for stale in self.files.values():
                self.bar.remove_task(stale)
            self.files.clear()
            title = "downloading" if event.phase == "download" else "importing"
            self.phase = self.bar.add_task(title, total=event.files_total or None, detail="")
            self.phase_name = event.phase
        if event.phase == "download":
            detail = _human_bytes(event.bytes)
        else:
            detail = f"{event.records} records, {event.new_records} new"
        self.bar.update(self.phase, completed=event.files_done, total=event.files_total or None, detail=detail)
        if event.file is None:
            return
        task = self.files.get(event.file)
        if event.file_done:
            if task is not None:
                self.bar.remove_task(self.files.pop(event.file))
            return
        name = event.file if len(event.file) <= FILE_LABEL_MAX else event.file[: FILE_LABEL_MAX - 1] + "…"
        if task is None:
            task = self.bar.add_task(f"  {label(name)}", total=None, detail="")
            self.files[event.file] = task
        if event.phase == "download":
            detail = _human_bytes(event.file_bytes)
            if event.file_total:
                detail += f" / {_human_bytes(event.file_total)}"
            self.bar.update(task, completed=event.file_bytes, total=event.file_total, detail=detail)


def _plain_display(event: ImportProgress) -> None:
    """One line per step for logs and pipes (no per-chunk noise)."""
    if not event.message:
        return
    if event.phase in ("download", "import") and event.files_total:
        echo(f"[{event.files_done}/{event.files_total}] {event.message}")
    else:
        echo(event.message)


def _print_result(result: ImportResult, archive_dir: Path) -> None:
    echo(
        f"export {result.query_id}: {result.state}; {result.files} files imported, {result.skipped} skipped, "
        f"{result.failed} failed; {_human_bytes(result.bytes)} downloaded, {result.records} records read, "
        f"{result.new_records} new, {result.changed_records} changed" + (" (resumed)" if result.resumed else "")
    )
    if result.datasets:
        width = max(len(name) for name in result.datasets)
        echo(f"  {'data set':<{width}}  {'exported':>9}  {'new':>9}  {'archived':>9}")
        for name, count in result.datasets.items():
            changed = f"  ({count.changed} changed: new versions, history kept)" if count.changed else ""
            echo(f"  {name:<{width}}  {count.exported:>9}  {count.new:>9}  {count.stored:>9}{changed}")
    if result.message:
        echo(f"  note: {result.message}")
    echo(f"files: {archive_dir / 'portability'}")


class _ExportRun:
    """One `ringvault portability export`: start (or adopt) the customer's query, wait for it, import it.

    Nothing resumes a dead query: when Ring says the query can never be listed again (``errors.is_query_dead``:
    its hour of listing ran out), it is closed as expired (``renewal.expire_query``) and a new one is created in its
    place, once per run. The create waits on ``409 REQUEST_CONFLICT`` (another query of the customer still in
    progress at Ring) for at most ``wait_timeout_s``, saying why, then gives up with one line
    (``renewal.StillConflictingError``)."""

    def __init__(
        self,
        store: ArchiveStore,
        client: PortabilityClient,
        grant: GrantRow,
        *,
        archive_dir: Path,
        only: list[str] | None,
        display: Callable[[ImportProgress], None],
        page_size: int,
        concurrency: int,
        wait_timeout_s: float,
    ) -> None:
        self.store, self.client, self.grant = store, client, grant
        self.archive_dir, self.only = archive_dir, only
        self.display = display
        self.page_size, self.concurrency = page_size, concurrency
        self.wait_timeout_s = wait_timeout_s
        self.query_id: str | None = None  # the query the importer is on (from its progress events)
        self._quiet_create: str | None = None

    def _progress(self, event: ImportProgress) -> None:
        if event.query_id is not None:
            self.query_id = event.query_id
        if event.phase == "create" and event.query_id is not None and event.query_id == self._quiet_create:
            return  # "resuming export X" right after this run created X would mislead
        self.display(event)

    def _importer(self, poll: PollPolicy | None = None) -> PortabilityImporter:
        from ringvault.portability.importer import PortabilityImporter

        return PortabilityImporter(
            self.store, self.client, self.grant, archive_dir=self.archive_dir, only=self.only,
            progress=self._progress, page_size=self.page_size, concurrency=self.concurrency, poll=poll,
        )  # fmt: skip

    async def export(self) -> ImportResult:
        from ringvault.portability.errors import AccessTimeElapsedError, PortabilityError, is_query_dead
        from ringvault.portability.importer import ImportProgress, PollPolicy
        from ringvault.portability.renewal import CONFLICT_DELAYS, ConflictBudget, expire_query

        dp = self.store.portability
        replaced: str | None = None
        while True:
            budget = ConflictBudget(self.wait_timeout_s, customer=self.grant.customer)
            known = {q.id for q in dp.list_queries(grant_id=self.grant.id, open_only=True)}
            starter = self._importer(PollPolicy(delays=CONFLICT_DELAYS, sleep=budget, probe_after_s=None))
            query = await starter.start()
            fresh = query.id not in known
            self._quiet_create = query.id if fresh else None
            self.query_id = query.id
            try:
                result = await self._importer().export(wait_timeout_s=self.wait_timeout_s)
            except PortabilityError as err:
                dead = self.query_id
                if not is_query_dead(err) or dead is None:
                    raise
                expire_query(dp, dead, err)
                if replaced is not None:  # the replacement died too: say so, never loop
                    raise AccessTimeElapsedError(
                        f"export {dead} expired too, right after it replaced export {replaced} (Ring answered "
                        "ACCESS_TIME_ELAPSED again); both are closed",
                        hint="Run `ringvault portability export` again for a new export; if this keeps happening, "
                        "check the machine's clock and contact Ring through the Developer Portal.",
                    ) from err
                replaced = dead
                message = f"export {dead} has expired (Ring's hour for listing it ran out); asking for a new export"
                self.display(ImportProgress(query_id=dead, phase="create", message=message))
                continue
            if fresh:
                result.resumed = False
            if replaced is not None:
                note = f"replaces export {replaced}, which expired before it could be listed"
                result.message = f"{result.message}; {note}" if result.message else note
            return result


@portability_app.command("export")
def export(
    ctx: typer.Context,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Import only this data set (documented name, see `scopes`); repeat."),
    ] = None,
    archive: ArchiveOption = None,
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout",
            min=0.0,
            help="Seconds to wait for Ring to prepare the export (then exit 1; a later run resumes it).",
        ),
    ] = DEFAULT_WAIT_TIMEOUT_S,
    customer: CustomerOption = "default",
    brand: BrandOption = None,
    region: RegionOption = None,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=250, help="Files per records page (maxResults).")
    ] = 250,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=16, help="Parallel downloads.")] = 4,
) -> None:
    """Export the customer's data into the archive: create (or resume) a data query, wait, download, import."""
    opts = options(ctx)
    wanted: list[str] | None = None
    if only:
        from ringvault.portability.scopes import DATASETS, dataset

        try:
            wanted = [dataset(name).NAME for name in only]
        except KeyError:
            bad = next(name for name in only if name.strip().lower() not in {n.lower() for n in DATASETS})
            fail(f"--only: unknown data set {bad!r}; run `ringvault portability scopes` for the names", code=EXIT_USAGE)
    config = _config(opts, brand, region)
    customer = _customer(customer)
    archive_dir = _archive_dir(archive)
    tty = sys.stdout.isatty()

    async def body() -> ImportResult:
        from ringvault.archive.store import ArchiveStore
        from ringvault.portability.client import PortabilityClient
        from ringvault.portability.errors import NotAuthorizedError
        from ringvault.portability.http import RetryPolicy
        from ringvault.portability.limits import DatabaseLimitState, PortabilityRateLimiter
        from ringvault.portability.oauth import PortabilityAuth

        auth = PortabilityAuth.from_config(config, customer=customer)
        if auth.token is None:
            raise NotAuthorizedError(f"no stored authorization for {config.brand} customer {customer!r}")
        with ArchiveStore.open(archive_dir) as store:
            grant = _grant(store, config, customer)
            retry = RetryPolicy(delays=config.retry_delays) if config.retry_delays is not None else None
            # the app's limits, counted in the archive: shared with `ringvault serve` and other runs on it
            limiter = PortabilityRateLimiter(state=DatabaseLimitState(store, config.credentials.client_id))
            async with PortabilityClient(auth, retry=retry, limiter=limiter) as client:

                async def run_with(progress: Any) -> ImportResult:
                    run = _ExportRun(
                        store, client, grant, archive_dir=archive_dir, only=wanted, display=progress,
                        page_size=page_size, concurrency=concurrency, wait_timeout_s=wait_timeout,
                    )  # fmt: skip
                    return await run.export()

                if not tty:
                    return await run_with(_plain_display)
                from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

                columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"))
                with Progress(*columns, TimeRemainingColumn(), transient=True) as bar:
                    return await run_with(_TtyDisplay(bar))

    result = _run(body(), opts)
    _print_result(result, archive_dir)


# ---------------------------------------------------------------------------------------------------------------
# status and scopes


@portability_app.command("status")
def status(
    ctx: typer.Context,
    archive: ArchiveOption = None,
) -> None:
    """Authorizations, exports and their states, and the records archived per data set; for the customers of an app
    that `ringvault serve` imports, what is scheduled next and why it waits, and whether Ring's notifications can
    arrive (its SNS subscriptions)."""
    archive_dir = _archive_dir(archive)
    from ringvault.archive.store import ArchiveStore, archive_exists, database_label
    from ringvault.archive.store.portability_schedule import ScheduleStore
    from ringvault.portability.config import PortabilityConfigError, sns_regions_from_env
    from ringvault.portability.renewal import is_expired
    from ringvault.portability.scopes import DATASETS

    if not archive_exists(archive_dir):
        fail(f"no archive in {archive_dir}; run `ringvault portability login` and `export` first", code=EXIT_NOT_FOUND)
    try:
        regions = sns_regions_from_env()
    except PortabilityConfigError as exc:
        fail(exc.one_line, code=EXIT_USAGE)
    with ArchiveStore.open(archive_dir) as store:
        dp = store.portability
        grants = dp.list_grants()
        if not grants:
            echo("no Data Portability authorizations in this archive; run `ringvault portability login`")
            return
        schedules = {row.grant_id: row for row in ScheduleStore(store).rows()}
        for grant in grants:
            echo(
                f"{grant.brand} customer {grant.customer!r}: {grant.status} (region {grant.region}, app "
                f"{grant.client_id}, since {grant.created_at:%Y-%m-%d %H:%M} UTC)"
            )
            if grant.status in _GRANT_NOTES:
                echo(f"  {_GRANT_NOTES[grant.status]} (noted {grant.updated_at:%Y-%m-%d %H:%M} UTC)")
            schedule = schedules.get(grant.id)
            if schedule is not None:
                _print_schedule(schedule)
            queries = dp.list_queries(grant_id=grant.id)
            for query in queries:
                files = dp.list_files(query.id)
                done = sum(1 for f in files if f.state == "imported")
                skipped = sum(1 for f in files if f.state == "skipped")
                state = "expired" if is_expired(query) else query.state
                line = (
                    f"  export {query.id}: {state}"
                    + (f" ({query.status})" if query.status and state != "expired" else "")
                    + f", created {query.created_at:%Y-%m-%d %H:%M} UTC"
                    + (f", {done}/{len(files)} files imported" if files else "")
                    + (f", {skipped} skipped" if skipped else "")
                    + f", {query.records_imported} records"
                )
                echo(line)
                if query.error:
                    echo(f"    {query.error}")
                for file in dp.unrecognised_files(query.id, known=DATASETS):
                    name = file.name or f"#{file.ordinal}"
                    echo(f"    unrecognised file {name} ({file.bytes or 0} bytes), kept as {file.path}")
            if not queries:  # a customer of `ringvault serve` gets one without being asked
                echo("  no exports yet" + ("" if schedule is not None else "; run `ringvault portability export`"))
            counts = dp.dataset_counts(grant.id)
            if counts:
                width = max(len(name) for name in counts)
                echo("  archived records:")
                for name, count in sorted(counts.items()):
                    echo(f"    {name:<{width}}  {count:>9}")
        _print_notifications(store, grants, schedules, regions)
    echo(f"database: {database_label(archive_dir)}")


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def _print_schedule(schedule: ScheduleRow) -> None:
    """What `ringvault serve` does next for a customer and why it waits (its schedule in the archive)."""
    from ringvault.portability.waiting import waiting, working

    running = working(schedule)
    if running is not None:
        what = _STEP_NAMES.get(running["phase"], running["phase"])
        query = f" of export {running['query_id']}" if running["query_id"] else ""
        echo(f"  serve: {what}{query}, running since {_utc(running['since'])}")
    wait = waiting(schedule)
    if wait is not None:
        until = f" until {_utc(wait['until'])}" if wait["until"] is not None else ""
        text = f": {wait['text']}" if wait["text"] else ""
        echo(f"  serve: waiting ({wait['reason']}){until}{text}")
        if wait["message"]:
            echo(f"    {wait['message']}")
    if schedule.last_error and schedule.failures:  # failures is reset when a step succeeds
        times = f"{schedule.failures} time{'s' if schedule.failures != 1 else ''}"
        echo(f"  last error (failed {times} in a row): {schedule.last_error}")
    if schedule.recur_at is not None:
        echo(f"  next recurring export: {_utc(schedule.recur_at)}")


def _print_notifications(
    store: ArchiveStore, grants: list[GrantRow], schedules: dict[int, ScheduleRow], regions: tuple[str, ...]
) -> None:
    """Per app that `ringvault serve` imports for: whether Ring's notifications can arrive there (the SNS
    subscriptions it kept), judged against the regions it confirms (RINGVAULT_PORTABILITY_SNS_REGIONS)."""
    from ringvault.archive.store.portability_subscriptions import SubscriptionStore
    from ringvault.portability.waiting import notification_status

    kept = SubscriptionStore(store)
    for client_id in sorted({grant.client_id for grant in grants}):
        rows = kept.rows(client_id)
        served = rows or any(grant.id in schedules for grant in grants if grant.client_id == client_id)
        if served:
            echo(f"notifications of app {client_id}: {notification_status(rows, regions).text}")


@portability_app.command("records")
def records(
    archive: ArchiveOption = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only this data set (see `ringvault portability scopes`).")
    ] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer (default: all).")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Records dated from then on: YYYY-MM-DD or ISO date-time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Records dated before then (YYYY-MM-DD: that whole day included).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many records.")] = None,
    history: Annotated[
        bool,
        typer.Option(
            "--history", help="Every version of each record (earlier ones: current false), not only the latest."
        ),
    ] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Only the record with this key (a `key` printed before).")
    ] = None,
) -> None:
    """Print the imported records as JSON Lines (one object per line, oldest import first), for jq and scripts:
    the current version of each record, or with ``--history`` every version (``version``, ``current``,
    ``first_seen``/``last_seen``: the first and last export that contained it)."""
    import json

    from ringvault.archive.dates import parse_when
    from ringvault.archive.store import ArchiveStore, archive_exists
    from ringvault.portability.scopes import DATASETS
    from ringvault.textsafe import printable_json

    if dataset is not None and dataset not in DATASETS:
        fail(f"--dataset: unknown data set {dataset!r}; `ringvault portability scopes` lists them", code=EXIT_USAGE)
    try:
        start = parse_when(since) if since else None
        end = parse_when(until, end=True) if until else None
    except ValueError as exc:
        fail(f"--since/--until: {exc}", code=EXIT_USAGE)
    archive_dir = _archive_dir(archive)
    if not archive_exists(archive_dir):
        fail(f"no archive in {archive_dir}; run `ringvault portability login` and `export` first", code=EXIT_NOT_FOUND)
    with ArchiveStore.open(archive_dir) as store:
        dp = store.portability
        grants = {g.id: g for g in dp.list_grants() if customer is None or g.customer == customer}
        if customer is not None and not grants:
            fail(f"--customer: no customer {customer!r} in {archive_dir}", code=EXIT_NOT_FOUND)
        left, cursor = limit, None
        while left is None or left > 0:
            size = 500 if left is None else min(500, left)
            page = dp.list_records(
                grant_ids=grants, dataset=dataset, since=start, until=end, limit=size, cursor=cursor, history=history,
                key=key,
            )  # fmt: skip
            for r in page.records:
                line = {
                    "customer": grants[r.grant_id].customer, "brand": grants[r.grant_id].brand,
                    "dataset": r.dataset, "key": r.key,
                    "event_date": r.event_date.isoformat() if r.event_date else None, "data": r.data,
                    "version": r.version, "current": r.current, "first_seen": r.imported_at.isoformat(),
                    "last_seen": r.last_seen_at.isoformat() if r.last_seen_at else None,
                }  # fmt: skip
                typer.echo(printable_json(json.dumps(line, ensure_ascii=False, separators=(",", ":"))))
            if left is not None:
                left -= len(page.records)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor


#: the steps of `ringvault serve`'s schedule, as the status says them
_STEP_NAMES = {"export": "asking Ring for a new export", "check": "checking", "import": "importing"}
_GRANT_NOTES = {
    "revoked": "Ring refuses this authorization: the customer revoked it; `ringvault portability login` to authorize "
    "again",
    "expired": "the authorization has expired; `ringvault portability login` to authorize again",
    "refused": "Ring refused the last export although the token works (a one-time authorization already used, or "
    "an account on hold); `ringvault portability login` to authorize again",
}


@portability_app.command("scopes")
def scopes() -> None:
    """The 15 data sets of the data-portability scope, by their documented names."""
    from ringvault.portability.scopes import DATASETS

    width = max(len(name) for name in DATASETS)
    for name, model in DATASETS.items():
        echo(f"{name:<{width}}  {model.DESCRIPTION}")


@portability_app.command("invite")
def invite(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="Your key for the customer (letters, digits, . _ @ + -).")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Let the customer's new login replace their working authorization.")
    ] = False,
    valid_hours: Annotated[
        float, typer.Option("--valid-hours", min=0.01, max=720.0, help="How long the link works.")
    ] = 72.0,
    brand: Annotated[str | None, typer.Option("--brand", help="ring or blink (default: the server's).")] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="eu-west-1, us-east-1 or us-west-2 (default: the server's).")
    ] = None,
) -> None:
    """Print a link that connects CUSTOMER to `ringvault serve`'s Data Portability app; send it to them.

    The link is signed with the server secret (in RINGVAULT_PORTABILITY_TOKEN_DIR, shared with the server) and works
    once, until it expires. The server refuses it for a customer whose authorization works unless --replace."""
    opts = options(ctx)
    config = _config(opts, brand, region, login=True)
    from ringvault.portability.config import PortabilityConfigError
    from ringvault.portability.endpoints import check_brand, check_region
    from ringvault.server.portability_login import LoginSeal, invite_url, load_server_secret

    try:
        seal = LoginSeal(load_server_secret(config.token_dir), ttl_s=600.0)
        token, card = seal.issue_invite(
            customer, replace=replace, ttl_s=valid_hours * 3600,
            brand=check_brand(brand) if brand else None, region=check_region(region) if region else None,
        )  # fmt: skip
        url = invite_url(config, token)
    except PortabilityConfigError as exc:
        fail(exc.one_line, code=EXIT_USAGE)
    except ValueError as exc:  # a bad customer key, brand or region
        fail(str(exc), code=EXIT_USAGE)
    from datetime import UTC, datetime

    echo(url)
    until = datetime.fromtimestamp(card.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    echo(f"valid once, until {until}{' (replaces a working authorization)' if replace else ''}", err=True)
