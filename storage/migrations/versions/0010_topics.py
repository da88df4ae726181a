"""topics: the stored topic model, agents' topic corrections, hourly counts per topic

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topic_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_models")),
    )
    op.create_table(
        "topic_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("previous", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="CASCADE",
                                name=op.f("fk_topic_corrections_mention_id_mentions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_corrections")),
        sa.UniqueConstraint("mention_id", name=op.f("uq_topic_corrections_mention_id")),
    )
    op.create_table(
        "hourly_topic_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("negative_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hourly_topic_stats")),
        sa.UniqueConstraint("bucket", "topic", name=op.f("uq_hourly_topic_stats_bucket")),
    )


def downgrade() -> None:
    op.drop_table("hourly_topic_stats")
    op.drop_table("topic_corrections")
    op.drop_table("topic_models")
