"""An index for the web UI's activity plots (issue 13): ``events (device_id, kind, created_at)`` covers the per-day
and hour × weekday counts (the GROUP BY reads the index only, never the rows with their JSON). (The snapshot gallery's
``media (device_id, kind, captured_at)`` comes with the timeline's migration.)

Revision ID: 0017_activity
Revises: 0016_timeline
Create Date: 2026-12-06 19:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017_activity"
down_revision: str | None = "0016_timeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_events_device_id_kind_created_at"), "events", ["device_id", "kind", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_events_device_id_kind_created_at"), table_name="events")
