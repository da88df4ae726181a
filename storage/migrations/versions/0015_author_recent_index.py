"""author_recent: the (author_pk, created_at) index also holds is_own

Each page the listener scores counts its authors' customers' recent mentions that are not
the brand's own (`storage.customers.recent_contacts`, repeat contact is an urgency signal).
With `is_own` only in the table, every counted mention was a row read from the table, a
cost that grew with each customer's history: at 100,000 mentions from 2,000 authors, 5,000
scattered rows per page. With it in the index the count reads the index alone (SQLite;
PostgreSQL where the visibility map allows). The index keeps its name and its first two
columns, so the customer history reads it as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_mentions_author", table_name="mentions")
    op.create_index("ix_mentions_author", "mentions", ["author_pk", "created_at", "is_own"])


def downgrade() -> None:
    op.drop_index("ix_mentions_author", table_name="mentions")
    op.create_index("ix_mentions_author", "mentions", ["author_pk", "created_at"])
