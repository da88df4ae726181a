"""The dashboard's fast queries return exactly what the naive ones would, on SQLite and
PostgreSQL: a few hundred random mentions (every status, platform, label, visibility, some
unscored, some the brand's own, tied urgencies), and for many filter combinations the
inbox page, its count, the SLA board, top terms and response times are compared with a
plain Python pass over every row."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carewatch.domain import OPEN_STATUSES, Status
from storage.db import Database
from storage.inbox import (
    LANG_UNSUPPORTED,
    SUPPORTED_LANGS,
    UNASSIGNED,
    InboxFilters,
    inbox,
    inbox_count,
)
from storage.models import Author, Mention
from storage.trends import _TOKEN, STOPWORDS, response_times, sla_waiting, top_negative_terms

WORDS = "smoke bag refund delay crew seat 100%_off great thanks rude gate lounge".split()
NOW = datetime.now(UTC).replace(microsecond=0)
STATUSES = [s.value for s in Status]


def _fill(db: Database, n: int = 400, seed: int = 3) -> None:
    rnd = random.Random(seed)
    with db.write() as session:
        authors = [Author(platform=p, external_id=f"a{i}", handle=f"h{i}", name=f"N {i}",
                          followers=i * 10)
                   for i, p in enumerate(["x", "facebook", "instagram"] * 4)]
        session.add_all(authors)
        session.flush()
        for i in range(n):
            author = authors[i % len(authors)]
            scored = rnd.random() > 0.1
            label = rnd.choice(["negative", "neutral", "positive"]) if scored else None
            answered = rnd.random() < 0.5
            created = NOW - timedelta(minutes=7 * i + rnd.randrange(5))
            session.add(Mention(
                platform=author.platform, external_id=f"m{i}", source_key="s",
                author_pk=author.id, text=" ".join(rnd.choices(WORDS, k=rnd.randrange(2, 6))),
                created_at=created, lang=rnd.choice(["en", "ko", "es", "und", None]),
                is_own=rnd.random() < 0.05, is_echo=rnd.random() < 0.05,
                visibility="private" if rnd.random() < 0.15 else "public",
                sentiment=-0.5 if label == "negative" else 0.1 if scored else None,
                sentiment_label=label,
                # One decimal, so many urgencies tie and the created_at tie-break matters.
                urgency=round(rnd.random(), 1) if scored else None,
                status=rnd.choice(STATUSES),
                assignee=rnd.choice([None, "agent1", "agent2"]),
                first_response_at=created + timedelta(minutes=rnd.randrange(1, 90))
                if answered else None,
            ))


@pytest.fixture
def filled(migrated_db: Database) -> Database:
    _fill(migrated_db)
    return migrated_db


def _all(db: Database) -> list[Any]:
    with db.session() as session:
        rows = session.query(Mention).all()
        session.expunge_all()
    return rows


def _matches(m: Any, f: InboxFilters) -> bool:
    if m.is_own or m.status not in (f.statuses or STATUSES):
        return False
    if f.platforms and m.platform not in f.platforms:
        return False
    if f.sentiments and m.sentiment_label not in f.sentiments:
        return False
    if f.min_urgency > 0 and (m.urgency is None or m.urgency < f.min_urgency):
        return False
    if f.assignee == UNASSIGNED and m.assignee is not None:
        return False
    if f.assignee not in (None, UNASSIGNED) and m.assignee != f.assignee:
        return False
    if f.langs:
        # "und" (no language: emoji, a few letters) is scored, so not unsupported
        unsupported = m.lang is None or m.lang not in (*SUPPORTED_LANGS, "und")
        if not (m.lang in f.langs or (LANG_UNSUPPORTED in f.langs and unsupported)):
            return False
    if f.visibility and m.visibility != f.visibility:
        return False
    return not (f.search.strip() and f.search.strip().lower() not in m.text.lower())


def naive_inbox(rows: list[Any], f: InboxFilters, cap: int,
                search_cap: int) -> tuple[list[str], int, bool]:
    """The page's refs, its shown count and whether it is capped; a text search is counted
    up to `search_cap`, anything else up to `cap`."""
    cap = search_cap if f.search.strip() else cap
    found = [m for m in rows if _matches(m, f)]
    found.sort(key=lambda m: (-(m.urgency if m.urgency is not None else -1.0), m.created_at))
    return ([f"{m.platform}:{m.external_id}" for m in found[:f.limit]],
            min(len(found), cap), len(found) > cap)


FILTERS = [
    InboxFilters(),
    InboxFilters(statuses=[]),
    InboxFilters(statuses=["closed"]),
    InboxFilters(statuses=["replied", "new"], limit=7),
    InboxFilters(platforms=["x"]),
    InboxFilters(platforms=["facebook", "instagram"], statuses=[]),
    InboxFilters(sentiments=["negative"], min_urgency=0.5, statuses=[]),
    InboxFilters(sentiments=["neutral", "positive"], limit=5),
    InboxFilters(assignee=UNASSIGNED, statuses=[]),
    InboxFilters(assignee="agent1"),
    InboxFilters(langs=[LANG_UNSUPPORTED], statuses=[]),
    InboxFilters(langs=["ko", LANG_UNSUPPORTED]),
    InboxFilters(langs=["und"], statuses=[]),
    InboxFilters(visibility="private", statuses=[]),
    InboxFilters(visibility="public", platforms=["x"], limit=3),
    InboxFilters(search="SMOKE", statuses=[]),
    InboxFilters(search="100%_", statuses=[]),
    InboxFilters(search="volcano", statuses=[]),
    InboxFilters(search="rude", visibility="private", sentiments=["negative"]),
    InboxFilters(min_urgency=0.95, statuses=[], limit=1000),
]


@pytest.mark.parametrize(("cap", "search_cap"), [(10_000, 1_000), (15, 4), (3, 40), (1, 1)])
def test_inbox_matches_the_naive_query(filled: Database, cap: int, search_cap: int,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every filter combination, with the count caps (the text search's own and the
    others') above, inside and below the matches."""
    monkeypatch.setattr("storage.inbox.COUNT_CAP", cap)
    monkeypatch.setattr("storage.inbox.SEARCH_COUNT_CAP", search_cap)
    rows = _all(filled)
    with filled.session() as session:
        for i, filters in enumerate(FILTERS):
            refs, total, capped = naive_inbox(rows, filters, cap, search_cap)
            page = inbox(session, filters)
            assert [r.ref for r in page.rows] == refs, f"filters #{i}: {filters}"
            assert (page.total, page.total_capped) == (total, capped), f"#{i}: {filters}"
            assert inbox_count(session, filters) == (total, capped), f"#{i}: {filters}"


