"""search on PostgreSQL off the insert path: the trigram and word-join GIN indexes move from
`mentions` to a side table filled after ingest

Each listener page paid for both GIN indexes on `mentions` (trigrams of the text and
`carewatch_word_joins(text)`, a PL/pgSQL call per row): measured on 100k X mentions, 3.4 ms
of server CPU and 13 ms of wall time a page of 100, the largest share of storing it. As on
SQLite (migrations 0014, 0017), the indexes are now filled after ingest by the listener's
`search_index` job (`storage.search.catch_up`):

- `mention_search_texts (id, text)`: the text of every indexed mention, with the two GIN
  indexes (`ix_mention_search_texts_trgm`, `ix_mention_search_texts_joins`).
- `mention_search_pending (id)`: the mentions stored but not indexed yet, filled by a
  statement-level trigger on `mentions` (one insert of the statement's new ids, whatever
  path stored them). A watermark would not do here: PostgreSQL's ids are handed out before
  commit, so two listeners can commit them out of order. `catch_up` moves pending rows to
  the texts table; a search reads the index and checks the few pending ones by id, so its
  result is complete whether or not the job has caught up.

Where pg_trgm is missing (migration 0014 went on without it) the trigram index is left out
as before, and searches scan. SQLite: nothing.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TEXTS = "mention_search_texts"
PENDING = "mention_search_pending"
TRIGGER_FUNCTION = "carewatch_search_pending"


def _has_trgm(bind: sa.Connection) -> bool:
    return bool(bind.execute(sa.text(
        "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_mentions_text_trgm'")).first())


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    trgm = _has_trgm(bind)
    for sql in (
        f"CREATE TABLE {TEXTS} (id bigint PRIMARY KEY, text text NOT NULL)",
        f"CREATE TABLE {PENDING} (id bigint PRIMARY KEY)",
        f"""CREATE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {PENDING} (id) SELECT id FROM new_mentions;
  RETURN NULL;
END
$$""",
        f"CREATE TRIGGER trg_mentions_search_pending AFTER INSERT ON mentions "
        f"REFERENCING NEW TABLE AS new_mentions FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {TRIGGER_FUNCTION}()",
        f"INSERT INTO {TEXTS} (id, text) SELECT id, text FROM mentions",
        "DROP INDEX IF EXISTS ix_mentions_text_joins",
        "DROP INDEX IF EXISTS ix_mentions_text_trgm",
        f"CREATE INDEX ix_{TEXTS}_joins ON {TEXTS} USING gin (carewatch_word_joins(text))",
    ):
        bind.execute(sa.text(sql))
    if trgm:
        bind.execute(sa.text(
            f"CREATE INDEX ix_{TEXTS}_trgm ON {TEXTS} USING gin (text gin_trgm_ops)"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    trgm = bool(bind.execute(sa.text(
        f"SELECT 1 FROM pg_indexes WHERE indexname = 'ix_{TEXTS}_trgm'")).first())
    for sql in (
        "DROP TRIGGER IF EXISTS trg_mentions_search_pending ON mentions",
        f"DROP FUNCTION IF EXISTS {TRIGGER_FUNCTION}()",
        f"DROP TABLE IF EXISTS {PENDING}",
        f"DROP TABLE IF EXISTS {TEXTS}",
        "CREATE INDEX ix_mentions_text_joins ON mentions USING gin (carewatch_word_joins(text))",
    ):
        bind.execute(sa.text(sql))
    if trgm:
        bind.execute(sa.text(
            "CREATE INDEX ix_mentions_text_trgm ON mentions USING gin (text gin_trgm_ops)"))
