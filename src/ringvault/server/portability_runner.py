"""The server's adapter to the importer (``ringvault.portability.importer``): the steps the hub schedules.

The importer owns the query lifecycle in the archive (created → notified → listed → downloaded → imported), the files
on disk and the records; the hub owns *when* each step runs. One ``NotificationHub`` is shared, so a notification
stored by the server also wakes an importer that happens to wait in this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ringvault.portability.errors import AccessDeniedError, InvalidGrantError
from ringvault.portability.importer import (
    OPEN_STATES,
    ExportCanceledError,
    NotificationHub,
    PortabilityImporter,
    record_notification,
)

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
        """A new query for the customer (or the open one, adopted); stored as ``created`` before it returns.

        Unlike ``PortabilityImporter.start`` (the CLI's, which waits for a 409 to clear), a ``409 REQUEST_CONFLICT``
        is raised: the hub reschedules the export instead of holding anything while Ring finishes the other query.
        ``ACCESS_DENIED`` with a working token (the client refreshed it once) marks the grant ``refused`` and raises
        ``ExportCanceledError``; a refused token marks it ``revoked``/``expired`` and raises ``InvalidGrantError``."""
        dp = self.store.portability
        for query in reversed(dp.list_queries(grant_id=grant.id, open_only=True)):
            if query.state in OPEN_STATES:
                return query.id
        try:
            query_id = await client.create_query()
        except InvalidGrantError as err:
            text = str(err).lower()
            status = "expired" if "expired" in text and "revoked" not in text else "revoked"
            dp.set_grant_status(grant.id, status, unless_changed_after=grant.updated_at)
            raise
        except AccessDeniedError as err:
            current = dp.get_grant(grant.id)
            if current is not None and current.status == "active":
                # not when the customer connected again meanwhile: Ring refused the old authorization, not the new
                dp.set_grant_status(grant.id, "refused", unless_changed_after=grant.updated_at)
            raise ExportCanceledError(
                f"Ring refused to start an export although the customer's token works ({err}): a one-time "
                "authorization that was already used, or an account on hold"
            ) from err
        query = dp.add_query(query_id, grant_id=grant.id, scope_id=client.scope_id)
        current = dp.get_grant(grant.id)
        if current is not None and current.status == "refused":
            dp.set_grant_status(grant.id, "active")
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
