"""The web UI's devices page finds each device's newest snapshot with one index probe: ``media`` gets an index on
(device_id, kind, id). With only ``ix_media_device_id``, the probe walked back over every recording archived after
the device's newest snapshot (bench/ui_devices_page.py, 100,000 recordings archived after 20,000 snapshots, on a
2-core machine at load 11: without the index median 164-204 ms, p95 293-334 ms; with it 38-40 ms, p95 93-119 ms).

Revision ID: 0015_uidevices
Revises: 0014_uisync
Create Date: 2026-12-06 19:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015_uidevices"
down_revision: str | None = "0014_uisync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.create_index("ix_media_device_id_kind_id", ["device_id", "kind", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index("ix_media_device_id_kind_id")
