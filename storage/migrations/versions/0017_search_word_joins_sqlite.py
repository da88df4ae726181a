"""search word joins on SQLite: the index of where words meet, for phrases of common words

SQLite's FTS5 trigram phrase query finds a rare phrase of common words ("rude smoke
lounge") exactly, but reads the positions of every trigram of it, each in half the rows:
over 100 ms of CPU at a million mentions. The word joins of migration 0016 (for every two
words next to each other, the last three characters of the first and the first three of
the second) narrow it in a few milliseconds. Here they are an FTS5 table without content
or positions (`mention_joins`), one token per join, filled with the trigram index by
`storage.search.catch_up` from its own watermark (0 here: the listener job fills it for
the mentions already stored; until it has caught up, searches use the trigram index).

Created only where the trigram index is (FTS5 available); PostgreSQL: nothing.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLE = "mention_joins"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or not bind.execute(sa.text(
            "SELECT 1 FROM sqlite_master WHERE name = 'mention_search'")).first():
        return
    bind.execute(sa.text(f"CREATE VIRTUAL TABLE {TABLE} USING fts5(joins, content='', "
                         "detail='none', columnsize=0)"))
    bind.execute(sa.text(
        f"INSERT INTO search_watermarks (name, indexed_to) VALUES ('{TABLE}', 0)"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
    op.execute(f"DELETE FROM search_watermarks WHERE name = '{TABLE}'")
