"""Topics in the database, on SQLite and PostgreSQL: the stored model, corrections as
training examples, re-topicking open items and the hourly topic counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from carewatch.domain import Author, Mention, Platform, Score, SentimentLabel
from carewatch.settings import Settings, TopicConfig
from carewatch.topics import train
from storage.mentions import upsert_mentions
from storage.models import AuditEntry, TopicCorrection
from storage.models import Mention as MentionRow
from storage.topics import (
    build_topic_model,
    correct_topic,
    corrections_as_examples,
    ensure_topic_model,
    load_topic_model,
    retopic_open,
    save_topic_model,
    stored_examples,
    topic_labels,
    topic_series,
)
from tests.topics.examples import labelled

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


def _mention(external_id: str, text: str, label: SentimentLabel = SentimentLabel.NEGATIVE,
             topic: str | None = None) -> Mention:
    return Mention(platform=Platform.X, external_id=external_id, text=text, created_at=NOW,
                   author=Author(Platform.X, "u" + external_id, "carol", "Carol", 10),
                   score=Score(-0.5 if label is SentimentLabel.NEGATIVE else 0.6, label,
                               0.5, [], "en"),
                   topic=topic, topic_confidence=0.9 if topic else None)


def _series(db) -> dict[str, tuple[int, int]]:
    with db.session() as s:
        rows = topic_series(s, NOW - timedelta(days=1), NOW + timedelta(days=1))
    return {r["topic"]: (r["count"], r["negative"]) for r in rows}


def test_model_is_stored_as_json_and_loads_back(migrated_db) -> None:
    model = train(labelled())
    with migrated_db.write() as s:
        assert load_topic_model(s) is None
        save_topic_model(s, model, actor="alice", examples=labelled())
    with migrated_db.write() as s:
        loaded = load_topic_model(s)
        assert loaded is not None
        assert loaded.to_json() == model.to_json()
        assert sorted(stored_examples(s)) == sorted(labelled())
        save_topic_model(s, model, actor="bob")  # None keeps the stored examples
    with migrated_db.session() as s:
        assert sorted(stored_examples(s)) == sorted(labelled())
        audit = s.execute(select(AuditEntry.actor).where(
            AuditEntry.action == "topic_model_saved")).scalars().all()
        assert audit == ["alice", "bob"]


def test_ingest_counts_topics_and_a_correction_moves_the_count(migrated_db) -> None:
    with migrated_db.write() as s:
        upsert_mentions(s, [_mention("1", "lost bag", topic="Lost Luggage"),
                            _mention("2", "late", topic="Late Flight"),
                            _mention("3", "thanks", SentimentLabel.POSITIVE)])
    assert _series(migrated_db) == {"Lost Luggage": (1, 1), "Late Flight": (1, 1)}
    with migrated_db.write() as s:
        pk = s.execute(select(MentionRow.id).where(MentionRow.external_id == "2")).scalar_one()
        correct_topic(s, pk, "Lost Luggage", actor="agent1")
    assert _series(migrated_db) == {"Lost Luggage": (2, 2)}
    with migrated_db.write() as s:
        correct_topic(s, pk, None, actor="agent2")  # again: the latest correction wins
    assert _series(migrated_db) == {"Lost Luggage": (1, 1)}
    with migrated_db.session() as s:
        row = s.get(MentionRow, pk)
        assert (row.topic, row.topic_confidence) == (None, None)
        assert s.execute(select(TopicCorrection.actor)).scalars().all() == ["agent2"]
        assert corrections_as_examples(s) == [("late", "")]
        audit = s.execute(select(AuditEntry.details).where(
            AuditEntry.action == "topic_corrected")).scalars().all()
        assert [(d["from"], d["to"]) for d in audit] == [("Late Flight", "Lost Luggage"),
                                                         ("Lost Luggage", None)]


def test_corrections_become_training_examples(migrated_db) -> None:
    settings = Settings(topics=[])
    text = "the seat recline button is broken"
    with migrated_db.write() as s:
        upsert_mentions(s, [_mention("9", text)])
        save_topic_model(s, train(labelled()), actor="a", examples=labelled())
        pk = s.execute(select(MentionRow.id)).scalar_one()
        correct_topic(s, pk, "Seats", actor="agent")
        model = build_topic_model(s, settings)
    assert model is not None
    assert "Seats" in model.labels


def test_new_model_retopics_open_items_but_not_corrected_or_closed(migrated_db) -> None:
    with migrated_db.write() as s:
        upsert_mentions(s, [_mention("1", "my luggage is lost, where is my bag?"),
                            _mention("2", "flight delayed 3 hours"),
                            _mention("3", "where is my refund?"),
                            _mention("4", "my bag is lost too")])
        ids = dict(s.execute(select(MentionRow.external_id, MentionRow.id)).all())
        correct_topic(s, ids["3"], "Billing", actor="agent")
        s.get(MentionRow, ids["4"]).status = "closed"
    with migrated_db.write() as s:
        assert retopic_open(s, train(labelled())) == 2
    with migrated_db.session() as s:
        topics = dict(s.execute(select(MentionRow.external_id, MentionRow.topic)).all())
        assert topics == {"1": "Lost Luggage", "2": "Late Flight", "3": "Billing", "4": None}
        conf = s.get(MentionRow, ids["1"]).topic_confidence
        assert conf is not None
        assert 0 < conf <= 1
        assert topic_labels(s) == ["Billing", "Late Flight", "Lost Luggage"]
    assert _series(migrated_db) == {"Lost Luggage": (1, 1), "Late Flight": (1, 1),
                                    "Billing": (1, 1)}


def test_ensure_builds_from_config_and_rebuilds_when_it_changes(migrated_db) -> None:
    first = Settings(topics=[TopicConfig(name="Wifi", keywords=["wifi"])])
    with migrated_db.write() as s:
        assert ensure_topic_model(s, Settings()) is None
        model = ensure_topic_model(s, first)
        assert model is not None
        assert model.labels == ("Wifi",)
        assert ensure_topic_model(s, first).to_json() == model.to_json()
    second = Settings(topics=[TopicConfig(name="Wifi", keywords=["wifi"]),
                              TopicConfig(name="Seats", keywords=["seat*"])])
    with migrated_db.write() as s:
        save_topic_model(s, load_topic_model(s), actor="x", examples=labelled())
        rebuilt = ensure_topic_model(s, second)
        assert rebuilt is not None
        assert rebuilt.labels == ("Late Flight", "Lost Luggage", "Refund", "Seats", "Wifi")
        assert topic_labels(s) == list(rebuilt.labels)
