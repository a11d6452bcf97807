"""How imported records are identified across exports.

A record's key is its data set's natural key (``DataSetRecord.record_key()``: the fields seed 003's tables say
identify a record, see ``KEY_FIELDS`` of each model and docs/portability.md) followed by its occurrence number among
the records of the same export that share that key (``KEY``, ``KEY#1``, ``KEY#2``...). The occurrence is counted per
export, across all its files, in file order: identical records split over two files of one export are two records;
the same record in the next export gets the same number again. Records of a data set ringvault does not know have
no natural key: their whole content is their key (a changed one is a new record).

``fingerprint`` (the documented fields in normal form) tells a changed record (a new version) from the same one; a
record whose fingerprint is unchanged but which carries fields the stored version did not have is the same record,
its new fields merged into the current row (``same_record``).

``upgrade_record_keys`` re-keys the rows a ringvault before migration 0006 stored (key scheme 1) with these keys,
once per grant, before its next import.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ringvault.archive.store.models import RECORD_KEY_SCHEME
from ringvault.archive.store.portability_records import BATCH_SIZE, ImportRecord, RekeyedRow, SameRecord
from ringvault.portability.importer.paths import PART_SUFFIX
from ringvault.portability.scopes import DataSetRecord, dataset

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import GrantRow

__all__ = [
    "RECORD_KEY_SCHEME",
    "Identity",
    "OccurrenceCounter",
    "generic_key",
    "identify",
    "model_of",
    "same_record",
    "upgrade_record_keys",
]

logger = logging.getLogger("ringvault.portability")

#: the data set name of records whose file could not be recognised
UNKNOWN: Final = "unknown"


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
        fd, name = tempfile.mkstemp(dir=self.spill_dir, prefix=".occurrences-", suffix=PART_SUFFIX)
        os.close(fd)
        self._path = Path(name)
        self._db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)  # one thread at a time
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


def generic_key(dataset_name: str, item: dict[str, Any]) -> str:
    """The key of a record of a data set ringvault does not know: its whole content."""
    payload = {"dataset": dataset_name, "scheme": RECORD_KEY_SCHEME, "record": item}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_of(dataset_name: str) -> type[DataSetRecord] | None:
    """The model of a documented data set, None for another name (an unknown data set)."""
    try:
        return dataset(dataset_name)
    except KeyError:
        return None


@dataclass(frozen=True)
class Identity:
    """What identifies one record: its key before the occurrence number, its hashes and its own date."""

    key: str
    fingerprint: str
    content_hash: str
    event_date: datetime | None


def identify(model: type[DataSetRecord] | None, dataset_name: str, item: dict[str, Any]) -> Identity:
    """The identity of one record of ``dataset_name`` (``model`` None: a data set ringvault does not know)."""
    if model is None:
        digest = generic_key(dataset_name, item)
        return Identity(key=digest, fingerprint=digest, content_hash=digest, event_date=None)
    record = model.model_validate(item)
    value = getattr(record, "event_date", None)
    key, fingerprint, content_hash = record.identity()
    return Identity(
        key=key,
        fingerprint=fingerprint,
        content_hash=content_hash,
        event_date=value if isinstance(value, datetime) else None,
    )


def numbered(key: str, occurrence: int) -> str:
    """``KEY`` for the first record with that key in an export, ``KEY#n`` for the next ones."""
    return key if occurrence == 0 else f"{key}#{occurrence}"


def same_record(model: type[DataSetRecord] | None) -> SameRecord:
    """Whether a record whose fingerprint equals the stored version's is that version with fields added: every
    field ringvault does not know of the stored version is still there with the same value (a field Ring added
    changes nothing; an unknown field that changed or went away is a new version, so nothing is lost)."""

    def same(old: dict[str, Any], record: ImportRecord) -> bool:
        if model is None:
            return all(name in record.data and record.data[name] == value for name, value in old.items())
        before = model.model_validate(old)
        after = model.model_validate(record.data)
        if before.fingerprint() != after.fingerprint():
            return False
        added = after.extra_fields()
        return all(name in added and added[name] == value for name, value in before.extra_fields().items())

    return same


def upgrade_record_keys(store: ArchiveStore, grant: GrantRow) -> int:
    """Re-key the records of ``grant`` stored with an older key scheme (before migration 0006); how many.

    Rows are read in id order (the order they were imported) in batches, each re-keyed batch committed. A row's
    occurrence number is counted among the rows the same export brought; a row whose new key is already the current
    key of an earlier row becomes the next version of it (an older ringvault stored a record that changed between
    exports as two records). A pass killed half-way is run again from the start: rows already re-keyed are counted,
    not written again. Nothing is deleted."""
    records = store.portability.records
    if grant.key_scheme >= RECORD_KEY_SCHEME:
        return 0
    rekeyed = 0
    after = 0
    with OccurrenceCounter(Path(tempfile.gettempdir())) as occurrences:
        while rows := records.rows_after(grant.id, after, BATCH_SIZE):
            changes: list[RekeyedRow] = []
            for row in rows:
                if row.key_scheme >= RECORD_KEY_SCHEME:  # re-keyed by a pass that was killed: count it only
                    base = row.key.partition("#")[0]
                    occurrences.next(f"{row.query_id}\x00{row.dataset}\x00{base}")
                    continue
                model = model_of(row.dataset)
                identity = identify(model, row.dataset, row.data)
                n = occurrences.next(f"{row.query_id}\x00{row.dataset}\x00{identity.key}")
                changes.append(
                    RekeyedRow(
                        id=row.id,
                        dataset=row.dataset,
                        key=numbered(identity.key, n),
                        fingerprint=identity.fingerprint,
                        content_hash=identity.content_hash,
                        imported_at=row.imported_at,
                    )
                )
            if changes:
                records.rekey(grant.id, changes, RECORD_KEY_SCHEME)
                rekeyed += len(changes)
            after = rows[-1].id
    records.set_key_scheme(grant.id, RECORD_KEY_SCHEME)
    if rekeyed:
        logger.info("re-keyed %d records of customer %s with the keys of this ringvault", rekeyed, grant.customer)
    return rekeyed
