"""Customers are linked only on evidence, on SQLite and PostgreSQL: the platform's own ids,
a platform's answer tying two ids together, or an agent's merge. A shared handle or name is
a likely match and nothing more; an author without a platform id is no customer; merges
split back exactly, notes and tags included; history, repeat-contact counts and routing to
the last agent all follow the same rule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from carewatch.domain import (
    UNKNOWN_AUTHOR_ID,
    Author,
    Mention,
    Platform,
    ReplyKind,
    ReplyState,
    Visibility,
    conversation_key,
    handle_only_author_id,
    identified_by_platform,
)
from storage.conversations import settle_private_conversations
from storage.customer_links import likely_matches, merge_customers, split_merge
from storage.customers import customer_history, recent_contacts, routable_to_last_agent
from storage.mentions import mention_by_ref, upsert_mentions
from storage.models import AuditEntry, Customer, CustomerMerge, Reply
from storage.models import Author as AuthorRow
from storage.models import Mention as MentionRow

NOW = datetime.now(UTC)
PAGE = "100000000000001"
X, FB, IG = Platform.X, Platform.FACEBOOK, Platform.INSTAGRAM


def _m(platform: Platform, external_id: str, author: Author, *, minutes_ago: float = 10,
       thread: str | None = None, visibility: Visibility = Visibility.PUBLIC,
       own: bool = False) -> Mention:
    return Mention(platform=platform, external_id=external_id, text=f"text {external_id}",
                   created_at=NOW - timedelta(minutes=minutes_ago), author=author,
                   thread_id=thread or external_id, visibility=visibility, is_own=own)


def _customer(session, platform: Platform, external_id: str) -> int | None:
    return session.execute(select(AuthorRow.customer_id).where(
        AuthorRow.platform == platform.value,
        AuthorRow.external_id == external_id)).scalar_one()


def _store(db, *mentions: Mention) -> None:
    with db.write() as session:
        upsert_mentions(session, list(mentions))


def test_author_ids_the_platform_gave_are_told_from_stand_ins() -> None:
    assert identified_by_platform("1600000000000000001")
    assert identified_by_platform("u-jdoe")
    assert not identified_by_platform(UNKNOWN_AUTHOR_ID)
    assert not identified_by_platform(handle_only_author_id("ann"))
    assert not identified_by_platform(handle_only_author_id(None))


def test_same_handle_or_name_elsewhere_is_a_likely_match_not_a_link(migrated_db) -> None:
    _store(migrated_db,
           _m(X, "1", Author(X, "x-sam", "samlee", "Sam Lee")),
           _m(FB, "p_1", Author(FB, "fb-sam", None, "Sam Lee")),
           _m(IG, "c1", Author(IG, "ig-sam", "SamLee")),
           _m(IG, "c2", Author(IG, "ig-ann", "ann", "Ann Other")))
    with migrated_db.session() as s:
        x, fb, ig = (_customer(s, p, e) for p, e in ((X, "x-sam"), (FB, "fb-sam"),
                                                      (IG, "ig-sam")))
        assert len({x, fb, ig}) == 3
        assert None not in {x, fb, ig}
        view = customer_history(s, x)
        assert [m.ref for m in view.mentions] == ["x:1"]  # nobody else's history
        matches = {m.customer_id: m for m in likely_matches(s, x)}
    assert set(matches) == {fb, ig}
    assert matches[ig].reasons == ["same handle @SamLee on Instagram and X"]
    assert matches[ig].accounts == [("instagram", "@SamLee")]
    assert matches[fb].reasons == ["same name \u201cSam Lee\u201d on Facebook and X"]


def test_authors_without_a_platform_id_are_no_customer(migrated_db) -> None:
    """Graph comments without `from` all store the author `unknown`; an Instagram comment
    with a username only stores `@username`. Neither gets a customer, a history, or a
    repeat-contact count made of strangers' messages."""
    unknown = Author(FB, UNKNOWN_AUTHOR_ID)
    _store(migrated_db, *[_m(FB, f"p_{i}", unknown, minutes_ago=i) for i in range(5)],
           _m(IG, "c9", Author(IG, handle_only_author_id("ann"), "ann")))
    with migrated_db.session() as s:
        assert _customer(s, FB, UNKNOWN_AUTHOR_ID) is None
        assert _customer(s, IG, "@ann") is None
        assert s.execute(select(Customer)).first() is None
        assert recent_contacts(s, [("facebook", UNKNOWN_AUTHOR_ID)]) == {}
        mention = mention_by_ref(s, "facebook:p_1")
        assert routable_to_last_agent(s, [mention.id]) == []


