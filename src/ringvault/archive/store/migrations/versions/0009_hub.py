"""Ring Alarm and Smart Lighting: the devices a location's hubs list (``hub_devices``, removed ones kept and marked),
the items of ``rs/history`` (``hub_history``, one row per item key and location), and how far each location's
history has been read (``hub_sync_state``).

Revision ID: 0009_hub
Revises: 0008_portability_subscriptions
Create Date: 2026-12-06 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_hub"
down_revision: str | None = "0008_portability_subscriptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hub_devices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("zid", sa.Text(), nullable=False),
        sa.Column("asset_uuid", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("device_type", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("type_label", sa.Text(), nullable=True),
        sa.Column("category_id", sa.BigInteger(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_devices")),
        sa.UniqueConstraint("location_id", "zid", name=op.f("uq_hub_devices_location_id_zid")),
    )
    op.create_table(
        "hub_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("item_key", sa.Text(), nullable=False),
        sa.Column("event_ms", sa.BigInteger(), nullable=False),
        sa.Column("time_source", sa.Text(), nullable=False),
        sa.Column("datatype", sa.Text(), nullable=True),
        sa.Column("zid", sa.Text(), nullable=True),
        sa.Column("impulse_types", sa.JSON(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("category IN ('alarm', 'beams')", name=op.f("ck_hub_history_category")),
        sa.CheckConstraint("time_source IN ('event', 'first_seen')", name=op.f("ck_hub_history_time_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_history")),
        sa.UniqueConstraint("location_id", "item_key", name=op.f("uq_hub_history_location_id_item_key")),
    )
    with op.batch_alter_table("hub_history", schema=None) as batch_op:
        batch_op.create_index("ix_hub_history_location_id_event_ms_id", ["location_id", "event_ms", "id"], unique=False)
        batch_op.create_index("ix_hub_history_event_ms_id", ["event_ms", "id"], unique=False)
        batch_op.create_index("ix_hub_history_zid", ["zid"], unique=False)
    op.create_table(
        "hub_sync_state",
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("complete_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("through_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("location_id", "category", name=op.f("pk_hub_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("hub_sync_state")
    with op.batch_alter_table("hub_history", schema=None) as batch_op:
        batch_op.drop_index("ix_hub_history_zid")
        batch_op.drop_index("ix_hub_history_event_ms_id")
        batch_op.drop_index("ix_hub_history_location_id_event_ms_id")
    op.drop_table("hub_history")
    op.drop_table("hub_devices")
