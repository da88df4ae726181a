"""The inbox's text search through the trigram indexes (storage.search) finds exactly what a
scan of every text finds, on SQLite and PostgreSQL: matches below the SQLite index's
watermark and above it (not indexed yet), any case, Korean, LIKE's wildcards taken
literally, terms too short for the index, and terms too common for it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text, update

from benchmarks.dashboard_queries import statements
from carewatch.domain import Author, Mention, Platform, Score, SentimentLabel
from listener.schedule import index_new_mentions, listener_jobs
from storage import search, word_joins
from storage.inbox import InboxFilters, inbox, inbox_count
from storage.mentions import upsert_mentions
from storage.models import MENTION_JOINS_TABLE, SearchWatermark
from storage.models import Mention as MentionRow

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

OLD_TEXTS = [
    "Smoke in the cabin on AC 101", "no smoke here, just a delay", "SMOKED salmon was cold",
    "수하물이 아직 안 왔어요", "수하물 분실 신고", "Refund 100%_ please", "refund 100 percent",
    "Rude crew, rude smoke lounge", "a" * 3, "ab", "emoji 👩‍👩‍👧 family", "crème brûlée",
]
NEW_TEXTS = [
    "smoke alarm at gate 4", "수하물 찾았어요", "rude smoke lounge again", "100%_ refund now",
    "crème again", "just ab",
]
TERMS = ["smoke", "SMOKE", "moke in", "수하물", "수하", "100%_", "%_", "rude smoke lounge",
         "aaa", "ab", "👩‍👩", "crème", "volcano", "e", "  smoke  "]


def _mention(i: int, text: str) -> Mention:
    return Mention(
        platform=Platform.X, external_id=f"s{i}", text=text,
        created_at=NOW + timedelta(minutes=i),
        author=Author(Platform.X, f"a{i}", f"user{i}", "User", 10), thread_id=None,
        parent_id=None, is_own=False, raw={},
        score=Score(-0.5, SentimentLabel.NEGATIVE, (i % 7) / 10, [], "en"),
    )


def _store(db, texts: list[str], start: int) -> None:
    with db.write() as session:
        upsert_mentions(session, [_mention(start + i, t) for i, t in enumerate(texts)],
                        source_key="x:search:test")


def _scan(db, term: str) -> set[str]:
    """What the filter means: the term, trimmed, anywhere in the text, ASCII case folded
    (SQLite's lower(); the test texts have no other case pairs)."""
    with db.session() as session:
        rows = session.execute(select(MentionRow.external_id, MentionRow.text)).all()
    return {ref for ref, text in rows if term.strip().lower() in text.lower()}


def _found(db, term: str) -> tuple[set[str], int]:
    with db.session() as session:
        page = inbox(session, InboxFilters(search=term, statuses=[]))
        count, capped = inbox_count(session, InboxFilters(search=term, statuses=[]))
    assert not capped
    assert count == page.total
    return {r.external_id for r in page.rows}, page.total


@pytest.fixture
def searched(migrated_db):
    """OLD_TEXTS indexed (below the watermark on SQLite; in the texts table on PostgreSQL),
    NEW_TEXTS stored after (above the watermark; pending)."""
    _store(migrated_db, OLD_TEXTS, 0)
    assert index_new_mentions(migrated_db) == len(OLD_TEXTS)
    _store(migrated_db, NEW_TEXTS, 100)
    return migrated_db


@pytest.mark.parametrize("term", TERMS)
def test_search_finds_what_a_scan_finds(searched, term: str) -> None:
    expected = _scan(searched, term)
    found, total = _found(searched, term)
    assert found == expected
    assert total == len(expected)


def test_the_index_answers_and_the_watermark_splits_the_hits(searched) -> None:
    sqlite = searched.engine.dialect.name == "sqlite"
    with searched.session() as session:
        ids = search.candidate_ids(session, "smoke")
        watermark = search.indexed_to(session)
        assert search.candidate_ids(session, "ab") is None  # too short: the walk
    assert ids is not None
    if sqlite:
        assert watermark == len(OLD_TEXTS)
        assert any(i <= watermark for i in ids)
        assert any(i > watermark for i in ids)
    else:  # the texts table answers for the old ones, the pending ids for the new
        with searched.session() as session:
            indexed = set(session.scalars(text("SELECT id FROM mention_search_texts")))
            pending = set(session.scalars(text("SELECT id FROM mention_search_pending")))
        assert len(indexed) == len(OLD_TEXTS)
        assert len(pending) == len(NEW_TEXTS)
        assert set(ids) & indexed
        assert set(ids) & pending
    assert _found(searched, "smoke")[0] == {"s0", "s1", "s2", "s7", "s100", "s102"}


def test_a_common_term_is_left_to_the_walk(searched, monkeypatch) -> None:
    monkeypatch.setattr(search, "CANDIDATE_CAP", 2)
    with searched.session() as session:
        assert search.candidate_ids(session, "smoke") is None
    assert _found(searched, "smoke")[0] == _scan(searched, "smoke")


def test_the_filters_apply_to_candidates(searched) -> None:
    with searched.write() as session:
        session.execute(update(MentionRow).where(MentionRow.external_id.in_(["s0", "s100"]))
                        .values(status="closed"))
    with searched.session() as session:
        page = inbox(session, InboxFilters(search="smoke"))  # open statuses only
        closed = inbox(session, InboxFilters(search="smoke", statuses=["closed"]))
    assert {r.external_id for r in page.rows} == {"s1", "s2", "s7", "s102"}
    assert [r.external_id for r in closed.rows] == ["s100", "s0"]  # urgency 0.2, then 0.0
    # Most urgent first, then the oldest, as the walk orders them.
    keys = [(-(r.urgency or 0), r.created_at) for r in page.rows]
    assert keys == sorted(keys)


def test_catch_up_after_more_mentions_and_no_stale_hits(searched) -> None:
    sqlite = searched.engine.dialect.name == "sqlite"
    assert index_new_mentions(searched) == len(NEW_TEXTS)
    assert index_new_mentions(searched) == 0  # nothing waiting: a cheap no-op
    if sqlite:
        assert _joined(searched, "smoke in the cabin") == {"s0"}
    # A mention deleted or whose text is erased (no feature does either yet) is never a
    # false hit: candidates are checked against the stored text.
    with searched.write() as session:
        old = session.execute(select(MentionRow.id, MentionRow.text)
                              .where(MentionRow.external_id == "s0")).one()
        search.forget(session, [(old.id, old.text)])
        session.execute(update(MentionRow).where(MentionRow.id == old.id)
                        .values(text="(erased)"))
        session.execute(delete(MentionRow).where(MentionRow.external_id == "s1"))
    assert _found(searched, "smoke")[0] == {"s2", "s7", "s100", "s102"}
    if sqlite:  # the forgotten text's word joins are out of the joins index
        assert _joined(searched, "smoke in the cabin") == set()
        assert _joined(searched, "rude smoke lounge") == {"s7", "s102"}
    with searched.write() as session:
        search.rebuild(session)
    if sqlite:
        assert _joined(searched, "rude smoke lounge") == {"s7", "s102"}
        assert _joined(searched, "smoke in the cabin") == set()
    assert _found(searched, "erased")[0] == {"s0"}
    assert _found(searched, "smoke")[0] == {"s2", "s7", "s100", "s102"}


def _reads_joins(db, term: str) -> bool:
    """Whether the candidates of `term` are asked of the word joins index."""
    name = MENTION_JOINS_TABLE if db.engine.dialect.name == "sqlite" \
        else search.WORD_JOINS_FUNCTION
    seen = statements(db, lambda s: search.candidate_ids(s, term))
    return any(f"{name} MATCH" in s or f"{name}(text) @>" in s for s, _ in seen)


def test_a_phrase_is_narrowed_by_its_word_joins(searched) -> None:
    _store(searched, PHRASE_TEXTS, 200)
    index_new_mentions(searched)
    assert _reads_joins(searched, "rude smoke lounge")
    assert not _reads_joins(searched, "smoke")
    expected = _scan(searched, "rude smoke lounge")
    assert _found(searched, "rude smoke lounge") == (expected, len(expected))
    if searched.engine.dialect.name == "sqlite":
        # Behind the trigram index (as just after the migration): the trigrams answer.
        with searched.write() as session:
            session.execute(update(SearchWatermark).values(indexed_to=0).where(
                SearchWatermark.name == MENTION_JOINS_TABLE))
        assert not _reads_joins(searched, "rude smoke lounge")
        assert _found(searched, "rude smoke lounge") == (expected, len(expected))


def test_forgetting_mentions_not_indexed_yet_is_a_no_op(searched) -> None:
    """A mention above the watermark (stored after the last catch-up) is in no index yet:
    forgetting it takes nothing out, and the indexed rows stay found."""
    with searched.write() as session:
        fresh = session.execute(select(MentionRow.id, MentionRow.text)
                                .where(MentionRow.external_id == "s102")).one()
        search.forget(session, [(fresh.id, fresh.text)])
    assert index_new_mentions(searched) == len(NEW_TEXTS)
    assert _found(searched, "rude smoke lounge")[0] == {"s7", "s102"}


def _joined(db, term: str) -> set[str]:
    """The mentions SQLite's word joins index names for `term` (no recheck)."""
    query = " AND ".join(f'"{j}"' for j in word_joins.of_term(term))
    with db.session() as session:
        ids = session.scalars(text(
            f"SELECT rowid FROM {MENTION_JOINS_TABLE} WHERE {MENTION_JOINS_TABLE} MATCH :q"),
            {"q": query}).all()
        return set(session.scalars(select(MentionRow.external_id)
                                   .where(MentionRow.id.in_(ids))))


def test_the_listener_catches_the_search_index_up(migrated_db) -> None:
    names = [name for name, _fn, _every in listener_jobs(migrated_db, settings=None)]
    assert "search_index" in names


PHRASE_TEXTS = [
    "prude smoke loungers", "Rude  smoke lounge", "rude-smoke lounge", "RUDE SMOKE LOUNGE!",
    "rude smoke", "smoke lounge rude", "a rude smoke-lounge", "ok, so smoke",
    "수하물 분실 신고 again", "x1 y2 z3", "smoke lounge, rude smoke lounge",
]
PHRASE_TERMS = [
    "rude smoke lounge", "ude smoke lou", "e smoke l", "rude smoke", "smoke lounge",
    "rude-smoke", "smoke-lounge", "ok, so", "k, so sm", "수하물 분실", "물 분", "x1 y2 z3",
    "1 y2 z", "rude  smoke", "smoke lounge!", "lounge, rude smoke",
]


@pytest.mark.parametrize("term", PHRASE_TERMS)
def test_a_phrase_search_finds_what_a_scan_finds(searched, term: str) -> None:
    """Phrases, whose words at the edges may be longer in the text (PostgreSQL narrows
    them by their word joins)."""
    _store(searched, PHRASE_TEXTS, 200)
    index_new_mentions(searched)
    expected = _scan(searched, term)
    assert expected
    assert _found(searched, term) == (expected, len(expected))


def _hex(*joins: str) -> list[str]:
    return [j.encode().hex() for j in joins]


def test_the_word_joins_of_a_phrase_on_sqlite() -> None:
    """The same rule as PostgreSQL's, as FTS5 tokens; case folded for ASCII only."""
    assert word_joins.of_term("Rude smoke LOUNGE") == _hex("ude smo", "oke lou")
    assert word_joins.of_term("e smoke l") == []
    assert word_joins.of_term("de smoke, lounge") == _hex("oke lou")
    assert word_joins.of_term(" a b ") == _hex("a b")
    assert word_joins.of_term("수하물 분실") == []  # "분실" may go on in the text
    assert word_joins.of_term("수하물 분실 ") == _hex("수하물 분실")
    assert word_joins.of_term("smoke_lounge") == _hex("oke lou")  # "_" separates words
    assert word_joins.of_text("É b, É b") == _hex("É b", "b É")


def test_every_text_with_a_term_has_its_word_joins_on_sqlite() -> None:
    """A text that contains a term (ASCII case folded, as SQLite's LIKE) has every join of
    the term, for random texts of words, separators, cases and scripts."""
    rnd = random.Random(12)
    alphabet = "abcAB1 ,-._é수하"
    with_joins = 0
    for _ in range(5000):
        value = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 30)))
        start = rnd.randrange(len(value))
        term = "".join(c.swapcase() if c.isascii() and rnd.random() < 0.3 else c
                       for c in value[start:rnd.randrange(start + 1, len(value) + 1)])
        joins = word_joins.of_term(term)
        with_joins += bool(joins)
        assert set(joins) <= set(word_joins.of_text(value)), (value, term)
    assert with_joins > 500


