"""Where an export's files live under the archive directory, and how they are written safely."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Final

from ringvault.portability.errors import PortabilityError

__all__ = ["PART_SUFFIX", "copy_atomic", "export_dir", "file_stem", "grant_dir", "remove_partials"]

_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
#: temporary files (downloads in progress, spilled counters) end with this; a killed run's leftovers are removed
PART_SUFFIX: Final = ".part"


def _segment(value: str, what: str) -> str:
    if not _SAFE_SEGMENT.fullmatch(value) or value in (".", ".."):
        raise PortabilityError(f"the {what} {value!r} cannot be used as a folder name")
    return value


def grant_dir(archive_dir: Path, brand: str, customer: str) -> Path:
    """``ARCHIVE/portability/{brand}/{customer}``."""
    return Path(archive_dir) / "portability" / _segment(brand, "brand") / _segment(customer, "customer")


def export_dir(archive_dir: Path, brand: str, customer: str, query_id: str) -> Path:
    """``ARCHIVE/portability/{brand}/{customer}/{query_id}``: the files of one query."""
    return grant_dir(archive_dir, brand, customer) / _segment(query_id, "query id")


def file_stem(ordinal: int, dataset_name: str) -> str:
    """``{ordinal:04d}-{data set}``, the data set name reduced to characters safe in a file name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset_name).strip("._") or "unknown"
    return f"{ordinal:04d}-{slug}"


def remove_partials(folder: Path) -> int:
    """Delete the temporary files (``.*.part``) a killed run left under ``folder``; how many there were."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob(f".*{PART_SUFFIX}"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def copy_atomic(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` through a temporary file renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=PART_SUFFIX)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
