"""author day counts: PostgreSQL's repeat-contact count without reading every recent mention

`storage.customers.recent_contacts` counts each customer's mentions of the last 7 days for
every page the listener scores (twice: before scoring and after the commit). It read each
of those mentions' index entries, and on PostgreSQL each one's heap row too (an index-only
scan needs the visibility map, which only VACUUM sets): at 100k X mentions the score-side
reads took 11.5 ms a page and grew with the store.

`author_day_counts (author_pk, day, count)`: how many mentions (not the brand's own) each
author has per UTC day, kept by statement-level triggers on `mentions` (insert, delete, and
updates of author_pk, created_at or is_own), one grouped upsert per statement. The count
stays exact: whole days after the window's first day from here, that first day's part from
the mentions index. SQLite reads its covering index without any heap and is left as it was.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLE = "author_day_counts"
FUNCTION = "carewatch_author_day_counts"


def _add(rows: str, sign: str) -> str:
    # Sorted, so two writers adding to the same days lock the rows in the same order.
    return (f"INSERT INTO {TABLE} AS c (author_pk, day, count) "
            f"SELECT author_pk, date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, "
            f"{sign}count(*) FROM {rows} WHERE author_pk IS NOT NULL AND NOT is_own "
            "GROUP BY 1, 2 ORDER BY 1, 2 "
            "ON CONFLICT (author_pk, day) DO UPDATE SET count = c.count + excluded.count;")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for sql in (
        f"CREATE TABLE {TABLE} (author_pk integer NOT NULL, day timestamp NOT NULL, "
        "count bigint NOT NULL, PRIMARY KEY (author_pk, day))",
        f"""CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    {_add('old_rows', '-')}
  ELSE
    {_add('new_rows', '')}
  END IF;
  RETURN NULL;
END
$$""",
        f"CREATE TRIGGER trg_mentions_author_days_ins AFTER INSERT ON mentions "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
        # Transition tables and column lists do not go together: a row trigger, run only
        # when a counted column changed (never, in carewatch today).
        f"""CREATE FUNCTION {FUNCTION}_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_add('(SELECT OLD.*) AS o', '-')}
  {_add('(SELECT NEW.*) AS n', '')}
  RETURN NULL;
END
$$""",
        "CREATE TRIGGER trg_mentions_author_days_upd AFTER UPDATE OF author_pk, created_at, "
        "is_own ON mentions FOR EACH ROW WHEN (OLD.author_pk IS DISTINCT FROM NEW.author_pk "
        "OR OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.is_own IS DISTINCT FROM "
        f"NEW.is_own) EXECUTE FUNCTION {FUNCTION}_moved()",
        f"CREATE TRIGGER trg_mentions_author_days_del AFTER DELETE ON mentions "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
        _add("mentions", "").rstrip(";"),
    ):
        bind.execute(sa.text(sql))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for suffix in ("ins", "upd", "del"):
        op.execute(f"DROP TRIGGER IF EXISTS trg_mentions_author_days_{suffix} ON mentions")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}_moved()")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
