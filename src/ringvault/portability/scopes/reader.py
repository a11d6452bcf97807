"""Reading data files — JSON arrays of records, possibly several GB — one record at a time.

``ijson`` parses incrementally (its C backend, yajl2, when installed), so memory stays flat whatever the file size.
yajl2 refuses integers beyond 64 bits; when a file holds one, reading restarts with ijson's pure-Python backend and
skips the records already delivered, so callers see every record exactly once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson

from ringvault.portability.errors import PortabilityError
from ringvault.portability.scopes.base import DataSetRecord

_BOM = b"\xef\xbb\xbf"
#: Deepest nesting accepted in a data file (the top-level array counts as 1). Seed 003's records are flat objects
#: with a few nested ones (3-4 levels); a hostile or broken file nested 20,000 levels deep made the record builder
#: hold ~1 GB before failing. Beyond this the file is refused with one line, the records before it delivered.
MAX_DEPTH = 64
#: ijson's read size. Its C backend turns each read into a batch of events whose prefixes ("x.x.x...") grow with
#: the nesting, so a deep file costs (read size)^2 before any check sees an event: 64 KiB (ijson's default) held
#: ~120 MB at the bound, 16 KiB a few MB; reading speed is the same on page-cached files.
READ_SIZE = 16 * 1024


class DataFileError(PortabilityError):
    """A data file is not the JSON array of objects the service promises."""

    hint = "Download the file again (list the query's records for a fresh URL); report it if it persists."


def _backends() -> list[Any]:
    fast = ijson  # the best backend ijson found (yajl2_c when available)
    backends: list[Any] = [fast]
    if getattr(ijson, "backend", "python") != "python":
        backends.append(ijson.get_backend("python"))
    return backends


def _skip_bom(handle: IO[bytes]) -> None:
    if handle.read(len(_BOM)) != _BOM:
        handle.seek(0)


def _bounded(events: Iterator[tuple[str, str, Any]], name: str) -> Iterator[tuple[str, str, Any]]:
    """``events`` as they come, refused once they nest deeper than ``MAX_DEPTH``."""
    depth = 0
    for event in events:
        kind = event[1]
        if kind in ("start_map", "start_array"):
            depth += 1
            if depth > MAX_DEPTH:
                raise DataFileError(
                    f"data file {name} nests deeper than {MAX_DEPTH} levels at {event[0] or 'the top'!r}: "
                    "not a Data Portability record"
                )
        elif kind in ("end_map", "end_array"):
            depth -= 1
        yield event


def iter_json_array(path: Path | str) -> Iterator[Any]:
    """Every item of the top-level JSON array in ``path``, in order, in constant memory.

    Non-integral numbers are floats. Raises ``DataFileError`` when the file is not a JSON array, is malformed or
    nests deeper than ``MAX_DEPTH`` (records before the fault have been delivered).
    """
    source = Path(path)
    if source.stat().st_size == 0:
        raise DataFileError(f"data file {source.name} is empty")
    delivered = 0
    backends = _backends()
    for position, backend in enumerate(backends):
        last_backend = position == len(backends) - 1
        try:
            with source.open("rb") as handle:
                _skip_bom(handle)
                events = backend.parse(handle, use_float=True, buf_size=READ_SIZE)
                first = next(events, None)
                if first is None:
                    raise DataFileError(f"data file {source.name} holds no JSON value")
                if first[1] != "start_array":
                    raise DataFileError(f"data file {source.name} is not a JSON array (it starts with {first[1]})")
                items = backend.items(_bounded(itertools.chain([first], events), source.name), "item")
                for index, item in enumerate(items):
                    if index < delivered:
                        continue  # already delivered by a previous backend
                    delivered += 1
                    yield item
            return
        except ijson.JSONError as err:
            if "overflow" in str(err).lower() and not last_backend:
                continue
            raise DataFileError(
                f"data file {source.name} is not valid JSON after {delivered} record(s): {str(err).splitlines()[0]}"
            ) from err


def iter_records(path: Path | str, model: type[DataSetRecord]) -> Iterator[DataSetRecord]:
    """The records of a data file as ``model`` instances (tolerant: see ``scopes.base``)."""
    for index, item in enumerate(iter_json_array(path)):
        if not isinstance(item, dict):
            raise DataFileError(f"item {index} of data file {Path(path).name} is not a JSON object")
        yield model.model_validate(item)
