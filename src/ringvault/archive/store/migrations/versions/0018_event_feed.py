"""The live feed of ``GET /api/events/stream`` (``event_feed``): one row per message, with an id that only grows,
so that a client resumes with ``Last-Event-ID`` after a disconnect or a server restart.

Revision ID: 0018_event_feed
Revises: 0017_activity
Create Date: 2026-12-06 19:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_event_feed"
down_revision: str | None = "0017_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_feed",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_feed")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("event_feed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_feed_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_feed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_feed_created_at"))
    op.drop_table("event_feed")
