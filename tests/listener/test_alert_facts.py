"""The facts the listener hands the alert engine from the page it just stored are the ones
the engine would read back from the database (`storage.alerts.mentions_by_ids`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carewatch.domain import Page
from listener.alerts.base import MentionFacts, aware
from listener.ingest import Ingestor
from storage import alerts as store
from storage.db import Database
from tests.listener.test_score_pool import Scripted, _mention, _settings


class Recording:
    """An alert engine that keeps what it was given."""

    def __init__(self) -> None:
        self.facts: list[MentionFacts] = []

    def on_new_facts(self, facts: Sequence[MentionFacts]) -> list[int]:
        self.facts.extend(facts)
        return []

    def on_new_mentions(self, ids: Sequence[int]) -> list[int]:
        raise AssertionError("the listener has the facts at hand")


def _norm(fact: Any) -> tuple[Any, ...]:
    row = fact._asdict() if hasattr(fact, "_asdict") else dict(fact._mapping)
    row["created_at"] = aware(row["created_at"])
    row["urgency"] = round(row["urgency"] or 0.0, 6)
    return tuple(sorted(row.items()))


def test_page_facts_match_the_stored_rows(migrated_db: Database) -> None:
    settings = _settings()
    engine = Recording()
    pages = [Page([_mention(i) for i in range(n * 30, n * 30 + 30)], {"n": n}) for n in range(2)]
    result = Ingestor(migrated_db, settings, alert_engine=engine,
                      source_factory=Scripted(pages).factory).poll_source(settings.sources[0])
    assert result.new == 60
    with migrated_db.session() as session:
        rows = store.mentions_by_ids(session, result.inserted_ids)
    assert sorted(map(_norm, engine.facts)) == sorted(map(_norm, rows))
