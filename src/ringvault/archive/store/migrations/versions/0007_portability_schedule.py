"""Data Portability for an app with many customers: the app's API budgets (``portability_limits``: rate buckets, the
20-per-20-minutes create window, the daily list quota) and each customer's schedule (``portability_schedule``: the
next step, why it waits, the reserved create slot, the next recurring export), shared by every process of the app.

Revision ID: 0007_portability_schedule
Revises: 0006_record_versions
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_portability_schedule"
down_revision: str | None = "0006_record_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portability_limits",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("budget", sa.Text(), nullable=False),
        sa.Column("rate_tat", sa.Float(), nullable=False),
        sa.Column("recent", sa.JSON(), nullable=False),
        sa.Column("day", sa.Text(), nullable=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "operation", "budget", name=op.f("pk_portability_limits")),
    )
    op.create_table(
        "portability_schedule",
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Text(), nullable=True),
        sa.Column("arg", sa.Text(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("permit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recur_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["portability_grants.id"], name=op.f("fk_portability_schedule_grant_id_portability_grants")
        ),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_portability_schedule")),
    )
    with op.batch_alter_table("portability_schedule", schema=None) as batch_op:
        batch_op.create_index("ix_portability_schedule_step_due_at", ["step", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portability_schedule", schema=None) as batch_op:
        batch_op.drop_index("ix_portability_schedule_step_due_at")
    op.drop_table("portability_schedule")
    op.drop_table("portability_limits")
