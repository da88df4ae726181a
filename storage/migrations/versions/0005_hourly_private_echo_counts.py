"""hourly private and echo counts: how many of each hour's items are private messages and
echoes, backfilled from the stored mentions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_mentions = sa.table(
    "mentions",
    sa.column("created_at", storage.models.UTCDateTime(timezone=True)),
    sa.column("platform", sa.String()), sa.column("sentiment_label", sa.String()),
    sa.column("source_key", sa.String()), sa.column("visibility", sa.String()),
    sa.column("is_echo", sa.Boolean()), sa.column("is_own", sa.Boolean()),
)
_hourly = sa.table(
    "hourly_stats",
    sa.column("bucket", storage.models.UTCDateTime(timezone=True)),
    sa.column("platform", sa.String()), sa.column("sentiment_label", sa.String()),
    sa.column("source_key", sa.String()), sa.column("private_count", sa.Integer()),
    sa.column("echo_count", sa.Integer()),
)
_Key = tuple[datetime, str, str, str]


def _backfill() -> None:
    """Count the private messages and echoes already stored into their hours' rows (the same
    buckets `storage.trends.add_to_hourly` counted them in). Only those items are read, and
    until now few were stored, so this stays quick on a large store."""
    bind = op.get_bind()
    private: Counter[_Key] = Counter()
    echoes: Counter[_Key] = Counter()
    rows = bind.execute(
        sa.select(_mentions.c.created_at, _mentions.c.platform, _mentions.c.sentiment_label,
                  _mentions.c.source_key, _mentions.c.visibility, _mentions.c.is_echo)
        .where(_mentions.c.is_own.is_(False),
               sa.or_(_mentions.c.visibility == "private", _mentions.c.is_echo.is_(True)))
    )
    for created, platform, label, source_key, visibility, is_echo in rows:
        bucket = created.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        key = (bucket, platform, label or "neutral", source_key or "")
        private[key] += visibility == "private"
        echoes[key] += bool(is_echo)
    for key in private.keys() | echoes.keys():
        bucket, platform, label, source_key = key
        bind.execute(
            _hourly.update()
            .where(_hourly.c.bucket == bucket, _hourly.c.platform == platform,
                   _hourly.c.sentiment_label == label, _hourly.c.source_key == source_key)
            .values(private_count=private[key], echo_count=echoes[key])
        )


def upgrade() -> None:
    with op.batch_alter_table("hourly_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("private_count", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("echo_count", sa.Integer(), nullable=False,
                                      server_default="0"))
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("hourly_stats", schema=None) as batch_op:
        batch_op.drop_column("echo_count")
        batch_op.drop_column("private_count")
