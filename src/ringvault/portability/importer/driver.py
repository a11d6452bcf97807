"""The import driver: one customer's export from creation to imported, resumable at every step."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import filelock

from ringvault.portability.errors import (
    AccessDeniedError,
    AccessTimeElapsedError,
    InvalidGrantError,
    PortabilityError,
    QueryNotCompletedError,
    RequestConflictError,
)
from ringvault.portability.importer.download import Downloader
from ringvault.portability.importer.load import Loader
from ringvault.portability.importer.notify import CANCELED_MESSAGE, OPEN_STATES, NotificationHub
from ringvault.portability.importer.paths import export_dir, grant_dir, remove_partials
from ringvault.portability.importer.results import (
    DatasetCount,
    ExportCanceledError,
    ExportNotReadyError,
    ImportResult,
    ProgressCallback,
    Reporter,
    UnrecognisedFile,
)
from ringvault.portability.scopes import DATASETS, dataset

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import GrantRow, QueryRow
    from ringvault.portability.client import PortabilityClient

__all__ = [
    "DB_CHECK_S",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_POLL_DELAYS",
    "DEFAULT_PROBE_AFTER_S",
    "PollPolicy",
    "PortabilityImporter",
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
        self.page_size = page_size
        self.poll = poll or PollPolicy()
        self.hub = hub
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.lock_timeout_s = lock_timeout_s
        self.folder = grant_dir(self.archive_dir, grant.brand, grant.customer)
        self.reporter = Reporter(progress)
        self.downloader = Downloader(
            store, client, self.archive_dir, self.reporter, only=self.only, page_size=page_size, concurrency=concurrency
        )
        self.loader = Loader(store, grant, self.archive_dir, self.reporter)
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
                    self.reporter.emit(query.id, "create", f"resuming export {query.id} ({query.state})")
                    return query
            attempt = 0
            while True:
                self.reporter.emit(None, "create", "asking Ring for a new export")
                try:
                    query_id = await self.client.create_query()
                except RequestConflictError:
                    delay = self.poll.delay(attempt)
                    attempt += 1
                    self.reporter.emit(
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
                self.reporter.emit(query.id, "create", f"export {query.id} created")
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
            message = f"Ring is preparing export {query_id}; checking again in {delay:.3g} s"
            self.reporter.emit(query_id, "wait", message)
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
        message = f"{CANCELED_MESSAGE}; noticed when Ring accepted a new export ({new_id})"
        self.dp.update_query(query.id, state="canceled", status="CANCELED", error=message)
        self.reporter.emit(query.id, "create", f"Ring canceled export {query.id}; waiting for the new export {new_id}")
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
            self.downloader.check_downloads(query_id)
            if query.state in ("created", "notified", "listed") or self.downloader.needs_download(query_id):
                try:
                    await self.downloader.download_all(query, folder)
                except AccessTimeElapsedError as err:
                    return await self._elapsed(query_id, err)
                except (AccessDeniedError, InvalidGrantError) as err:
                    self._lost_grant(err)
                    await self.loader.import_all(query_id)
                    message = f"Ring no longer accepts the authorization ({err}); files downloaded so far imported"
                    self.dp.update_query(query_id, state="failed", error=message)
                    raise ExportCanceledError(f"export {query_id}: {message}") from err
            await self.loader.import_all(query_id)
            final = self.dp.update_query(
                query_id, state="imported", imported_at=datetime.now(UTC), error=self._note(query_id)
            )
            result = self._result(final, resumed=resumed)
            self.reporter.emit(query_id, "done", f"export {query_id} imported")
            return result

    # -- endings -------------------------------------------------------------------------------------------------
    def _completed(self, query: QueryRow) -> QueryRow:
        if query.state != "created":
            return query
        now = datetime.now(UTC)
        self.reporter.emit(query.id, "wait", f"export {query.id} is ready")
        return self.dp.update_query(
            query.id, state="notified", status="COMPLETED", notified_at=query.notified_at or now
        )

    async def _canceled(self, query: QueryRow, err: PortabilityError | None) -> NoReturn:
        """The query is CANCELED (a notification, or Ring refusing the authorization while we wait)."""
        if err is None:
            await self.check_grant()
        else:
            self._lost_grant(err)
        message = query.error or (CANCELED_MESSAGE if err is None else f"{CANCELED_MESSAGE}: {err}")
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
        await self.loader.import_all(query_id)
        missing = sum(1 for f in self.dp.list_files(query_id) if self.downloader.wants_download(f))
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
            self.reporter.emit(None, "create", "another ringvault process is importing this customer's export; waiting")
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

    def _note(self, query_id: str) -> str | None:
        """What the query's summary says about files that could not be read or recognised (None: nothing)."""
        notes = []
        failed = [f for f in self.dp.list_files(query_id) if f.state == "failed"]
        if failed:
            notes.append(f"{len(failed)} file(s) could not be read (kept on disk, not imported): {failed[0].error}")
        unrecognised = self.dp.unrecognised_files(query_id, known=DATASETS)
        if unrecognised:
            shown = ", ".join(f"{f.name or f.path} ({f.bytes or 0} bytes)" for f in unrecognised[:3])
            more = f" and {len(unrecognised) - 3} more" if len(unrecognised) > 3 else ""
            notes.append(
                f"{len(unrecognised)} file(s) of an unrecognised data set (kept on disk, records imported as "
                f"{unrecognised[0].dataset!r}): {shown}{more}"
            )
        return "; ".join(notes) or None

    def _result(self, query: QueryRow, *, resumed: bool) -> ImportResult:
        files = self.dp.list_files(query.id)
        stored = self.dp.dataset_counts(self.grant.id)
        datasets: dict[str, DatasetCount] = {}
        for file in files:
            if file.dataset is None or file.state not in ("imported", "downloaded"):
                continue
            count = datasets.setdefault(file.dataset, DatasetCount())
            count.exported += file.records
        for name, new in self.reporter.totals.new_by_dataset.items():
            datasets.setdefault(name, DatasetCount()).new = new
        for name, changed in self.reporter.totals.changed_by_dataset.items():
            datasets.setdefault(name, DatasetCount()).changed = changed
        for name, count in datasets.items():
            count.stored = stored.get(name, 0)
        return ImportResult(
            query_id=query.id,
            state=query.state,
            status=query.status,
            files=sum(1 for f in files if f.state == "imported"),
            skipped=sum(1 for f in files if f.state == "skipped"),
            failed=sum(1 for f in files if f.state == "failed"),
            bytes=self.reporter.totals.bytes,
            records=self.reporter.totals.records,
            new_records=self.reporter.totals.new_records,
            resumed=resumed,
            datasets=dict(sorted(datasets.items())),
            message=query.error,
            changed_records=self.reporter.totals.changed_records,
            unrecognised=[
                UnrecognisedFile(ordinal=f.ordinal, name=f.name, path=f.path, bytes=f.bytes, state=f.state)
                for f in self.dp.unrecognised_files(query.id, known=DATASETS)
            ],
        )


def _age_s(query: QueryRow) -> float:
    return (datetime.now(UTC) - query.created_at).total_seconds()
