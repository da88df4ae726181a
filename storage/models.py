"""SQLAlchemy 2 models: the one schema behind every part of carewatch.

Alembic migrations in `storage/migrations/` create and upgrade it; nothing calls
`create_all` outside tests. Times are stored as UTC and always come back timezone-aware,
on SQLite as on PostgreSQL, so comparisons never mix naive and aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.audit_origin import current_via

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that is always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: The conditions of the partial indexes on columns every new row leaves NULL (migration
#: 0020): a stored mention or thread then costs no entry in them.
ASSIGNED = text("assignee IS NOT NULL")
CASE_LINKED = text("case_mention_pk IS NOT NULL")
#: The brand's own items only (migration 0023), as a bare `WHERE mentions.is_own` renders on
#: each backend: the look-up of own replies by parent (`storage.brand_answers`).
OWN_SQLITE = text("is_own = 1")
OWN_POSTGRESQL = text("is_own")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Every model here is mapped to a `Table` (no mapping onto a join or a select), so
    # `Model.__table__` is typed as one, which `update()` and `.c` need.
    __table__: ClassVar[Table]


class Customer(Base):
    """One person across platforms: authors on X, Facebook and Instagram link to one."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    last_agent: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    authors: Mapped[list[Author]] = relationship(back_populates="customer")


