"""The listener's topic assigner: nothing before a model exists (and no failure on a store
without the schema), then a model stored by another process is picked up while running."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carewatch.domain import Author, Mention, Platform, Score, SentimentLabel
from carewatch.settings import Settings
from carewatch.topics import train
from listener import topics as listener_topics
from listener.topics import TopicAssigner
from storage.db import open_database
from storage.topics import save_topic_model
from tests.topics.examples import labelled


def _scored(text: str, label: SentimentLabel = SentimentLabel.NEGATIVE,
            own: bool = False) -> Mention:
    return Mention(Platform.X, text[:10], text, datetime.now(UTC),
                   Author(Platform.X, "1", "carol", "Carol"), is_own=own,
                   score=Score(-0.5, label, 0.5, [], "en"))


def test_picks_up_a_model_stored_while_running(migrated_db, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    assigner = TopicAssigner(migrated_db, Settings())
    first = [_scored("my bag is lost, where is my luggage?")]
    assigner.assign(first)
    assert (first[0].topic, first[0].topic_confidence) == (None, None)
    with migrated_db.write() as session:
        save_topic_model(session, train(labelled()), actor="cli", examples=labelled())
    monkeypatch.setattr(listener_topics, "REFRESH_SECONDS", 0.0)
    page = [_scored("my bag is lost, where is my luggage?"),
            _scored("thanks, lovely crew!", SentimentLabel.POSITIVE),
            _scored("our own post about lost bags", own=True)]
    assigner.assign(page)
    assert page[0].topic == "Lost Luggage"
    assert 0 < (page[0].topic_confidence or 0) <= 1
    assert (page[1].topic, page[1].topic_confidence) == (None, None)
    assert page[2].topic is None


def test_a_store_without_schema_leaves_topics_empty(sqlite_url: str) -> None:
    bare = open_database(sqlite_url)
    try:
        page = [_scored("my bag is lost")]
        TopicAssigner(bare, Settings()).assign(page)
        assert page[0].topic is None
    finally:
        bare.dispose()


def test_prepare_loads_the_model_before_the_first_poll(migrated_db) -> None:
    """`carewatch listen` pays the model's load at start-up (`Ingestor.prepare`): the first
    page's topics, assigned without a refresh inside its transaction, already have it."""
    from listener.ingest import Ingestor

    with migrated_db.write() as session:
        save_topic_model(session, train(labelled()), actor="cli", examples=labelled())
    ingestor = Ingestor(migrated_db, Settings())
    assert ingestor.topics is not None
    assert ingestor.topics.model is None
    ingestor.prepare()
    page = [_scored("my bag is lost, where is my luggage?")]
    ingestor.topics.assign(page, refresh=False)
    assert page[0].topic == "Lost Luggage"
