"""Which data set a listed file holds: by the schema's title, the file's name, the schema's fields, or at last the
fields of the file's own records (``ringvault.portability.scopes.registry`` explains each way and its sources).

A file none of them recognises is not dropped: it is downloaded, kept, imported as ``unknown`` (its records keyed by
their content) and reported with its name and size.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from ringvault.portability.scopes import (
    dataset_for_fields,
    dataset_for_name,
    dataset_for_title,
    iter_json_array,
    schema_fields,
)
from ringvault.portability.scopes.reader import DataFileError

__all__ = ["RECORDS_SAMPLE", "UNKNOWN", "Recognition", "object_name", "read_schema", "recognise", "recognise_records"]

#: the data set name of the records of a file that could not be recognised
UNKNOWN: Final = "unknown"
#: how many records of an unrecognised file are read to recognise it by their fields
RECORDS_SAMPLE: Final = 200


@dataclass(frozen=True)
class Recognition:
    """The data set of a file (a documented name; or the schema's own title, or ``unknown``, when not recognised),
    how it was told (``title``, ``name``, ``fields``, ``records``; None: not recognised) and, when the fields fit
    several data sets that nothing told apart, their names."""

    dataset: str
    by: str | None
    candidates: tuple[str, ...] = ()

    @property
    def recognised(self) -> bool:
        return self.by is not None

    def describe(self) -> str:
        """Why a file was not recognised, in a few words."""
        if self.candidates:
            return "its fields fit " + " and ".join(self.candidates)
        return "neither its schema nor its name says which data set it holds"


def object_name(url: str) -> str:
    """The object key of a presigned URL (path, unquoted, without the query); the bucket's host when a simulator or
    a path-style URL puts it in the path is left out."""
    path = unquote(urlsplit(url).path).lstrip("/")
    first, _, rest = path.partition("/")
    if rest and (first.endswith(".amazonaws.com") or ".s3." in first):
        return rest
    return path


def read_schema(path: Path) -> Any:
    """A downloaded schema file as JSON; None when it is not JSON (the file's name may still tell its data set)."""
    try:
        return json.loads(path.read_bytes())
    except (ValueError, RecursionError, OSError):
        return None


def recognise(schema: Any, names: Sequence[str]) -> Recognition:
    """The data set of a file from its schema (parsed JSON, or None) and its names (object keys of the data file and
    of the schema): title, then names, then the schema's fields."""
    titled = dataset_for_title(schema)
    if titled is not None:
        return Recognition(titled.NAME, "title")
    for name in names:
        named = dataset_for_name(name)
        if named is not None:
            return Recognition(named.NAME, "name")
    fields, evidence = schema_fields(schema)
    candidates = dataset_for_fields(fields, evidence)
    if len(candidates) == 1:
        return Recognition(candidates[0].NAME, "fields")
    title = schema.get("title") if isinstance(schema, dict) else None
    label = title.strip() if isinstance(title, str) and title.strip() else UNKNOWN
    return Recognition(label, None, tuple(model.NAME for model in candidates))


def recognise_records(path: Path, limit: int = RECORDS_SAMPLE) -> Recognition | None:
    """The data set of a downloaded data file from the fields (and values) of its first ``limit`` records; None when
    they do not decide or the file cannot be read."""
    try:
        sample = [item for item in itertools.islice(iter_json_array(path), limit) if isinstance(item, dict)]
    except (DataFileError, OSError):
        return None
    fields, evidence = schema_fields(sample)
    candidates = dataset_for_fields(fields, evidence)
    return Recognition(candidates[0].NAME, "records") if len(candidates) == 1 else None