def test_the_word_joins_of_a_phrase(migrated_db) -> None:
    """Two words next to each other give a join when three characters of each (or all of
    a whole word) are in the term: a word at an edge may be longer in the text."""
    if migrated_db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's word joins index")
    with migrated_db.session() as session:
        assert search.term_joins(session, "Rude smoke LOUNGE") == ["ude smo", "oke lou"]
        assert search.term_joins(session, "e smoke l") == []
        assert search.term_joins(session, "de smoke, lounge") == ["oke lou"]
        assert search.term_joins(session, " a b ") == ["a b"]  # whole words
        assert search.term_joins(session, "smoke") == []


def test_every_text_with_a_term_has_its_word_joins(migrated_db) -> None:
    """The joins index only narrows: a text that matches a term (PostgreSQL's own ILIKE)
    has every join of it, for random texts of words, separators, cases and scripts."""
    if migrated_db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's word joins index")
    rnd = random.Random(12)
    alphabet = "abcAB1 ,-.é수하"
    with_joins = 0
    with migrated_db.session() as session:
        for _ in range(400):
            value = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 30)))
            start = rnd.randrange(len(value))
            term = value[start:rnd.randrange(start + 1, len(value) + 1)]
            term = "".join(c.swapcase() if c.isascii() and rnd.random() < 0.3 else c
                           for c in term)
            joins = search.term_joins(session, term)
            with_joins += bool(joins)
            holds = session.scalar(text(
                f"SELECT NOT (:t ILIKE :p ESCAPE '/') OR "
                f"{search.WORD_JOINS_FUNCTION}(:t) @> CAST(:j AS text[])"),
                {"t": value, "p": search._like_pattern(term), "j": joins})
            assert holds, (value, term, joins)
    assert with_joins > 40  # the property is about terms with joins: enough of them
