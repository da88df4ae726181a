"""search word joins: an index of where words meet, for phrases of common words

A trigram index cannot narrow a search for a rare phrase made of common words ("rude smoke
lounge"): every trigram of it is in a large share of the mentions. What is rare is the
order of the words. So each mention's *word joins* are indexed too: for every two words
next to each other, the last three characters of the first and the first three of the
second ("ude smo", "oke lou"). A phrase's joins are known from the term alone (the words
at its edges may be longer in the text, so their join counts only when three characters
of them are in the term), and every mention containing the phrase has them all.

- PostgreSQL: the function `carewatch_word_joins(text)` and a GIN index on it
  (`ix_mentions_text_joins`), kept by PostgreSQL. Words are runs of `[[:alnum:]]` in
  `lower(text)`: the folding ILIKE applies.
- SQLite: migration 0017 (an FTS5 table of the joins, computed by `storage.word_joins`).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

FUNCTION = "carewatch_word_joins"
INDEX = "ix_mentions_text_joins"

# plpgsql: an SQL function with an aggregate is not inlined and costs twice as much per row.
CREATE_FUNCTION = f"""
CREATE FUNCTION {FUNCTION}(t text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  words text[] := regexp_split_to_array(lower(t), '[^[:alnum:]]+');
  joins text[] := '{{}}';
BEGIN
  FOR i IN 1 .. coalesce(array_length(words, 1), 0) - 1 LOOP
    IF words[i] <> '' AND words[i + 1] <> '' THEN
      joins := joins || (right(words[i], 3) || ' ' || left(words[i + 1], 3));
    END IF;
  END LOOP;
  RETURN joins;
END
$$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.execute(sa.text(CREATE_FUNCTION))
    bind.execute(sa.text(f"CREATE INDEX {INDEX} ON mentions USING gin ({FUNCTION}(text))"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(text)")
