"""own replies by parent: a partial index on (platform, parent_id) of the brand's own items

X backfills newest first, so the brand's reply to a customer is often stored BEFORE the
customer's tweet it answers. Storing that tweet must then find the reply already stored
(`storage.brand_answers`): a look-up by (platform, parent_id) among the brand's own items.
Partial (`WHERE is_own`): only the brand's own items enter it, a small share of what the
listener stores, so a customer's mention costs no extra index entry at ingest.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

INDEX = "ix_mentions_own_parent"
# As SQLAlchemy renders a bare `WHERE mentions.is_own` on each backend, so the planners see
# the query's condition as the index's (SQLite keeps booleans as 0/1).
OWN_SQLITE = sa.text("is_own = 1")
OWN_POSTGRESQL = sa.text("is_own")


def upgrade() -> None:
    op.create_index(INDEX, "mentions", ["platform", "parent_id"],
                    sqlite_where=OWN_SQLITE, postgresql_where=OWN_POSTGRESQL)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="mentions")
