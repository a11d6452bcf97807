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
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ringvault.portability.errors import (
    DownloadWriteError,
    PortabilityResponseError,
    PresignedUrlExpiredError,
    QueryNotCompletedError,
)
from ringvault.portability.importer.paths import PART_SUFFIX, copy_atomic, file_stem
from ringvault.portability.importer.recognition import (
    Recognition,
    object_name,
    read_schema,
    recognise,
    recognise_records,
)
from ringvault.portability.importer.results import ExportCanceledError, Reporter
from ringvault.portability.scopes import DATASETS

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


def _remove_scratches(folder: Path) -> None:
    """The schemas of a round are copied next to each data file; their scratch copies go when the round ends."""
    for scratch in folder.glob(f".schema-*{PART_SUFFIX}"):
        scratch.unlink(missing_ok=True)


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
        schemas: dict[str, asyncio.Future[tuple[Any, Path]]] = {}
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
        finally:
            _remove_scratches(folder)
        return sorted(expired)

    def wants_download(self, file: QueryFileRow) -> bool:
        if file.state == "listed":
            return True
        # a file an older ringvault skipped has no ``recognised_by``: a documented data set name is enough
        recognised = file.recognised_by is not None or file.dataset in DATASETS
        return file.state == "skipped" and self.wanted(file.dataset, recognised)

    def wanted(self, dataset_name: str | None, recognised: bool = True) -> bool:
        """Whether a file of ``dataset_name`` is downloaded: every file without ``--only``, those of the data sets
        asked for with it — and a file whose data set could not be recognised always (it is never dropped)."""
        return self.only is None or not recognised or dataset_name in self.only

    async def _schema(
        self, folder: Path, ordinal: int, url: str, schemas: dict[str, asyncio.Future[tuple[Any, Path]]]
    ) -> tuple[Any, Path]:
        """The schema behind ``url`` (parsed JSON, None when it is not JSON) and where it was downloaded (a scratch
        file of this round), downloaded once per listing however many files share it."""
        pending = schemas.get(url)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[tuple[Any, Path]] = asyncio.get_running_loop().create_future()
        schemas[url] = future
        try:
            # a name of this run only: a killed run's scratch (removed by the next run) is never taken for a new one
            scratch = folder / f".schema-{ordinal:04d}-{secrets.token_hex(4)}.json{PART_SUFFIX}"
            await self.client.download(url, scratch)
            schema = read_schema(scratch)
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved here: waiters (if any) get it too
            raise
        future.set_result((schema, scratch))
        return schema, scratch

    async def _download_one(
        self,
        query_id: str,
        folder: Path,
        ordinal: int,
        record: DataQueryRecord,
        schemas: dict[str, asyncio.Future[tuple[Any, Path]]],
        run: _DownloadRun,
    ) -> None:
        schema, scratch = await self._schema(folder, ordinal, record.schema_url, schemas)
        name = object_name(record.file_url)
        found = recognise(schema, [name, object_name(record.schema_url)])
        schema_path = folder / f"{file_stem(ordinal, found.dataset)}.schema.json"
        copy_atomic(scratch, schema_path)
        emit = self.reporter.emit
        if not self.wanted(found.dataset, found.recognised):
            self.dp.update_file(
                query_id, ordinal, state="skipped", dataset=found.dataset, name=name, recognised_by=found.by
            )
            run.done += 1
            emit(
                query_id, "download", f"skipped {found.dataset}", files_done=run.done, files_total=run.total,
                bytes=run.bytes,
            )  # fmt: skip
            return
        dest = folder / f"{file_stem(ordinal, found.dataset)}.json"
        label = dest.name

        def on_bytes(written: int, size: int | None) -> None:
            run.in_flight[label] = written
            emit(
                query_id, "download", files_done=run.done, files_total=run.total, file=label, file_bytes=written,
                file_total=size, bytes=run.bytes,
            )  # fmt: skip

        try:
            result = await self.client.download(record.file_url, dest, progress=on_bytes)
        finally:
            run.in_flight.pop(label, None)
        if not found.recognised:
            found, dest = await asyncio.to_thread(self._recognise_downloaded, query_id, ordinal, found, dest, name)
        run.finished_bytes += result.bytes
        self.reporter.totals.bytes += result.bytes
        state = "downloaded" if self.wanted(found.dataset, found.recognised) else "skipped"
        self.dp.update_file(
            query_id,
            ordinal,
            state=state,
            dataset=found.dataset,
            path=dest.relative_to(self.archive_dir).as_posix(),
            bytes=result.bytes,
            sha256=result.sha256,
            error=None,
            name=name,
            recognised_by=found.by,
        )
        run.done += 1
        emit(
            query_id, "download", f"downloaded {dest.name}", files_done=run.done, files_total=run.total,
            file=dest.name, file_bytes=result.bytes, file_total=result.bytes, file_done=True, bytes=run.bytes,
        )  # fmt: skip

    def _recognise_downloaded(
        self, query_id: str, ordinal: int, found: Recognition, dest: Path, name: str
    ) -> tuple[Recognition, Path]:
        """A file its schema and name did not place: its own records may (the file is renamed to its data set)."""
        by_records = recognise_records(dest)
        if by_records is None:
            logger.warning(
                "export %s: file %d (%s) was not recognised (%s); it is kept and imported as %r",
                query_id, ordinal, name, found.describe(), found.dataset,
            )  # fmt: skip
            return found, dest
        stem = file_stem(ordinal, by_records.dataset)
        renamed = dest.with_name(f"{stem}.json")
        os.replace(dest, renamed)
        schema = dest.with_name(f"{file_stem(ordinal, found.dataset)}.schema.json")
        if schema.exists():
            os.replace(schema, renamed.with_name(f"{stem}.schema.json"))
        return by_records, renamed

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
