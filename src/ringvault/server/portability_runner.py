"""The server's adapter to the importer (``ringvault.portability.importer``): the steps the hub schedules.

The importer owns the query lifecycle in the archive (created → notified → listed → downloaded → imported), the files
on disk and the records; the hub owns *when* each step runs. One ``NotificationHub`` is shared, so a notification
stored by the server also wakes an importer that happens to wait in this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ringvault.portability.importer import NotificationHub, PortabilityImporter, record_notification

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.store.portability import GrantRow, QueryRow
    from ringvault.portability.client import PortabilityClient
    from ringvault.portability.notifications import QueryNotification

__all__ = ["ImporterRunner"]


class ImporterRunner:
    """``create``/``run``/``record`` of the hub's ``QueryRunner`` protocol, done by ``PortabilityImporter``."""

    def __init__(self, store: ArchiveStore, archive_dir: Path) -> None:
        self.store = store
        self.archive_dir = Path(archive_dir)
        self.notifications = NotificationHub()

    def _importer(self, client: PortabilityClient, grant: GrantRow) -> PortabilityImporter:
        return PortabilityImporter(self.store, client, grant, archive_dir=self.archive_dir, hub=self.notifications)

    async def create(self, client: PortabilityClient, grant: GrantRow) -> str:
        """A new query for the customer (or the open one, adopted); stored as ``created`` before it returns."""
        query = await self._importer(client, grant).start()
        return query.id

    async def run(self, client: PortabilityClient, grant: GrantRow, query_id: str) -> None:
        """List, download and import a COMPLETED query, resuming from its stored state."""
        await self._importer(client, grant).import_query(query_id)

    def record(self, notification: QueryNotification) -> QueryRow | None:
        """Store what a notification says (COMPLETED → notified; CANCELED → canceled); None for an unknown query
        id."""
        return record_notification(self.store, notification, self.notifications)

    async def check_grant(self, client: PortabilityClient, grant: GrantRow) -> str:
        """Whether the customer's authorization still works (one forced token refresh); a refused one marks the
        grant ``revoked`` or ``expired``. Returns the grant's status."""
        return await self._importer(client, grant).check_grant()
