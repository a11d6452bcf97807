"""Data Portability: a listed file can be ``skipped`` (its data set was left out with ``--only``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "state IN ('listed', 'downloaded', 'imported', 'failed')"
_NEW = "state IN ('listed', 'downloaded', 'imported', 'skipped', 'failed')"


def upgrade() -> None:
    with op.batch_alter_table("portability_files", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_portability_files_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_portability_files_state"), _NEW)


def downgrade() -> None:
    op.execute("UPDATE portability_files SET state = 'listed' WHERE state = 'skipped'")
    with op.batch_alter_table("portability_files", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_portability_files_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_portability_files_state"), _OLD)
