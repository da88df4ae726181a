"""rules: what the [[rules]] did to each item (routing marker, tags, priority, rule runs) and
the round robin state of teams

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
        "mention_routing",
        sa.Column("mention_pk", sa.Integer(), sa.ForeignKey(
            "mentions.id", name="fk_mention_routing_mention_pk_mentions"), nullable=False),
        sa.Column("evaluated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tags", storage.models.JSONType, nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("mention_pk", name="pk_mention_routing"),
    )
    op.create_table(
        "rule_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mention_pk", sa.Integer(), sa.ForeignKey(
            "mentions.id", name="fk_rule_runs_mention_pk_mentions"), nullable=False),
        sa.Column("rule", sa.String(length=80), nullable=False),
        sa.Column("actions", storage.models.JSONType, nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rule_runs"),
        sa.UniqueConstraint("mention_pk", "rule", name="uq_rule_runs_mention_pk"),
    )
    op.create_table(
        "team_turns",
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("last_member", sa.String(length=100), nullable=True),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team", name="pk_team_turns"),
    )


def downgrade() -> None:
    op.drop_table("team_turns")
    op.drop_table("rule_runs")
    op.drop_table("mention_routing")
