"""Scoring page N+1 in a worker process while page N is stored (listener.score_pool): the
same scores as one page after the other, each page once, and a worker that dies costs
nothing but time. On SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from carewatch.domain import Author, Mention, Page, Platform
from carewatch.settings import Settings, SourceConfig
from listener.ingest import Ingestor, StoredMention
from listener.score_pool import WORKER_MIN_ITEMS
from storage.db import Database, open_database
from storage.migrate import upgrade
from tests.listener.helpers import sources, stored

TEXTS = ["@acmeair my flight {i} was cancelled and nobody can tell me why",
         "@acmeair where is my bag?? landed 3 hours ago, flight {i}",
         "Thanks @acmeair, the crew on {i} was wonderful",
         "@acmeair refund for {i} still not processed after 6 weeks, unacceptable",
         "smoke in the cabin on flight {i}, everyone is scared @acmeair"]
PAGE = max(40, 2 * WORKER_MIN_ITEMS)
CREATED = datetime.now(UTC) - timedelta(days=2)


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


def _settings() -> Settings:
    return Settings(x_bearer_token="tok-1", fb_page_token="tok-2",
                    sources=[SourceConfig(platform="x", kind="mentions", user_id="1")])


def _mention(i: int) -> Mention:
    # 25 authors over every page: most authors write again in the next page, so the
    # repeat-contact counts a page changes are those the worker did not see.
    who = i % 25
    return Mention(platform=Platform.X, external_id=str(i), text=TEXTS[i % len(TEXTS)].format(i=i),
                   created_at=CREATED + timedelta(seconds=i),
                   author=Author(Platform.X, f"a{who}", handle=f"h{who}", followers=100 * who),
                   thread_id=str(i), like_count=i % 3)


def _pages(count: int, size: int = PAGE) -> list[Page]:
    return [Page([_mention(n * size + k) for k in range(size)], {"n": n + 1})
            for n in range(count)]


class Scripted:
    def __init__(self, pages: list[Page]) -> None:
        self.pages = pages

    def factory(self, config: SourceConfig, settings: Settings, **_: Any) -> Scripted:
        return self

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        yield from self.pages


def _scores(database: Database) -> dict[str, tuple[Any, ...]]:
    return {k: (m.sentiment_label, round(m.sentiment or 0, 6), round(m.urgency or 0, 3),
                m.urgency_reasons, m.topic)
            for k, m in stored(database, "x").items()}


def _poll(database: Database, pages: list[Page], **kwargs: Any) -> Any:
    settings = _settings()
    ingestor = Ingestor(database, settings, source_factory=Scripted(pages).factory, **kwargs)
    return ingestor.poll_source(settings.sources[0])


def test_pages_scored_in_a_worker_score_as_one_after_the_other(db: Database,
                                                               tmp_path: Path) -> None:
    reference = open_database(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    upgrade(reference.engine)
    try:
        sequential = _poll(reference, _pages(4), score_worker=False)
        expected = _scores(reference)
    finally:
        reference.dispose()
    result = _poll(db, _pages(4))
    assert result.ok
    assert result.new == sequential.new == 4 * PAGE
    got = _scores(db)
    assert got == expected
    assert any("repeat_contact" in (r[3] or "") for r in got.values())
    assert sources(db)[_settings().sources[0].key].cursor == {"n": 4}


def test_a_killed_worker_loses_and_repeats_no_page(db: Database) -> None:
    killed: list[int] = []

    def kill_worker(session: Session, new: Sequence[StoredMention]) -> None:
        # Page 1's transaction: page 2 is with the worker now.
        if not killed:
            for child in mp.active_children():
                if child.pid is not None:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)

    pages = _pages(4, size=3 * PAGE)
    result = _poll(db, pages, page_steps=[kill_worker])
    assert killed  # the worker was there, and died
    assert result.ok
    assert result.new == result.pages * 3 * PAGE == 4 * 3 * PAGE
    rows = stored(db, "x")
    assert len(rows) == 4 * 3 * PAGE
    assert all(r.sentiment_label is not None for r in rows.values())
    assert sources(db)[_settings().sources[0].key].cursor == {"n": 4}
    assert not mp.active_children()  # shut down with the poll


def test_a_stopped_poll_stores_no_page_scored_ahead(db: Database) -> None:
    stop = threading.Event()

    def step(session: Session, new: Sequence[StoredMention]) -> None:
        stop.set()  # asked to stop while page 1 is stored (page 2 is being scored)

    settings = _settings()
    result = Ingestor(db, settings, source_factory=Scripted(_pages(5)).factory,
                      should_stop=stop.is_set, page_steps=[step]).poll_source(
        settings.sources[0])
    assert result.ok
    assert result.pages == 1
    assert len(stored(db, "x")) == PAGE
    assert sources(db)[settings.sources[0].key].cursor == {"n": 1}
    assert not mp.active_children()
