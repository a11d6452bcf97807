"""Files written so that readers see the old content or the new, never a mix, and nobody else can read secrets.

- ``ensure_private_dir``: create missing directories 0700.
- ``write_private_file``: replace a small file atomically (0600 temporary file, fsync, ``os.replace``, directory fsync).
- ``PartFile``: a temporary file next to a download's destination, renamed over it only once complete.
- ``fsync_dir``: make a rename durable.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) if needed; the directories we create are 0700."""
    if directory.is_dir():
        return
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    directory.mkdir(parents=True, exist_ok=True)
    for created in missing:
        with contextlib.suppress(OSError):
            created.chmod(0o700)


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: a 0600 temporary file in the same directory, fsync, ``os.replace``,
    then fsync of the directory. Readers see the old or the new content, never a mix; raises ``OSError``."""
    # mkstemp creates the file with mode 0600, so the secret is never readable by others.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class PartFile:
    """Where a download is written: ``dest`` itself (``atomic=False``: created or truncated, removed on failure) or
    a private temporary file in ``dest``'s directory that ``commit`` renames over ``dest`` (``atomic=True``: on
    failure ``dest`` keeps what it held). Raises ``OSError`` for the local disk."""

    def __init__(self, dest: Path, *, atomic: bool) -> None:
        self.dest = dest
        self.atomic = atomic
        if atomic:
            ensure_private_dir(dest.parent)
            fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            self.path = Path(name)
            self.handle: IO[bytes] = os.fdopen(fd, "wb")
        else:
            self.path = dest
            self.handle = dest.open("wb")

    def finish(self, *, fsync: bool = True) -> None:
        """Flush and fsync the data (call off the event loop for big files), close, and put it in place.

        ``fsync=False`` (only without ``atomic``): the caller makes the bytes durable itself, e.g. an ``AtomicFile``
        of the archive that fsyncs, validates and renames the file in a worker thread."""
        self.handle.flush()
        if fsync or self.atomic:
            os.fsync(self.handle.fileno())
        self.handle.close()
        if self.atomic:
            os.replace(self.path, self.dest)
            fsync_dir(self.dest.parent)

    def discard(self) -> None:
        """Close and remove what was written (never raises)."""
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
