"""The local archive: every video, snapshot and event of a Ring account, kept incrementally and resumably.

``ringvault.archive.store`` is the database (SQLAlchemy 2 models, Alembic migrations, :class:`ArchiveStore`).
"""
