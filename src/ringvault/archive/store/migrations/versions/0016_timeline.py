"""The web UI's timeline: indexes that answer its pages and counts on a large archive without reading the events'
rows (bench/ui_timeline.py: 100,000 events).

- ``ix_events_timeline`` (created_at, id, device_id, kind, person_detected, detection_type): the newest-first walk of
  every filter, with the filter's columns in the index (rows are read only for the events shown), and the
  ``COUNT(*)`` of a kind or detection filter as a scan of the index instead of the table.
- ``ix_events_device_timeline`` (device_id, created_at, id, kind, person_detected, detection_type): the same for one
  device.
- ``ix_media_device_id_kind_captured_at``: a device's snapshots near an event's time (the timeline's images).

Revision ID: 0016_timeline
Revises: 0015_uidevices
Create Date: 2026-12-06 19:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016_timeline"
down_revision: str | None = "0015_uidevices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILTERS = ["kind", "person_detected", "detection_type"]


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_timeline", ["created_at", "id", "device_id", *_FILTERS], unique=False)
        batch_op.create_index("ix_events_device_timeline", ["device_id", "created_at", "id", *_FILTERS], unique=False)
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.create_index("ix_media_device_id_kind_captured_at", ["device_id", "kind", "captured_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index("ix_media_device_id_kind_captured_at")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_device_timeline")
        batch_op.drop_index("ix_events_timeline")
