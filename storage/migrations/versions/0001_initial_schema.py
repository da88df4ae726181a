"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("episode_key", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "mention_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_seen", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.Column("acknowledged_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_open", ["episode_key", "closed_at"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_at", ["at"], unique=False)

    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
        sa.UniqueConstraint("name", name=op.f("uq_canned_replies_name")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_agent", sa.String(length=100), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_table(
        "hourly_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("sentiment_label", sa.String(length=10), nullable=False),
        sa.Column("source_key", sa.String(length=300), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sentiment_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hourly_stats")),
        sa.UniqueConstraint(
            "bucket",
            "platform",
            "sentiment_label",
            "source_key",
            name=op.f("uq_hourly_stats_bucket"),
        ),
    )
    op.create_table(
        "settings_kv",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings_kv")),
    )
    op.create_table(
        "sources",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "cursor",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("health_message", sa.Text(), nullable=True),
        sa.Column("token_state", sa.String(length=20), nullable=False),
        sa.Column("last_poll_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_item_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("items_total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sources")),
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("root_text", sa.Text(), nullable=True),
        sa.Column("root_author", sa.String(length=300), nullable=True),
        sa.Column("root_url", sa.Text(), nullable=True),
        sa.Column("root_created_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("root_is_own", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
        sa.UniqueConstraint("platform", "external_id", name=op.f("uq_threads_platform")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("target_key", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_notifications_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
        sa.UniqueConstraint("alert_id", "target_key", name=op.f("uq_alert_notifications_alert_id")),
    )
    op.create_table(
        "authors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("handle", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("followers", sa.BigInteger(), nullable=True),
        sa.Column("is_brand", sa.Boolean(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_authors_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authors")),
        sa.UniqueConstraint("platform", "external_id", name=op.f("uq_authors_platform")),
    )
    with op.batch_alter_table("authors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authors_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_authors_handle"), ["handle"], unique=False)

    op.create_table(
        "mentions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("source_key", sa.String(length=300), nullable=True),
        sa.Column("thread_pk", sa.Integer(), nullable=True),
        sa.Column("thread_id", sa.String(length=100), nullable=True),
        sa.Column("parent_id", sa.String(length=100), nullable=True),
        sa.Column("author_pk", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lang", sa.String(length=20), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("like_count", sa.Integer(), nullable=False),
        sa.Column("reply_count", sa.Integer(), nullable=False),
        sa.Column("repost_count", sa.Integer(), nullable=False),
        sa.Column("is_own", sa.Boolean(), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.Column("sentiment_label", sa.String(length=10), nullable=True),
        sa.Column("urgency", sa.Float(), nullable=True),
        sa.Column("urgency_reasons", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assignee", sa.String(length=100), nullable=True),
        sa.Column("first_response_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_pk"], ["authors.id"], name=op.f("fk_mentions_author_pk_authors")
        ),
        sa.ForeignKeyConstraint(
            ["thread_pk"], ["threads.id"], name=op.f("fk_mentions_thread_pk_threads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentions")),
        sa.UniqueConstraint("platform", "external_id", name=op.f("uq_mentions_platform")),
    )
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mentions_assignee"), ["assignee"], unique=False)
        batch_op.create_index("ix_mentions_author", ["author_pk", "created_at"], unique=False)
        batch_op.create_index("ix_mentions_created", ["created_at"], unique=False)
        batch_op.create_index("ix_mentions_inbox", ["is_own", "status", "urgency"], unique=False)
        batch_op.create_index(
            "ix_mentions_platform_created", ["platform", "created_at"], unique=False
        )
        batch_op.create_index("ix_mentions_thread", ["thread_pk", "created_at"], unique=False)

    op.create_table(
        "replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mention_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=True),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("queued_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=64), nullable=True),
        sa.Column("next_attempt_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("platform_id", sa.String(length=200), nullable=True),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["mention_pk"], ["mentions.id"], name=op.f("fk_replies_mention_pk_mentions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replies")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_replies_idempotency_key")),
    )
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.create_index("ix_replies_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_replies_mention", ["mention_pk"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index("ix_replies_mention")
        batch_op.drop_index("ix_replies_due")

    op.drop_table("replies")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_mentions_thread")
        batch_op.drop_index("ix_mentions_platform_created")
        batch_op.drop_index("ix_mentions_inbox")
        batch_op.drop_index("ix_mentions_created")
        batch_op.drop_index("ix_mentions_author")
        batch_op.drop_index(batch_op.f("ix_mentions_assignee"))

    op.drop_table("mentions")
    with op.batch_alter_table("authors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authors_handle"))
        batch_op.drop_index(batch_op.f("ix_authors_customer_id"))

    op.drop_table("authors")
    op.drop_table("alert_notifications")
    op.drop_table("users")
    op.drop_table("threads")
    op.drop_table("sources")
    op.drop_table("settings_kv")
    op.drop_table("hourly_stats")
    op.drop_table("customers")
    op.drop_table("canned_replies")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_at")

    op.drop_table("audit_log")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_open")

    op.drop_table("alerts")
