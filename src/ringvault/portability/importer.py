"""Import one customer's Data Portability export into the archive, resumably.

    importer = PortabilityImporter(store, client, grant, archive_dir=archive_dir, only=None, progress=print)
    result = await importer.export(wait_timeout_s=3600)     # create (or adopt) -> wait -> list -> download -> import
    result = await importer.import_query(query_id)          # a query known to be COMPLETED (after a notification)

The stable API (used by the CLI and by ``ringvault serve``):

``PortabilityImporter(store, client, grant, *, archive_dir, only=None, progress=None, page_size=250, poll=None,
hub=None, concurrency=4)``
    ``store`` an open ``ArchiveStore``; ``client`` the ``PortabilityClient`` of ``grant``'s customer; ``grant`` a
    ``GrantRow`` (``store.portability.upsert_grant``); ``only`` documented data set names to import (others become
    ``skipped`` files); ``progress`` a callable receiving ``ImportProgress`` events; ``hub`` a ``NotificationHub``
    that ends the wait as soon as a notification for the query is delivered in this process; ``concurrency`` files
    are downloaded at a time.
``await export(wait_timeout_s=None) -> ImportResult``
    adopts the grant's open query (a re-run after a crash resumes it) or creates one (a ``409 REQUEST_CONFLICT`` with
    no open query known here means a query created by a run that died before storing its id: wait and create again),
    waits for completion, then ``import_query``.
``await start() -> QueryRow``, ``await wait(query_id, timeout_s=None) -> QueryRow``
    the first two steps on their own.
``await import_query(query_id) -> ImportResult``
    list every page, download each schema + data file, import the records. Only for a COMPLETED query.
``record_notification(store, notification, hub=None) -> QueryRow | None``
    store what a notification says about a known query (COMPLETED → ``notified``; CANCELED → ``canceled``) and
    wake an importer waiting in this process. Unknown query ids → None.
``await check_grant() -> str``
    after a CANCELED: one forced token refresh tells whether the authorization still works; a refused one marks the
    grant ``revoked`` or ``expired``.

Grant statuses: ``active``; ``revoked`` or ``expired`` (Ring refuses the refresh token: the customer must authorize
again); ``refused`` (the token works but createDataQuery answers ACCESS_DENIED: a one-time authorization already
used, or an account on hold; back to ``active`` as soon as an export is accepted again).

Errors (all ``PortabilityError``): ``ExportCanceledError`` (the query was CANCELED or the authorization is gone;
the customer must log in again), ``ExportNotReadyError`` (still not completed after ``wait_timeout_s``: run again to
resume), ``AccessTimeElapsedError`` (the 1-hour listing window is over: the query is ``failed``, files already
downloaded are imported; create a new export). Anything else (network, 5xx after retries) leaves the stored state
as it is, so the next run resumes.

On disk, under the archive directory::

    portability/{brand}/{customer}/{query_id}/{ordinal:04d}-{dataset}.json          the data file, as served
    portability/{brand}/{customer}/{query_id}/{ordinal:04d}-{dataset}.schema.json   its JSON Schema

Every step is committed before the next (``portability_queries.state``: created → notified → listed → downloaded →
imported, or failed / canceled; ``portability_files.state``: listed → downloaded → imported, or skipped / failed), so
a process killed at any instant resumes from the stored state: imported files are not read again, a half-imported file
is read again and only its missing records are inserted (``import_records`` ignores keys already stored). Downloads go
to a temporary ``.*.part`` file renamed when complete; leftovers of a killed run are removed first thing. Presigned
URLs live 5 minutes: an expired one makes the importer list the query again for fresh URLs (the service allows that
for one hour after its notification).

Records are keyed by the data set model's ``record_key()``; records identical in every field within one file get
their occurrence number appended (``KEY#1``, ``KEY#2``...), counted exactly in bounded memory (``OccurrenceCounter``
spills to a temporary SQLite file past 200,000 distinct keys), so a file is read in constant memory whatever its size.
One importer per customer runs at a time: a lock file (``portability/{brand}/{customer}/.lock``) makes a second one
(another CLI run, or ``serve`` acting on a notification) wait, then find the work done.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn

import filelock

from ringvault.portability.errors import (
    AccessDeniedError,
    AccessTimeElapsedError,
    DownloadWriteError,
    InvalidGrantError,
    PortabilityError,
    PortabilityResponseError,
    PresignedUrlExpiredError,
    QueryNotCompletedError,
    RequestConflictError,
)
from ringvault.portability.scopes import DataSetRecord, dataset, dataset_for_schema, iter_json_array
from ringvault.portability.scopes.reader import DataFileError

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import GrantRow, ImportRecord, QueryFileRow, QueryRow
    from ringvault.portability.client import DataQueryRecord, PortabilityClient
    from ringvault.portability.notifications import QueryNotification

__all__ = [
    "DEFAULT_POLL_DELAYS",
    "ExportCanceledError",
    "ExportNotReadyError",
    "ImportProgress",
    "ImportResult",
    "NotificationHub",
    "OccurrenceCounter",
    "PollPolicy",
    "PortabilityImporter",
    "export_dir",
    "grant_dir",
    "record_notification",
]

logger = logging.getLogger("ringvault.portability")

#: waits between two "is it completed yet?" list calls (the last one repeats)
DEFAULT_POLL_DELAYS: Final[tuple[float, ...]] = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
#: a query still not listable after this long is checked for a silent cancellation (see ``PollPolicy``)
DEFAULT_PROBE_AFTER_S: Final = 900.0
#: while waiting, how often the database is checked for a notification stored by another process
DB_CHECK_S: Final = 1.0
#: files downloaded at the same time
DEFAULT_CONCURRENCY: Final = 4
#: how many times in a row the URLs may expire without a file getting through before giving up
MAX_RELISTS: Final = 3
#: records between two progress events of the import phase
PROGRESS_EVERY: Final = 250
OPEN_STATES: Final = frozenset({"created", "notified", "listed", "downloaded"})
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_PART_SUFFIX = ".part"

Phase = Literal["create", "wait", "list", "download", "import", "done"]


class ExportCanceledError(PortabilityError):
    """Ring canceled the data query, or no longer accepts the customer's authorization."""

    hint = (
        "The customer's authorization was revoked or has expired (or the account is on hold); run "
        "`ringvault portability login` to authorize again, then export."
    )


