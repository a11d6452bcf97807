"""The import phase: each downloaded data file read as a stream (ijson, constant memory) into the archive.

Records are keyed as ``identity`` describes, their occurrence numbers counted across all the files of the export:
one counter for the whole import phase, primed on a resumed run with the files a killed run had already imported
(read again, nothing written), so a resumed import numbers every record as an uninterrupted one would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ringvault.portability.importer.identity import (
    OccurrenceCounter,
    identify,
    model_of,
    numbered,
    same_record,
    upgrade_record_keys,
)
from ringvault.portability.importer.results import Reporter
from ringvault.portability.scopes import iter_json_array
from ringvault.portability.scopes.reader import DataFileError

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import GrantRow, ImportRecord, QueryFileRow

__all__ = ["PROGRESS_EVERY", "Loader"]

logger = logging.getLogger("ringvault.portability")

#: records between two progress events of the import phase
PROGRESS_EVERY: Final = 250
#: file states whose records were read in an earlier run of the same export (counted again before a resumed import)
_READ_BEFORE: Final = ("imported", "failed")


class Loader:
    """Imports the downloaded files of a query, one at a time, each in committed batches."""

    def __init__(self, store: ArchiveStore, grant: GrantRow, archive_dir: Path, reporter: Reporter) -> None:
        self.store = store
        self.dp = store.portability
        self.grant = grant
        self.archive_dir = archive_dir
        self.reporter = reporter

    async def import_all(self, query_id: str) -> None:
        """Import every ``downloaded`` file of the query (each in a worker thread), then note the query's total.

        The grant's records stored by an older ringvault are re-keyed first (once)."""
        grant = self.dp.get_grant(self.grant.id) or self.grant
        await asyncio.to_thread(upgrade_record_keys, self.store, grant)
        files = self.dp.list_files(query_id)
        pending = [f for f in files if f.state == "downloaded"]
        if pending:
            folder = (self.archive_dir / (pending[0].path or "")).parent
            datasets = {f.dataset for f in pending}
            earlier = [f for f in files if f.state in _READ_BEFORE and f.dataset in datasets and f.path]
            with OccurrenceCounter(folder) as occurrences:
                if earlier:
                    await asyncio.to_thread(self._count_again, query_id, earlier, occurrences)
                for index, file in enumerate(pending):
                    await asyncio.to_thread(self.import_file, query_id, file, index, len(pending), occurrences)
        imported = sum(f.records for f in self.dp.list_files(query_id) if f.state == "imported")
        self.dp.update_query(query_id, records_imported=imported)

    def _count_again(self, query_id: str, files: list[QueryFileRow], occurrences: OccurrenceCounter) -> None:
        """Count the keys of files an earlier run of this export imported, as that run counted them."""
        for file in files:
            assert file.path is not None and file.dataset is not None
            model = model_of(file.dataset)
            try:
                for item in iter_json_array(self.archive_dir / file.path):
                    if not isinstance(item, dict):
                        break
                    occurrences.next(identify(model, file.dataset, item).key)
            except (DataFileError, OSError) as err:
                if file.state == "imported":
                    logger.warning(
                        "export %s: file %d could not be read again to count its records (%s); records it shares "
                        "with a later file may be taken for one", query_id, file.ordinal, err,
                    )  # fmt: skip

    def import_file(
        self, query_id: str, file: QueryFileRow, index: int, total: int, occurrences: OccurrenceCounter
    ) -> None:
        assert file.path is not None and file.dataset is not None
        dataset_name = file.dataset
        path = self.archive_dir / file.path
        name = path.name
        emit = self.reporter.emit
        totals = self.reporter.totals
        emit(query_id, "import", f"importing {name}", files_done=index, files_total=total, file=name)
        model = model_of(dataset_name)
        read = 0

        def records() -> Iterator[ImportRecord]:
            nonlocal read
            from ringvault.archive.store.portability import ImportRecord

            for item in iter_json_array(path):
                if not isinstance(item, dict):
                    raise DataFileError(f"item {read} of data file {name} is not a JSON object")
                identity = identify(model, dataset_name, item)
                occurrence = occurrences.next(identity.key)
                read += 1
                if read % PROGRESS_EVERY == 0:
                    emit(
                        query_id, "import", files_done=index, files_total=total, file=name,
                        records=totals.records + read, new_records=totals.new_records,
                    )  # fmt: skip
                yield ImportRecord(
                    dataset=dataset_name,
                    key=numbered(identity.key, occurrence),
                    event_date=identity.event_date,
                    data=item,
                    fingerprint=identity.fingerprint,
                    content_hash=identity.content_hash,
                )

        try:
            changes = self.dp.apply_records(self.grant.id, query_id, records(), same=same_record(model))
        except DataFileError as err:
            self.dp.update_file(query_id, file.ordinal, state="failed", error=str(err))
            logger.warning("export %s: %s", query_id, err)
            return
        totals.records += read
        totals.new_records += changes.new
        totals.changed_records += changes.changed
        totals.new_by_dataset[dataset_name] = totals.new_by_dataset.get(dataset_name, 0) + changes.new
        totals.changed_by_dataset[dataset_name] = totals.changed_by_dataset.get(dataset_name, 0) + changes.changed
        self.dp.update_file(query_id, file.ordinal, state="imported", records=read, error=None)
        emit(
            query_id, "import", f"imported {name}: {read} records, {changes.new} new, {changes.changed} changed",
            files_done=index + 1, files_total=total, file=name, file_done=True, records=totals.records,
            new_records=totals.new_records,
        )  # fmt: skip
