"""Reads of the web UI's Data Portability record browser that the importer's store does not need: how many current
records one customer has in one data set (one ``COUNT`` on the unique index of the current versions, instead of
counting every data set of the customer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select, text

from ringvault.archive.store.models import PortabilityRecord

if TYPE_CHECKING:
    from ringvault.archive.store.store import ArchiveStore

__all__ = ["dataset_total"]

_T = PortabilityRecord.__table__
#: the condition of the partial indexes of the current versions, written as they are (so SQLite uses them)
_CURRENT = text("is_current")


def dataset_total(store: ArchiveStore, grant_id: int, dataset: str) -> int:
    """The current records of ``dataset`` stored for the grant."""
    stmt = select(func.count()).select_from(_T).where(_T.c.grant_id == grant_id, _T.c.dataset == dataset, _CURRENT)
    with store._reading() as connection:
        return int(connection.execute(stmt).scalar_one())
