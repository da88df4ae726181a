"""topics: each mention's best topic and confidence; the topics and language of canned replies

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("topic", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("topic_confidence", sa.Float(), nullable=True))
    op.create_index("ix_mentions_topic_created", "mentions", ["topic", "created_at"])
    with op.batch_alter_table("canned_replies") as batch:
        batch.add_column(sa.Column("topics", storage.models.JSONType, nullable=False,
                                   server_default="[]"))
        batch.add_column(sa.Column("lang", sa.String(length=20), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("canned_replies") as batch:
        batch.drop_column("lang")
        batch.drop_column("topics")
    op.drop_index("ix_mentions_topic_created", table_name="mentions")
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("topic_confidence")
        batch.drop_column("topic")