def test_the_same_platform_id_is_one_customer_in_public_and_private(migrated_db) -> None:
    """An X user id is the same in public tweets and direct messages: one author, one
    customer, one history across both."""
    dora = Author(X, "2001", "dora", "Dora K")
    _store(migrated_db, _m(X, "11", dora, minutes_ago=30),
           _m(X, "dm-1", dora, thread=conversation_key("1500", "2001"),
              visibility=Visibility.PRIVATE))
    with migrated_db.session() as s:
        view = customer_history(s, _customer(s, X, "2001"))
        assert {m.ref for m in view.mentions} == {"x:11", "x:dm-1"}
        assert recent_contacts(s, [("x", "2001")], now=NOW) == {("x", "2001"): 2}


def test_a_count_asked_only_up_to_enough_reads_the_same_level(migrated_db) -> None:
    """`enough`: below it a count is exact; from it up, any count of at least `enough`
    (SQLite stops counting each account there), across a customer's accounts too."""
    eve, lou = Author(X, "3001", "eve", "Eve"), Author(X, "3002", "lou", "Lou")
    _store(migrated_db, *(_m(X, f"e{i}", eve, minutes_ago=10 + i) for i in range(5)),
           _m(X, "l1", lou), _m(X, "own-1", lou, own=True))
    with migrated_db.session() as s:
        exact = recent_contacts(s, [("x", "3001"), ("x", "3002")], now=NOW)
        capped = recent_contacts(s, [("x", "3001"), ("x", "3002")], now=NOW, enough=3)
    assert exact == {("x", "3001"): 5, ("x", "3002"): 1}
    assert capped[("x", "3002")] == 1
    assert 3 <= capped[("x", "3001")] <= 5


def test_merge_then_split_gives_everything_back(migrated_db) -> None:
    _store(migrated_db, _m(X, "1", Author(X, "x-jo", "jo", "Jo Park")),
           _m(IG, "c1", Author(IG, "ig-jo", "jo")))
    with migrated_db.write() as s:
        x, ig = _customer(s, X, "x-jo"), _customer(s, IG, "ig-jo")
        s.get(Customer, ig).notes = "prefers Instagram"
        s.get(Customer, ig).tags = ["vip"]
        merge = merge_customers(s, x, ig, actor="agent1", reason="same handle @jo")
        merge_id = merge.id
    with migrated_db.session() as s:
        view = customer_history(s, x)
        assert {m.ref for m in view.mentions} == {"x:1", "instagram:c1"}
        [record] = view.merged
        assert (record.actor, record.notes, record.tags) == ("agent1", "prefers Instagram",
                                                            ["vip"])
        assert record.accounts == [("instagram", "@jo")]
        assert likely_matches(s, x) == []  # one customer now
    with migrated_db.write() as s:
        ig_author = s.execute(select(AuthorRow.id).where(AuthorRow.external_id == "ig-jo"))
        assert split_merge(s, x, merge_id, actor="agent2") == [ig_author.scalar_one()]
    with migrated_db.session() as s:
        assert _customer(s, IG, "ig-jo") == ig
        assert [m.ref for m in customer_history(s, x).mentions] == ["x:1"]
        back = customer_history(s, ig)
        assert (back.notes, back.tags) == ("prefers Instagram", ["vip"])
        assert likely_matches(s, x) == []  # an agent said: two people
        actions = [(a.actor, a.action) for a in s.execute(
            select(AuditEntry).order_by(AuditEntry.id)).scalars()]
        assert actions == [("agent1", "customer_merged"), ("agent2", "customer_split")]
    with migrated_db.write() as s, pytest.raises(ValueError, match="split already"):
        split_merge(s, x, merge_id, actor="agent2")


