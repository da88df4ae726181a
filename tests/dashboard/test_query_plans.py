"""The plans SQLite picks for the dashboard's reads on a store without statistics (carewatch
never runs ANALYZE): every inbox walk and count goes through the queue index, whatever the
filters, and no trend read walks that index on its `is_own` column. At a million mentions a
wrong pick is the difference between milliseconds and seconds
(`benchmarks/dashboard_queries.py --explain` shows the same plans at that scale)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks.dashboard_queries import statements
from listener.schedule import index_new_mentions
from storage.customers import customer_history
from storage.db import Database
from storage.inbox import UNASSIGNED, InboxFilters, inbox, mention_row
from storage.mentions import mention_by_ref
from storage.trends import response_times, sla_waiting, top_negative_terms
from tests.dashboard.seed import TOP_REF


def _plans(db: Database, fn: Callable[[Any], Any]) -> list[str]:
    """The query plan of every SELECT on mentions that `fn` runs, one line per step."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        plans = []
        for statement, parameters in statements(db, fn):
            if "FROM mentions" in statement:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plans.append(" | ".join(row[3] for row in cursor.fetchall()))
        return plans
    finally:
        raw.close()


@pytest.mark.parametrize("filters", [
    InboxFilters(), InboxFilters(statuses=[]), InboxFilters(platforms=["x"]),
    InboxFilters(assignee="agent2"), InboxFilters(assignee=UNASSIGNED),
    InboxFilters(visibility="private"), InboxFilters(sentiments=["negative"], min_urgency=0.5),
    InboxFilters(search="ke", statuses=[]),
], ids=["default", "every-status", "platform", "assignee", "unassigned", "private",
        "negative-urgent", "search-too-short-for-the-index"])
def test_every_inbox_read_walks_the_queue_index(store: Database,
                                                filters: InboxFilters) -> None:
    plans = _plans(store, lambda s: inbox(s, filters))
    assert plans
    for plan in plans:
        assert "ix_mentions_queue (status=? AND is_own=?" in plan, plan


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "not-indexed-yet"])
def test_a_search_reads_its_candidates_by_id(store: Database, indexed: bool) -> None:
    """The trigram index names the candidates (storage.search); mentions above its
    watermark are read by id range; the candidates by id, never by walking the queue."""
    if indexed:
        index_new_mentions(store)
    plans = _plans(store, lambda s: inbox(s, InboxFilters(search="smoke", statuses=[])))
    assert len(plans) == 3, plans  # the range above the watermark, the candidates, the page
    for plan in plans:
        assert "ix_mentions_queue" not in plan, plan
        assert "INTEGER PRIMARY KEY" in plan, plan


def test_trend_reads_do_not_walk_the_queue_index(store: Database) -> None:
    now = datetime.now(UTC)
    since = now - timedelta(days=30)
    plans = _plans(store, lambda s: (top_negative_terms(s, since, now),
                                            response_times(s, since, now),
                                            response_times(s, since, now, ["x"])))
    assert len(plans) == 3
    for plan in plans:
        assert "ix_mentions_queue" not in plan, plan
        assert "created_at>? AND created_at<?" in plan, plan
    for plan in _plans(store, lambda s: sla_waiting(s)):
        assert "ix_mentions_queue (status=? AND is_own=? AND urgency>?)" in plan, plan


def test_customer_history_reads_by_author(store: Database) -> None:
    with store.session() as session:
        mention = mention_by_ref(session, TOP_REF)
        row = mention_row(session, mention.id)
    plans = _plans(store, lambda s: customer_history(s, row.customer_id))
    history = [p for p in plans if "ix_mentions_author" in p]
    assert history, plans  # not the queue index on `is_own`, a walk of every mention
    assert not any("ix_mentions_queue" in p for p in plans), plans
