"""The list and download phases of an import: every page of a query's records, then each schema and data file.

Files are downloaded before any is imported, to make the most of the hour Ring allows for listing; ``concurrency``
files at a time; a schema shared by several files is fetched once per listing. Presigned URLs live 5 minutes: files
whose URL expired are downloaded again after listing again (fresh URLs), giving up after ``MAX_RELISTS`` rounds in
which no file got through.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ringvault.portability.errors import (
    DownloadWriteError,
    PortabilityResponseError,
    PresignedUrlExpiredError,
    QueryNotCompletedError,
)
from ringvault.portability.importer.paths import copy_atomic, file_stem
from ringvault.portability.importer.recognition import dataset_of_schema
from ringvault.portability.importer.results import ExportCanceledError, Reporter

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import QueryFileRow, QueryRow
    from ringvault.portability.client import DataQueryRecord, PortabilityClient

__all__ = ["MAX_RELISTS", "Downloader"]

logger = logging.getLogger("ringvault.portability")

#: how many times in a row the URLs may expire without a file getting through before giving up
MAX_RELISTS: Final = 3


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


class Downloader:
    """Lists a query and downloads its files into the export's folder, recording each file's state as it goes."""

    def __init__(
        self,
        store: ArchiveStore,
        client: PortabilityClient,
        archive_dir: Path,
        reporter: Reporter,
        *,
        only: frozenset[str] | None,
        page_size: int,
        concurrency: int,
    ) -> None:
        self.dp = store.portability
        self.client = client
        self.archive_dir = archive_dir
        self.reporter = reporter
        self.only = only
        self.page_size = page_size
        self.concurrency = concurrency

    async def listing(self, query: QueryRow, expected: int | None = None) -> list[DataQueryRecord]:
        """Every page of the query's records. ``QUERY_NOT_COMPLETED`` for a query known to be COMPLETED can only be a
        cancellation: the query is failed. ``expected``: the number of files of an earlier listing (a re-list must
        give the same files)."""
        self.reporter.emit(query.id, "list", f"listing the files of export {query.id}")
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

    async def download_all(self, query: QueryRow, folder: Path) -> None:
        """Download every file still wanted, ``concurrency`` at a time. Files whose URL expired are collected and
        retried after listing again (fresh URLs); giving up after ``MAX_RELISTS`` rounds that got nothing through."""
        query_id = query.id
        listing = await self.listing(query)
        if query.state in ("created", "notified"):
            now = datetime.now(UTC)
            self.dp.update_query(
                query_id, state="listed", status="COMPLETED", listed_at=now, notified_at=query.notified_at or now
            )
        files = {f.ordinal: f for f in self.dp.ensure_files(query_id, len(listing))}
        pending = [n for n in sorted(files) if n < len(listing) and self.wants_download(files[n])]
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
            self.reporter.emit(query_id, "list", "download links expired; listing the files again for fresh ones")
            listing = await self.listing(query, expected=len(listing))
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

    def wants_download(self, file: QueryFileRow) -> bool:
        if file.state == "listed":
            return True
        return file.state == "skipped" and self.wanted(file.dataset)

    def wanted(self, dataset_name: str | None) -> bool:
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
            dataset_name = dataset_of_schema(scratch)
            schema_path = folder / f"{file_stem(ordinal, dataset_name)}.schema.json"
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
        schema_path = folder / f"{file_stem(ordinal, dataset_name)}.schema.json"
        if source != schema_path:
            copy_atomic(source, schema_path)
        emit = self.reporter.emit
        if not self.wanted(dataset_name):
            self.dp.update_file(query_id, ordinal, state="skipped", dataset=dataset_name)
            run.done += 1
            emit(
                query_id, "download", f"skipped {dataset_name}", files_done=run.done, files_total=run.total,
                bytes=run.bytes,
            )  # fmt: skip
            return
        dest = folder / f"{file_stem(ordinal, dataset_name)}.json"
        name = dest.name

        def on_bytes(written: int, size: int | None) -> None:
            run.in_flight[name] = written
            emit(
                query_id, "download", files_done=run.done, files_total=run.total, file=name, file_bytes=written,
                file_total=size, bytes=run.bytes,
            )  # fmt: skip

        try:
            result = await self.client.download(record.file_url, dest, progress=on_bytes)
        finally:
            run.in_flight.pop(name, None)
        run.finished_bytes += result.bytes
        self.reporter.totals.bytes += result.bytes
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
        emit(
            query_id, "download", f"downloaded {name}", files_done=run.done, files_total=run.total, file=name,
            file_bytes=result.bytes, file_total=result.bytes, file_done=True, bytes=run.bytes,
        )  # fmt: skip

    def check_downloads(self, query_id: str) -> None:
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

    def needs_download(self, query_id: str) -> bool:
        return any(self.wants_download(f) for f in self.dp.list_files(query_id))
