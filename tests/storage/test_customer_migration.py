"""Migration 0011 on a database the old linking filled, on SQLite and PostgreSQL: customers
joined only by a handle or a name are split (the first author's group keeps the notes and
tags), a customer joined by platform evidence stays whole, the shared "unknown" customer is
removed with its notes kept in the audit log, and `last_agent` follows each person's own
replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import select

from carewatch.domain import UNKNOWN_AUTHOR_ID, Author, Mention, Platform, Visibility
from carewatch.domain import conversation_key as key_of
from storage.db import Database, open_database
from storage.mentions import mention_by_ref, upsert_mentions
from storage.migrate import alembic_config, is_current
from storage.models import AuditEntry, Customer, Reply, Thread
from storage.models import Author as AuthorRow

NOW = datetime.now(UTC)
X, FB, IG = Platform.X, Platform.FACEBOOK, Platform.INSTAGRAM
PSID_KEY = key_of("100000000000001", "6100")


def _upgrade(db: Database, target: str) -> None:
    config = alembic_config(db.engine)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def _m(platform: Platform, external_id: str, author: Author, *, thread: str | None = None,
       private: bool = False) -> Mention:
    return Mention(platform=platform, external_id=external_id, text=external_id,
                   created_at=NOW - timedelta(minutes=5), author=author,
                   thread_id=thread or external_id,
                   visibility=Visibility.PRIVATE if private else Visibility.PUBLIC)


def _old_links(db: Database) -> dict[str, int]:
    """Authors joined the way the old code joined them; returns the customers made."""
    with db.write() as s:
        upsert_mentions(s, [
            _m(X, "1", Author(X, "x-sam", "samlee", "Sam Lee")),
            _m(FB, "p_1", Author(FB, "fb-sam", None, "Sam Lee")),
            _m(IG, "c_1", Author(IG, "ig-sam", "samlee")),
            _m(FB, "p_2", Author(FB, "asid-mia", None, "Mia Wong")),
            _m(X, "2", Author(X, "x-mia", "miaw", "Mia Wong")),
            _m(FB, "m_1", Author(FB, "6100", None, "Mia Wong"), thread=PSID_KEY, private=True),
            *[_m(FB, f"p_anon{i}", Author(FB, UNKNOWN_AUTHOR_ID)) for i in range(3)],
            _m(IG, "c_2", Author(IG, "@ann", "ann")),
        ])
        ids = dict(s.execute(select(AuthorRow.external_id, AuthorRow.id)).all())
        sam = Customer(display_name="Sam Lee", notes="VIP, refund pending", tags=["vip"],
                       last_agent="bob")
        mia = Customer(display_name="Mia Wong", notes="booking QX7", tags=[])
        unknown = Customer(display_name=None, notes="angry about seats", tags=["angry"])
        s.add_all([sam, mia, unknown])
        s.flush()
        for external_id, customer in (("x-sam", sam), ("fb-sam", sam), ("ig-sam", sam),
                                      ("asid-mia", mia), ("x-mia", mia), ("6100", mia),
                                      (UNKNOWN_AUTHOR_ID, unknown), ("@ann", unknown)):
            s.get(AuthorRow, ids[external_id]).customer_id = customer.id
        # The PSID's conversation is the case of Mia's comment: platform evidence.
        comment = mention_by_ref(s, "facebook:p_2")
        s.execute(Thread.__table__.update().where(Thread.__table__.c.external_id == PSID_KEY)
                  .values(case_mention_pk=comment.id))
        # bob answered Sam Lee on Facebook only.
        s.add(Reply(mention_pk=mention_by_ref(s, "facebook:p_1").id, kind="public",
                    text="Sorry!", state="sent", idempotency_key="k", agent="bob",
                    sent_at=NOW))
        return {"sam": sam.id, "mia": mia.id, "unknown": unknown.id}


def test_0011_splits_name_and_handle_links_and_removes_unknown(database_url: str) -> None:
    db = open_database(database_url)
    try:
        _upgrade(db, "0010")
        made = _old_links(db)
        _upgrade(db, "head")
        assert is_current(db.engine)
        with db.session() as s:
            of = dict(s.execute(select(AuthorRow.external_id, AuthorRow.customer_id)).all())
            # The first author's group keeps the customer, its notes and tags.
            assert of["x-sam"] == made["sam"]
            kept = s.get(Customer, made["sam"])
            assert (kept.notes, kept.tags) == ("VIP, refund pending", ["vip"])
            assert kept.last_agent is None  # bob never answered this account
            assert len({of["x-sam"], of["fb-sam"], of["ig-sam"]}) == 3
            fb_sam = s.get(Customer, of["fb-sam"])
            assert (fb_sam.notes, fb_sam.tags, fb_sam.display_name) == ("", [], "Sam Lee")
            assert fb_sam.last_agent == "bob"
            # Platform evidence holds; the name-only link is split off.
            assert of["asid-mia"] == of["6100"] == made["mia"]
            assert of["x-mia"] not in (None, made["mia"])
            # Nobody without a platform id is a customer; the unknown customer is gone.
            assert of[UNKNOWN_AUTHOR_ID] is None
            assert of["@ann"] is None
            assert s.get(Customer, made["unknown"]) is None
            removed = s.execute(select(AuditEntry).where(
                AuditEntry.action == "customer_removed")).scalar_one()
            assert removed.details["notes"] == "angry about seats"
            assert removed.details["tags"] == ["angry"]
            splits = s.execute(select(AuditEntry.target).where(
                AuditEntry.action == "customer_split")).scalars().all()
            assert sorted(splits) == sorted([f"customer:{made['sam']}",
                                             f"customer:{made['mia']}"])
    finally:
        db.dispose()


def test_0011_on_an_empty_database_and_downgrade(database_url: str) -> None:
    db = open_database(database_url)
    try:
        _upgrade(db, "head")
        config = alembic_config(db.engine)
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0010")
        assert not is_current(db.engine)
        _upgrade(db, "head")
        assert is_current(db.engine)
    finally:
        db.dispose()
