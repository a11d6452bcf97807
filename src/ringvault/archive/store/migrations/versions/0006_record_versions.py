"""Data Portability records have versions: the current one per (grant, data set, key) and the earlier ones as history.

- ``portability_records``: ``version``, ``is_current``, ``fingerprint`` and ``content_hash`` (what tells a changed
  record from the same one), ``last_seen_at``/``last_query_id`` (the last export that contained it), ``superseded_at``
  and ``key_scheme``. The unique (grant, data set, key) becomes unique among current rows (a partial index); earlier
  versions have their own partial index (grant, data set, key, version), so each row is in one index.
- ``portability_grants.key_scheme``: how the grant's record keys were computed.
- ``portability_files``: ``name`` (the object key Ring gave the data file) and ``recognised_by``.

Every existing record becomes the current version 1 of itself, seen last when it was imported, keyed with scheme 1
(the keys of the ringvault that imported it). Existing grants get ``key_scheme`` 1: before the next import of a grant,
the importer re-keys its rows with the natural keys of scheme 2 (``ringvault.portability.importer.identity``, which
knows the data sets; a migration must not import it), so a re-export after the upgrade matches them instead of
duplicating them. Nothing is deleted.

Revision ID: 0006_record_versions
Revises: 0005
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_record_versions"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("portability_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("is_current", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("fingerprint", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("content_hash", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("last_query_id", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("superseded_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("key_scheme", sa.Integer(), nullable=False, server_default="1"))
    op.execute("UPDATE portability_records SET last_seen_at = imported_at, last_query_id = query_id")
    with op.batch_alter_table("portability_records", schema=None) as batch_op:
        batch_op.alter_column("last_seen_at", existing_type=_TS, nullable=False)
        batch_op.drop_constraint(op.f("uq_portability_records_grant_id_dataset_record_key"), type_="unique")
        batch_op.create_index(
            "ix_portability_records_history",
            ["grant_id", "dataset", "record_key", "version"],
            unique=False,
            sqlite_where=sa.text("NOT is_current"),
            postgresql_where=sa.text("NOT is_current"),
        )
        batch_op.create_index(
            "ux_portability_records_current",
            ["grant_id", "dataset", "record_key"],
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )
    with op.batch_alter_table("portability_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_scheme", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("portability_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("recognised_by", sa.Text(), nullable=True))


def downgrade() -> None:
    # Back to one row per key: the history goes (the current versions stay, as the older ringvault expects).
    op.execute("DELETE FROM portability_records WHERE NOT is_current")
    with op.batch_alter_table("portability_files", schema=None) as batch_op:
        batch_op.drop_column("recognised_by")
        batch_op.drop_column("name")
    with op.batch_alter_table("portability_grants", schema=None) as batch_op:
        batch_op.drop_column("key_scheme")
    with op.batch_alter_table("portability_records", schema=None) as batch_op:
        batch_op.drop_index("ux_portability_records_current")
        batch_op.drop_index("ix_portability_records_history")
        batch_op.create_unique_constraint(
            op.f("uq_portability_records_grant_id_dataset_record_key"), ["grant_id", "dataset", "record_key"]
        )
        batch_op.drop_column("key_scheme")
        batch_op.drop_column("superseded_at")
        batch_op.drop_column("last_query_id")
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("content_hash")
        batch_op.drop_column("fingerprint")
        batch_op.drop_column("is_current")
        batch_op.drop_column("version")
