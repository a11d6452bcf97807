"""The local archive: every video, snapshot and event of a Ring account, kept incrementally and resumably.

- ``ringvault.archive.store``: the database (SQLAlchemy 2 models, Alembic migrations, ``ArchiveStore``).
- ``ringvault.archive.layout``: where each file goes (configurable template, sanitized names).
- ``ringvault.archive.files``: temp name -> fsync -> validate -> rename, and clean-up of partial files.
- ``ringvault.archive.validate``: MP4 box structure / JPEG decode checks; error bodies are never media.
- ``ringvault.archive.sidecar``: the per-event JSON sidecar (seed 001's fields and more).
"""
