"""One conversation, one case: a private conversation opened by a move to private is linked
to the moved mention when its messages are stored, its customer joins the mention's customer,
and the customer's messages go to the same agent; an unrelated conversation stays new. On
SQLite and PostgreSQL, through the ingestor's own transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from carewatch.domain import (
    Author,
    Mention,
    Page,
    Platform,
    ReplyKind,
    ReplyState,
    Visibility,
    conversation_key,
)
from carewatch.settings import Settings, SourceConfig
from listener.ingest import Ingestor
from storage.db import Database
from storage.mentions import upsert_mentions
from storage.models import AuditEntry, Reply, Thread
from storage.models import Author as AuthorRow
from storage.models import Mention as MentionRow
from storage.users import create_or_update_user

PAGE = "100000000000001"
NOW = datetime.now(UTC)


class Pages:
    """A source that yields the given pages (the ingestor's path, without a platform)."""

    def __init__(self, *pages: Page) -> None:
        self.pages = pages

    def factory(self, config: SourceConfig, settings: Settings, **_: Any) -> Pages:
        return self

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        yield from self.pages


def _settings() -> Settings:
    return Settings(fb_page_token="t", sources=[
        SourceConfig(platform="facebook", kind="messenger", page_id=PAGE)])


def _message(mid: str, sender: str, name: str, *, customer: str, minutes_ago: float,
             own: bool = False) -> Mention:
    return Mention(platform=Platform.FACEBOOK, external_id=mid, text=f"message {mid}",
                   created_at=NOW - timedelta(minutes=minutes_ago),
                   author=Author(Platform.FACEBOOK, sender, name=name),
                   thread_id=conversation_key(PAGE, customer), is_own=own,
                   visibility=Visibility.PRIVATE, raw={"conversation_id": f"t_{customer}"})


def _moved_case(db: Database, *, assignee: str | None) -> int:
    """A public comment by Facebook user 9001 that an agent moved to Messenger: the sent
    private reply says the conversation went to PSID 777."""
    comment = Mention(platform=Platform.FACEBOOK, external_id="1_5",
                      text="my stroller is lost", created_at=NOW - timedelta(hours=1),
                      author=Author(Platform.FACEBOOK, "9001", name="Dana Visitor"),
                      thread_id="100_1", parent_id="100_1")
    with db.write() as session:
        for user in ("maria", "lee"):
            create_or_update_user(session, user, "agent", "a long passphrase")
        pk = upsert_mentions(session, [comment], source_key="facebook:page:x").inserted_ids[0]
        row = session.get(MentionRow, pk)
        assert row is not None
        row.assignee = assignee
        session.add(Reply(mention_pk=pk, kind=ReplyKind.PRIVATE.value, text="DM us",
                          state=ReplyState.SENT.value, idempotency_key="case-1", agent="maria",
                          sent_at=NOW - timedelta(minutes=50),
                          conversation_ref=conversation_key(PAGE, "777")))
    return pk


def _row(db: Database, external_id: str) -> MentionRow:
    with db.session() as session:
        row = session.execute(select(MentionRow).where(
            MentionRow.external_id == external_id)).scalar_one()
        session.expunge(row)
        return row


def _customer_of(db: Database, author: str) -> int | None:
    with db.session() as session:
        return session.execute(select(AuthorRow.customer_id).where(
            AuthorRow.external_id == author)).scalar_one()


def test_answer_in_moved_conversation_joins_the_case_and_its_agent(migrated_db: Any) -> None:
    db: Database = migrated_db
    case_pk = _moved_case(db, assignee=None)
    settings = _settings()
    pages = Pages(
        Page([_message("m_1", PAGE, "Acme Air", customer="777", minutes_ago=50, own=True),
              _message("m_2", "777", "Dana V", customer="777", minutes_ago=20)], {"updated": 1}),
        Page([_message("m_3", "888", "Sam Other", customer="888", minutes_ago=10)],
             {"updated": 2}))
    result = Ingestor(db, settings, scorer=None, source_factory=pages.factory).poll_source(
        settings.sources[0])
    assert result.ok, result.message
    answer, own, unrelated = _row(db, "m_2"), _row(db, "m_1"), _row(db, "m_3")
    assert (answer.assignee, answer.status) == ("maria", "assigned")
    assert answer.first_response_at is None  # the clock runs from the customer's message
    assert own.is_own
    assert own.status == "closed"
    assert (unrelated.assignee, unrelated.status) == (None, "new")
    with db.session() as session:
        threads = {t.external_id: t for t in session.execute(select(Thread)).scalars()}
        audited = session.execute(select(AuditEntry.action, AuditEntry.details).where(
            AuditEntry.target == "facebook:m_2")).all()
    linked = threads[conversation_key(PAGE, "777")]
    assert linked.case_mention_pk == case_pk
    assert linked.visibility == "private"
    assert threads[conversation_key(PAGE, "888")].case_mention_pk is None
    # The PSID behind the conversation is the same person as the commenter.
    assert _customer_of(db, "777") == _customer_of(db, "9001")
    assert _customer_of(db, "888") != _customer_of(db, "9001")
    assert ("assigned", {"assignee": "maria",
                         "reason": "private conversation of facebook:1_5"}) in audited


def test_case_assignee_wins_and_later_messages_follow(migrated_db: Any) -> None:
    db: Database = migrated_db
    _moved_case(db, assignee="lee")
    settings = _settings()
    first = Pages(Page([_message("m_10", "777", "Dana V", customer="777", minutes_ago=30)],
                       {"updated": 1}))
    Ingestor(db, settings, scorer=None, source_factory=first.factory).poll_source(
        settings.sources[0])
    assert _row(db, "m_10").assignee == "lee"
    # A later poll (the thread already linked) routes the next message the same way, and a
    # replay of the first page changes nothing.
    later = Pages(Page([_message("m_10", "777", "Dana V", customer="777", minutes_ago=30),
                        _message("m_11", "777", "Dana V", customer="777", minutes_ago=5)],
                       {"updated": 2}))
    result = Ingestor(db, settings, scorer=None, source_factory=later.factory).poll_source(
        settings.sources[0])
    assert (result.new, result.seen) == (1, 1)
    assert (_row(db, "m_11").assignee, _row(db, "m_11").status) == ("lee", "assigned")
    # An answer the brand wrote in the conversation (here from the platform's own app) is
    # the first response to every customer message before it, not to later ones.
    answer = Pages(Page([_message("m_12", PAGE, "Acme Air", customer="777", minutes_ago=10,
                                  own=True)], {"updated": 3}))
    Ingestor(db, settings, scorer=None, source_factory=answer.factory).poll_source(
        settings.sources[0])
    assert _row(db, "m_10").first_response_at == _row(db, "m_12").created_at
    assert _row(db, "m_11").first_response_at is None
