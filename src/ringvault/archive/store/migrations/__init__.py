"""Alembic migration environment of the archive (``env.py``, ``script.py.mako``, ``versions/``)."""
