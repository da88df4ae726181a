"""sources: lease holder and expiry, next due time and cursor version, so several listener
processes share the sources (one poller per source, once per interval, cursors only forward)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_holder", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("lease_until", storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("next_due_at", storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cursor_version", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("cursor_version")
        batch_op.drop_column("next_due_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_holder")
