"""reply doubt: why an earlier attempt may have reached the platform, and an index on the
platform ids reconciliation checks its candidates against

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_replies = sa.table("replies", sa.column("attempts", sa.Integer()),
                    sa.column("state", sa.String()), sa.column("doubt", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("doubt", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_replies_platform_id", ["platform_id"], unique=False)
    # A reply still waiting after an attempt was queued before the doubt was stored: its
    # earlier attempt may have arrived, so it is read back before any resend.
    op.execute(_replies.update()
               .where(_replies.c.attempts > 0, _replies.c.state.in_(("queued", "sending")))
               .values(doubt="unknown"))


def downgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index("ix_replies_platform_id")
        batch_op.drop_column("doubt")