def test_sla_waiting_matches_the_naive_query(filled: Database) -> None:
    rows = [m for m in _all(filled) if not m.is_own and m.status in OPEN_STATUSES
            and m.urgency is not None and m.urgency >= 0.6 and m.first_response_at is None]
    rows.sort(key=lambda m: m.created_at)
    with filled.session() as session:
        waiting = sla_waiting(session, now=NOW, limit=50)
    assert [w["mention"] for w in waiting] == [f"{m.platform}:{m.external_id}"
                                                for m in rows[:50]]


def test_trend_samples_match_the_naive_query(filled: Database) -> None:
    for platforms in [(), ("x",), ("facebook", "instagram")]:
        for sample in (25, 5000):
            _same_trend_samples(filled, platforms, sample)


def _same_trend_samples(filled: Database, platforms: tuple[str, ...], sample: int) -> None:
    since, until = NOW - timedelta(hours=30), NOW - timedelta(hours=2)
    rows = [m for m in _all(filled) if since <= m.created_at < until and not m.is_own
            and (not platforms or m.platform in platforms)]
    rows.sort(key=lambda m: m.created_at, reverse=True)
    negative = [m for m in rows if m.sentiment_label == "negative"
                and m.visibility == "public"][:sample]
    counts: Counter[str] = Counter()
    for m in negative:
        counts.update({w.lower().strip("'’-") for w in _TOKEN.findall(m.text)} - STOPWORDS)
    answered = [m for m in rows if m.first_response_at is not None][:sample]
    with filled.session() as session:
        terms = top_negative_terms(session, since, until, platforms, sample=sample, top=100)
        delays = response_times(session, since, until, platforms, sample=sample)
    assert dict(terms) == dict(counts)
    assert sorted((d["platform"], d["agent"], d["minutes"]) for d in delays) == sorted(
        (m.platform, m.assignee or UNASSIGNED,
         round((m.first_response_at - m.created_at).total_seconds() / 60, 1))
        for m in answered)
