"""Data Portability: a grant can be ``refused`` (its token works, but Ring refused the last export: a one-time
authorization already used, or an account on hold).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('active', 'revoked', 'expired')"
_NEW = "status IN ('active', 'revoked', 'expired', 'refused')"


def upgrade() -> None:
    with op.batch_alter_table("portability_grants", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_portability_grants_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_portability_grants_status"), _NEW)


def downgrade() -> None:
    op.execute("UPDATE portability_grants SET status = 'active' WHERE status = 'refused'")
    with op.batch_alter_table("portability_grants", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_portability_grants_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_portability_grants_status"), _OLD)
