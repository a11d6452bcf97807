"""The archive database's engine: where the SQLite file is, and how its connections behave (WAL, foreign keys,
a busy timeout, write transactions that take the lock up front)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import ConnectionPoolEntry

DB_FILENAME = "archive.sqlite3"
BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "ringvault_write"


def default_archive_dir() -> Path:
    """The platform data directory for the archive (e.g. ``~/.local/share/ringvault/archive``)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("ringvault")) / "archive"


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