def test_a_chain_of_merges_splits_link_by_link(migrated_db) -> None:
    _store(migrated_db, _m(X, "1", Author(X, "a", "a")), _m(IG, "2", Author(IG, "b", "b")),
           _m(FB, "3", Author(FB, "c", None, "C C")))
    with migrated_db.write() as s:
        a, b, c = _customer(s, X, "a"), _customer(s, IG, "b"), _customer(s, FB, "c")
        first = merge_customers(s, b, c, actor="agent1", reason="r1").id
        merge_customers(s, a, b, actor="agent1", reason="r2")
    with migrated_db.session() as s:
        assert {_customer(s, p, e) for p, e in ((X, "a"), (IG, "b"), (FB, "c"))} == {a}
        assert [r.reason for r in customer_history(s, a).merged] == ["r2", "r1"]
    with migrated_db.write() as s:
        split_merge(s, a, first, actor="agent1")  # the older link, seen through the newer
    with migrated_db.session() as s:
        assert (_customer(s, IG, "b"), _customer(s, FB, "c")) == (a, c)
        with pytest.raises(ValueError, match="merged already"):
            merge_customers(s, a, b, actor="agent1", reason="again")


def test_a_merge_is_refused_for_the_same_or_a_missing_customer(migrated_db) -> None:
    _store(migrated_db, _m(X, "1", Author(X, "a", "a")))
    with migrated_db.write() as s:
        a = _customer(s, X, "a")
        with pytest.raises(ValueError, match="itself"):
            merge_customers(s, a, a, actor="agent1", reason="r")
        with pytest.raises(ValueError, match="no longer exists"):
            merge_customers(s, a, a + 999, actor="agent1", reason="r")


def test_a_stranger_with_the_same_handle_is_not_routed_to_the_last_agent(migrated_db) -> None:
    _store(migrated_db, _m(X, "1", Author(X, "x-kim", "kim", "Kim Park"), minutes_ago=60))
    with migrated_db.write() as s:
        s.get(Customer, _customer(s, X, "x-kim")).last_agent = "alice"
    _store(migrated_db, _m(IG, "c1", Author(IG, "ig-kim", "kim", "Kim Park")),
           _m(X, "2", Author(X, "x-kim", "kim", "Kim Park")))
    with migrated_db.session() as s:
        ids = [mention_by_ref(s, r).id for r in ("instagram:c1", "x:2")]
        routed = [(m.external_id, agent) for m, agent in routable_to_last_agent(s, ids)]
        assert routed == [("2", "alice")]
        assert recent_contacts(s, [("instagram", "ig-kim")], now=NOW) == {
            ("instagram", "ig-kim"): 1}
        # item by item, and none asked for
        assert [len(routable_to_last_agent(s, [i])) for i in ids] == [0, 1]
        assert routable_to_last_agent(s, []) == []


def test_returning_customers_items_that_are_not_new_work_are_not_routed(
        migrated_db) -> None:
    """Assigned, closed and the brand's own items of a customer with a last agent are not
    routed again."""
    kim = Author(X, "x-kim", "kim", "Kim Park")
    _store(migrated_db, _m(X, "1", kim, minutes_ago=60))
    with migrated_db.write() as s:
        s.get(Customer, _customer(s, X, "x-kim")).last_agent = "alice"
    _store(migrated_db, _m(X, "2", kim), _m(X, "3", kim), _m(X, "4", kim, own=True))
    with migrated_db.write() as s:
        mention_by_ref(s, "x:2").assignee = "bob"
        mention_by_ref(s, "x:3").status = "closed"
    with migrated_db.session() as s:
        ids = [mention_by_ref(s, f"x:{n}").id for n in (2, 3, 4)]
        assert routable_to_last_agent(s, ids) == []


