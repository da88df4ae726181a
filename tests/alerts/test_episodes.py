"""One alert episode: quiet baseline, one burst, extension, quiet re-polls, cooldown."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from carewatch.domain import Visibility
from listener.alerts.base import MentionFacts
from storage import alerts as store
from storage.models import Alert, AlertNotification
from tests.alerts.conftest import T0, burst, engine_for, make_settings, mention, quiet_history
from tests.alerts.conftest import store as put

NOTIFY = [
    {"kind": "email", "smtp_host": "127.0.0.1", "smtp_port": 1, "sender": "cw@acme.example",
     "to": ["lead@acme.example"]},
    {"kind": "webhook", "url": "http://127.0.0.1:1/hook"},
]


def _alerts(db, kind: str | None = None) -> list[Alert]:
    with db.session() as session:
        alerts = store.alerts_between(session, T0 - timedelta(days=30), T0 + timedelta(days=30))
    return [a for a in alerts if kind is None or a.kind == kind]


def test_quiet_baseline_burst_extend_cooldown(any_db, clock):
    from carewatch.settings import NotifyConfig

    # SLA breaches have their own test; here the burst is answered "in time".
    settings = make_settings([NotifyConfig(**n) for n in NOTIFY], first_response_minutes=1440)
    engine = engine_for(any_db, clock, settings)

    # A backfill: three days of ordinary traffic arrives in one poll. Nothing to report.
    clock.at(T0)
    ids = put(any_db, quiet_history(T0))
    assert len(ids) == 72
    assert engine.on_new_mentions(ids) == []
    # A normal live poll, and an own post (never passed, but filtered anyway).
    ids = put(any_db, [mention("thanks, that worked", T0 - timedelta(minutes=3), label="positive"),
                       mention("my bag is late again", T0 - timedelta(minutes=20),
                               label="negative"),
                       mention("We are on it!", T0 - timedelta(minutes=1), is_own=True)])
    assert engine.on_new_mentions(ids) == []
    assert engine.evaluate_periodic() == []
    assert _alerts(any_db) == []

    # A burst of negative, safety-flavoured mentions arrives over two pages.
    first, second = burst(T0 + timedelta(minutes=1), 6), burst(T0 + timedelta(minutes=7), 6)
    clock.at(T0 + timedelta(minutes=7))
    touched_1 = engine.on_new_mentions(put(any_db, first))
    clock.at(T0 + timedelta(minutes=13))
    touched_2 = engine.on_new_mentions(put(any_db, second))
    spikes, risks = _alerts(any_db, "spike"), _alerts(any_db, "risk_words")
    summaries = [a.summary for a in _alerts(any_db)]
    assert len(spikes) == 1, summaries
    assert len(risks) == 1, summaries
    spike, risk = spikes[0], risks[0]
    burst_refs = [str(m.ref) for m in first + second]
    assert sorted(spike.mention_ids) == sorted(burst_refs)
    assert sorted(risk.mention_ids) == sorted(burst_refs)
    assert spike.episode_key == "spike:x"
    assert risk.episode_key == "risk_words:safety"
    assert "12 negative mentions in 15 min on x" in spike.summary
    assert "baseline" in spike.summary
    assert "k=3" in spike.summary
    assert spike.severity in ("high", "critical")
    assert risk.severity == "critical"
    assert touched_1 == [risk.id]
    assert set(touched_2) == {spike.id, risk.id}
    assert spike.first_seen == T0 + timedelta(minutes=13)
    with any_db.session() as session:
        rows = session.execute(select(AlertNotification.alert_id, AlertNotification.target_key)
                               ).all()
    assert sorted(rows) == sorted((a.id, t.key) for a in (spike, risk) for t in settings.notify)

    # A quiet re-poll: the same ids again, nothing new, a periodic pass. Nothing changes.
    clock.at(T0 + timedelta(minutes=20))
    assert engine.on_new_mentions([i for i in touched_2]) == []
    assert engine.on_new_mentions([]) == []
    assert engine.evaluate_periodic() == []
    assert len(_alerts(any_db)) == 2

    # A second burst within the cooldown extends both episodes, no new alert, no new rows.
    clock.at(T0 + timedelta(minutes=50))
    again = burst(T0 + timedelta(minutes=40), 9, text="the cabin filled with smoke")
    touched = engine.on_new_mentions(put(any_db, again))
    assert set(touched) == {spike.id, risk.id}
    assert len(_alerts(any_db, "spike")) == 1
    assert len(_alerts(any_db, "risk_words")) == 1
    with any_db.session() as session:
        extended = store.get_alert(session, spike.id)
        assert extended is not None
        assert len(extended.mention_ids) == 21
        assert extended.last_seen == T0 + timedelta(minutes=50)
        assert extended.first_seen == T0 + timedelta(minutes=13)
        count = session.execute(select(func.count(AlertNotification.id))).scalar_one()
    assert count == 4

    # Quiet past the cooldown: closed; a later burst opens a NEW spike episode.
    clock.at(T0 + timedelta(minutes=50 + 61))
    engine.evaluate_periodic()
    with any_db.session() as session:
        assert store.open_alerts(session) == []
    clock.at(T0 + timedelta(hours=3, minutes=10))
    later = burst(T0 + timedelta(hours=3), 10, text="my flight was cancelled again, awful",
                  reasons=("negative",), urgency=0.5)
    touched = engine.on_new_mentions(put(any_db, later))
    assert len(touched) == 1
    spikes = _alerts(any_db, "spike")
    assert len(spikes) == 2
    assert spikes[-1].closed_at is None
    assert sorted(spikes[-1].mention_ids) == sorted(str(m.ref) for m in later)
    with any_db.session() as session:
        assert [a.id for a in store.open_alerts(session)] == [spikes[-1].id]


def test_first_poll_of_new_brand_does_not_alert_on_volume(db, clock):
    """No history, ordinary mixed traffic well above the minimum count: no spike."""
    engine = engine_for(db, clock)
    clock.at(T0 + timedelta(minutes=15))
    items = [mention("when does boarding start?", T0 + timedelta(minutes=i),
                     label="negative" if i % 4 == 0 else "neutral") for i in range(14)]
    assert engine.on_new_mentions(put(db, items)) == []


def test_historic_burst_in_backfill_is_baseline_not_news(db, clock):
    """A burst two days ago, found by the first backfill, does not page anyone today."""
    engine = engine_for(db, clock)
    clock.at(T0)
    old = burst(T0 - timedelta(days=2), 12, text="my flight was cancelled, terrible")
    assert engine.on_new_mentions(put(db, quiet_history(T0) + old)) == []
    assert _alerts(db, "spike") == []


def test_small_negative_burst_below_minimum_count_is_not_a_spike(db, clock):
    engine = engine_for(db, clock)
    clock.at(T0)
    put(db, quiet_history(T0))
    clock.at(T0 + timedelta(minutes=5))
    few = [mention("worst airline, late again", T0 + timedelta(minutes=i), label="negative")
           for i in range(4)]
    assert engine.on_new_mentions(put(db, few)) == []


def test_negative_share_spike_with_busy_baseline(db, clock):
    """Usually 30 per 15 min, 20% negative. Now 24 of which 13 negative: neither the volume nor
    the negative count is beyond mean + 3σ, but the negative share is."""
    engine = engine_for(db, clock)
    clock.at(T0)
    history = [mention("late again" if i % 5 == 2 else "love the new lounge",
                       T0 - timedelta(minutes=15, seconds=30 * (i + 1)),
                       label="negative" if i % 5 == 2 else "positive") for i in range(720)]
    put(db, history)
    clock.at(T0 + timedelta(minutes=13))
    now_items = [mention("cancelled and no one at the gate" if i < 13 else "nice crew",
                         T0 + timedelta(seconds=30 * i + 5),
                         label="negative" if i < 13 else "positive") for i in range(24)]
    touched = engine.on_new_mentions(put(db, now_items))
    spikes = _alerts(db, "spike")
    assert len(spikes) == 1
    assert touched == [spikes[0].id]
    assert spikes[0].details.get("share_spike")
    assert not spikes[0].details.get("negative_spike")
    assert not spikes[0].details.get("volume_spike")
    assert sorted(spikes[0].mention_ids) == sorted(str(m.ref) for m in now_items[:13])
    assert "usually 20%" in spikes[0].summary


def test_private_messages_are_not_part_of_a_reputation_spike(any_db, clock):
    """A spike is about public volume: a rush of DMs neither makes one, nor raises the
    baseline a public burst is judged against, nor is named or counted in its window."""
    engine = engine_for(any_db, clock)
    private = Visibility.PRIVATE
    clock.at(T0)
    put(any_db, quiet_history(T0))
    clock.at(T0 + timedelta(minutes=13))
    dms = [mention(f"my bag is lost, reply please #{i}", T0 + timedelta(seconds=20 * i),
                   label="negative", visibility=private) for i in range(15)]
    assert engine.on_new_mentions(put(any_db, dms)) == []
    as_listener = [MentionFacts.of(i, m, "x:dms:1") for i, m in enumerate(dms, start=10**6)]
    assert engine.on_new_facts(as_listener) == []
    assert _alerts(any_db, "spike") == []

    t1 = T0 + timedelta(days=1)
    busy_inbox = [mention("still no refund, answer me", t1 - timedelta(minutes=15 + 1.5 * i),
                          label="negative", visibility=private) for i in range(960)]
    clock.at(t1)
    put(any_db, quiet_history(t1, hours=23) + busy_inbox)  # a day of 40 negative DMs an hour
    clock.at(t1 + timedelta(minutes=13))
    more_dms = [mention(f"where is my refund #{i}", t1 + timedelta(seconds=30 * i),
                        label="negative", visibility=private) for i in range(10)]
    public = burst(t1 + timedelta(minutes=1), 12)
    engine.on_new_mentions(put(any_db, more_dms + public))
    spikes = _alerts(any_db, "spike")
    assert len(spikes) == 1
    assert sorted(spikes[0].mention_ids) == sorted(str(m.ref) for m in public)
    assert (spikes[0].details["total"], spikes[0].details["negative"]) == (12, 12)
    assert spikes[0].details["baseline"]["mean_negative"] < 1


def test_concurrent_callers_open_one_episode(any_db, clock):
    """The listener thread and the scheduler thread (or two processes) racing on the same
    burst still open one alert per episode."""
    import threading

    clock.at(T0 + timedelta(minutes=13))
    ids = put(any_db, burst(T0 + timedelta(minutes=1), 12))
    engines = [engine_for(any_db, clock) for _ in range(4)]
    threads = [threading.Thread(target=e.on_new_mentions, args=(ids,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_alerts(any_db, "spike")) == 1
    assert len(_alerts(any_db, "risk_words")) == 1


def _pages_state(db) -> tuple[list[tuple], list[tuple]]:
    with db.session() as session:
        alerts = [(a.id, a.episode_key, a.severity, a.summary, a.mention_ids, a.details,
                   a.first_seen, a.last_seen, a.closed_at)
                  for a in session.execute(select(Alert).order_by(Alert.id)).scalars()]
        queued = [(n.id, n.alert_id, n.target_key, n.next_attempt_at) for n in session.execute(
            select(AlertNotification).order_by(AlertNotification.id)).scalars()]
    return alerts, queued


def test_pages_recorded_together_match_pages_recorded_one_by_one(tmp_path, clock):
    """`record_judged` over several pages (episodes read once, alerts opened flushed and
    queued at the end) stores the same alerts and notifications, ids and times included,
    as recording the pages one after the other: escalations in the same page and in later
    ones queue the targets they reach at their own page's time."""
    from carewatch.settings import NotifyConfig
    from listener.alerts.base import Candidate
    from storage.db import open_database
    from storage.migrate import upgrade

    notify = [NotifyConfig(**NOTIFY[0]), NotifyConfig(**NOTIFY[1], min_severity="high")]

    def cand(key: str, severity: str, *refs: str) -> Candidate:
        return Candidate(kind="risk_words", episode_key=key, severity=severity,
                         summary=f"{key} {severity}", refs=list(refs), details={"n": len(refs)})

    t1, t2, t3 = T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    pages = [([cand("a", "low", "x:1"), cand("b", "medium", "x:2"), cand("a", "medium", "x:3")],
              t1),
             ([cand("a", "high", "x:4"), cand("c", "critical", "x:5"), cand("b", "low", "x:6")],
              t2),
             ([cand("b", "high", "x:7"), cand("c", "low", "x:8"), cand("a", "high", "x:4")],
              t3)]
    states, touched = [], []
    for name, batches in (("one_by_one", [[p] for p in pages]), ("together", [pages])):
        (tmp_path / name).mkdir()
        db = open_database(f"sqlite:///{tmp_path / name / 'alerts.db'}")
        upgrade(db.engine)
        engine = engine_for(db, clock, make_settings(notify))
        touched.append([i for batch in batches for i in engine.record_judged(batch)])
        states.append(_pages_state(db))
        db.dispose()
    assert touched[0] == [1, 2, 1, 3, 2, 2, 3]
    assert touched[1] == [1, 2, 3]
    assert states[0] == states[1]
    alerts, queued = states[1]
    assert [a[2] for a in alerts] == ["high", "high", "critical"]
    assert [(n[1], n[2].split(":")[0], n[3]) for n in queued] == [
        (1, "email", t1), (2, "email", t1), (1, "webhook", t2), (3, "email", t2),
        (3, "webhook", t2), (2, "webhook", t3)]
