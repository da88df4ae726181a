"""high_reach, sla_breach, source_health, acknowledgement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from carewatch.settings import SourceConfig
from storage import alerts as store
from storage.models import AuditEntry, Mention, Source
from storage.sources import Claim, claim_source, mark_source_failed, save_cursor
from tests.alerts.conftest import T0, engine_for, make_settings, mention
from tests.alerts.conftest import store as put


def _claim(session, key: str, kind: str) -> Claim:
    claim = claim_source(session, key, "x", kind, holder="test:1", lease_seconds=60,
                         every=60, due_only=False)
    assert claim is not None
    return claim


def _open(db, kind):
    with db.session() as session:
        return store.open_alerts(session, kinds=[kind])


def test_high_reach_negative_mention(db, clock):
    engine = engine_for(db, clock)
    clock.at(T0)
    ids = put(db, [
        mention("flight cancelled, no help at all", T0, label="negative", followers=250_000,
                author="star"),
        mention("great crew today!", T0, label="positive", followers=900_000, author="fan"),
        mention("bag lost", T0, label="negative", followers=9_999),
    ])
    touched = engine.on_new_mentions(ids)
    alerts = _open(db, "high_reach")
    assert len(alerts) == 1
    assert touched == [alerts[0].id]
    alert = alerts[0]
    assert alert.episode_key == "high_reach:x:star"
    assert "250,000 followers" in alert.summary
    assert alert.severity == "high"
    # The same author again within the cooldown extends the episode.
    clock.advance(minutes=10)
    again = mention("still waiting!!", T0 + timedelta(minutes=9), label="negative",
                    followers=250_000, author="star")
    assert engine.on_new_mentions(put(db, [again])) == [alert.id]
    assert len(_open(db, "high_reach")) == 1
    assert _open(db, "high_reach")[0].mention_ids[-1] == str(again.ref)


def test_sla_breach_after_first_response_target(any_db, clock):
    engine = engine_for(any_db, clock, make_settings(first_response_minutes=60))
    clock.at(T0)
    urgent = mention("is my flight safe? smoke smell near gate 4", T0, label="negative",
                     urgency=0.9, reasons=["negative", "question"])
    flagged = mention("my lawyer will hear about this", T0, label="negative", urgency=0.4,
                      reasons=["legal"])
    calm = mention("what is the baggage allowance?", T0, urgency=0.3, reasons=["question"])
    put(any_db, [urgent, flagged, calm])
    clock.at(T0 + timedelta(minutes=59))
    assert engine.evaluate_periodic() == []
    clock.at(T0 + timedelta(minutes=61))
    touched = engine.evaluate_periodic()
    alerts = _open(any_db, "sla_breach")
    assert len(alerts) == 1
    assert touched == [alerts[0].id]
    assert sorted(alerts[0].mention_ids) == sorted([str(urgent.ref), str(flagged.ref)])
    assert "2 urgent mentions unanswered past the 60 min" in alerts[0].summary
    assert alerts[0].severity == "high"  # a legal reason
    # Still breached: no new alert, no "extension" reported, the episode stays open.
    clock.advance(minutes=90)
    assert engine.evaluate_periodic() == []
    assert len(_open(any_db, "sla_breach")) == 1
    # Answered: after the cooldown the episode closes.
    with any_db.write() as session:
        session.execute(update(Mention).values(first_response_at=clock(), status="replied"))
    clock.advance(minutes=30)
    engine.evaluate_periodic()
    assert len(_open(any_db, "sla_breach")) == 1
    clock.advance(minutes=61)
    engine.evaluate_periodic()
    assert _open(any_db, "sla_breach") == []


def test_source_health_unhealthy_and_quiet(db, clock):
    fb = SourceConfig(platform="facebook", page_id="100000000000001", every="120s")
    xs = SourceConfig(platform="x", kind="search", query="@acmeair", every="60s")
    xm = SourceConfig(platform="x", kind="mentions", user_id="1500000000000000000")
    settings = make_settings(quiet_factor=6)
    settings.sources = [fb, xs, xm]
    engine = engine_for(db, clock, settings)
    clock.at(T0)
    # x search: one item an hour for 12 hours, newest at T0.
    hourly = [mention("when is boarding?", T0 - timedelta(hours=h)) for h in range(12)]
    put(db, hourly, source_key=xs.key)
    # x mentions: only three items ever, long ago: no history to judge silence by.
    put(db, [mention("hi", T0 - timedelta(days=2, hours=h)) for h in range(3)],
        source_key=xm.key)
    with db.write() as session:
        save_cursor(session, _claim(session, xs.key, "search"), {"since_id": "1"},
                    new_items=12, last_item_at=T0)
        save_cursor(session, _claim(session, xm.key, "mentions"), {"since_id": "1"},
                    new_items=3)
        mark_source_failed(session, fb.key, "facebook", "page",
                           "Facebook page token revoked: reconnect the page in Meta Business",
                           token_state="revoked")
        for key in (xs.key, xm.key, fb.key):  # listened to for days already
            session.get(Source, key).connected_at = T0 - timedelta(days=3)
    clock.at(T0 + timedelta(hours=5))
    engine.evaluate_periodic()
    alerts = {a.episode_key: a for a in _open(db, "source_health")}
    assert set(alerts) == {f"source_health:{fb.key}"}
    assert "token revoked" in alerts[f"source_health:{fb.key}"].summary
    assert alerts[f"source_health:{fb.key}"].severity == "high"
    clock.at(T0 + timedelta(hours=6, minutes=30))
    engine.evaluate_periodic()
    alerts = {a.episode_key: a for a in _open(db, "source_health")}
    assert set(alerts) == {f"source_health:{fb.key}", f"source_health:{xs.key}"}
    quiet = alerts[f"source_health:{xs.key}"]
    assert "quiet for 6.5 h" in quiet.summary
    assert "usual gap 60 min" in quiet.summary
    # Recovered: the facebook episode closes once healthy for the cooldown.
    with db.write() as session:
        session.get(Source, fb.key).healthy = True
    clock.advance(minutes=61)
    engine.evaluate_periodic()
    assert {a.episode_key for a in _open(db, "source_health")} == {f"source_health:{xs.key}"}


def test_backfilled_source_is_not_quiet_right_after_connecting(db, clock):
    """A new source whose backfill ends hours ago has been silent only since it connected."""
    xs = SourceConfig(platform="x", kind="search", query="@acmeair", every="60s")
    settings = make_settings(quiet_factor=6)
    settings.sources = [xs]
    engine = engine_for(db, clock, settings)
    put(db, [mention("when is boarding?", T0 - timedelta(hours=h)) for h in range(12)],
        source_key=xs.key)
    with db.write() as session:
        save_cursor(session, _claim(session, xs.key, "search"), {"since_id": "1"},
                    new_items=12, last_item_at=T0)
        session.get(Source, xs.key).connected_at = T0 + timedelta(hours=6)
    clock.at(T0 + timedelta(hours=6, minutes=30))
    engine.evaluate_periodic()
    assert _open(db, "source_health") == []
    clock.at(T0 + timedelta(hours=13))
    engine.evaluate_periodic()
    assert [a.episode_key for a in _open(db, "source_health")] == [f"source_health:{xs.key}"]


def test_acknowledge_records_who_when_and_audit(db, clock):
    engine = engine_for(db, clock)
    clock.at(T0)
    engine.on_new_mentions(put(db, [mention("I will sue you", T0, label="negative")]))
    [alert] = _open(db, "risk_words")
    with db.write() as session:
        acked = store.acknowledge(session, alert.id, "maria", now=T0 + timedelta(minutes=5))
        assert acked.acknowledged_by == "maria"
    with db.session() as session:
        [still_open] = store.open_alerts(session)
        assert still_open.acknowledged_by == "maria"
        assert still_open.acknowledged_at == T0 + timedelta(minutes=5)
        audit = session.execute(select(AuditEntry)).scalars().all()
        assert [(a.actor, a.action, a.target) for a in audit] == [
            ("maria", "alert.ack", f"alert:{alert.id}")]
        with pytest.raises(store.AlertNotFound, match="9999"):
            store.acknowledge(session, 9999, "maria")


def test_risk_word_categories_and_overrides(db, clock):
    settings = make_settings()
    settings.urgency.keywords = {"legal": ["ombudsman"]}
    engine = engine_for(db, clock, settings)
    clock.at(T0)
    items = [
        mention("the staff were openly racist to my mother", T0, label="negative"),
        mention("you leaked my data, this is a data breach", T0, label="negative"),
        mention("taking this to the ombudsman", T0, label="negative"),
        mention("I will sue", T0, label="negative"),  # `sue` is replaced by the override
        mention("that new lounge is fire", T0, label="positive"),
    ]
    engine.on_new_mentions(put(db, items))
    keys = {a.episode_key: a for a in _open(db, "risk_words")}
    assert set(keys) == {"risk_words:discrimination", "risk_words:privacy", "risk_words:legal"}
    assert keys["risk_words:legal"].mention_ids == [str(items[2].ref)]


def test_risk_words_prefilter_agrees_with_the_patterns():
    """The ASCII pre-check (listener.alerts.risk_words._ascii_needles) only ever rules out
    texts no pattern matches: the same answer as searching the union of patterns, for ASCII
    and other text, any case, a `*` keyword, and keywords whose characters fold to ASCII."""
    from listener.alerts.risk_words import RiskWords

    default, folding = RiskWords(), RiskWords({"safety": ["\u017fcald*"], "legal": ["sue"]})
    assert default.any_needle is not None
    assert folding.any_needle is None
    texts = ["", "nothing to see", "SMOKE at gate 3", "smokey crashed", "a smokestack",
             "I'll SUE you", "pursue it", "discriminated against", "DISCRIMINATION!",
             "data breach", "data-breach", "\u017fcalded by coffee", "scalded", "SCALDING",
             "\ud654\uc7ac \ubc1c\uc0dd", "smoke \U0001f525", "the \u212aelvin sign", "\u017fue",
             "evacuated", "EVACUATION", "s\u0131ck"]
    for engine in (default, folding):
        for text in texts:
            for variant in (text, text.upper(), text.swapcase()):
                expected = engine.any_word is not None and engine.any_word.search(
                    variant) is not None
                assert engine._may_name_a_word(variant) == expected, (variant, expected)
    assert default._may_name_a_word("smoke at the gate")
    assert not default._may_name_a_word("smokey at the gate")
    assert folding._may_name_a_word("\u017fcalded")  # matches only through case folding


def test_risk_words_factored_needles_match_where_the_plain_alternation_does():
    """listener.alerts.risk_words._any_of (needles factored by common prefix, a needle that
    another starts with standing for both) finds a needle in exactly the texts the plain
    alternation of the needles does: random texts made of needles' pieces, the default
    needles and small sets with shared prefixes, nested needles and regex metacharacters."""
    import random
    import re

    from listener.alerts.risk_words import RiskWords, _any_of

    rnd = random.Random(12)
    default = RiskWords().needles
    assert default is not None
    sets = [list(default), ["sue", "sued", "suit", "su"], ["a.b", "a+", "(x", "a"],
            ["data breach", "data leak", "dat"], ["x"], ["", "abc"]]
    for needles in sets:
        plain = re.compile("|".join(map(re.escape, needles)))
        factored = re.compile(_any_of(needles))
        pieces = [n[i:j] for n in needles if n for i in range(len(n))
                  for j in range(i + 1, len(n) + 1)] + [" ", "z", "!"]
        for _ in range(3000):
            text = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(6)))
            assert (factored.search(text) is None) == (plain.search(text) is None), (
                needles[:3], text)


def test_spike_windows_are_the_rows_of_each_span():
    """listener.alerts.spike._windows: each window (end - width, end] holds exactly the rows
    a filter over all rows keeps, in their order: from rows oldest first (slices), naive or
    aware times, ends on and between row times, and rows out of order (filtered)."""
    import random
    from types import SimpleNamespace

    from listener.alerts.base import aware
    from listener.alerts.spike import _windows

    rnd = random.Random(3)
    for trial in range(200):
        times = sorted(T0 + timedelta(seconds=rnd.randrange(3600))
                       for _ in range(rnd.randrange(40)))
        if trial % 3 == 0:
            times = [t.replace(tzinfo=None) for t in times]
        rows = [SimpleNamespace(created_at=t) for t in times]
        if trial % 7 == 0:
            rnd.shuffle(rows)
        width = timedelta(minutes=rnd.choice([1, 5, 15]))
        window = _windows(rows, width)
        for _ in range(20):
            end = (aware(rnd.choice(rows).created_at) if rows and rnd.random() < 0.5
                   else T0 + timedelta(seconds=rnd.randrange(-100, 3700)))
            assert window(end) == [r for r in rows
                                   if end - width < aware(r.created_at) <= end]