def test_a_private_reply_the_platform_answered_links_the_psid(migrated_db) -> None:
    """Meta answered the private reply to a comment with the commenter's PSID: that is the
    platform's evidence, recorded as a merge by the router (which an agent may split)."""
    key = conversation_key(PAGE, "6100")
    _store(migrated_db, _m(FB, "p_1", Author(FB, "asid-1", None, "Mia Wong"), minutes_ago=60))
    with migrated_db.write() as s:
        comment = mention_by_ref(s, "facebook:p_1")
        s.add(Reply(mention_pk=comment.id, kind=ReplyKind.PRIVATE.value, text="DM us",
                    state=ReplyState.SENT.value, idempotency_key="k1", agent="agent1",
                    sent_at=NOW - timedelta(minutes=50), conversation_ref=key))
    message = _m(FB, "m_1", Author(FB, "6100", None, "Mia Wong"), thread=key,
                 visibility=Visibility.PRIVATE)
    with migrated_db.write() as s:
        stored = upsert_mentions(s, [message])
        settle_private_conversations(s, [message], stored.inserted_ids)
    with migrated_db.session() as s:
        assert _customer(s, FB, "6100") == _customer(s, FB, "asid-1")
        merge = s.execute(select(CustomerMerge)).scalar_one()
        assert merge.actor == "router"
        assert "private reply to facebook:p_1" in merge.reason


def test_recent_contacts_count_exactly_across_days(migrated_db) -> None:
    """Repeat contact counts every mention (not the brand's own) of the last 7 days, to the
    second: on PostgreSQL whole days come from the day counts the triggers keep (through
    inserts, moves to another author, and deletes), the first day's part from the mentions."""
    rnd = random.Random(7)
    eve, fay = Author(X, "7001", "eve", "Eve"), Author(X, "7002", "fay", "Fay")
    mentions = [_m(X, f"d{i}", rnd.choice([eve, fay]), minutes_ago=rnd.uniform(0, 10 * 1440),
                   own=rnd.random() < 0.1) for i in range(300)]
    _store(migrated_db, *mentions)
    keys = [("x", "7001"), ("x", "7002")]

    def expected(session) -> dict[tuple[str, str], int]:
        since = NOW - timedelta(days=7)
        rows = session.execute(select(AuthorRow.external_id, MentionRow.created_at)
                               .join(AuthorRow, AuthorRow.id == MentionRow.author_pk)
                               .where(MentionRow.is_own.is_(False))).all()
        return {("x", a): sum(1 for e, at in rows if e == a and at >= since)
                for a in ("7001", "7002")}

    with migrated_db.session() as s:
        assert recent_contacts(s, keys, now=NOW) == expected(s)
    with migrated_db.write() as s:
        eve_pk = s.execute(select(AuthorRow.id).where(AuthorRow.external_id == "7001")
                           ).scalar_one()
        s.execute(update(MentionRow).where(MentionRow.external_id.in_(["d1", "d2", "d3"]))
                  .values(author_pk=eve_pk))
        s.execute(delete(MentionRow).where(MentionRow.external_id.in_(["d4", "d5"])))
    with migrated_db.session() as s:
        assert recent_contacts(s, keys, now=NOW) == expected(s)
        assert sum(expected(s).values()) > 100


