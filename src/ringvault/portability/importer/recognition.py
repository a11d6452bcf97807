"""Which data set a listed file holds."""

from __future__ import annotations

import json
from pathlib import Path

from ringvault.portability.scopes import dataset_for_schema
from ringvault.portability.scopes.reader import DataFileError

__all__ = ["dataset_of_schema"]


def dataset_of_schema(path: Path) -> str:
    """The documented data set a downloaded schema describes, else its title (kept as an unknown data set)."""
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise DataFileError(f"schema file {path.name} is not JSON (or nested too deeply)") from err
    model = dataset_for_schema(data) if isinstance(data, dict) else None
    if model is not None:
        return model.NAME
    title = data.get("title") if isinstance(data, dict) else None
    return title.strip() if isinstance(title, str) and title.strip() else "unknown"
