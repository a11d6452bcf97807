"""The archive database: SQLAlchemy 2 models, packaged Alembic migrations and :class:`ArchiveStore`.

>>> store = ArchiveStore.open(Path("~/ringvault-archive").expanduser())   # doctest: +SKIP
>>> store.upsert_events(device_id, [EventRecord(id="7407512345678901234", created_at=..., kind="ding")])
"""

from ringvault.archive.store.engine import (
    DATABASE_URL_ENV,
    ArchiveDatabaseError,
    archive_exists,
    configured_database_url,
    database_label,
    redacted_url,
)
from ringvault.archive.store.migrate import (
    HEAD_REVISION,
    UnknownSchemaError,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    migrate,
)
from ringvault.archive.store.records import (
    AccountRecord,
    Counts,
    DeviceRecord,
    DueRecording,
    EventPage,
    EventRecord,
    LocationRecord,
    MediaKind,
    MediaRecord,
    MediaStatus,
    PendingMedia,
    StoredDevice,
    StoredEvent,
    StoredMedia,
    SyncState,
    UpsertResult,
)
from ringvault.archive.store.store import (
    DB_FILENAME,
    ArchiveFileChangedError,
    ArchiveStore,
    InvalidCursorError,
    UnknownEventError,
    default_archive_dir,
)

__all__ = [
    "DATABASE_URL_ENV",
    "DB_FILENAME",
    "HEAD_REVISION",
    "AccountRecord",
    "ArchiveDatabaseError",
    "ArchiveFileChangedError",
    "ArchiveStore",
    "Counts",
    "DeviceRecord",
    "DueRecording",
    "EventPage",
    "EventRecord",
    "InvalidCursorError",
    "LocationRecord",
    "MediaKind",
    "MediaRecord",
    "MediaStatus",
    "PendingMedia",
    "StoredDevice",
    "StoredEvent",
    "StoredMedia",
    "SyncState",
    "UnknownEventError",
    "UnknownSchemaError",
    "UpsertResult",
    "alembic_config",
    "archive_exists",
    "configured_database_url",
    "current_revision",
    "database_label",
    "default_archive_dir",
    "downgrade",
    "head_revision",
    "migrate",
    "redacted_url",
]
