"""``ArchiveStore``: the archive database (SQLite by default, PostgreSQL through ``open_url``).

Every write is idempotent: accounts, locations, devices and events are upserted with the dialect's
``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL both have it), media are keyed by path and by
(event, kind). Re-running a sync never duplicates a row.

On SQLite the store uses WAL (readers never block the writer), foreign keys, a busy timeout, and write transactions
that start with ``BEGIN IMMEDIATE`` so that two writers wait for each other instead of failing with "database is
locked".
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    case,
    create_engine,
    event,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from ringvault.archive.store.migrate import migrate
from ringvault.archive.store.models import Account, Device, Event, Location, Media, SyncStateRow, utcnow
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

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

    from ringvault.archive.store.portability import PortabilityStore

__all__ = [
    "DB_FILENAME",
    "ArchiveFileChangedError",
    "ArchiveStore",
    "InvalidCursorError",
    "UnknownEventError",
    "default_archive_dir",
]

DB_FILENAME = "archive.sqlite3"
BUSY_TIMEOUT_S = 30.0
_CHUNK = 500
_WRITE_OPTION = "ringvault_write"


class UnknownEventError(KeyError):
    """The event id is not in the archive."""


class InvalidCursorError(ValueError):
    """A pagination cursor that ``query_events`` did not produce."""


class ArchiveFileChangedError(RuntimeError):
    """The database file this store opened was deleted or replaced by another file while it was open: what was
    written since went into the old (unlinked) file."""


#: Recordings a sync fetches: not archived yet, and not given up.
_DUE_STATUSES = (MediaStatus.PENDING.value, MediaStatus.FAILED.value)


def default_archive_dir() -> Path:
    """The platform data directory for the archive (e.g. ``~/.local/share/ringvault/archive``)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("ringvault")) / "archive"


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy (not the sqlite3 module) decide when transactions begin: see _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads then writes can fail at once with SQLITE_BUSY (no wait) when another
        # writer got there first; taking the write lock up front makes writers queue on the busy timeout instead.
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class ArchiveStore:
    """The archive database: typed, idempotent reads and writes over SQLAlchemy 2 sessions.

    Open it with :meth:`open` (a directory; SQLite) or :meth:`open_url` (any SQLAlchemy URL, e.g. PostgreSQL);
    both bring the schema to the newest revision. Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, engine: Engine, *, archive_dir: Path | None = None, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.archive_dir = archive_dir
        self._clock = clock
        self._writer = engine.execution_options(**{_WRITE_OPTION: True})
        self.db_path: Path | None = None
        """The SQLite file (``None`` for other databases)."""
        self._identity: tuple[int, int] | None = None

    # -- opening ---------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, archive_dir: Path, *, clock: Callable[[], datetime] = utcnow) -> ArchiveStore:
        """Open (creating it if needed) the archive in ``archive_dir``: ``archive.sqlite3``, migrated to head."""
        archive_dir = Path(archive_dir).expanduser()
        archive_dir.mkdir(parents=True, exist_ok=True)
        store = cls(_sqlite_engine(archive_dir / DB_FILENAME), archive_dir=archive_dir, clock=clock)
        store._note_file(archive_dir / DB_FILENAME)
        return store

    @classmethod
    def open_url(
        cls, url: str, *, archive_dir: Path | None = None, clock: Callable[[], datetime] = utcnow
    ) -> ArchiveStore:
        """Open the archive in the database at ``url`` (``postgresql+psycopg://...``), migrated to head."""
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url.removeprefix("sqlite:///"))
            store = cls(_sqlite_engine(path), archive_dir=archive_dir, clock=clock)
            store._note_file(path)
        else:
            store = cls(create_engine(url), archive_dir=archive_dir, clock=clock)
            store.migrate()
        return store

    def _note_file(self, path: Path) -> None:
        """Migrate, then remember which file the database is (see :meth:`verify_file`)."""
        self.db_path = path
        self.migrate()
        self._identity = _file_identity(path)

    def verify_file(self) -> None:
        """Raise :class:`ArchiveFileChangedError` when the database file was deleted or replaced since it was opened
        (SQLite would go on writing into the old, unlinked file and nothing would say so). A no-op for databases
        that are not a local file."""
        if self.db_path is None or self._identity is None:
            return
        try:
            identity = _file_identity(self.db_path)
        except FileNotFoundError:
            message = f"the archive database {self.db_path} was deleted while it was open"
            raise ArchiveFileChangedError(message) from None
        if identity != self._identity:
            raise ArchiveFileChangedError(f"the archive database {self.db_path} was replaced while it was open")

    def now(self) -> datetime:
        """The store's clock (aware UTC): the time media states are stamped and compared with."""
        return self._clock()

    @cached_property
    def _media_insert_new(self) -> Any:
        """``INSERT INTO media ... ON CONFLICT DO NOTHING`` in this database's dialect, built once."""
        return self._insert(_MEDIA_TABLE).on_conflict_do_nothing()

    @cached_property
    def portability(self) -> PortabilityStore:
        """The Data Portability tables (grants, queries, files, records) of this archive."""
        from ringvault.archive.store.portability import PortabilityStore

        return PortabilityStore(self)

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (a no-op when already there)."""
        migrate(self._writer)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction on a plain connection: for Core statements, without the ORM session's bookkeeping
        (a recording's ``media`` row and event state are written this way, once per download)."""
        with self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        name = self.engine.dialect.name
        if name == "sqlite":
            return sqlite.insert(table)
        if name == "postgresql":
            from sqlalchemy.dialects import postgresql  # not imported by every SQLite run

            return postgresql.insert(table)
        raise ValueError(f"the archive supports SQLite and PostgreSQL, not {name}: use a sqlite or postgresql URL")

    # -- accounts, locations, devices -----------------------------------------------------------------------

    def upsert_account(self, record: AccountRecord) -> int:
        """Insert or refresh an account (keyed by its lower-cased e-mail); returns its ``accounts.id``."""
        email = record.email.strip().lower()
        now = self._clock()
        table = Account.__table__
        assert isinstance(table, Table)
        stmt = self._insert(table).values(
            email=email, profile_id=record.profile_id, created_at=record.created_at, raw=record.raw,
            first_seen_at=now, updated_at=now,
        )  # fmt: skip
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.email],
            set_={
                "profile_id": func.coalesce(stmt.excluded.profile_id, table.c.profile_id),
                "created_at": func.coalesce(stmt.excluded.created_at, table.c.created_at),
                "raw": func.coalesce(stmt.excluded.raw, table.c.raw),
                "updated_at": stmt.excluded.updated_at,
            },
        )
        with self._write() as session:
            session.execute(stmt)
            return session.execute(select(Account.id).where(Account.email == email)).scalar_one()

    def upsert_location(self, record: LocationRecord) -> bool:
        """Insert or refresh a location; returns True when it is new."""
        table = Location.__table__
        assert isinstance(table, Table)
        now = self._clock()
        row = {
            "id": record.id, "account_id": record.account_id, "name": record.name, "time_zone": record.time_zone,
            "raw": record.raw, "first_seen_at": now, "updated_at": now,
        }  # fmt: skip
        keep = ("account_id", "name", "time_zone", "raw")
        with self._writing() as connection:
            return self._upsert(connection, table, [row], keep=keep, replace_=("updated_at",)).new == 1

    def upsert_device(self, record: DeviceRecord) -> bool:
        """Insert or refresh a device (``last_seen_at`` = now, ``first_seen_at`` kept); returns True when new."""
        return self.upsert_devices([record]).new == 1

    def upsert_devices(self, records: Iterable[DeviceRecord]) -> UpsertResult:
        """:meth:`upsert_device` for many devices in one transaction."""
        table = Device.__table__
        assert isinstance(table, Table)
        now = self._clock()
        rows = [_device_row(record, now) for record in records]
        keep = ("kind", "name", "location_id", "account_id", "model", "slug", "raw")
        with self._writing() as connection:
            return self._upsert(connection, table, rows, keep=keep, replace_=("family", "last_seen_at"))

    def list_devices(self) -> list[StoredDevice]:
        """Every stored device, by location, name and id."""
        with self._read() as session:
            rows = session.scalars(select(Device).order_by(Device.location_id, Device.name, Device.id)).all()
            return [_device_out(row) for row in rows]

    def _upsert(
        self,
        connection: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        *,
        keep: Sequence[str],
        replace_: Sequence[str],
        extra: Callable[[Any], dict[str, Any]] | None = None,
    ) -> UpsertResult:
        """Upsert ``rows`` by primary key: ``keep`` columns are only overwritten by non-null values (a partial
        record never erases what is known), ``replace_`` columns always take the new value, ``extra(excluded)``
        gives further SET expressions, the others (first seen, media state) are left as they are."""
        if not rows:
            return UpsertResult()
        (pk,) = table.primary_key.columns
        by_key = {row[pk.name]: row for row in rows}  # one statement must not touch a row twice (PostgreSQL)
        existing = set(connection.scalars(select(pk).where(pk.in_(list(by_key)))).all())
        stmt = self._insert(table)
        set_: dict[str, Any] = {name: func.coalesce(stmt.excluded[name], table.c[name]) for name in keep}
        set_.update({name: stmt.excluded[name] for name in replace_})
        if extra is not None:
            set_.update(extra(stmt.excluded))
        connection.execute(stmt.on_conflict_do_update(index_elements=[pk], set_=set_), list(by_key.values()))
        return UpsertResult(new=len(by_key) - len(existing), updated=len(existing))

    # -- events ----------------------------------------------------------------------------------------------

    def upsert_events(self, device_id: int, events: Iterable[EventRecord]) -> UpsertResult:
        """Insert new events of ``device_id`` and refresh known ones; ``first_seen_at`` and the media state of a
        known event are kept, except that a known ``no_media`` event comes back as ``pending`` when the new record
        says it has a recording (a Ring Protect plan that came back). Returns how many were new and how many
        already stored. Written in chunks of 500 rows, all in one transaction."""
        table = Event.__table__
        assert isinstance(table, Table)
        keep = (
            "location_id", "kind", "duration_s", "answered", "favorite", "state", "person_detected",
            "detection_type", "cv_properties", "recording_status", "raw",
        )  # fmt: skip
        now = self._clock()
        rows = [_event_row(device_id, record, now) for record in events]
        no_media, pending = MediaStatus.NO_MEDIA.value, MediaStatus.PENDING.value

        def media_back(excluded: Any) -> dict[str, Any]:
            back = and_(table.c.media_status == no_media, excluded.media_status == pending)
            return {
                "media_status": case((back, literal(pending)), else_=table.c.media_status),
                "media_next_attempt_at": case((back, None), else_=table.c.media_next_attempt_at),
            }

        new = updated = 0
        with self._writing() as connection:
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                result = self._upsert(
                    connection, table, chunk, keep=keep, replace_=("created_at", "updated_at"), extra=media_back
                )
                new += result.new
                updated += result.updated
        return UpsertResult(new=new, updated=updated)

    def event_kinds(self) -> set[str]:
        """Every event kind stored (``SELECT DISTINCT kind``)."""
        with self._reading() as connection:
            return {kind for kind in connection.scalars(select(Event.kind).distinct()) if kind is not None}

    def existing_event_ids(self, event_ids: Collection[str]) -> set[str]:
        """Which of ``event_ids`` are stored (one query per 500 ids)."""
        ids = list(event_ids)
        found: set[str] = set()
        with self._reading() as connection:
            for start in range(0, len(ids), _CHUNK):
                found.update(connection.scalars(select(Event.id).where(Event.id.in_(ids[start : start + _CHUNK]))))
        return found

    def get_event(self, event_id: str) -> StoredEvent | None:
        """One event by its ding id (text)."""
        with self._read() as session:
            row = session.get(Event, str(event_id))
            return None if row is None else _event_out(row)

    def query_events(
        self,
        device_id: int | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
        *,
        newest_first: bool = True,
        media_status: MediaStatus | str | None = None,
    ) -> EventPage:
        """A page of events, newest first by default (``since`` inclusive, ``until`` exclusive; ``media_status``:
        only events whose recording is in that state, e.g. ``given_up``).

        Keyset pagination over (created_at, id): pass the page's ``next_cursor`` to get the next one; events
        stored meanwhile never shift a page, and no event is returned twice.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        conditions: list[ColumnElement[bool]] = []
        if device_id is not None:
            conditions.append(Event.device_id == device_id)
        if kind is not None:
            conditions.append(Event.kind == kind)
        if media_status is not None:
            conditions.append(Event.media_status == MediaStatus(media_status).value)
        if since is not None:
            conditions.append(Event.created_at >= since)
        if until is not None:
            conditions.append(Event.created_at < until)
        if cursor is not None:
            at, last_id = _decode_cursor(cursor)
            if newest_first:
                conditions.append(or_(Event.created_at < at, and_(Event.created_at == at, Event.id < last_id)))
            else:
                conditions.append(or_(Event.created_at > at, and_(Event.created_at == at, Event.id > last_id)))
        order = (Event.created_at.desc(), Event.id.desc()) if newest_first else (Event.created_at, Event.id)
        with self._read() as session:
            rows = session.scalars(select(Event).where(*conditions).order_by(*order).limit(limit + 1)).all()
            events = [_event_out(row) for row in rows[:limit]]
        next_cursor = _encode_cursor(events[-1].created_at, events[-1].id) if len(rows) > limit else None
        return EventPage(events=events, next_cursor=next_cursor)

    # -- media -----------------------------------------------------------------------------------------------

    def add_media(self, record: MediaRecord, *, mark_event_done: bool = False) -> int:
        """Record a file of the archive; returns its ``media.id``.

        Idempotent: a row with the same ``path`` or, for an event, the same (event_id, kind) is updated in place.
        With ``mark_event_done`` the event's ``media_status`` becomes ``done`` in the same transaction.
        """
        return self.add_media_many([record], mark_events_done=mark_event_done)[0]

    def add_media_many(self, records: Sequence[MediaRecord], *, mark_events_done: bool = False) -> list[int]:
        """:meth:`add_media` for several files in one transaction (a sync records its downloads in batches);
        returns their ``media.id`` in order."""
        ids: list[int] = []
        done: list[dict[str, Any]] = []
        now = self._clock()
        with self._writing() as connection:
            for record in records:
                ids.append(self._add_media(connection, record, now))
                if mark_events_done and record.event_id is not None:
                    done.append({"e_id": record.event_id})
            if done:
                result = connection.execute(_MEDIA_DONE, [dict(entry, e_now=now) for entry in done])
                if result.rowcount != len(done):  # some drivers report no count for executemany: check
                    known = self._known_events(connection, [entry["e_id"] for entry in done])
                    missing = [entry["e_id"] for entry in done if entry["e_id"] not in known]
                    if missing:
                        raise UnknownEventError(missing[0])
        return ids

    def _known_events(self, connection: Connection, event_ids: list[str]) -> set[str]:
        return set(connection.scalars(select(_EVENT_TABLE.c.id).where(_EVENT_TABLE.c.id.in_(event_ids))))

    def _add_media(self, connection: Connection, record: MediaRecord, now: datetime) -> int:
        values: dict[str, Any] = {
            "event_id": record.event_id, "device_id": record.device_id, "kind": MediaKind(record.kind).value,
            "path": record.path, "bytes": record.bytes, "sha256": record.sha256,
            "content_type": record.content_type, "validated": record.validated, "captured_at": record.captured_at,
            "downloaded_at": record.downloaded_at or now,
        }  # fmt: skip
        # The usual case, a new file: one INSERT that touches nothing when the path or the event is known.
        inserted = connection.execute(self._media_insert_new, values)
        if inserted.rowcount == 1 and inserted.inserted_primary_key is not None:
            return int(inserted.inserted_primary_key[0])
        find = {"m_path": record.path, "m_event": record.event_id, "m_kind": values["kind"]}
        found = connection.execute(_MEDIA_FIND, find).all()
        by_path = next((row for row in found if row.path == record.path), None)
        by_event = next((row for row in found if record.event_id is not None and row.event_id == record.event_id
                         and row.path != record.path), None)  # fmt: skip
        if by_path is not None and by_event is not None:
            raise ValueError(
                f"{record.path!r} is already stored for another media row than {values['kind']} of event "
                f"{record.event_id}"
            )
        row = by_event or by_path
        if row is None:
            key = connection.execute(_MEDIA_INSERT, values).inserted_primary_key
            assert key is not None
            return int(key[0])
        connection.execute(_MEDIA_UPDATE, {**values, "m_id": int(row.id)})
        return int(row.id)

    def get_media(self, media_id: int) -> StoredMedia | None:
        """One media row by id."""
        with self._read() as session:
            row = session.get(Media, media_id)
            return None if row is None else _media_out(row)

    def media_for_event(self, event_id: str) -> list[StoredMedia]:
        """The media rows of an event (recording, snapshot)."""
        with self._read() as session:
            rows = session.scalars(select(Media).where(Media.event_id == event_id).order_by(Media.kind)).all()
            return [_media_out(row) for row in rows]

    def mark_event_media(
        self,
        event_id: str,
        status: MediaStatus | str,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        *,
        failures: int | None = None,
    ) -> None:
        """Record the outcome of one attempt to fetch an event's recording (``media_attempts`` + 1).

        ``pending`` (not ready yet) and ``failed`` (with ``error``) are tried again at ``next_attempt_at``
        (``None``: on the next run); ``failures`` sets ``media_failures``, the failed runs in a row (kept as it is
        when ``None``; ``done`` resets it). ``done``, ``given_up`` and ``no_media`` end the retries. Raises
        :class:`UnknownEventError`.
        """
        status = MediaStatus(status)
        with self._writing() as connection:
            self._set_media_status(connection, event_id, status, error, next_attempt_at, failures)

    def _set_media_status(
        self,
        connection: Connection,
        event_id: str,
        status: MediaStatus,
        error: str | None,
        next_attempt_at: datetime | None,
        failures: int | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "media_status": status.value,
            "media_next_attempt_at": next_attempt_at if status in (MediaStatus.PENDING, MediaStatus.FAILED) else None,
            "media_last_error": None if status is MediaStatus.DONE else error,
            "updated_at": self._clock(),
        }
        if status is MediaStatus.DONE:
            values["media_failures"] = 0
        elif failures is not None:
            values["media_failures"] = failures
        result = connection.execute(_MEDIA_STATE, {**values, "e_id": event_id})
        if result.rowcount == 0:
            raise UnknownEventError(event_id)

    # -- what a sync fetches, and where the recordings stand -------------------------------------------------

    def _due_query(
        self,
        columns: Sequence[Any],
        device_ids: Collection[int] | None,
        now: datetime,
        kinds: Collection[str] | None,
        windows: Mapping[int, tuple[datetime | None, datetime | None]] | None,
    ) -> Select[Any]:
        """``SELECT columns`` of the events whose recording is due at ``now`` (``pending`` or ``failed``, next
        attempt passed or unset), of ``device_ids``, of ``kinds``, inside each device's ``windows`` [since,
        until) (a device missing from ``windows`` is left out). The conditions run in the database on the
        ``media_status`` indexes: the cost follows the number of recordings not archived yet (in the window),
        never the archive's size."""
        due = Event.media_status.in_(_DUE_STATUSES)
        stmt = select(*columns).where(or_(Event.media_next_attempt_at.is_(None), Event.media_next_attempt_at <= now))
        if kinds is not None:
            stmt = stmt.where(Event.kind.in_(list(kinds)))
        if not windows:
            stmt = stmt.where(due)
            if device_ids is not None:
                stmt = stmt.where(Event.device_id.in_(list(device_ids)))
            return stmt
        # One arm per device, each a range on the (device_id, media_status, created_at) index.
        arms: list[ColumnElement[bool]] = []
        for device, (since, until) in windows.items():
            if device_ids is not None and device not in device_ids:
                continue
            bounds: list[ColumnElement[bool]] = [Event.device_id == device, due]
            if since is not None:
                bounds.append(Event.created_at >= since)
            if until is not None:
                bounds.append(Event.created_at < until)
            arms.append(and_(*bounds))
        return stmt.where(or_(*arms) if arms else false())

    def due_recordings(
        self,
        device_ids: Collection[int] | None = None,
        *,
        now: datetime | None = None,
        kinds: Collection[str] | None = None,
        windows: Mapping[int, tuple[datetime | None, datetime | None]] | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[DueRecording]:
        """The recordings a sync should fetch now, in one query (see :meth:`_due_query`), oldest first (or newest
        first), with what the download, its file name and its sidecar need."""
        stmt = self._due_query(_DUE_COLUMNS, device_ids, now or self._clock(), kinds, windows)
        order = (Event.created_at.desc(), Event.id.desc()) if newest_first else (Event.created_at, Event.id)
        stmt = stmt.order_by(*order)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._reading() as connection:
            return [_due_out(row) for row in connection.execute(stmt)]

    def count_due(
        self,
        device_ids: Collection[int] | None = None,
        *,
        now: datetime | None = None,
        kinds: Collection[str] | None = None,
        windows: Mapping[int, tuple[datetime | None, datetime | None]] | None = None,
    ) -> int:
        """How many recordings :meth:`due_recordings` would return (one ``COUNT``)."""
        stmt = self._due_query((func.count(),), device_ids, now or self._clock(), kinds, windows)
        with self._reading() as connection:
            return int(connection.execute(stmt).scalar_one())

    def media_state_counts(self, device_ids: Collection[int] | None = None) -> dict[MediaStatus, int]:
        """Events per ``media_status`` (of ``device_ids``, or all): one grouped count on the (device,
        media_status) index."""
        stmt = select(Event.media_status, func.count()).group_by(Event.media_status)
        if device_ids is not None:
            stmt = stmt.where(Event.device_id.in_(list(device_ids)))
        counts = dict.fromkeys(MediaStatus, 0)
        with self._reading() as connection:
            for status, count in connection.execute(stmt):
                counts[MediaStatus(status)] = int(count)
        return counts

    def failed_recordings(
        self,
        device_ids: Collection[int] | None = None,
        *,
        statuses: Collection[MediaStatus] = (MediaStatus.GIVEN_UP,),
        limit: int = 10,
    ) -> list[DueRecording]:
        """Recordings in ``statuses`` (default: given up), oldest first, with their last error (``limit`` rows)."""
        stmt = select(*_DUE_COLUMNS).where(Event.media_status.in_([MediaStatus(s).value for s in statuses]))
        if device_ids is not None:
            stmt = stmt.where(Event.device_id.in_(list(device_ids)))
        stmt = stmt.order_by(Event.created_at, Event.id).limit(limit)
        with self._reading() as connection:
            return [_due_out(row) for row in connection.execute(stmt)]

    def retry_failed(self, device_ids: Collection[int] | None = None) -> int:
        """Make every ``given_up`` or ``failed`` recording (of ``device_ids``, or all) due now, with its failure
        count reset (``ringvault sync --retry-failed``); returns how many."""
        stmt = update(Event).where(Event.media_status.in_((MediaStatus.GIVEN_UP.value, MediaStatus.FAILED.value)))
        if device_ids is not None:
            stmt = stmt.where(Event.device_id.in_(list(device_ids)))
        stmt = stmt.values(
            media_status=MediaStatus.PENDING.value, media_failures=0, media_next_attempt_at=None,
            updated_at=self._clock(),
        ).execution_options(synchronize_session=False)  # fmt: skip
        with self._write() as session:
            return int(getattr(session.execute(stmt), "rowcount", 0) or 0)

    def events_needing_media(
        self, device_id: int | None = None, now: datetime | None = None, limit: int | None = None
    ) -> list[PendingMedia]:
        """Events whose recording is due at ``now`` (default: the clock): ``pending`` or ``failed`` with the next
        attempt passed or unset, oldest first."""
        now = now or self._clock()
        stmt = self._due_query(
            (
                Event.id, Event.device_id, Event.created_at, Event.media_attempts, Event.media_next_attempt_at,
                Event.media_last_error,
            ),
            None if device_id is None else [device_id], now, None, None,
        )  # fmt: skip
        stmt = stmt.order_by(Event.created_at, Event.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as session:
            return [
                PendingMedia(
                    event_id=row.id,
                    device_id=row.device_id,
                    created_at=row.created_at,
                    attempts=row.media_attempts,
                    next_attempt_at=row.media_next_attempt_at,
                    last_error=row.media_last_error,
                )
                for row in session.execute(stmt)
            ]

    # -- sync state ------------------------------------------------------------------------------------------

    def get_sync_state(self, device_id: int) -> SyncState | None:
        """The sync progress of a device (``None`` before its first sync)."""
        with self._read() as session:
            row = session.get(SyncStateRow, device_id)
            return None if row is None else _sync_out(row)

    def sync_states(self, device_ids: Collection[int]) -> dict[int, SyncState]:
        """The sync progress of several devices in one query (devices never synced are left out)."""
        with self._read() as session:
            rows = session.scalars(select(SyncStateRow).where(SyncStateRow.device_id.in_(list(device_ids))))
            return {row.device_id: _sync_out(row) for row in rows}

    def set_watermark(
        self,
        device_id: int,
        *,
        newest_event_id: str | None = None,
        newest_created_at: datetime | None = None,
        oldest_event_id: str | None = None,
        oldest_created_at: datetime | None = None,
        synced_at: datetime | None = None,
        full_scan: bool = False,
        has_recordings: bool | None = None,
    ) -> SyncState:
        """Advance a device's sync state: the newest event only moves forward in time, the oldest reached only
        backward (a stale or partial run never loses progress). ``last_sync_at`` becomes ``synced_at`` (default
        now), and ``last_full_scan_at`` too when ``full_scan``; ``has_recordings`` (when given) notes whether the
        device has a Ring Protect plan. Returns the new state."""
        if (newest_event_id is None) != (newest_created_at is None):
            raise ValueError("newest_event_id and newest_created_at go together")
        if (oldest_event_id is None) != (oldest_created_at is None):
            raise ValueError("oldest_event_id and oldest_created_at go together")
        at = _utc(synced_at or self._clock())
        newest_created_at = _utc(newest_created_at) if newest_created_at is not None else None
        oldest_created_at = _utc(oldest_created_at) if oldest_created_at is not None else None
        with self._write() as session:
            row = session.get(SyncStateRow, device_id, with_for_update=True)
            if row is None:
                row = SyncStateRow(device_id=device_id)
                session.add(row)
            if newest_event_id is not None and newest_created_at is not None:
                current = (row.newest_created_at, row.newest_event_id or "")
                if row.newest_created_at is None or (newest_created_at, newest_event_id) > current:
                    row.newest_event_id, row.newest_created_at = newest_event_id, newest_created_at
            if oldest_event_id is not None and oldest_created_at is not None:
                current = (row.oldest_created_at, row.oldest_event_id or "")
                if row.oldest_created_at is None or (oldest_created_at, oldest_event_id) < current:
                    row.oldest_event_id, row.oldest_created_at = oldest_event_id, oldest_created_at
            row.last_sync_at = at
            if full_scan:
                row.last_full_scan_at = at
            if has_recordings is not None:
                row.has_recordings = has_recordings
            session.flush()
            return _sync_out(row)

    # -- overview --------------------------------------------------------------------------------------------

    def counts(self) -> Counts:
        """How many accounts, locations, devices, events and media the archive holds."""
        with self._read() as session:

            def count(model: type[Any]) -> int:
                return session.execute(select(func.count()).select_from(model)).scalar_one()

            by_status = session.execute(select(Event.media_status, func.count()).group_by(Event.media_status))
            media_bytes = session.execute(select(func.coalesce(func.sum(Media.bytes), 0))).scalar_one()
            return Counts(
                accounts=count(Account),
                locations=count(Location),
                devices=count(Device),
                events=count(Event),
                media=count(Media),
                media_bytes=int(media_bytes),
                media_by_status={str(key): int(value) for key, value in by_status},
            )


# -- conversions -------------------------------------------------------------------------------------------------


def _file_identity(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the archive stores aware datetimes only")
    return value.astimezone(UTC)


# Statements a download runs once per recording, built once (no expression building or cache key per call).
_MEDIA_TABLE = cast("Table", Media.__table__)
_EVENT_TABLE = cast("Table", Event.__table__)
_MEDIA_FIND = select(_MEDIA_TABLE.c.id, _MEDIA_TABLE.c.path, _MEDIA_TABLE.c.event_id).where(
    or_(
        _MEDIA_TABLE.c.path == bindparam("m_path"),
        and_(_MEDIA_TABLE.c.event_id == bindparam("m_event"), _MEDIA_TABLE.c.kind == bindparam("m_kind")),
    )
)
_MEDIA_INSERT = insert(_MEDIA_TABLE)
_MEDIA_UPDATE = update(_MEDIA_TABLE).where(_MEDIA_TABLE.c.id == bindparam("m_id"))
_MEDIA_DONE = (
    update(_EVENT_TABLE)
    .where(_EVENT_TABLE.c.id == bindparam("e_id"))
    .values(
        media_status=MediaStatus.DONE.value, media_attempts=_EVENT_TABLE.c.media_attempts + 1, media_failures=0,
        media_next_attempt_at=None, media_last_error=None, updated_at=bindparam("e_now"),
    )
)  # fmt: skip
#: SET media_attempts + 1 and the columns passed with the parameters.
_MEDIA_STATE = (
    update(_EVENT_TABLE)
    .where(_EVENT_TABLE.c.id == bindparam("e_id"))
    .values(media_attempts=_EVENT_TABLE.c.media_attempts + 1)
)


def _device_row(record: DeviceRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": record.id, "family": record.family, "kind": record.kind, "name": record.name,
        "location_id": record.location_id, "account_id": record.account_id, "model": record.model,
        "slug": record.slug, "raw": record.raw, "first_seen_at": now, "last_seen_at": now,
    }  # fmt: skip


#: What ``due_recordings`` and ``failed_recordings`` read (see ``_due_out``).
_DUE_COLUMNS = (
    Event.id, Event.device_id, Event.created_at, Event.kind, Event.answered, Event.duration_s, Event.person_detected,
    Event.detection_type, Event.media_status, Event.media_failures, Event.media_last_error,
)  # fmt: skip


def _due_out(row: Any) -> DueRecording:
    return DueRecording(
        id=row[0], device_id=row[1], created_at=row[2], kind=row[3], answered=row[4], duration_s=row[5],
        person_detected=row[6], detection_type=row[7], media_status=MediaStatus(row[8]), media_failures=row[9],
        media_last_error=row[10],
    )  # fmt: skip


def _event_row(device_id: int, record: EventRecord, now: datetime) -> dict[str, Any]:
    if record.created_at.tzinfo is None:
        raise ValueError(f"event {record.id}: created_at must be timezone-aware")
    return {
        "id": str(record.id), "device_id": device_id, "location_id": record.location_id, "kind": record.kind,
        "created_at": record.created_at, "duration_s": record.duration_s, "answered": record.answered,
        "favorite": record.favorite, "state": record.state, "person_detected": record.person_detected,
        "detection_type": record.detection_type, "cv_properties": record.cv_properties,
        "recording_status": record.recording_status, "raw": record.raw,
        "media_status": MediaStatus(record.media_status).value, "media_attempts": 0, "media_failures": 0,
        "media_next_attempt_at": None, "media_last_error": None, "first_seen_at": now, "updated_at": now,
    }  # fmt: skip


def _encode_cursor(created_at: datetime, event_id: str) -> str:
    payload = json.dumps([created_at.isoformat(), event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, event_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created_at = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursorError(f"invalid cursor {cursor!r}") from exc
    if created_at.tzinfo is None or not isinstance(event_id, str):
        raise InvalidCursorError(f"invalid cursor {cursor!r}")
    return created_at, event_id


def _device_out(row: Device) -> StoredDevice:
    return StoredDevice(
        id=row.id, family=row.family, kind=row.kind, name=row.name, model=row.model, slug=row.slug,
        location_id=row.location_id, account_id=row.account_id, raw=row.raw, first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
    )  # fmt: skip


def _event_out(row: Event) -> StoredEvent:
    return StoredEvent(
        id=row.id, device_id=row.device_id, location_id=row.location_id, kind=row.kind, created_at=row.created_at,
        duration_s=row.duration_s, answered=row.answered, favorite=row.favorite, state=row.state,
        person_detected=row.person_detected, detection_type=row.detection_type, cv_properties=row.cv_properties,
        recording_status=row.recording_status, raw=row.raw, media_status=MediaStatus(row.media_status),
        media_attempts=row.media_attempts, media_next_attempt_at=row.media_next_attempt_at,
        media_last_error=row.media_last_error, first_seen_at=row.first_seen_at, updated_at=row.updated_at,
        media_failures=row.media_failures,
    )  # fmt: skip


def _media_out(row: Media) -> StoredMedia:
    return StoredMedia(
        id=row.id, kind=MediaKind(row.kind), path=row.path, bytes=row.bytes, sha256=row.sha256,
        device_id=row.device_id, event_id=row.event_id, content_type=row.content_type, validated=row.validated,
        captured_at=row.captured_at, downloaded_at=row.downloaded_at,
    )  # fmt: skip


def _sync_out(row: SyncStateRow) -> SyncState:
    return SyncState(
        device_id=row.device_id, newest_event_id=row.newest_event_id, newest_created_at=row.newest_created_at,
        oldest_event_id=row.oldest_event_id, oldest_created_at=row.oldest_created_at, last_sync_at=row.last_sync_at,
        last_full_scan_at=row.last_full_scan_at, has_recordings=row.has_recordings,
    )  # fmt: skip