class Author(Base):
    """A platform account as the platform last described it."""

    __tablename__ = "authors"
    __table_args__ = (
        UniqueConstraint("platform", "external_id"),
        # Likely matches for a customer (never automatic links) look authors up by handle
        # (any case) and by name.
        Index("ix_authors_handle_lower", func.lower(text("handle"))),
        Index("ix_authors_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    handle: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(300))
    followers: Mapped[int | None] = mapped_column(BigInteger)
    is_brand: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="authors")


class CustomerMerge(Base):
    """Two customers found to be one person: `merged_id`'s authors moved into `customer_id`.

    Written by an agent's "Same person" (actor: the agent) or by platform evidence (actor:
    the router, e.g. a private reply to a comment that Meta answered with the commenter's
    PSID). The merged customer keeps its own row, notes and tags, so a split (`split_at`)
    gives `author_ids` back to it exactly; a split pair is never offered as a match again.
    """

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    author_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    reason: Mapped[str] = mapped_column(String(300))
    actor: Mapped[str] = mapped_column(String(100))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    split_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    split_by: Mapped[str | None] = mapped_column(String(100))


class Thread(Base):
    """A conversation: an X `conversation_id` or a Facebook/Instagram post or media, or a
    private conversation (an X DM conversation, a Messenger or Instagram Direct thread).

    `case_mention_pk` links a private conversation to the public mention an agent moved into
    it, so the customer's answer lands in the same case with the same agent.
    """

    __tablename__ = "threads"
    __table_args__ = (
        UniqueConstraint("platform", "external_id"),
        # Linked conversations only (migration 0020): a thread arrives unlinked, and its
        # only read, `case_mention_pk = ?`, implies NOT NULL.
        Index("ix_threads_case_mention_pk", "case_mention_pk", sqlite_where=CASE_LINKED,
              postgresql_where=CASE_LINKED),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    root_text: Mapped[str | None] = mapped_column(Text)
    root_author: Mapped[str | None] = mapped_column(String(300))
    root_url: Mapped[str | None] = mapped_column(Text)
    root_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    root_is_own: Mapped[bool] = mapped_column(Boolean, default=False)
    visibility: Mapped[str] = mapped_column(String(10), default="public",
                                            server_default="public")
    # A mentions.id; not a foreign key, because mentions already point at threads.
    case_mention_pk: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


#: ix_mentions_queue: the order of the queue walk, then every column the inbox filters on.
#: Status first: a query that only says `is_own = false` (every trend read does) must not
#: find a prefix of this index to walk.
QUEUE_INDEX_COLUMNS = ("status", "is_own", "urgency", "created_at", "platform",
                       "sentiment_label", "visibility", "assignee", "lang", "topic", "id")


class Mention(Base):
    """An inbound item, stored once per (platform, external_id) with its text as received.

    The brand's own posts, replies and messages are stored too (`is_own`), as conversation
    context; every query that lists mentions excludes them. Echoes (`is_echo`, e.g.
    retweets) are stored and counted but kept out of the queue. `visibility` is `public` or
    `private` (a direct message); private text is shown only to agents and managers.
    """

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("platform", "external_id"),
        # The queue walk (`storage.inbox`): per status by urgency, then created_at; the
        # inbox filters' columns follow so a filter or a count is checked in the index.
        Index("ix_mentions_queue", *QUEUE_INDEX_COLUMNS),
        Index("ix_mentions_created", "created_at"),
        Index("ix_mentions_platform_created", "platform", "created_at"),
        Index("ix_mentions_thread", "thread_pk", "created_at"),
        # is_own too, so counting a customer's recent mentions reads the index alone.
        Index("ix_mentions_author", "author_pk", "created_at", "is_own"),
        Index("ix_mentions_topic_created", "topic", "created_at"),
        # Assigned mentions only (migration 0020): every mention arrives unassigned, and
        # `assignee = ?` or `IN (...)` implies NOT NULL ("unassigned" walks the queue index).
        Index("ix_mentions_assignee", "assignee", sqlite_where=ASSIGNED,
              postgresql_where=ASSIGNED),
        # The brand's own items by what they reply to (migration 0023): a customer's item
        # stored after the brand's reply to it finds that reply (`storage.brand_answers`).
        Index("ix_mentions_own_parent", "platform", "parent_id", sqlite_where=OWN_SQLITE,
              postgresql_where=OWN_POSTGRESQL),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    source_key: Mapped[str | None] = mapped_column(String(300))
    thread_pk: Mapped[int | None] = mapped_column(ForeignKey("threads.id"))
    thread_id: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(String(100))
    author_pk: Mapped[int | None] = mapped_column(ForeignKey("authors.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lang: Mapped[str | None] = mapped_column(String(20))
    url: Mapped[str | None] = mapped_column(Text)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    repost_count: Mapped[int] = mapped_column(Integer, default=0)
    is_own: Mapped[bool] = mapped_column(Boolean, default=False)
    visibility: Mapped[str] = mapped_column(String(10), default="public",
                                            server_default="public")
    is_echo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    sentiment: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    urgency: Mapped[float | None] = mapped_column(Float)
    urgency_reasons: Mapped[str] = mapped_column(String(500), default="")
    # The item's best topic, None when no topic is confident (or none exist).
    topic: Mapped[str | None] = mapped_column(String(100))
    topic_confidence: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="new")
    assignee: Mapped[str | None] = mapped_column(String(100))
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[Author | None] = relationship()
    thread: Mapped[Thread | None] = relationship()


class Source(Base):
    """A configured thing to poll: its cursor and its health, kept between runs."""

    __tablename__ = "sources"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    health_message: Mapped[str | None] = mapped_column(Text)
    token_state: Mapped[str] = mapped_column(String(20), default="ok")
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_item_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    items_total: Mapped[int] = mapped_column(BigInteger, default=0)
    # Several listeners share the sources: the one holding an unexpired lease polls (times
    # are the database's clock), a source is polled again once `next_due_at` has passed,
    # and `cursor_version` grows with every stored cursor so a stale writer is refused.
    lease_holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cursor_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Reply(Base):
    """An outbound message: queued by the CLI or dashboard, sent once by the responder."""

    __tablename__ = "replies"
    __table_args__ = (
        Index("ix_replies_due", "state", "next_attempt_at"),
        Index("ix_replies_mention", "mention_pk"),
        Index("ix_replies_platform_id", "platform_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mention_pk: Mapped[int] = mapped_column(ForeignKey("mentions.id"))
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    agent: Mapped[str | None] = mapped_column(String(100))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    platform_id: Mapped[str | None] = mapped_column(String(200))
    target_id: Mapped[str | None] = mapped_column(String(200))
    # Where a private message went, as the platform names it: the X DM conversation id, or
    # the Messenger/Instagram recipient id. Links the private conversation that follows.
    conversation_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    # Why an earlier attempt may have reached the platform although it was not recorded as
    # sent (`responders.base.Doubt`): `timeout`, `server_error` (a 5xx) or `unknown` (the
    # connection dropped, or the responder died between counting the attempt and recording
    # it). None: no attempt can have reached the platform. Forces a read-back before a resend.
    doubt: Mapped[str | None] = mapped_column(String(20))

    mention: Mapped[Mention] = relationship()


class User(Base):
    """A dashboard user; the password is stored only as an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginThrottle(Base):
    """Failed logins per client (IP address or browser session) in a window of database
    time: a client over the limit is refused before any account is looked at."""

    __tablename__ = "login_throttle"

    client: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginSession(Base):
    """A dashboard login kept across browser reloads: the browser holds a random token in a
    cookie, only its sha256 is stored here (a leaked table logs no one in). Expires after
    the dashboard's idle timeout without use (`expires_at` slides with `last_seen_at`)."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Alert(Base):
    """A reputation-risk episode: one row per episode, extended while it stays open."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "episode_key", "closed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    episode_key: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    mention_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlertNotification(Base):
    """One alert on one notification target: sent once, retried with backoff until then."""

    __tablename__ = "alert_notifications"
    __table_args__ = (UniqueConstraint("alert_id", "target_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    target_key: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CannedReply(Base):
    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    text: Mapped[str] = mapped_column(Text)
    # Topics whose items suggestions may offer this reply to; lang "" means any language.
    topics: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default="[]")
    lang: Mapped[str] = mapped_column(String(20), default="", server_default="")


class AuditEntry(Base):
    """Who did what, when: replies, assignments, status changes, approvals, acknowledgements."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


@event.listens_for(AuditEntry, "before_insert")
def _stamp_origin(_mapper: Any, _connection: Any, entry: AuditEntry) -> None:
    """Every audit row written under `audit_origin.acting_via` says where it came from."""
    via = current_via()
    if via is not None:
        entry.details = {**(entry.details or {}), "via": via}


class HourlyStat(Base):
    """Pre-aggregated mention counts per hour, platform and sentiment, for trend pages.

    `count` covers every item but the brand's own; `private_count` and `echo_count` are the
    parts of it that are private messages and echoes (retweets), so a trend page can chart
    private volume without ever reading a private text.
    """

    __tablename__ = "hourly_stats"
    __table_args__ = (UniqueConstraint("bucket", "platform", "sentiment_label", "source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime)
    platform: Mapped[str] = mapped_column(String(20))
    sentiment_label: Mapped[str] = mapped_column(String(10))
    source_key: Mapped[str] = mapped_column(String(300), default="")
    count: Mapped[int] = mapped_column(Integer, default=0)
    sentiment_sum: Mapped[float] = mapped_column(Float, default=0.0)
    private_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    echo_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class KeyValue(Base):
    """Small runtime settings edited in the dashboard (e.g. urgency weights overrides)."""

    __tablename__ = "settings_kv"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ------------------------------------------------------------------ rules (issue 11)
class MentionRouting(Base):
    """What the `[[rules]]` made of one item: written once, when the rules first ran on it
    (the primary key is the guard that makes that once across processes), with the tags and
    priority they set."""

    __tablename__ = "mention_routing"

    mention_pk: Mapped[int] = mapped_column(ForeignKey("mentions.id"), primary_key=True)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    priority: Mapped[str | None] = mapped_column(String(10))


class RuleRun(Base):
    """One rule that matched one item and what it did (`actions`: short phrases such as
    "assign maria"), so the dashboard can say why an item was routed."""

    __tablename__ = "rule_runs"
    __table_args__ = (UniqueConstraint("mention_pk", "rule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mention_pk: Mapped[int] = mapped_column(ForeignKey("mentions.id"))
    rule: Mapped[str] = mapped_column(String(80))
    actions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamTurn(Base):
    """Round robin state of a team: who got its last item. In the database, so several
    listener processes share one fair rotation."""

    __tablename__ = "team_turns"

    team: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_member: Mapped[str | None] = mapped_column(String(100))
    turns: Mapped[int] = mapped_column(Integer, default=0)


# ------------------------------------------------------------------------------ topics
class TopicModelRow(Base):
    """The current topic model (one row), as plain JSON, with the labelled examples it was
    learned from (`carewatch topics learn`), so a rebuild with new corrections or new
    configured topics is reproducible."""

    __tablename__ = "topic_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    labels: Mapped[list[str]] = mapped_column(JSON)
    model: Mapped[dict[str, Any]] = mapped_column(JSON)
    # [[text, label], ...] from the last `topics learn`; "" labels teach "no topic".
    examples: Mapped[list[list[str]]] = mapped_column(JSON, default=list)


class TopicCorrection(Base):
    """An agent's correction of one item's topic ("" = no topic); the latest per item is a
    training example at the next learn or rebuild."""

    __tablename__ = "topic_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"),
                                            unique=True)
    topic: Mapped[str] = mapped_column(String(100))
    previous: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HourlyTopicStat(Base):
    """Per hour and topic: items (all but the brand's own) and how many read negative, so
    the Trends topic series never scans mentions."""

    __tablename__ = "hourly_topic_stats"
    __table_args__ = (UniqueConstraint("bucket", "topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime)
    topic: Mapped[str] = mapped_column(String(100))
    count: Mapped[int] = mapped_column(Integer, default=0)
    negative_count: Mapped[int] = mapped_column(Integer, default=0)


# ------------------------------------------------------------------ text search (issue 12)
#: SQLite: the FTS5 trigram index of mention text (`storage.search`), a virtual table (and
#: its shadow tables `mention_search_*`) that the models cannot describe.
MENTION_SEARCH_TABLE = "mention_search"
#: SQLite: the FTS5 index of each mention's word joins (`storage.search`), contentless.
MENTION_JOINS_TABLE = "mention_joins"
#: PostgreSQL: the indexed mentions' texts (migration 0018), filled after ingest by
#: `storage.search.catch_up` from `MENTION_SEARCH_PENDING` (filled by a trigger on mentions).
MENTION_SEARCH_TEXTS = "mention_search_texts"
MENTION_SEARCH_PENDING = "mention_search_pending"
#: PostgreSQL: the pg_trgm GIN index on the search texts; an operator-class index that the
#: models do not declare, because SQLite has no equivalent to create from them.
MENTION_TEXT_TRGM_INDEX = "ix_mention_search_texts_trgm"
#: PostgreSQL: the GIN index of each text's word joins (`carewatch_word_joins(text)`),
#: an expression index on a function the models do not declare.
MENTION_TEXT_JOINS_INDEX = "ix_mention_search_texts_joins"
#: PostgreSQL: mentions (not the brand's own) per author and UTC day, kept by triggers on
#: mentions (migration 0019) for `storage.customers.recent_contacts`.
AUTHOR_DAY_COUNTS_TABLE = "author_day_counts"


def in_models(_obj: Any, name: str | None, type_: str, reflected: bool,
              _compare_to: Any) -> bool:
    """Alembic's `include_object`: leave the search index objects above out of a comparison
    of the models with a database (autogenerate, tests/storage/test_migrations.py)."""
    if not reflected or name is None:
        return True
    if type_ == "table":
        return not name.startswith((MENTION_SEARCH_TABLE, MENTION_JOINS_TABLE,
                                    AUTHOR_DAY_COUNTS_TABLE))
    return not (type_ == "index"
                and name in (MENTION_TEXT_TRGM_INDEX, MENTION_TEXT_JOINS_INDEX))


class SearchWatermark(Base):
    """How far a search index built in batches has got: every mention id up to
    `indexed_to` is in it (SQLite's `mention_search` and `mention_joins`, filled by
    `storage.search.catch_up`)."""

    __tablename__ = "search_watermarks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    indexed_to: Mapped[int] = mapped_column(BigInteger, default=0)
