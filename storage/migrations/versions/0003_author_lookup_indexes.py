"""authors: indexes for linking customers by handle (any case) and by name

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_authors_handle", table_name="authors")
    op.create_index("ix_authors_handle_lower", "authors", [sa.text("lower(handle)")])
    op.create_index("ix_authors_name", "authors", ["name"])


def downgrade() -> None:
    op.drop_index("ix_authors_name", table_name="authors")
    op.drop_index("ix_authors_handle_lower", table_name="authors")
    op.create_index("ix_authors_handle", "authors", ["handle"])
