"""Run the archive's Alembic migrations from code: ``migrate(engine_or_url)`` upgrades to head.

The migration environment ships inside the package (``migrations/``); no ``alembic.ini`` is needed. Alembic itself
is imported only when a migration may be due: an archive already at :data:`HEAD_REVISION` (every run but the first
after an upgrade) is recognised with one plain ``SELECT`` (importing Alembic costs about half a second per command).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "UnknownSchemaError",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_at_head",
    "migrate",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest revision under ``migrations/versions`` (a test checks it against Alembic's own idea of the head):
#: update it with every new migration.
HEAD_REVISION = "0018_event_feed"
#: The PostgreSQL advisory lock that serialises migrations of one database (an arbitrary constant of ours).
MIGRATION_LOCK_KEY = 0x52564D4947  # "RVMIG"


class UnknownSchemaError(RuntimeError):
    """The database is at a schema revision this version of ringvault does not know (made by a newer one)."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations (``url`` only for command-line style use)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run(engine_or_url: Engine | str, action: str, revision: str) -> None:
    engine = create_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # SQLite changes a constraint by rebuilding the table (Alembic's batch mode), and DROP TABLE of a
                # table that others reference fails while foreign keys are enforced. The pragma is a no-op inside a
                # transaction, so it is set before the migration's transaction begins, on the raw connection.
                _sqlite_pragma(connection, "foreign_keys=OFF")
            try:
                with connection.begin():
                    if connection.dialect.name == "postgresql":
                        # Several processes (serve, workers, a CLI command) may open a new database at once: the
                        # first migrates, the others wait here and then find it at head (PostgreSQL's DDL is
                        # transactional, so the lock is held until the whole migration commits).
                        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
                    changed = _migrate_in_transaction(connection, action, revision)
                    if sqlite and changed:  # a full scan: not on every open of an archive already at head
                        _check_foreign_keys(connection)
            finally:
                if sqlite:
                    _sqlite_pragma(connection, "foreign_keys=ON")
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def _migrate_in_transaction(connection: Connection, action: str, revision: str) -> bool:
    """Run the migration; whether it changed the schema revision."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    context = MigrationContext.configure(connection)
    current = context.get_current_heads()
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        raise UnknownSchemaError(
            f"the archive database is at schema revision {', '.join(unknown)}, which this version of "
            "ringvault does not know; upgrade ringvault to open it"
        )
    config = alembic_config()
    config.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)
    return context.get_current_heads() != current


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    cursor = connection.connection.cursor()  # the DBAPI connection: no transaction is begun for it
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    """With enforcement off during the migration, make sure it left every reference intact (else roll back)."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise RuntimeError(
            f"the schema migration would leave {len(broken)} broken reference(s) in {', '.join(tables)}; "
            "it was rolled back and the archive is unchanged"
        )


def is_at_head(engine: Engine) -> bool:
    """Whether the database is at :data:`HEAD_REVISION`, read with plain SQL (no Alembic import)."""
    try:
        with engine.connect() as connection:
            versions = [row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")]
    except DBAPIError:  # no alembic_version table yet: a new database
        return False
    return versions == [HEAD_REVISION]


def migrate(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: the newest). A database already there is left untouched."""
    if revision == "head" and isinstance(engine_or_url, Engine) and is_at_head(engine_or_url):
        return
    _run(engine_or_url, "upgrade", revision)


def downgrade(engine_or_url: Engine | str, revision: str) -> None:
    """Downgrade the database to ``revision`` (``"base"`` drops every archive table)."""
    _run(engine_or_url, "downgrade", revision)


def head_revision() -> str | None:
    """The newest revision shipped with this version of ringvault, as Alembic reads the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
