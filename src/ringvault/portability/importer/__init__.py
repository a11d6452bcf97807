"""Import one customer's Data Portability export into the archive, resumably.

    importer = PortabilityImporter(store, client, grant, archive_dir=archive_dir, only=None, progress=print)
    result = await importer.export(wait_timeout_s=3600)     # create (or adopt) -> wait -> list -> download -> import
    result = await importer.import_query(query_id)          # a query known to be COMPLETED (after a notification)

The stable API (used by the CLI and by ``ringvault serve``):

``PortabilityImporter(store, client, grant, *, archive_dir, only=None, progress=None, page_size=250, poll=None,
hub=None, concurrency=4)``
    ``store`` an open ``ArchiveStore``; ``client`` the ``PortabilityClient`` of ``grant``'s customer; ``grant`` a
    ``GrantRow`` (``store.portability.upsert_grant``); ``only`` documented data set names to import (others become
    ``skipped`` files); ``progress`` a callable receiving ``ImportProgress`` events; ``hub`` a ``NotificationHub``
    that ends the wait as soon as a notification for the query is delivered in this process; ``concurrency`` files
    are downloaded at a time.
``await export(wait_timeout_s=None) -> ImportResult``
    adopts the grant's open query (a re-run after a crash resumes it) or creates one (a ``409 REQUEST_CONFLICT`` with
    no open query known here means a query created by a run that died before storing its id: wait and create again),
    waits for completion, then ``import_query``.
``await start() -> QueryRow``, ``await wait(query_id, timeout_s=None) -> QueryRow``
    the first two steps on their own.
``await import_query(query_id) -> ImportResult``
    list every page, download each schema + data file, import the records. Only for a COMPLETED query.
``record_notification(store, notification, hub=None) -> QueryRow | None``
    store what a notification says about a known query (COMPLETED → ``notified``; CANCELED → ``canceled``) and
    wake an importer waiting in this process. Unknown query ids → None.
``await check_grant() -> str``
    after a CANCELED: one forced token refresh tells whether the authorization still works; a refused one marks the
    grant ``revoked`` or ``expired``.

Grant statuses: ``active``; ``revoked`` or ``expired`` (Ring refuses the refresh token: the customer must authorize
again); ``refused`` (the token works but createDataQuery answers ACCESS_DENIED: a one-time authorization already
used, or an account on hold; back to ``active`` as soon as an export is accepted again).

Errors (all ``PortabilityError``): ``ExportCanceledError`` (the query was CANCELED or the authorization is gone;
the customer must log in again), ``ExportNotReadyError`` (still not completed after ``wait_timeout_s``: run again to
resume), ``AccessTimeElapsedError`` (the 1-hour listing window is over: the query is ``failed``, files already
downloaded are imported; create a new export). Anything else (network, 5xx after retries) leaves the stored state
as it is, so the next run resumes.

On disk, under the archive directory::

    portability/{brand}/{customer}/{query_id}/{ordinal:04d}-{dataset}.json          the data file, as served
    portability/{brand}/{customer}/{query_id}/{ordinal:04d}-{dataset}.schema.json   its schema

Every step is committed before the next (``portability_queries.state``: created → notified → listed → downloaded →
imported, or failed / canceled; ``portability_files.state``: listed → downloaded → imported, or skipped / failed), so
a process killed at any instant resumes from the stored state: imported files are not read again, a half-imported file
is read again and only what is missing is written. Downloads go to a temporary ``.*.part`` file renamed when
complete; leftovers of a killed run are removed first thing. Presigned URLs live 5 minutes: an expired one makes the
importer list the query again for fresh URLs (the service allows that for one hour after its notification).

A file's data set is told by its schema's title, the file's name (object key), the schema's fields, or its first
records (``recognition``); a file none of them places is kept, imported as ``unknown`` and reported
(``ImportResult.unrecognised``, the query's note), never dropped. Records are keyed by their data set's natural key
plus their occurrence number among the records of the same export that share it, and versioned: a changed record
becomes a new current version with the earlier one kept as history, a field Ring adds changes nothing
(``identity``, ``ringvault.archive.store.portability_records``). One importer per customer runs at a time: a lock
file (``portability/{brand}/{customer}/.lock``) makes a second one (another CLI run, or ``serve`` acting on a
notification) wait, then find the work done.

The package, by concern: ``driver`` (the lifecycle: create, wait, import a query, endings), ``download`` (listing and
downloading files), ``recognition`` (which data set a file holds), ``load`` (reading data files into the archive),
``identity`` (record keys and occurrence numbers), ``notify`` (notifications), ``paths`` (where files live),
``results`` (progress events, results, errors).
"""

from ringvault.portability.importer.driver import (
    DEFAULT_CONCURRENCY,
    DEFAULT_POLL_DELAYS,
    PollPolicy,
    PortabilityImporter,
)
from ringvault.portability.importer.identity import OccurrenceCounter
from ringvault.portability.importer.notify import OPEN_STATES, NotificationHub, record_notification
from ringvault.portability.importer.paths import export_dir, grant_dir, remove_partials
from ringvault.portability.importer.results import (
    DatasetCount,
    ExportCanceledError,
    ExportNotReadyError,
    ImportProgress,
    ImportResult,
    ProgressCallback,
    UnrecognisedFile,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_POLL_DELAYS",
    "OPEN_STATES",
    "DatasetCount",
    "ExportCanceledError",
    "ExportNotReadyError",
    "ImportProgress",
    "ImportResult",
    "NotificationHub",
    "OccurrenceCounter",
    "PollPolicy",
    "PortabilityImporter",
    "ProgressCallback",
    "UnrecognisedFile",
    "export_dir",
    "grant_dir",
    "record_notification",
    "remove_partials",
]
