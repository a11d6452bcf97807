"""The archive database's engine: which database (the SQLite file of the archive directory, or the PostgreSQL server
of ``RINGVAULT_DATABASE_URL``), and how its connections behave.

SQLite: WAL, foreign keys, a busy timeout, write transactions that take the lock up front (``BEGIN IMMEDIATE``).
PostgreSQL: the psycopg 3 driver (``pip install 'ringvault[postgres]'``), a pool whose connections are checked before
use (a server restart costs one reconnect, not a failed command), a connect timeout, the password registered with the
transport's redaction (it is never printed or logged), and text parameters made storable (PostgreSQL refuses the NUL
character that SQLite keeps; see :class:`_NulFreeText`). Writers need no global lock there: every read-then-write of
the store takes row locks or leans on ``ON CONFLICT`` (see ``store.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "BUSY_TIMEOUT_S",
    "DATABASE_URL_ENV",
    "DB_FILENAME",
    "WRITE_OPTION",
    "ArchiveDatabaseError",
    "archive_exists",
    "check_connection",
    "configured_database_url",
    "database_label",
    "default_archive_dir",
    "normalize_url",
    "postgres_engine",
    "redacted_url",
    "sqlite_engine",
]

DB_FILENAME = "archive.sqlite3"
BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "ringvault_write"
#: The archive's database when it is not the SQLite file of the archive directory (``postgresql+psycopg://...``).
DATABASE_URL_ENV = "RINGVAULT_DATABASE_URL"
#: Seconds to wait for a PostgreSQL server before saying it is unreachable.
CONNECT_TIMEOUT_S = 15
#: What a NUL character in text becomes on PostgreSQL (U+FFFD REPLACEMENT CHARACTER: visibly "something was here").
NUL_REPLACEMENT = "\ufffd"
_INSTALL_HINT = "pip install 'ringvault[postgres]'"


class ArchiveDatabaseError(RuntimeError):
    """The archive database cannot be used: the URL is wrong, the driver is missing, the server is unreachable or
    refuses the login. ``str()`` is one line saying what to do; the password never appears in it."""


def default_archive_dir() -> Path:
    """The platform data directory for the archive (e.g. ``~/.local/share/ringvault/archive``)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("ringvault")) / "archive"


def configured_database_url() -> str | None:
    """``RINGVAULT_DATABASE_URL`` (None when unset or blank: the archive directory's SQLite file)."""
    value = os.environ.get(DATABASE_URL_ENV, "").strip()
    return value or None


def archive_exists(archive_dir: Path) -> bool:
    """Whether there is an archive to read: always with a database URL (the server holds it), else when the
    directory has its SQLite file."""
    return configured_database_url() is not None or (Path(archive_dir).expanduser() / DB_FILENAME).exists()


def database_label(archive_dir: Path) -> str:
    """Where the archive's database is, for a person: the SQLite file, or the URL with its password masked."""
    url = configured_database_url()
    return redacted_url(url) if url is not None else str(Path(archive_dir).expanduser() / DB_FILENAME)


def normalize_url(url: str) -> URL:
    """The SQLAlchemy URL of ``url``; ``postgres://`` and ``postgresql://`` mean the psycopg 3 driver (the one
    ringvault installs), not SQLAlchemy's default psycopg2. Raises :class:`ArchiveDatabaseError`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ArchiveDatabaseError(
            f"{DATABASE_URL_ENV}: not a database URL; use postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ArchiveDatabaseError(
            f"the archive supports SQLite and PostgreSQL, not {backend}: use a postgresql+psycopg:// URL"
        )
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise ArchiveDatabaseError(
            f"the archive uses the psycopg 3 driver, not {parsed.get_driver_name()}: write postgresql+psycopg://..."
        )
    return parsed


def redacted_url(url: str | URL) -> str:
    """``url`` with its password masked (``***``), for messages and logs."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "(an unreadable database URL)"
    return parsed.render_as_string(hide_password=True)


def sqlite_engine(path: Path) -> Engine:
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
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def postgres_engine(url: str | URL) -> Engine:
    """An engine on the PostgreSQL database at ``url`` (not connected yet: see :func:`check_connection`)."""
    from ringvault.transport.redaction import register_secret

    parsed = normalize_url(url) if isinstance(url, str) else url
    register_secret(parsed.password if isinstance(parsed.password, str) else None)
    try:
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "ringvault"},
        )
    except ImportError:
        raise ArchiveDatabaseError(
            f"{DATABASE_URL_ENV} is a PostgreSQL URL but the psycopg driver is not installed: {_INSTALL_HINT}"
        ) from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.adapters.register_dumper(str, _nul_free_dumper())

    return engine


def check_connection(engine: Engine) -> None:
    """Connect once; an unreachable server or a refused login becomes one :class:`ArchiveDatabaseError` line."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        raise ArchiveDatabaseError(connection_error_line(exc, engine.url)) from None


def connection_error_line(exc: BaseException, url: URL | None = None) -> str:
    """One line for a PostgreSQL connection failure (libpq's message, its first line, redacted)."""
    from ringvault.transport.redaction import redact

    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    detail = lines[0] if lines else type(cause).__name__
    detail = detail.removeprefix("connection failed: ")
    if "failed: " in detail:  # 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'
        detail = detail.rsplit("failed: ", 1)[1]
    where = f" at {redacted_url(url)}" if url is not None else ""
    if "password authentication failed" in detail or "no password supplied" in detail:
        advice = "check the user and password in " + DATABASE_URL_ENV
    elif "does not exist" in detail:
        advice = "create the database (createdb) or fix its name in " + DATABASE_URL_ENV
    else:
        advice = "check that the PostgreSQL server is running and that " + DATABASE_URL_ENV + " names it"
    return redact(f"cannot use the archive database{where}: {detail}; {advice}")


_DUMPER: type[Any] | None = None


def _nul_free_dumper() -> type[Any]:
    """psycopg's default ``str`` dumper, except that NUL becomes :data:`NUL_REPLACEMENT`: PostgreSQL text cannot hold
    it, SQLite can, and Ring's text (names, kinds, records) is stored as received otherwise."""
    global _DUMPER
    if _DUMPER is None:
        from psycopg.types.string import StrDumperUnknown

        class _NulFreeText(StrDumperUnknown):
            def dump(self, obj: str) -> Any:
                return super().dump(obj.replace("\x00", NUL_REPLACEMENT) if "\x00" in obj else obj)

        _DUMPER = _NulFreeText
    return _DUMPER
