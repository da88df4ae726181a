"""The listener leaves out of a page's alert facts what no per-page detector reads
(`AlertEngine.facts_since`): the candidates must be those of judging every fact."""

from __future__ import annotations

from datetime import timedelta

from listener.alerts.base import MentionFacts, aware
from listener.alerts.spike import horizon
from tests.alerts.conftest import T0, burst, engine_for, make_settings, mention, quiet_history
from tests.alerts.conftest import store as put


def _page(db, mentions):
    ids = put(db, mentions)
    return [MentionFacts.of(pk, m, "x:search:qtest") for pk, m in zip(ids, mentions,
                                                                      strict=True)]


def _same(left, right):
    def key(c):
        return (c.kind, c.episode_key, c.severity, c.summary, c.refs, c.seen_at)

    assert sorted(map(key, left)) == sorted(map(key, right))


def test_facts_since_is_the_oldest_time_a_detector_reads(db, clock):
    clock.at(T0)
    engine = engine_for(db, clock)
    assert engine.facts_since() == T0 - timedelta(hours=24)
    long_cooldown = make_settings(cooldown_minutes=3000)
    engine = engine_for(db, clock, long_cooldown)
    assert engine.facts_since() == horizon(long_cooldown.alerts, T0)
    assert engine.facts_since() < T0 - timedelta(hours=24)


def test_facts_left_out_change_no_candidate(any_db, clock):
    clock.at(T0)
    engine = engine_for(any_db, clock)
    put(any_db, quiet_history(T0 - timedelta(minutes=30)))
    facts = _page(any_db, [
        *burst(T0 - timedelta(minutes=20), 12),
        mention("bag lost, no help at all", T0 - timedelta(hours=3), label="negative",
                followers=250_000, author="star"),
        mention("the crew was unsafe and rude", T0 - timedelta(hours=30), label="negative",
                followers=250_000, author="old"),
        mention("smoke in the cabin", T0 - timedelta(minutes=5), label="negative",
                reasons=["safety"], is_own=True),
    ])
    since = engine.facts_since()
    kept = [f for f in facts if not f.is_own and aware(f.created_at) >= since]
    assert 0 < len(kept) < len(facts)
    with any_db.write() as session:
        everything = engine.judge_page(session, facts)
        only_kept = engine.judge_page(session, kept)
    assert everything is not None
    assert only_kept is not None
    assert {c.kind for c in everything[0]} == {"spike", "risk_words", "high_reach"}
    _same(everything[0], only_kept[0])
