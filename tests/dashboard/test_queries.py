"""The dashboard's named queries, on SQLite and PostgreSQL: ordering, filters, bounded
counts, threads, customers across platforms, trends from HourlyStat, SLA and health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.canned import canned_replies, delete_canned_reply, save_canned_reply
from storage.customers import customer_history, save_customer
from storage.inbox import (
    LANG_UNSUPPORTED,
    UNASSIGNED,
    InboxFilters,
    conversation,
    inbox,
    mention_row,
    mentions_by_refs,
)
from storage.mentions import mention_by_ref
from storage.settings_values import get_kv, set_kv
from storage.sources import source_health
from storage.trends import (
    agent_response_stats,
    hourly_volume,
    sla_waiting,
    source_volume,
    top_negative_terms,
)
from tests.dashboard.seed import ASSIGNED_REF, HOSTILE_REF, TOP_REF, seed


@pytest.fixture
def seeded(migrated_db: Any) -> Any:
    seed(migrated_db)
    return migrated_db


def test_inbox_most_urgent_first_and_own_posts_never_listed(seeded: Any) -> None:
    with seeded.session() as session:
        page = inbox(session)
    refs = [r.ref for r in page.rows]
    assert refs[0] == TOP_REF
    urgencies = [r.urgency for r in page.rows]
    assert urgencies == sorted(urgencies, reverse=True)
    assert not any(r.ref in ("facebook:100000000000001_100", "facebook:100000000000001_300")
                   for r in page.rows)
    assert page.total == len(page.rows) == 7
    assert page.rows[0].urgency_reasons == ["safety", "negative", "high_reach"]


@pytest.mark.parametrize(("filters", "expected"), [
    (InboxFilters(platforms=["facebook"]), [HOSTILE_REF]),
    (InboxFilters(min_urgency=0.6), [TOP_REF, "instagram:17890000000000001",
                                     "x:1600000000000000002"]),
    (InboxFilters(sentiments=["positive"]), ["x:1600000000000000004"]),
    (InboxFilters(assignee="agent2"), [ASSIGNED_REF]),
    (InboxFilters(statuses=["assigned"]), [ASSIGNED_REF]),
    (InboxFilters(langs=[LANG_UNSUPPORTED]), ["x:1600000000000000005"]),
    (InboxFilters(search="SMOKE"), [TOP_REF, "instagram:17890000000000001"]),
    (InboxFilters(search="100%_"), []),
])
def test_inbox_filters(seeded: Any, filters: InboxFilters,
               expected: list[str]) -> None:
    with seeded.session() as session:
        page = inbox(session, filters)
    assert [r.ref for r in page.rows] == expected
    assert page.total == len(expected)


def test_inbox_unassigned_filter_and_limit(seeded: Any) -> None:
    with seeded.session() as session:
        unassigned = inbox(session, InboxFilters(assignee=UNASSIGNED))
        limited = inbox(session, InboxFilters(limit=2))
    assert ASSIGNED_REF not in [r.ref for r in unassigned.rows]
    assert [r.ref for r in limited.rows][:1] == [TOP_REF]
    assert len(limited.rows) == 2
    assert limited.total == 7


def test_thread_has_root_post_and_brand_reply(seeded: Any) -> None:
    with seeded.session() as session:
        mention = mention_by_ref(session, HOSTILE_REF)
        view = conversation(session, mention.id, brand="Acme Air")
    assert view is not None
    assert view.root_text == "New route to Lisbon from May!"
    assert view.root_author == "Acme Air (brand)"
    assert [(i.author, i.is_selected) for i in view.items] == [
        ("@hax0r", True), ("Acme Air (brand)", False)]


def test_customer_history_spans_platforms(seeded: Any) -> None:
    with seeded.session() as session:
        top = mention_row(session, mention_by_ref(session, TOP_REF).id)
        view = customer_history(session, top.customer_id)
        save_customer(session, top.customer_id, notes="VIP", tags=["vip", " vip "],
                      actor="agent1")
    assert view is not None
    assert sorted(p for p, _ in view.accounts) == ["instagram", "x"]
    assert {m.ref for m in view.mentions} == {TOP_REF, "instagram:17890000000000001"}
    with seeded.session() as session:
        again = customer_history(session, top.customer_id)
    assert again.notes == "VIP"
    assert again.tags == ["vip"]


def test_trends_from_hourly_stats(seeded: Any) -> None:
    now = datetime.now(UTC)
    with seeded.session() as session:
        hourly = hourly_volume(session, now - timedelta(days=7), now + timedelta(hours=1))
        fb_only = hourly_volume(session, now - timedelta(days=7),
                                now + timedelta(hours=1), ["facebook"])
        sources = source_volume(session, now - timedelta(days=7),
                                now + timedelta(hours=1))
        terms = dict(top_negative_terms(session, now - timedelta(days=7),
                                        now + timedelta(hours=1),
                                        extra_stopwords=["acmeair"]))
    assert sum(r["count"] for r in hourly) == 7
    assert sum(r["count"] for r in fb_only) == 1
    assert {s["source"] for s in sources} == {"x:search:test", "facebook:page:100000000000001",
                                              "instagram:media:17841400000000001"}
    assert terms["smoke"] == 2
    assert "the" not in terms
    assert "acmeair" not in terms


def test_sla_response_times_and_health(seeded: Any) -> None:
    from storage.models import Mention

    with seeded.write() as session:
        mention = mention_by_ref(session, "x:1600000000000000002")
        mention.first_response_at = mention.created_at + timedelta(minutes=42)
        mention.assignee = "agent1"
        mention.status = "replied"
        assert isinstance(mention, Mention)
    with seeded.session() as session:
        waiting = sla_waiting(session, min_urgency=0.6)
        agents = agent_response_stats(session)
        health = source_health(session)
    assert [w["mention"] for w in waiting] == ["instagram:17890000000000001", TOP_REF]
    assert agents == [{"agent": "agent1", "responses": 1, "median_minutes": 42.0,
                       "p90_minutes": 42.0}]
    assert [h["token_state"] for h in health] == ["revoked"]


def test_canned_replies_and_kv(seeded: Any) -> None:
    with seeded.write() as session:
        row = save_canned_reply(session, "Hi", "Hello!", actor="admin1")
        with pytest.raises(ValueError, match="already exists"):
            save_canned_reply(session, "Hi", "Again", actor="admin1")
        save_canned_reply(session, "Hello", "Hello there", actor="admin1",
                          reply_id=row.id)
        set_kv(session, "alerts.first_response_minutes", 30.0, actor="admin1")
    with seeded.write() as session:
        assert [(c.name, c.text) for c in canned_replies(session)] == [
    ("Hello", "Hello there")]
        assert get_kv(session, "alerts.first_response_minutes") == 30.0
        delete_canned_reply(session, row.id, actor="admin1")
    with seeded.session() as session:
        assert canned_replies(session) == []


def test_mentions_by_refs_accepts_refs_and_ids(seeded: Any) -> None:
    with seeded.session() as session:
        top = mention_by_ref(session, TOP_REF)
        rows = mentions_by_refs(session, [TOP_REF, str(top.id), "bogus", HOSTILE_REF])
    assert {r.ref for r in rows} == {TOP_REF, HOSTILE_REF}
