"""What an import run reports: progress events, the result of a run, and the two errors of its own."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ringvault.portability.errors import PortabilityError

__all__ = [
    "DatasetCount",
    "ExportCanceledError",
    "ExportNotReadyError",
    "ImportProgress",
    "ImportResult",
    "Phase",
    "ProgressCallback",
    "Reporter",
    "RunTotals",
    "UnrecognisedFile",
]

logger = logging.getLogger("ringvault.portability")

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
    """Records of one data set: in this export's imported files, inserted by this run (``new``: records never seen
    before; ``changed``: new versions of records already stored), stored for the grant (current versions)."""

    exported: int = 0
    new: int = 0
    stored: int = 0
    changed: int = 0


@dataclass(frozen=True)
class UnrecognisedFile:
    """A listed file whose data set could not be told (kept on disk and imported as ``unknown``, never dropped):
    its position in the listing, the name Ring gave it (the object key of its URL), where it is kept, its size."""

    ordinal: int
    name: str | None
    path: str | None
    bytes: int | None
    state: str


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
    #: new versions of records already stored (a record Ring changed since an earlier export)
    changed_records: int = 0
    #: files whose data set could not be recognised (kept raw, reported here and by ``portability status``)
    unrecognised: list[UnrecognisedFile] = field(default_factory=list)


@dataclass
class RunTotals:
    """Totals of one run (what progress events and the result report)."""

    bytes: int = 0
    records: int = 0
    new_records: int = 0
    changed_records: int = 0
    new_by_dataset: dict[str, int] = field(default_factory=dict)
    changed_by_dataset: dict[str, int] = field(default_factory=dict)


class Reporter:
    """Sends progress events to the caller's callback, filling in the run's totals; a broken callback is logged,
    never allowed to break the import."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self._progress = progress
        self.totals = RunTotals()

    def emit(self, query_id: str | None, phase: Phase, message: str = "", **fields: Any) -> None:
        if self._progress is None:
            return
        event = ImportProgress(query_id=query_id, phase=phase, message=message, **fields)
        if "bytes" not in fields:
            event = replace(event, bytes=self.totals.bytes)
        if "records" not in fields:
            event = replace(event, records=self.totals.records, new_records=self.totals.new_records)
        try:
            self._progress(event)
        except Exception:  # a broken display must not break the import
            logger.exception("progress callback failed")
