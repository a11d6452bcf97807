"""An index for the web UI's Sync page (issue 13): ``events (media_status, created_at, id)`` lists the recordings of one
state (pending, failed, given up) newest first in keyset pages straight from the index — without it, every page of
an archive synced with ``--metadata-only`` (every recording pending) sorted all of them first.

Revision ID: 0014_uisync
Revises: 0009_hub
Create Date: 2026-12-06 19:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014_uisync"
down_revision: str | None = "0009_hub"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_events_media_status_created_at_id"), "events", ["media_status", "created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_events_media_status_created_at_id"), table_name="events")
