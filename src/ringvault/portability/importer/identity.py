"""How imported records are identified: occurrence numbers of records that share a key, and the keys themselves."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from ringvault.portability.importer.paths import PART_SUFFIX

__all__ = ["OccurrenceCounter", "generic_key"]


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


def generic_key(dataset_name: str, item: dict[str, Any]) -> str:
    text = json.dumps({"dataset": dataset_name, "record": item}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
