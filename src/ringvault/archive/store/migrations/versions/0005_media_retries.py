"""Recordings are retried: ``events.media_failures`` counts the runs a recording failed in a row, ``given_up`` is
the state after too many; ``sync_state.has_recordings`` notes whether a device had a Ring Protect plan on its last
sync (a plan that appears makes the next run re-read the device's history once).

Recordings an older ringvault marked ``failed`` (never retried then) become due on the next run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "media_status IN ('pending', 'done', 'failed', 'no_media')"
_NEW = "media_status IN ('pending', 'done', 'failed', 'given_up', 'no_media')"


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint(op.f("ck_events_media_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_events_media_status"), _NEW)
        batch_op.create_index(
            "ix_events_device_id_media_status_created_at", ["device_id", "media_status", "created_at"], unique=False
        )
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("has_recordings", sa.Boolean(), nullable=True))
    # An older ringvault never retried a failed recording: make every one of them due on the next run.
    op.execute("UPDATE events SET media_failures = 1, media_next_attempt_at = NULL WHERE media_status = 'failed'")


def downgrade() -> None:
    op.execute("UPDATE events SET media_status = 'failed' WHERE media_status = 'given_up'")
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.drop_column("has_recordings")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_device_id_media_status_created_at")
        batch_op.drop_constraint(op.f("ck_events_media_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_events_media_status"), _OLD)
        batch_op.drop_column("media_failures")
