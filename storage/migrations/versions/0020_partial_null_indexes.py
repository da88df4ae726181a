"""partial null indexes: ix_mentions_assignee and ix_threads_case_mention_pk skip NULLs

Every mention arrives unassigned and every thread unlinked, and each one the listener
stored cost an entry (NULL, id) in these indexes that no read uses: the reads by agent
(`assignee = ?`, the export's `assignee IN (...)`) and by case (`case_mention_pk = ?`)
imply NOT NULL, so SQLite and PostgreSQL still take the partial indexes for them, and the
inbox's "unassigned" filter walks ix_mentions_queue, which holds the assignee. Measured
(callgrind, 4,000 mentions stored as the listener does): -0.7% of the instructions of
`upsert_mentions`, one b-tree fewer per row in the mentions and threads inserts.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

#: (index, table, column) of each index made partial.
INDEXES = (("ix_mentions_assignee", "mentions", "assignee"),
           ("ix_threads_case_mention_pk", "threads", "case_mention_pk"))


def upgrade() -> None:
    for index, table, column in INDEXES:
        op.drop_index(index, table_name=table)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(index, table, [column], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for index, table, column in INDEXES:
        op.drop_index(index, table_name=table)
        op.create_index(index, table, [column])
