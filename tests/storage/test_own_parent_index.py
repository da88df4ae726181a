"""Migration 0023: ix_mentions_own_parent holds the brand's own items only, by (platform,
parent_id), and the look-up of own replies to newly stored items
(`storage.brand_answers.OWN_REPLIES`) goes through it on both backends, and only for
items in a conversation stored before their page."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine, event, select, text

from carewatch.domain import Author, Mention, Platform
from storage.brand_answers import OWN_REPLIES, record_public_brand_answers
from storage.db import Database
from storage.mentions import upsert_mentions
from storage.migrate import alembic_config, is_current, upgrade
from storage.models import Mention as MentionRow

INDEX = "ix_mentions_own_parent"


def _definition(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            sql = "SELECT indexdef FROM pg_indexes WHERE indexname = :i"
        else:
            sql = "SELECT sql FROM sqlite_master WHERE name = :i"
        return conn.execute(text(sql), {"i": INDEX}).scalar_one_or_none()


def test_partial_on_own_items_and_downgrade_drops_it(migrated_db: Database) -> None:
    engine = migrated_db.engine
    definition = _definition(engine)
    assert definition is not None
    assert "is_own" in definition.split("WHERE", 1)[1]
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0022")
    assert _definition(engine) is None
    upgrade(engine)
    assert is_current(engine)
    assert _definition(engine) is not None


def test_the_own_replies_look_up_uses_the_partial_index(migrated_db: Database) -> None:
    stmt = OWN_REPLIES.params(platform="x",
                              parent_ids=["1600000000000000001", "1600000000000000002"])
    with migrated_db.session() as session:
        sql = str(stmt.compile(dialect=session.get_bind().dialect,
                               compile_kwargs={"literal_binds": True}))
        if migrated_db.dialect == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(session.execute(text("EXPLAIN " + sql)).scalars())
        else:
            plan = "\n".join(r[-1] for r in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert INDEX in plan


def _tweet(tweet_id: str, conversation: str, *, own: bool = False,
           parent: str | None = None, minute: int = 0) -> Mention:
    author = Author(Platform.X, "1500000000000000000" if own else "42",
                    "acmeair" if own else "kimp", None)
    return Mention(platform=Platform.X, external_id=tweet_id, text=f"tweet {tweet_id}",
                   created_at=datetime(2026, 12, 1, 9, minute, tzinfo=UTC), author=author,
                   thread_id=conversation, parent_id=parent, is_own=own)


def test_a_reply_stored_first_answers_its_parent_and_new_conversations_cost_no_query(
        migrated_db: Database) -> None:
    """Newest first: the brand's reply (page one) before the tweet it answers (page two).
    A page whose conversations are all new asks nothing: no reply can be stored yet."""
    looked_up: list[str] = []

    def count(_conn, _cursor, statement: str, *_args: object) -> None:
        if "parent_id IN" in statement:
            looked_up.append(statement)

    event.listen(migrated_db.engine, "before_cursor_execute", count)
    try:
        with migrated_db.write() as session:
            fresh = [_tweet(str(100 + i), str(100 + i), minute=i) for i in range(5)]
            outcome = upsert_mentions(session, fresh)
            assert record_public_brand_answers(session, fresh, outcome.older_threads) == 0
        assert looked_up == []
        with migrated_db.write() as session:
            reply = [_tweet("201", "200", own=True, parent="200", minute=30)]
            outcome = upsert_mentions(session, reply)
            record_public_brand_answers(session, reply, outcome.older_threads)
        with migrated_db.write() as session:
            parent = [_tweet("200", "200", minute=10), _tweet("300", "300", minute=11)]
            outcome = upsert_mentions(session, parent)
            assert outcome.older_threads == {("x", "200")}
            assert record_public_brand_answers(session, parent, outcome.older_threads) == 1
        assert len(looked_up) == 1
    finally:
        event.remove(migrated_db.engine, "before_cursor_execute", count)
    with migrated_db.session() as session:
        rows = {m.external_id: m for m in session.execute(select(MentionRow)).scalars()}
    assert rows["200"].status == "replied"
    assert rows["200"].first_response_at == rows["201"].created_at
    assert (rows["300"].status, rows["300"].first_response_at) == ("new", None)
