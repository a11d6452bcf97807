"""Data Portability notifications: the SNS subscription confirmations a server received and what became of them, and
the regions notifications were accepted from (``portability_subscriptions``), so that status can say after a restart
whether Ring's notifications can arrive at all.

Revision ID: 0008_portability_subscriptions
Revises: 0007_portability_schedule
Create Date: 2026-12-11 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_portability_subscriptions"
down_revision: str | None = "0007_portability_schedule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portability_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("topic_arn", sa.Text(), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("subscribe_url", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('confirmation', 'notification')", name=op.f("ck_portability_subscriptions_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portability_subscriptions")),
    )
    with op.batch_alter_table("portability_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portability_subscriptions_client_id_received_at", ["client_id", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("portability_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_portability_subscriptions_client_id_received_at")
    op.drop_table("portability_subscriptions")
