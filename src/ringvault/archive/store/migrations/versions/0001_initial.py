"""Initial archive schema: accounts, locations, devices, events, media, sync_state.

Written by Alembic autogenerate, reviewed: plain portable types only (no import of the models), so this revision
stays valid whatever the models become.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:25:48.807690
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_accounts_email")),
        sa.UniqueConstraint("profile_id", name=op.f("uq_accounts_profile_id")),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("time_zone", sa.Text(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_locations_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
    )
    op.create_index(op.f("ix_locations_account_id"), "locations", ["account_id"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("location_id", sa.Text(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("family", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("slug", sa.Text(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_devices_account_id_accounts")),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name=op.f("fk_devices_location_id_locations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    op.create_index(op.f("ix_devices_account_id"), "devices", ["account_id"], unique=False)
    op.create_index(op.f("ix_devices_location_id"), "devices", ["location_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=True),
        sa.Column("favorite", sa.Boolean(), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("person_detected", sa.Boolean(), nullable=True),
        sa.Column("detection_type", sa.Text(), nullable=True),
        sa.Column("cv_properties", sa.JSON(), nullable=True),
        sa.Column("recording_status", sa.Text(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("media_status", sa.Text(), nullable=False),
        sa.Column("media_attempts", sa.Integer(), nullable=False),
        sa.Column("media_next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("media_last_error", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "media_status IN ('pending', 'done', 'failed', 'no_media')", name=op.f("ck_events_media_status")
        ),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_events_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_created_at_id", "events", ["created_at", "id"], unique=False)
    op.create_index("ix_events_device_id_created_at", "events", ["device_id", "created_at"], unique=False)
    op.create_index(
        "ix_events_media_status_media_next_attempt_at",
        "events",
        ["media_status", "media_next_attempt_at"],
        unique=False,
    )

    op.create_table(
        "sync_state",
        sa.Column("device_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("newest_event_id", sa.Text(), nullable=True),
        sa.Column("newest_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("oldest_event_id", sa.Text(), nullable=True),
        sa.Column("oldest_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_scan_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_sync_state_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("device_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("validated", sa.Boolean(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('recording', 'snapshot')", name=op.f("ck_media_kind")),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_media_device_id_devices")),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_media_event_id_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("event_id", "kind", name=op.f("uq_media_event_id_kind")),
        sa.UniqueConstraint("path", name=op.f("uq_media_path")),
    )
    op.create_index(op.f("ix_media_device_id"), "media", ["device_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_media_device_id"), table_name="media")

    op.drop_table("media")
    op.drop_table("sync_state")
    op.drop_index("ix_events_media_status_media_next_attempt_at", table_name="events")
    op.drop_index("ix_events_device_id_created_at", table_name="events")
    op.drop_index("ix_events_created_at_id", table_name="events")

    op.drop_table("events")
    op.drop_index(op.f("ix_devices_location_id"), table_name="devices")
    op.drop_index(op.f("ix_devices_account_id"), table_name="devices")

    op.drop_table("devices")
    op.drop_index(op.f("ix_locations_account_id"), table_name="locations")

    op.drop_table("locations")
    op.drop_table("accounts")