class ExportNotReadyError(PortabilityError):
    """The query did not complete within the wait timeout (nothing is lost: the query is kept)."""

    hint = "Ring is still preparing the export; run `ringvault portability export` again later to resume it."


# ---------------------------------------------------------------------------------------------------------------
# Progress and results


@dataclass(frozen=True)
class ImportProgress:
    """One progress event. ``files_*`` count the files of the current phase; ``bytes``/``records``/``new_records``
    are totals of this run; ``file*`` describe a file being downloaded or imported (several download at once;
    ``file_done`` marks its last event). Events of the import phase come from a worker thread."""

    query_id: str | None
    phase: Phase
    message: str = ""
    files_done: int = 0
    files_total: int = 0
    file: str | None = None
    file_bytes: int = 0
    file_total: int | None = None
    file_done: bool = False
    bytes: int = 0
    records: int = 0
    new_records: int = 0


ProgressCallback = Callable[[ImportProgress], None]


@dataclass
class DatasetCount:
    """Records of one data set: in this export's imported files, inserted by this run, stored for the grant."""

    exported: int = 0
    new: int = 0
    stored: int = 0


@dataclass
class ImportResult:
    query_id: str
    state: str
    status: str | None
    files: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    records: int = 0
    new_records: int = 0
    resumed: bool = False
    datasets: dict[str, DatasetCount] = field(default_factory=dict)
    message: str | None = None


@dataclass(frozen=True)
class PollPolicy:
    """How the wait for completion polls the records call: ``delays`` between attempts (the last repeats).

    A CANCELED query answers the records call exactly like one in progress (``QUERY_NOT_COMPLETED``), so without a
    notification a poll alone never learns of a cancellation. Once a query is ``probe_after_s`` old (and then every
    ``probe_after_s``), the importer asks for a new query: ``409 REQUEST_CONFLICT`` means the old one is still in
    progress; a new query means the old one ended without becoming listable — it was CANCELED — and the new one is
    waited for instead. None turns the probe off."""

    delays: tuple[float, ...] = DEFAULT_POLL_DELAYS
    sleep: Callable[[float], Any] = asyncio.sleep
    probe_after_s: float | None = DEFAULT_PROBE_AFTER_S

    def delay(self, attempt: int) -> float:
        return self.delays[min(attempt, len(self.delays) - 1)] if self.delays else 1.0


# ---------------------------------------------------------------------------------------------------------------
# Notifications (the in-process hook)


