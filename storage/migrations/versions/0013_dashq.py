"""dashq: the inbox queue index covers the inbox filters

ix_mentions_inbox (is_own, status, urgency) becomes ix_mentions_queue (status, is_own,
urgency, created_at, platform, sentiment_label, visibility, assignee, lang, topic, id): the
queue walk keeps its order, and a filtered walk or count checks its filters in the index
(an index-only scan on PostgreSQL, hence the id) instead of reading each row of the table
(at a million mentions, counting one platform's open items read 300,000 rows through the
platform index). Status comes first so that the trend reads,
which say only `is_own = false`, find no prefix of it to walk on a SQLite store without
statistics (carewatch never runs ANALYZE).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

QUEUE_COLUMNS = ["status", "is_own", "urgency", "created_at", "platform", "sentiment_label",
                 "visibility", "assignee", "lang", "topic", "id"]


def upgrade() -> None:
    op.create_index("ix_mentions_queue", "mentions", QUEUE_COLUMNS)
    op.drop_index("ix_mentions_inbox", table_name="mentions")


def downgrade() -> None:
    op.create_index("ix_mentions_inbox", "mentions", ["is_own", "status", "urgency"])
    op.drop_index("ix_mentions_queue", table_name="mentions")
