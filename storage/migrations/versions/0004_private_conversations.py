"""private conversations: visibility and echoes on mentions, case links on threads, the
conversation a private message went to on replies

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visibility", sa.String(length=10), nullable=False,
                                      server_default="public"))
        batch_op.add_column(sa.Column("is_echo", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visibility", sa.String(length=10), nullable=False,
                                      server_default="public"))
        batch_op.add_column(sa.Column("case_mention_pk", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_threads_case_mention_pk"), ["case_mention_pk"],
                              unique=False)
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_ref", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_replies_conversation_ref"), ["conversation_ref"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replies_conversation_ref"))
        batch_op.drop_column("conversation_ref")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threads_case_mention_pk"))
        batch_op.drop_column("case_mention_pk")
        batch_op.drop_column("visibility")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_column("is_echo")
        batch_op.drop_column("visibility")