def test_recent_contacts_have_no_upper_bound(migrated_db) -> None:
    """Mentions dated after `now` (a clock ahead, a platform's odd timestamp) still count,
    on the day of the window's start, the next day and years later: on PostgreSQL the day
    counts are read up to 'infinity' only to steer the planner, never to cut any day."""
    gus = Author(X, "7101", "gus", "Gus")
    window_start = 7 * 1440
    ahead = [-1, -1440, -3 * 1440, -400 * 1440]  # minutes_ago < 0: after NOW
    _store(migrated_db, *[_m(X, f"f{i}", gus, minutes_ago=m) for i, m in enumerate(ahead)],
           _m(X, "f-start", gus, minutes_ago=window_start - 1),
           _m(X, "f-before", gus, minutes_ago=window_start + 1))
    with migrated_db.session() as s:
        assert recent_contacts(s, [("x", "7101")], now=NOW) == {("x", "7101"): 5}


def test_each_new_author_gets_a_customer_of_its_own_named_after_it(migrated_db) -> None:
    """A page of new authors, several sharing a name and some with no name or handle at
    all: each gets a distinct new customer, named after it (one statement on PostgreSQL)."""
    from storage.customers import upsert_authors

    names = ["Sam", "Sam", None, "Ana", "Sam", None]
    authors = [Author(Platform.X, str(9000 + i), handle=None if n is None else n.lower(),
                      name=n) for i, n in enumerate(names)]
    authors.append(Author(Platform.X, "9100", handle=None, name=None))
    with migrated_db.write() as session:
        ids = upsert_authors(session, authors, set())
    with migrated_db.session() as session:
        rows = session.execute(
            select(AuthorRow.id, AuthorRow.name, AuthorRow.handle, Customer.id,
                   Customer.display_name)
            .join(Customer, Customer.id == AuthorRow.customer_id)).all()
    assert len(rows) == len(authors) == len(ids)
    assert len({customer for *_, customer, _ in rows}) == len(authors)
    for _, name, handle, _, display_name in rows:
        assert display_name == (name or handle)


def test_fresh_with_contacts_is_the_two_reads_it_replaces(migrated_db) -> None:
    """What the listener reads before scoring a page (`fresh_with_contacts`: one round trip
    on PostgreSQL) is what `stored_external_ids` then `recent_contacts` of the new mentions'
    authors give: over two platforms, stored and new mentions, duplicates in the page, an
    unknown author and two accounts merged into one customer."""
    from storage.mentions import fresh_with_contacts, stored_external_ids

    kim_x, kim_ig = Author(X, "8001", "kim", "Kim"), Author(IG, "ig-8001", "kim", "Kim")
    lee, new = Author(X, "8002", "lee", "Lee"), Author(X, "8999", "new", "New")
    _store(migrated_db, *[_m(X, f"s{i}", kim_x, minutes_ago=60 * i) for i in range(5)],
           _m(IG, "ig-s1", kim_ig), _m(X, "s9", lee, minutes_ago=9 * 1440),
           _m(X, "s10", lee))
    with migrated_db.write() as s:
        merge_customers(s, _customer(s, X, "8001"), _customer(s, IG, "ig-8001"),
                        actor="agent1", reason="same person")
    page = [_m(X, "s1", kim_x), _m(X, "n1", kim_x), _m(IG, "ig-n1", kim_ig),
            _m(X, "n2", lee), _m(X, "n2", lee), _m(X, "n3", new), _m(X, "s10", lee)]
    with migrated_db.session() as s:
        fresh, contacts = fresh_with_contacts(s, page)
        stored = stored_external_ids(s, [(m.platform.value, m.external_id) for m in page])
        expected_fresh = [(m.platform.value, m.external_id) not in stored for m in page]
        expected = recent_contacts(s, {(m.author.platform.value, m.author.external_id)
                                       for m, f in zip(page, expected_fresh, strict=True)
                                       if f})
    assert fresh == expected_fresh == [False, True, True, True, True, True, False]
    assert {key: contacts.get(key, 0) for key in expected} == expected
    assert expected[("x", "8001")] == expected[("instagram", "ig-8001")] == 6
    assert expected[("x", "8002")] == 1
