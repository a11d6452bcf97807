"""A real, small disk for full-disk tests: a tmpfs of a few hundred KiB mounted on a folder of the test's own.

Mounting needs root, which the project's machines and CI have; without it the test fails and says why (no skip)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@contextmanager
def small_disk(path: Path, size: str) -> Iterator[Callable[[str], None]]:
    """Mount a ``size`` tmpfs on ``path`` (created); yields ``grow(new_size)``, which remounts it larger keeping its
    files (as a user freeing space would). Unmounted at the end, whatever happened."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.fail(f"this full-disk test needs a small real disk; `mount -t tmpfs` failed (run as root): "
                    f"{mounted.stderr.strip()}")  # fmt: skip

    def grow(new_size: str) -> None:
        grown = _mount("-o", f"remount,size={new_size}", str(path))
        assert grown.returncode == 0, grown.stderr

    try:
        yield grow
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)
