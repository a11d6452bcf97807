"""Files that are either complete and valid under their final name, or not there at all.

Every archived file is written as ``.{name}.part-{random}`` in its final directory, flushed and fsynced, validated
(:mod:`ringvault.archive.validate`), renamed over the final name with ``os.replace`` and the directory fsynced. A
failure or a failed check removes the temporary file. A process killed at any instant leaves at most a ``.part-``
file, which :func:`cleanup_partials` removes at the start of the next run; the final name never holds a partial file.

Usage with a writer that wants a path (the HTTP layer streams downloads to a path)::

    with AtomicFile(dest) as part:
        await http.download(url, part.path)
    part.result.sha256

or with the handle: ``with AtomicFile(dest) as part: part.file.write(data)``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path, PurePath
from types import TracebackType
from typing import BinaryIO, Literal

from ringvault.archive.validate import MediaCheck, Validator, validate_json, validator_for
from ringvault.transport.files import fsync_dir

__all__ = [
    "DISK_REFUSAL_ERRNOS",
    "PART_MARKER",
    "AtomicFile",
    "MediaValidationError",
    "WriteResult",
    "atomic_write_bytes",
    "cleanup_partials",
    "disk_refusal",
    "is_partial_name",
    "iso_utc",
    "sha256_file",
    "to_json_compatible",
    "write_sidecar",
]

PART_MARKER = ".part-"
#: Integers beyond this lose precision in JavaScript and many JSON readers; they are written as strings.
MAX_SAFE_INT = 2**53
_CHUNK = 1024 * 1024

ValidateOption = Validator | Literal["auto"] | None


class MediaValidationError(Exception):
    """A file failed its check (an error body, a truncated download, ...) and was not kept."""

    def __init__(self, path: Path, reason: str, check: MediaCheck | None = None) -> None:
        super().__init__(f"{path.name}: {reason}")
        self.path = path
        self.reason = reason
        self.check = check


@dataclass(frozen=True)
class WriteResult:
    """A file now in place under its final name."""

    path: Path
    bytes: int
    sha256: str
    check: MediaCheck | None


def is_partial_name(name: str) -> bool:
    """Whether ``name`` is one of our temporary file names (``.{name}.part-{random}``)."""
    return name.startswith(".") and PART_MARKER in name


#: a disk that refuses every write (full, over quota, read-only): retrying another file cannot help
DISK_REFUSAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def disk_refusal(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (itself or a cause) saying the local disk refuses writes, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_REFUSAL_ERRNOS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def sha256_file(path: str | Path) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` that also fsyncs the parent of every directory it creates."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        fsync_dir(path.parent)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")


class AtomicFile:
    """Write ``dest`` through a temporary file in the same directory; it appears only complete and validated.

    ``validate`` is ``"auto"`` (by suffix: ``.mp4`` box structure, ``.jpg`` decode, ``.json`` parse, nothing for
    other suffixes), a callable returning a :class:`MediaCheck` (called with the temporary path), or ``None``. On a
    clean exit the file is flushed, fsynced, validated, hashed, renamed over ``dest`` and the directory fsynced;
    :attr:`result` then describes it. On an exception or a failed check the temporary file is removed; a failed check
    raises :class:`MediaValidationError`.
    Writers may use :attr:`file` (opened on first use) or write :attr:`path` themselves.
    """

    def __init__(self, dest: str | Path, *, validate: ValidateOption = "auto", mode: int = 0o644) -> None:
        self.dest = Path(dest)
        if not self.dest.name or is_partial_name(self.dest.name):
            raise ValueError(f"invalid destination file name {self.dest.name!r}")
        self._validator: Validator | None = validator_for(self.dest) if validate == "auto" else validate
        self._mode = mode
        self.path = self.dest.with_name(f".{self.dest.name}{PART_MARKER}{secrets.token_hex(6)}")
        self._file: BinaryIO | None = None
        self.result: WriteResult | None = None

    @property
    def file(self) -> BinaryIO:
        """A binary handle on the temporary file (opened on first use)."""
        if self._file is None:
            self._file = open(self.path, "r+b")  # noqa: SIM115 - closed in commit()/abort()
        return self._file

    def __enter__(self) -> AtomicFile:
        _make_dirs(self.dest.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self._mode)
        os.close(fd)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
            return
        self.commit()

    def write(self, data: bytes) -> int:
        """Append ``data`` to the temporary file."""
        return self.file.write(data)

    def commit(self, *, sha256: str | None = None, sync_dir: bool = True) -> WriteResult:
        """Flush, fsync, validate, rename over ``dest``, fsync the directory.

        ``sha256``: the digest of what somebody else wrote to :attr:`path`, when they computed it on the way (a
        download): the file is then not read again to hash it. ``sync_dir=False``: the caller fsyncs the directory
        itself after this (a recording whose sidecar is committed right after it, in the same directory)."""
        try:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None
            else:
                # Somebody else wrote the path; make its bytes durable before they get the final name.
                with open(self.path, "rb") as handle:
                    os.fsync(handle.fileno())
            check: MediaCheck | None = None
            if self._validator is not None:
                check = self._validator(self.path)
                if not check.ok:
                    raise MediaValidationError(self.dest, check.reason or "failed validation", check)
            size = os.stat(self.path).st_size
            digest = sha256 if sha256 is not None else sha256_file(self.path)
            os.replace(self.path, self.dest)
        except BaseException:
            self.abort()
            raise
        if sync_dir:
            fsync_dir(self.dest.parent)
        self.result = WriteResult(path=self.dest, bytes=size, sha256=digest, check=check)
        return self.result

    def abort(self) -> None:
        """Close and remove the temporary file; ``dest`` is left as it was."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def atomic_write_bytes(
    dest: str | Path, data: bytes, *, validate: ValidateOption = "auto", sync_dir: bool = True
) -> WriteResult:
    """Write ``data`` to ``dest`` atomically (see :class:`AtomicFile`; ``sync_dir=False``: the caller fsyncs the
    directory later, before anything relies on the name)."""
    part = AtomicFile(dest, validate=validate).__enter__()
    try:
        part.write(data)
    except BaseException:
        part.abort()
        raise
    return part.commit(sha256=hashlib.sha256(data).hexdigest(), sync_dir=sync_dir)  # hashed in memory