class NotificationHub:
    """Where notifications meet waiting importers of the same process: ``deliver()`` wakes ``wait_for()``."""

    def __init__(self) -> None:
        self._status: dict[str, str] = {}
        self._events: dict[str, asyncio.Event] = {}

    def deliver(self, query_id: str, status: str) -> None:
        self._status[query_id] = status
        event = self._events.get(query_id)
        if event is not None:
            event.set()

    def status(self, query_id: str) -> str | None:
        return self._status.get(query_id)

    async def wait_for(self, query_id: str, timeout_s: float) -> str | None:
        """The delivered status of ``query_id``, waiting at most ``timeout_s`` for one."""
        if query_id in self._status:
            return self._status[query_id]
        event = self._events.setdefault(query_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
        return self._status.get(query_id)


def record_notification(
    store: ArchiveStore, notification: QueryNotification, hub: NotificationHub | None = None
) -> QueryRow | None:
    """Store a notification's news about a known query and wake a waiting importer; None for an unknown query id.

    COMPLETED moves a ``created`` query to ``notified`` (later states are kept); CANCELED ends an open query as
    ``canceled`` (``PortabilityImporter.check_grant()`` then tells whether the authorization was revoked or has
    expired). The notification time starts the 1-hour listing window."""
    dp = store.portability
    query = dp.get_query(notification.query_id)
    if query is None:
        return None
    if hub is not None:
        hub.deliver(notification.query_id, notification.status)
    now = datetime.now(UTC)
    if notification.status == "COMPLETED":
        if query.state == "created":
            return dp.update_query(query.id, state="notified", status="COMPLETED", notified_at=now)
        if query.status is None:
            return dp.update_query(query.id, status="COMPLETED", notified_at=query.notified_at or now)
        return query
    if query.state in OPEN_STATES:
        return dp.update_query(query.id, state="canceled", status="CANCELED", notified_at=now, error=_CANCELED_MESSAGE)
    return query


_CANCELED_MESSAGE = "Ring canceled the export (authorization revoked or expired, or the account is on hold)"


# ---------------------------------------------------------------------------------------------------------------
# Paths


def _segment(value: str, what: str) -> str:
    if not _SAFE_SEGMENT.fullmatch(value) or value in (".", ".."):
        raise PortabilityError(f"the {what} {value!r} cannot be used as a folder name")
    return value


def grant_dir(archive_dir: Path, brand: str, customer: str) -> Path:
    """``ARCHIVE/portability/{brand}/{customer}``."""
    return Path(archive_dir) / "portability" / _segment(brand, "brand") / _segment(customer, "customer")


def export_dir(archive_dir: Path, brand: str, customer: str, query_id: str) -> Path:
    """``ARCHIVE/portability/{brand}/{customer}/{query_id}``: the files of one query."""
    return grant_dir(archive_dir, brand, customer) / _segment(query_id, "query id")


def _file_stem(ordinal: int, dataset_name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset_name).strip("._") or "unknown"
    return f"{ordinal:04d}-{slug}"


def remove_partials(folder: Path) -> int:
    """Delete the temporary files (``.*.part``) a killed run left under ``folder``; how many there were."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob(f".*{_PART_SUFFIX}"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


# ---------------------------------------------------------------------------------------------------------------
# Keys of identical records


class OccurrenceCounter:
    """How many times each key was seen before (0 the first time), exactly, in bounded memory.

    Keys stay in a dict until ``max_in_memory`` distinct ones; then they move to a temporary SQLite file in
    ``spill_dir`` (named ``.occurrences-*.part``, so a killed run's leftover is cleaned like a partial download)."""

    def __init__(self, spill_dir: Path, *, max_in_memory: int = 200_000) -> None:
        self.spill_dir = spill_dir
        self.max_in_memory = max_in_memory
        self._seen: dict[bytes, int] = {}
        self._db: sqlite3.Connection | None = None
        self._path: Path | None = None

    def next(self, key: str) -> int:
        """The number of times ``key`` was seen before this call."""
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        if self._db is not None:
            row = self._db.execute(
                "INSERT INTO seen (k, n) VALUES (?, 0) ON CONFLICT (k) DO UPDATE SET n = n + 1 RETURNING n",
                (digest,),
            ).fetchone()
            return int(row[0])
        count = self._seen.get(digest)
        seen_before = 0 if count is None else count + 1
        self._seen[digest] = seen_before
        if len(self._seen) > self.max_in_memory:
            self._spill()
        return seen_before

    def _spill(self) -> None:
        fd, name = tempfile.mkstemp(dir=self.spill_dir, prefix=".occurrences-", suffix=_PART_SUFFIX)
        os.close(fd)
        self._path = Path(name)
        self._db = sqlite3.connect(name, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (k BLOB PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO seen (k, n) VALUES (?, ?)", self._seen.items())
        self._seen.clear()

    @property
    def spilled(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
            self._path = None

    def __enter__(self) -> OccurrenceCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _generic_key(dataset_name: str, item: dict[str, Any]) -> str:
    text = json.dumps({"dataset": dataset_name, "record": item}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# The importer


@dataclass
class _DownloadRun:
    """The download phase of one run: files settled, bytes of finished files and of those in flight."""

    total: int
    done: int = 0
    finished_bytes: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.finished_bytes + sum(self.in_flight.values())


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real failure of a task group (nested groups unwrapped)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


@dataclass
class _RunTotals:
    bytes: int = 0
    records: int = 0
    new_records: int = 0
    new_by_dataset: dict[str, int] = field(default_factory=dict)


class PortabilityImporter:
    """Runs and resumes the export of one grant (customer) into the archive; see the module docstring."""

    def __init__(
        self,
        store: ArchiveStore,
        client: PortabilityClient,
        grant: GrantRow,
        *,
        archive_dir: Path,
        only: Collection[str] | None = None,
        progress: ProgressCallback | None = None,
        page_size: int = 250,
        poll: PollPolicy | None = None,
        hub: NotificationHub | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        lock_timeout_s: float = -1,
    ) -> None:
        self.store = store
        self.dp = store.portability
        self.client = client
        self.grant = grant
        self.archive_dir = Path(archive_dir)
        self.only: frozenset[str] | None = frozenset(dataset(name).NAME for name in only) if only else None
        self._progress = progress
        self.page_size = page_size
        self.poll = poll or PollPolicy()
        self.hub = hub
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.lock_timeout_s = lock_timeout_s
        self.folder = grant_dir(self.archive_dir, grant.brand, grant.customer)
        self._totals = _RunTotals()
        self._held = 0
        self._adopted = False

    # -- public steps --------------------------------------------------------------------------------------------
    async def export(self, *, wait_timeout_s: float | None = None) -> ImportResult:
        """Create (or adopt the open) query, wait for it, import it. See the module docstring."""
        async with self._locked():
            query = await self.start()
            resumed = query.state != "created" or self._adopted
            if query.state == "created":
                query = await self.wait(query.id, timeout_s=wait_timeout_s)
            result = await self.import_query(query.id)
            result.resumed = resumed or result.resumed
            return result

    async def start(self) -> QueryRow:
        """The grant's open query (adopted) or a new one. A 409 without a known open query: wait, create again."""
        self._adopted = False
        async with self._locked():
            open_queries = self.dp.list_queries(grant_id=self.grant.id, open_only=True)
            for query in reversed(open_queries):
                if query.state in OPEN_STATES:
                    self._adopted = True
                    self._emit(query.id, "create", f"resuming export {query.id} ({query.state})")
                    return query
            attempt = 0
            while True:
                self._emit(None, "create", "asking Ring for a new export")
                try:
                    query_id = await self.client.create_query()
                except RequestConflictError:
                    delay = self.poll.delay(attempt)
                    attempt += 1
                    self._emit(
                        None,
                        "create",
                        f"Ring is still preparing an earlier export of this customer; trying again in {delay:g} s",
                    )
                    await self.poll.sleep(delay)
                    continue
                except InvalidGrantError as err:
                    self._lost_grant(err)
                    raise ExportCanceledError(f"Ring refused to start an export: {err}") from err
                except AccessDeniedError as err:
                    # The client refreshed the token and was refused again: the authorization's token works, but
                    # Ring will not export with it (a one-time authorization already used, or an account on hold).
                    self._set_grant_status("refused", only_from="active")
                    raise ExportCanceledError(
                        f"Ring refused to start an export although the customer's token works ({err}): a one-time "
                        "authorization that was already used, or an account on hold",
                        hint="Ask the customer to authorize again (`ringvault portability login`), then export.",
                    ) from err
                query = self.dp.add_query(
                    query_id,
                    grant_id=self.grant.id,
                    scope_id=self.client.scope_id,
                    datasets=sorted(self.only) if self.only else None,
                )
                self._set_grant_status("active", only_from="refused")
                self._emit(query.id, "create", f"export {query.id} created")
                return query

    async def wait(self, query_id: str, *, timeout_s: float | None = None) -> QueryRow:
        """Until the query is COMPLETED: a notification (hub or database) or a records call that succeeds.

        ``QUERY_NOT_COMPLETED`` answers are polled again with ``poll.delays``; CANCELED (or a refused
        authorization) raises ``ExportCanceledError``; ``timeout_s`` raises ``ExportNotReadyError``."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        attempt = 0
        last_probe: float | None = None
        while True:
            query = self._query(query_id)
            hub_status = self.hub.status(query_id) if self.hub else None
            if query.state == "canceled" or query.status == "CANCELED" or hub_status == "CANCELED":
                await self._canceled(query, None)
            if query.state != "created" or query.status == "COMPLETED" or hub_status == "COMPLETED":
                return self._completed(query)
            try:
                await self.client.list_page(query_id, max_results=1)
            except QueryNotCompletedError:
                pass
            except (AccessDeniedError, InvalidGrantError) as err:
                await self._canceled(query, err)
            else:
                return self._completed(query)
            probe = self.poll.probe_after_s
            if (
                probe is not None
                and _age_s(query) >= probe
                and (last_probe is None or loop.time() - last_probe >= probe)
            ):
                last_probe = loop.time()
                replacement = await self._probe_cancellation(query)
                if replacement is not None:
                    query_id, attempt = replacement.id, 0
                    continue
            delay = self.poll.delay(attempt)
            attempt += 1
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise ExportNotReadyError(
                        f"export {query_id} was not ready after {timeout_s:.0f} s (it is kept; nothing is lost)"
                    )
                delay = min(delay, remaining)
            self._emit(query_id, "wait", f"Ring is preparing export {query_id}; checking again in {delay:.3g} s")
            await self._pause(query_id, delay)

    async def _probe_cancellation(self, query: QueryRow) -> QueryRow | None:
        """Ask for a new query to learn whether ``query`` is still in progress (see ``PollPolicy``); the new query
        when ``query`` turned out CANCELED, else None."""
        try:
            new_id = await self.client.create_query()
        except RequestConflictError:
            return None
        except (AccessDeniedError, InvalidGrantError) as err:
            await self._canceled(query, err)
        message = f"{_CANCELED_MESSAGE}; noticed when Ring accepted a new export ({new_id})"
        self.dp.update_query(query.id, state="canceled", status="CANCELED", error=message)
        self._emit(query.id, "create", f"Ring canceled export {query.id}; waiting for the new export {new_id}")
        return self.dp.add_query(
            new_id,
            grant_id=self.grant.id,
            scope_id=self.client.scope_id,
            datasets=sorted(self.only) if self.only else None,
        )

    async def _pause(self, query_id: str, delay: float) -> None:
        """Sleep ``delay`` seconds, waking early when a notification arrives: delivered to the hub in this process,
        or stored in the database by another one (``ringvault serve`` calling ``record_notification``)."""
        slept = 0.0
        while slept < delay:
            step = min(delay - slept, DB_CHECK_S)
            if self.hub is not None:
                if await self.hub.wait_for(query_id, step) is not None:
                    return
            else:
                await self.poll.sleep(step)
            slept += step
            stored = self.dp.get_query(query_id)
            if stored is None or stored.state != "created" or stored.status is not None:
                return

    async def import_query(self, query_id: str) -> ImportResult:
        """List, download and import a COMPLETED query (resuming whatever a previous run did)."""
        async with self._locked():
            query = self._query(query_id)
            if query.state in ("imported", "canceled", "failed"):
                return self._result(query, resumed=True)
            resumed = query.state in ("listed", "downloaded")
            folder = export_dir(self.archive_dir, self.grant.brand, self.grant.customer, query_id)
            folder.mkdir(parents=True, exist_ok=True)
            removed = remove_partials(folder)
            if removed:
                logger.info("removed %d partial file(s) of an interrupted run in %s", removed, folder)
            self._check_downloads(query_id)
            if query.state in ("created", "notified", "listed") or self._needs_download(query_id):
                try:
                    await self._download_all(query, folder)
                except AccessTimeElapsedError as err:
                    return await self._elapsed(query_id, err)
                except (AccessDeniedError, InvalidGrantError) as err:
                    self._lost_grant(err)
                    await self._import_all(query_id)
                    message = f"Ring no longer accepts the authorization ({err}); files downloaded so far imported"
                    self.dp.update_query(query_id, state="failed", error=message)
                    raise ExportCanceledError(f"export {query_id}: {message}") from err
            await self._import_all(query_id)
            failed = [f for f in self.dp.list_files(query_id) if f.state == "failed"]
            note = None
            if failed:
                note = f"{len(failed)} file(s) could not be read (kept on disk, not imported): {failed[0].error}"
            final = self.dp.update_query(query_id, state="imported", imported_at=datetime.now(UTC), error=note)
            result = self._result(final, resumed=resumed)
            self._emit(query_id, "done", f"export {query_id} imported")
            return result

    # -- download phase ------------------------------------------------------------------------------------------
    async def _list(self, query: QueryRow, expected: int | None = None) -> list[DataQueryRecord]:
        """Every page of the query's records. ``QUERY_NOT_COMPLETED`` for a query known to be COMPLETED can only be a
        cancellation: the query is failed. ``expected``: the number of files of an earlier listing (a re-list must
        give the same files)."""
        self._emit(query.id, "list", f"listing the files of export {query.id}")
        try:
            records = await self.client.all_records(query.id, max_results=self.page_size)
        except QueryNotCompletedError as err:
            if query.state == "created":
                raise  # not completed yet: the caller imported too early
            message = f"Ring no longer lists export {query.id} (it answers QUERY_NOT_COMPLETED)"
            self.dp.update_query(query.id, state="failed", error=message)
            raise ExportCanceledError(message) from err
        if expected is not None and len(records) != expected:
            raise PortabilityResponseError(
                f"export {query.id} listed {expected} files before and {len(records)} now: Ring changed the export"
            )
        return records

    async def _download_all(self, query: QueryRow, folder: Path) -> None:
        """Download every file still wanted, ``concurrency`` at a time. Files whose URL expired are collected and
        retried after listing again (fresh URLs); giving up after ``MAX_RELISTS`` rounds that got nothing through."""
        query_id = query.id
        listing = await self._list(query)
        if query.state in ("created", "notified"):
            now = datetime.now(UTC)
            self.dp.update_query(
                query_id, state="listed", status="COMPLETED", listed_at=now, notified_at=query.notified_at or now
            )
        files = {f.ordinal: f for f in self.dp.ensure_files(query_id, len(listing))}
        pending = [n for n in sorted(files) if n < len(listing) and self._wants_download(files[n])]
        run = _DownloadRun(total=len(pending))
        stalls = 0
        while pending:
            expired = await self._download_round(query_id, folder, [(n, listing[n]) for n in pending], run)
            if not expired:
                break
            stalls = stalls + 1 if len(expired) == len(pending) else 0
            if stalls > MAX_RELISTS:
                raise PresignedUrlExpiredError(
                    f"export {query_id}: the download links kept expiring before a file got through"
                )
            self._emit(query_id, "list", "download links expired; listing the files again for fresh ones")
            listing = await self._list(query, expected=len(listing))
            pending = sorted(expired)
        self.dp.update_query(query_id, state="downloaded")

    async def _download_round(
        self, query_id: str, folder: Path, files: list[tuple[int, DataQueryRecord]], run: _DownloadRun
    ) -> list[int]:
        """Download ``files`` (ordinal, URLs of one listing), ``concurrency`` at a time; the ordinals whose URL had
        expired. Any other failure stops the round and is raised as it is."""
        expired: list[int] = []
        schemas: dict[str, asyncio.Future[tuple[str, Path]]] = {}
        slots = asyncio.Semaphore(self.concurrency)

        async def one(ordinal: int, record: DataQueryRecord) -> None:
            async with slots:
                try:
                    await self._download_one(query_id, folder, ordinal, record, schemas, run)
                except PresignedUrlExpiredError:
                    expired.append(ordinal)
                except OSError as err:  # this machine's disk (a schema copied or renamed): full, read-only, ...
                    raise DownloadWriteError(
                        f"cannot write the files of export {query_id} in {folder}: {err.strerror or err}"
                    ) from err

        try:
            async with asyncio.TaskGroup() as group:
                for ordinal, record in files:
                    group.create_task(one(ordinal, record))
        except BaseExceptionGroup as failed:
            raise _first(failed) from None
        return sorted(expired)

    def _wants_download(self, file: QueryFileRow) -> bool:
        if file.state == "listed":
            return True
        return file.state == "skipped" and self._wanted(file.dataset)

    def _wanted(self, dataset_name: str | None) -> bool:
        return self.only is None or dataset_name in self.only

    async def _schema(
        self, folder: Path, ordinal: int, url: str, schemas: dict[str, asyncio.Future[tuple[str, Path]]]
    ) -> tuple[str, Path]:
        """The data set and schema file behind ``url``, downloaded once per listing however many files share it."""
        pending = schemas.get(url)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[tuple[str, Path]] = asyncio.get_running_loop().create_future()
        schemas[url] = future
        try:
            scratch = folder / f"{ordinal:04d}.schema.json"
            await self.client.download(url, scratch)
            dataset_name = _dataset_of_schema(scratch)
            schema_path = folder / f"{_file_stem(ordinal, dataset_name)}.schema.json"
            os.replace(scratch, schema_path)
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved here: waiters (if any) get it too
            raise
        future.set_result((dataset_name, schema_path))
        return dataset_name, schema_path

    async def _download_one(
        self,
        query_id: str,
        folder: Path,
        ordinal: int,
        record: DataQueryRecord,
        schemas: dict[str, asyncio.Future[tuple[str, Path]]],
        run: _DownloadRun,
    ) -> None:
        dataset_name, source = await self._schema(folder, ordinal, record.schema_url, schemas)
        schema_path = folder / f"{_file_stem(ordinal, dataset_name)}.schema.json"
        if source != schema_path:
            _copy_atomic(source, schema_path)
        if not self._wanted(dataset_name):
            self.dp.update_file(query_id, ordinal, state="skipped", dataset=dataset_name)
            run.done += 1
            self._emit(
                query_id, "download", f"skipped {dataset_name}", files_done=run.done, files_total=run.total,
                bytes=run.bytes,
            )  # fmt: skip
            return
        dest = folder / f"{_file_stem(ordinal, dataset_name)}.json"
        name = dest.name

        def on_bytes(written: int, size: int | None) -> None:
            run.in_flight[name] = written
            self._emit(
                query_id, "download", files_done=run.done, files_total=run.total, file=name, file_bytes=written,
                file_total=size, bytes=run.bytes,
            )  # fmt: skip

        try:
            result = await self.client.download(record.file_url, dest, progress=on_bytes)
        finally:
            run.in_flight.pop(name, None)
        run.finished_bytes += result.bytes
        self._totals.bytes += result.bytes
        self.dp.update_file(
            query_id,
            ordinal,
            state="downloaded",
            dataset=dataset_name,
            path=dest.relative_to(self.archive_dir).as_posix(),
            bytes=result.bytes,
            sha256=result.sha256,
            error=None,
        )
        run.done += 1
        self._emit(
            query_id, "download", f"downloaded {name}", files_done=run.done, files_total=run.total, file=name,
            file_bytes=result.bytes, file_total=result.bytes, file_done=True, bytes=run.bytes,
        )  # fmt: skip

    def _check_downloads(self, query_id: str) -> None:
        """A ``downloaded`` file missing on disk (or of another size) is downloaded again."""
        for file in self.dp.list_files(query_id):
            if file.state != "downloaded":
                continue
            path = self.archive_dir / file.path if file.path else None
            if path is None or not path.is_file() or (file.bytes is not None and path.stat().st_size != file.bytes):
                logger.warning(
                    "file %d of export %s is missing or changed on disk; downloading it again", file.ordinal, query_id
                )
                self.dp.update_file(query_id, file.ordinal, state="listed")

    def _needs_download(self, query_id: str) -> bool:
        return any(self._wants_download(f) for f in self.dp.list_files(query_id))

    # -- import phase --------------------------------------------------------------------------------------------
    async def _import_all(self, query_id: str) -> None:
        pending = [f for f in self.dp.list_files(query_id) if f.state == "downloaded"]
        for index, file in enumerate(pending):
            await asyncio.to_thread(self._import_file, query_id, file, index, len(pending))
        imported = sum(f.records for f in self.dp.list_files(query_id) if f.state == "imported")
        self.dp.update_query(query_id, records_imported=imported)

    def _import_file(self, query_id: str, file: QueryFileRow, index: int, total: int) -> None:
        assert file.path is not None and file.dataset is not None
        path = self.archive_dir / file.path
        name = path.name
        self._emit(query_id, "import", f"importing {name}", files_done=index, files_total=total, file=name)
        try:
            model: type[DataSetRecord] | None = dataset(file.dataset)
        except KeyError:
            model = None
        read = 0
        folder = path.parent

        def records() -> Iterator[ImportRecord]:
            nonlocal read
            from ringvault.archive.store.portability import ImportRecord

            with OccurrenceCounter(folder) as occurrences:
                for item in iter_json_array(path):
                    if not isinstance(item, dict):
                        raise DataFileError(f"item {read} of data file {name} is not a JSON object")
                    event_date: datetime | None = None
                    if model is not None:
                        record = model.model_validate(item)
                        key = record.record_key()
                        value = getattr(record, "event_date", None)
                        event_date = value if isinstance(value, datetime) else None
                    else:
                        key = _generic_key(file.dataset or "unknown", item)
                    n = occurrences.next(key)
                    read += 1
                    if read % PROGRESS_EVERY == 0:
                        self._emit(
                            query_id, "import", files_done=index, files_total=total, file=name,
                            records=self._totals.records + read, new_records=self._totals.new_records,
                        )  # fmt: skip
                    yield ImportRecord(
                        dataset=file.dataset or "unknown",
                        key=key if n == 0 else f"{key}#{n}",
                        event_date=event_date,
                        data=item,
                    )

        try:
            new = self.dp.import_records(self.grant.id, query_id, records())
        except DataFileError as err:
            self.dp.update_file(query_id, file.ordinal, state="failed", error=str(err))
            logger.warning("export %s: %s", query_id, err)
            return
        self._totals.records += read
        self._totals.new_records += new
        by = self._totals.new_by_dataset
        by[file.dataset] = by.get(file.dataset, 0) + new
        self.dp.update_file(query_id, file.ordinal, state="imported", records=read, error=None)
        self._emit(
            query_id, "import", f"imported {name}: {read} records, {new} new", files_done=index + 1,
            files_total=total, file=name, file_done=True, records=self._totals.records,
            new_records=self._totals.new_records,
        )  # fmt: skip

    # -- endings -------------------------------------------------------------------------------------------------
    def _completed(self, query: QueryRow) -> QueryRow:
        if query.state != "created":
            return query
        now = datetime.now(UTC)
        self._emit(query.id, "wait", f"export {query.id} is ready")
        return self.dp.update_query(
            query.id, state="notified", status="COMPLETED", notified_at=query.notified_at or now
        )

    async def _canceled(self, query: QueryRow, err: PortabilityError | None) -> NoReturn:
        """The query is CANCELED (a notification, or Ring refusing the authorization while we wait)."""
        if err is None:
            await self.check_grant()
        else:
            self._lost_grant(err)
        message = query.error or (_CANCELED_MESSAGE if err is None else f"{_CANCELED_MESSAGE}: {err}")
        if query.state != "canceled":
            self.dp.update_query(query.id, state="canceled", status="CANCELED", error=message)
        raise ExportCanceledError(f"export {query.id}: {message}") from err

    async def check_grant(self) -> str:
        """Ask Ring whether the customer's authorization still works (one forced token refresh), after a
        CANCELED: mark the grant ``revoked`` or ``expired`` when it is refused. Returns the grant's status."""
        token = self.client.auth.token
        try:
            await self.client.auth.refresh(failed_token=token.access_token if token else None)
        except InvalidGrantError as err:
            return self._lost_grant(err)
        except PortabilityError as err:  # unreachable etc.: nothing learned
            logger.info("could not check the authorization of %s: %s", self.grant.customer, err)
        grant = self.dp.get_grant(self.grant.id)
        return grant.status if grant else "active"

    def _set_grant_status(self, status: str, *, only_from: str) -> None:
        grant = self.dp.get_grant(self.grant.id)
        if grant is not None and grant.status == only_from:
            self.dp.set_grant_status(self.grant.id, status)

    def _lost_grant(self, err: PortabilityError) -> str:
        """Ring refused the authorization: a refused refresh token means it was revoked or has expired (the
        description tells which, when it does); a 403 with a working token (account on hold, one-time
        authorization used) leaves the grant as it is."""
        if not isinstance(err, InvalidGrantError):
            grant = self.dp.get_grant(self.grant.id)
            return grant.status if grant else "active"
        text = str(err).lower()
        status = "expired" if "expired" in text and "revoked" not in text else "revoked"
        self.dp.set_grant_status(self.grant.id, status)
        return status

    async def _elapsed(self, query_id: str, err: AccessTimeElapsedError) -> ImportResult:
        """The 1-hour listing window is over: import what was downloaded, mark the query failed, raise."""
        await self._import_all(query_id)
        missing = sum(1 for f in self.dp.list_files(query_id) if self._wants_download(f))
        message = (
            f"the download window of export {query_id} (1 hour after Ring finished it) is over"
            + (f" with {missing} file(s) not downloaded" if missing else "")
            + "; files downloaded before were imported"
        )
        self.dp.update_query(query_id, state="failed", error=message)
        raise AccessTimeElapsedError(
            message,
            hint="Create a new export: run `ringvault portability export` again.",
        ) from err

    @contextlib.asynccontextmanager
    async def _locked(self) -> Any:
        if self._held:
            self._held += 1
            try:
                yield
            finally:
                self._held -= 1
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = filelock.AsyncFileLock(str(self.folder / ".lock"), timeout=self.lock_timeout_s)
        try:
            await lock.acquire(timeout=0)
        except filelock.Timeout:
            self._emit(None, "create", "another ringvault process is importing this customer's export; waiting")
            await lock.acquire()
        self._held = 1
        try:
            yield
        finally:
            self._held = 0
            await lock.release()

    # -- helpers -------------------------------------------------------------------------------------------------

    def _query(self, query_id: str) -> QueryRow:
        query = self.dp.get_query(query_id)
        if query is None:
            raise PortabilityError(f"export {query_id} is not in this archive")
        return query

    def _result(self, query: QueryRow, *, resumed: bool) -> ImportResult:
        files = self.dp.list_files(query.id)
        stored = self.dp.dataset_counts(self.grant.id)
        datasets: dict[str, DatasetCount] = {}
        for file in files:
            if file.dataset is None or file.state not in ("imported", "downloaded"):
                continue
            count = datasets.setdefault(file.dataset, DatasetCount())
            count.exported += file.records
        for name, new in self._totals.new_by_dataset.items():
            datasets.setdefault(name, DatasetCount()).new = new
        for name, count in datasets.items():
            count.stored = stored.get(name, 0)
        return ImportResult(
            query_id=query.id,
            state=query.state,
            status=query.status,
            files=sum(1 for f in files if f.state == "imported"),
            skipped=sum(1 for f in files if f.state == "skipped"),
            failed=sum(1 for f in files if f.state == "failed"),
            bytes=self._totals.bytes,
            records=self._totals.records,
            new_records=self._totals.new_records,
            resumed=resumed,
            datasets=dict(sorted(datasets.items())),
            message=query.error,
        )

    def _emit(self, query_id: str | None, phase: Phase, message: str = "", **fields: Any) -> None:
        if self._progress is None:
            return
        event = ImportProgress(query_id=query_id, phase=phase, message=message, **fields)
        if "bytes" not in fields:
            event = replace(event, bytes=self._totals.bytes)
        if "records" not in fields:
            event = replace(event, records=self._totals.records, new_records=self._totals.new_records)
        try:
            self._progress(event)
        except Exception:  # a broken display must not break the import
            logger.exception("progress callback failed")


def _age_s(query: QueryRow) -> float:
    return (datetime.now(UTC) - query.created_at).total_seconds()


def _dataset_of_schema(path: Path) -> str:
    """The documented data set a downloaded schema describes, else its title (kept as an unknown data set)."""
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise DataFileError(f"schema file {path.name} is not JSON (or nested too deeply)") from err
    model = dataset_for_schema(data) if isinstance(data, dict) else None
    if model is not None:
        return model.NAME
    title = data.get("title") if isinstance(data, dict) else None
    return title.strip() if isinstance(title, str) and title.strip() else "unknown"


def _copy_atomic(source: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=_PART_SUFFIX)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
