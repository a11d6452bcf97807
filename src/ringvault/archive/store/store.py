"""``ArchiveStore``: the archive database (SQLite by default, PostgreSQL through ``open_url``).

Every write is idempotent: accounts, locations, devices and events are upserted with the dialect's
``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL both have it), media are keyed by path and by
(event, kind). Re-running a sync never duplicates a row.

On SQLite the store uses WAL (readers never block the writer), foreign keys, a busy timeout, and write transactions
that start with ``BEGIN IMMEDIATE`` so that two writers wait for each other instead of failing with "database is
locked".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import ColumnElement, Engine, Table, and_, case, create_engine, func, literal, or_, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ringvault.archive.store.engine import (
    DB_FILENAME,
    WRITE_OPTION,
    ArchiveDatabaseError,
    check_connection,
    configured_database_url,
    default_archive_dir,
    normalize_url,
    postgres_engine,
    sqlite_engine,
)
from ringvault.archive.store.migrate import migrate
from ringvault.archive.store.models import Account, Device, Event, Location, Media, utcnow
from ringvault.archive.store.recordings import RecordingQueue
from ringvault.archive.store.records import (
    AccountRecord,
    Counts,
    DeviceRecord,
    EventPage,
    EventRecord,
    LocationRecord,
    MediaKind,
    MediaRecord,
    MediaStatus,
    StoredDevice,
    StoredEvent,
    StoredMedia,
    UpsertResult,
)
from ringvault.archive.store.rows import (
    EVENT_TABLE,
    MEDIA_DONE,
    MEDIA_FIND,
    MEDIA_INSERT,
    MEDIA_STATE,
    MEDIA_TABLE,
    MEDIA_UPDATE,
    InvalidCursorError,
    decode_cursor,
    device_out,
    device_row,
    encode_cursor,
    event_out,
    event_row,
    file_identity,
    media_out,
)
from ringvault.archive.store.watermarks import SyncStates

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

    from ringvault.archive.store.feed import FeedStore
    from ringvault.archive.store.hub import HubStore
    from ringvault.archive.store.portability import PortabilityStore

__all__ = [
    "DB_FILENAME",
    "ArchiveDatabaseError",
    "ArchiveFileChangedError",
    "ArchiveStore",
    "InvalidCursorError",
    "UnknownEventError",
    "default_archive_dir",
]

_CHUNK = 500


class UnknownEventError(KeyError):
    """The event id is not in the archive."""


class ArchiveFileChangedError(RuntimeError):
    """The database file this store opened was deleted or replaced by another file while it was open: what was
    written since went into the old (unlinked) file."""


class ArchiveStore(RecordingQueue, SyncStates):
    """The archive database: typed, idempotent reads and writes over SQLAlchemy 2 sessions.

    Open it with :meth:`open` (a directory; SQLite) or :meth:`open_url` (any SQLAlchemy URL, e.g. PostgreSQL);
    both bring the schema to the newest revision. Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, engine: Engine, *, archive_dir: Path | None = None, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.archive_dir = archive_dir
        self._clock = clock
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self.db_path: Path | None = None
        """The SQLite file (``None`` for other databases)."""
        self._identity: tuple[int, int] | None = None

    # -- opening ---------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, archive_dir: Path, *, clock: Callable[[], datetime] = utcnow, database_url: str | None = None
    ) -> ArchiveStore:
        """Open (creating it if needed) the archive in ``archive_dir``, migrated to head.

        The database is ``database_url``, else ``RINGVAULT_DATABASE_URL`` (PostgreSQL: the files stay in
        ``archive_dir``), else ``archive.sqlite3`` in ``archive_dir``. Raises :class:`ArchiveDatabaseError` (one
        line) when a database URL cannot be used."""
        archive_dir = Path(archive_dir).expanduser()
        archive_dir.mkdir(parents=True, exist_ok=True)
        url = database_url or configured_database_url()
        if url is not None:
            return cls.open_url(url, archive_dir=archive_dir, clock=clock)
        store = cls(sqlite_engine(archive_dir / DB_FILENAME), archive_dir=archive_dir, clock=clock)
        store._note_file(archive_dir / DB_FILENAME)
        return store

    @classmethod
    def open_url(
        cls, url: str, *, archive_dir: Path | None = None, clock: Callable[[], datetime] = utcnow
    ) -> ArchiveStore:
        """Open the archive in the database at ``url`` (``postgresql+psycopg://...``, or ``sqlite:///path``),
        migrated to head. Raises :class:`ArchiveDatabaseError` (one line, no password) when the URL is wrong, the
        driver missing, or the server unreachable or refusing the login."""
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url.removeprefix("sqlite:///"))
            store = cls(sqlite_engine(path), archive_dir=archive_dir, clock=clock)
            store._note_file(path)
            return store
        parsed = normalize_url(url)
        if parsed.get_backend_name() == "sqlite":
            store = cls(create_engine(parsed), archive_dir=archive_dir, clock=clock)
        else:
            engine = postgres_engine(parsed)
            try:
                check_connection(engine)
            except BaseException:
                engine.dispose()
                raise
            store = cls(engine, archive_dir=archive_dir, clock=clock)
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    def _note_file(self, path: Path) -> None:
        """Migrate, then remember which file the database is (see :meth:`verify_file`)."""
        self.db_path = path
        self.migrate()
        self._identity = file_identity(path)

    def verify_file(self) -> None:
        """Raise :class:`ArchiveFileChangedError` when the database file was deleted or replaced since it was opened
        (SQLite would go on writing into the old, unlinked file and nothing would say so). A no-op for databases
        that are not a local file."""
        if self.db_path is None or self._identity is None:
            return
        try:
            identity = file_identity(self.db_path)
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
        return self._insert(MEDIA_TABLE).on_conflict_do_nothing()

    @cached_property
    def portability(self) -> PortabilityStore:
        """The Data Portability tables (grants, queries, files, records) of this archive."""
        from ringvault.archive.store.portability import PortabilityStore

        return PortabilityStore(self)

    @cached_property
    def feed(self) -> FeedStore:
        """The live feed's messages (``event_feed``: what ``GET /api/events/stream`` sent, for resuming)."""
        from ringvault.archive.store.feed import FeedStore

        return FeedStore(self)

    @cached_property
    def hub(self) -> HubStore:
        """The Ring Alarm and Smart Lighting tables (hub devices, ``rs/history`` items) of this archive."""
        from ringvault.archive.store.hub import HubStore

        return HubStore(self)

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
        rows = [device_row(record, now) for record in records]
        keep = ("kind", "name", "location_id", "account_id", "model", "slug", "raw")
        with self._writing() as connection:
            return self._upsert(connection, table, rows, keep=keep, replace_=("family", "last_seen_at"))

    def list_devices(self) -> list[StoredDevice]:
        """Every stored device, by location, name and id."""
        with self._read() as session:
            rows = session.scalars(select(Device).order_by(Device.location_id, Device.name, Device.id)).all()
            return [device_out(row) for row in rows]

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
        rows = [event_row(device_id, record, now) for record in events]
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
            return None if row is None else event_out(row)

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
            at, last_id = decode_cursor(cursor)
            if newest_first:
                conditions.append(or_(Event.created_at < at, and_(Event.created_at == at, Event.id < last_id)))
            else:
                conditions.append(or_(Event.created_at > at, and_(Event.created_at == at, Event.id > last_id)))
        order = (Event.created_at.desc(), Event.id.desc()) if newest_first else (Event.created_at, Event.id)
        with self._read() as session:
            rows = session.scalars(select(Event).where(*conditions).order_by(*order).limit(limit + 1)).all()
            events = [event_out(row) for row in rows[:limit]]
        next_cursor = encode_cursor(events[-1].created_at, events[-1].id) if len(rows) > limit else None
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
                result = connection.execute(MEDIA_DONE, [dict(entry, e_now=now) for entry in done])
                if result.rowcount != len(done):  # some drivers report no count for executemany: check
                    known = self._known_events(connection, [entry["e_id"] for entry in done])
                    missing = [entry["e_id"] for entry in done if entry["e_id"] not in known]
                    if missing:
                        raise UnknownEventError(missing[0])
        return ids

    def _known_events(self, connection: Connection, event_ids: list[str]) -> set[str]:
        return set(connection.scalars(select(EVENT_TABLE.c.id).where(EVENT_TABLE.c.id.in_(event_ids))))

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
        found = connection.execute(MEDIA_FIND, find).all()
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
            key = connection.execute(MEDIA_INSERT, values).inserted_primary_key
            assert key is not None
            return int(key[0])
        connection.execute(MEDIA_UPDATE, {**values, "m_id": int(row.id)})
        return int(row.id)

    def get_media(self, media_id: int) -> StoredMedia | None:
        """One media row by id."""
        with self._read() as session:
            row = session.get(Media, media_id)
            return None if row is None else media_out(row)

    def media_for_event(self, event_id: str) -> list[StoredMedia]:
        """The media rows of an event (recording, snapshot)."""
        with self._read() as session:
            rows = session.scalars(select(Media).where(Media.event_id == event_id).order_by(Media.kind)).all()
            return [media_out(row) for row in rows]

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
        result = connection.execute(MEDIA_STATE, {**values, "e_id": event_id})
        if result.rowcount == 0:
            raise UnknownEventError(event_id)

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