def cleanup_partials(root: str | Path, *, older_than_s: float = 0.0) -> int:
    """Remove ``.part-`` files left under ``root`` by a killed process; returns how many were removed.

    Run it at the start of every run, while no other writer is active (or with ``older_than_s`` to spare the
    temporary files of a writer that may still be running). Symlinks are not followed.
    """
    import time

    root = Path(root)
    now = time.time()
    removed = 0
    for directory, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            if not is_partial_name(name):
                continue
            path = Path(directory, name)
            try:
                info = path.lstat()
                if older_than_s and now - info.st_mtime < older_than_s:
                    continue
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
    return removed


# ---------------------------------------------------------------------------------------------------------- JSON


def iso_utc(value: datetime) -> str:
    """``2021-04-11T13:57:00.000000Z``: ISO-8601 in UTC with microseconds and ``Z`` (naive times are UTC)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json_compatible(value: object) -> object:
    """``value`` made safe for JSON readers everywhere: datetimes as :func:`iso_utc`, integers beyond 2^53 as
    strings (ding ids), paths as POSIX strings, enums by value, tuples and sets as lists; NaN/inf refused."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > MAX_SAFE_INT else value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be written as JSON")
        return value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Enum):
        return to_json_compatible(value.value)
    if isinstance(value, Mapping):
        return {str(key): to_json_compatible(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [to_json_compatible(item) for item in items]
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_sidecar(path: str | Path, data: Mapping[str, object], *, sync_dir: bool = True) -> WriteResult:
    """Write a JSON sidecar atomically (UTF-8, indented, see :func:`to_json_compatible`), checked by parsing it back
    (``sync_dir`` as in :func:`atomic_write_bytes`)."""
    text = json.dumps(to_json_compatible(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"), validate=validate_json, sync_dir=sync_dir)
