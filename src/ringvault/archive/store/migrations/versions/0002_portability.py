"""Data Portability: grants, queries (the import lifecycle), listed files and imported records.

Written by Alembic autogenerate, reviewed: plain portable types only (no import of the models).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:05:28.521864
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portability_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("customer", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'revoked', 'expired')", name=op.f("ck_portability_grants_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portability_grants")),
        sa.UniqueConstraint(
            "brand", "client_id", "customer", name=op.f("uq_portability_grants_brand_client_id_customer")
        ),
    )
    op.create_table(
        "portability_queries",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("scope_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("datasets", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("records_imported", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('created', 'notified', 'listed', 'downloaded', 'imported', 'failed', 'canceled')",
            name=op.f("ck_portability_queries_state"),
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["portability_grants.id"], name=op.f("fk_portability_queries_grant_id_portability_grants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portability_queries")),
    )
    with op.batch_alter_table("portability_queries", schema=None) as batch_op:
        batch_op.create_index("ix_portability_queries_grant_id_state", ["grant_id", "state"], unique=False)

    op.create_table(
        "portability_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("event_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("query_id", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["portability_grants.id"], name=op.f("fk_portability_records_grant_id_portability_grants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portability_records")),
        sa.UniqueConstraint(
            "grant_id", "dataset", "record_key", name=op.f("uq_portability_records_grant_id_dataset_record_key")
        ),
    )
    with op.batch_alter_table("portability_records", schema=None) as batch_op:
        batch_op.create_index("ix_portability_records_dataset_event_date", ["dataset", "event_date"], unique=False)

    op.create_table(
        "portability_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("query_id", sa.Text(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('listed', 'downloaded', 'imported', 'failed')", name=op.f("ck_portability_files_state")
        ),
        sa.ForeignKeyConstraint(
            ["query_id"], ["portability_queries.id"], name=op.f("fk_portability_files_query_id_portability_queries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portability_files")),
        sa.UniqueConstraint("query_id", "ordinal", name=op.f("uq_portability_files_query_id_ordinal")),
    )


def downgrade() -> None:
    op.drop_table("portability_files")
    with op.batch_alter_table("portability_records", schema=None) as batch_op:
        batch_op.drop_index("ix_portability_records_dataset_event_date")

    op.drop_table("portability_records")
    with op.batch_alter_table("portability_queries", schema=None) as batch_op:
        batch_op.drop_index("ix_portability_queries_grant_id_state")

    op.drop_table("portability_queries")
    op.drop_table("portability_grants")
