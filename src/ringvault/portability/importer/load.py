"""The import phase: each downloaded data file read as a stream (ijson, constant memory) into the archive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ringvault.portability.importer.identity import OccurrenceCounter, generic_key
from ringvault.portability.importer.results import Reporter
from ringvault.portability.scopes import DataSetRecord, dataset, iter_json_array
from ringvault.portability.scopes.reader import DataFileError

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import GrantRow, ImportRecord, QueryFileRow

__all__ = ["PROGRESS_EVERY", "Loader"]

logger = logging.getLogger("ringvault.portability")

#: records between two progress events of the import phase
PROGRESS_EVERY: Final = 250


class Loader:
    """Imports the downloaded files of a query, one at a time, each in committed batches."""

    def __init__(self, store: ArchiveStore, grant: GrantRow, archive_dir: Path, reporter: Reporter) -> None:
        self.dp = store.portability
        self.grant = grant
        self.archive_dir = archive_dir
        self.reporter = reporter

    async def import_all(self, query_id: str) -> None:
        """Import every ``downloaded`` file of the query (each in a worker thread), then note the query's total."""
        pending = [f for f in self.dp.list_files(query_id) if f.state == "downloaded"]
        for index, file in enumerate(pending):
            await asyncio.to_thread(self.import_file, query_id, file, index, len(pending))
        imported = sum(f.records for f in self.dp.list_files(query_id) if f.state == "imported")
        self.dp.update_query(query_id, records_imported=imported)

    def import_file(self, query_id: str, file: QueryFileRow, index: int, total: int) -> None:
        assert file.path is not None and file.dataset is not None
        path = self.archive_dir / file.path
        name = path.name
        emit = self.reporter.emit
        totals = self.reporter.totals
        emit(query_id, "import", f"importing {name}", files_done=index, files_total=total, file=name)
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
                        key = generic_key(file.dataset or "unknown", item)
                    n = occurrences.next(key)
                    read += 1
                    if read % PROGRESS_EVERY == 0:
                        emit(
                            query_id, "import", files_done=index, files_total=total, file=name,
                            records=totals.records + read, new_records=totals.new_records,
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
        totals.records += read
        totals.new_records += new
        by = totals.new_by_dataset
        by[file.dataset] = by.get(file.dataset, 0) + new
        self.dp.update_file(query_id, file.ordinal, state="imported", records=read, error=None)
        emit(
            query_id, "import", f"imported {name}: {read} records, {new} new", files_done=index + 1,
            files_total=total, file=name, file_done=True, records=totals.records,
            new_records=totals.new_records,
        )  # fmt: skip
