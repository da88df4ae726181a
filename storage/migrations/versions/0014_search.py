"""search: trigram indexes for the inbox's text search

A text search checked every mention's text: at a million mentions a term that matches few
rows took seconds. `storage.search` asks a trigram index for candidates first:

- PostgreSQL: the pg_trgm extension and a GIN index on mentions.text
  (`ix_mentions_text_trgm`), built here and kept by PostgreSQL. Where the extension cannot
  be installed (no CREATE privilege on the database), the migration goes on without it and
  searches scan as before.
- SQLite (3.34 or newer; else searches scan): an FTS5 table with the trigram tokenizer over mentions.text (`mention_search`,
  external content, no triggers: the listener's inserts do not pay for it) and the
  `search_watermarks` row saying how far it has been filled. It is filled here for the
  mentions already stored; later ones are added by `storage.search.catch_up` (a listener
  job), and searches scan the ids above the watermark meanwhile.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLE = "mention_search"
INDEX = "ix_mentions_text_trgm"


def upgrade() -> None:
    op.create_table(
        "search_watermarks",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("indexed_to", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_search_watermarks")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _postgresql(bind)
    elif bind.dialect.name == "sqlite":
        _sqlite(bind)


def _postgresql(bind: sa.Connection) -> None:
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        warnings.warn(f"pg_trgm unavailable, text search will scan: {exc.orig}",
                      stacklevel=1)
        return
    savepoint.commit()
    bind.execute(sa.text(f"CREATE INDEX {INDEX} ON mentions USING gin (text gin_trgm_ops)"))


def _sqlite(bind: sa.Connection) -> None:
    try:
        bind.execute(sa.text(
            f"CREATE VIRTUAL TABLE {TABLE} USING fts5(text, content='mentions', "
            "content_rowid='id', tokenize='trigram')"))
    except sa.exc.OperationalError as exc:  # no FTS5, or no trigram tokenizer (< 3.34)
        warnings.warn(f"no FTS5 trigram index, text search will scan: {exc.orig}",
                      stacklevel=1)
        return
    # Built from the stored mentions in one pass; the watermark says they are in.
    bind.execute(sa.text(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('rebuild')"))
    bind.execute(sa.text(
        "INSERT INTO search_watermarks (name, indexed_to) "
        f"SELECT '{TABLE}', coalesce(max(id), 0) FROM mentions"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    elif bind.dialect.name == "sqlite":
        op.execute(f"DROP TABLE IF EXISTS {TABLE}")
    op.drop_table("search_watermarks")
