"""The page's bulk write path on SQLite and PostgreSQL: duplicates inside a page and across
pages, two processes storing the same items at once, the post-scoring page steps, and the
read-ahead that fetches the next page while one is stored."""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import time
import types
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carewatch.domain import Page
from carewatch.settings import Settings, SourceConfig
from listener.ingest import Ingestor, StoredMention
from listener.read_ahead import ReadAhead
from storage.db import Database
from storage.models import Author as AuthorRow
from storage.models import HourlyStat, Thread
from storage.models import Mention as MentionRow
from tests.listener.bulk_worker import settings as _settings
from tests.listener.bulk_worker import store_in_process
from tests.listener.bulk_worker import tweet as _tweet
from tests.listener.helpers import sources, stored


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


class Scripted:
    """A source yielding the given pages; records what it was asked to do."""

    def __init__(self, pages: list[Page]) -> None:
        self.pages = pages
        self.fetched: list[int] = []
        self.closed = threading.Event()
        self.fetching = {n: threading.Event() for n in range(len(pages))}

    def factory(self, config: SourceConfig, settings: Settings, **_: Any) -> Scripted:
        return self

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        try:
            for n, page in enumerate(self.pages):
                self.fetching[n].set()
                self.fetched.append(n)
                yield page
        finally:
            self.closed.set()


def _counts(db: Database) -> dict[str, Any]:
    with db.session() as s:
        return {
            "mentions": s.execute(select(func.count(MentionRow.id))).scalar_one(),
            "threads": s.execute(select(func.count(Thread.id))).scalar_one(),
            "authors": s.execute(select(func.count(AuthorRow.id))).scalar_one(),
            "hourly": s.execute(select(func.sum(HourlyStat.count))).scalar_one() or 0,
            "roots": dict(s.execute(select(Thread.external_id, Thread.root_text)).all()),
        }


def test_duplicates_inside_a_page_are_stored_once(db: Database) -> None:
    settings = _settings()
    page = Page([_tweet(1), _tweet(2, thread=1, author=1), _tweet(1), _tweet(2, thread=1,
                                                                             author=1)],
                {"since_id": "2"})
    result = Ingestor(db, settings, scorer=None,
                      source_factory=Scripted([page]).factory).poll_source(settings.sources[0])
    assert (result.new, result.seen) == (2, 0)
    counts = _counts(db)
    assert (counts["mentions"], counts["threads"], counts["authors"], counts["hourly"]) == (
        2, 1, 1, 2)
    assert counts["roots"] == {"1": "@acmeair where is my bag? #1"}
    assert stored(db, "x")["2"].thread_pk == stored(db, "x")["1"].thread_pk


def test_duplicates_across_pages_count_once_and_late_roots_are_filled(db: Database) -> None:
    settings = _settings()
    # Page 1 holds a reply whose conversation root only arrives on page 2, which also
    # repeats page 1's items (a replay, or an item on two pages of a moving timeline).
    first = Page([_tweet(5, thread=4, author=7), _tweet(6)], {"until_id": "5"})
    second = Page([_tweet(6), _tweet(4, author=7), _tweet(5, thread=4, author=7)],
                  {"since_id": "6"})
    result = Ingestor(db, settings, scorer=None,
                      source_factory=Scripted([first, second]).factory).poll_source(
        settings.sources[0])
    assert (result.new, result.seen, result.pages) == (3, 2, 2)
    counts = _counts(db)
    assert (counts["mentions"], counts["threads"], counts["authors"], counts["hourly"]) == (
        3, 2, 2, 3)
    assert counts["roots"] == {"4": "@acmeair where is my bag? #4",
                               "6": "@acmeair where is my bag? #6"}
    # A later poll of the same items writes no new rows and adds nothing to the aggregates.
    again = Ingestor(db, settings, scorer=None,
                     source_factory=Scripted([second]).factory).poll_source(settings.sources[0])
    assert (again.new, again.seen) == (0, 3)
    assert _counts(db)["hourly"] == 3
    assert sources(db)[settings.sources[0].key].cursor == {"since_id": "6"}


def test_two_processes_storing_the_same_items_store_each_once(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # A spawned process re-runs the parent's `__main__`; after a Streamlit AppTest in the
    # same session that is the dashboard script. The workers need none of it.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    numbers = list(range(5, 305))
    forward = [numbers[i:i + 50] for i in range(0, len(numbers), 50)]
    backward = [list(reversed(b)) for b in reversed(forward)]
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            runs = [pool.apply_async(store_in_process, (db.url, order, start))
                    for order in (forward, backward)]
            new = [run.get(timeout=120) for run in runs]
    assert sorted(new[0] + new[1]) == sorted(set(new[0] + new[1]))  # no item new twice
    counts = _counts(db)
    assert counts["mentions"] == len(numbers) == len(new[0]) + len(new[1])
    assert counts["hourly"] == len(numbers)
    assert counts["threads"] == len({i - i % 5 for i in numbers})
    assert counts["authors"] == 7
    assert all(counts["roots"][str(t)] for t in {i - i % 5 for i in numbers})
    with db.session() as s:
        unscored = s.execute(select(func.count(MentionRow.id))
                             .where(MentionRow.sentiment.is_(None))).scalar_one()
    assert unscored == 0


def test_page_steps_see_each_new_mention_once_inside_the_transaction(db: Database) -> None:
    settings = _settings()
    seen: list[tuple[int, str, bool]] = []

    def step(session: Session, new: Sequence[StoredMention]) -> None:
        for item in new:
            row = session.get(MentionRow, item.id)  # visible: same transaction
            assert row is not None
            assert row.external_id == item.mention.external_id
            seen.append((item.id, item.mention.external_id, item.mention.score is not None))

    pages = [Page([_tweet(1), _tweet(2), _tweet(1)], {"a": 1}),
             Page([_tweet(2), _tweet(3)], {"a": 2})]
    ingestor = Ingestor(db, settings, source_factory=Scripted(pages).factory,
                        page_steps=[step])
    result = ingestor.poll_source(settings.sources[0])
    assert [e for _, e, _ in seen] == ["1", "2", "3"]
    assert all(scored for _, _, scored in seen)
    assert sorted(i for i, _, _ in seen) == sorted(result.inserted_ids)
    ingestor.source_factory = Scripted(pages).factory
    ingestor.poll_source(settings.sources[0])
    assert len(seen) == 3  # a replay finds nothing new


def test_a_failing_page_step_rolls_the_page_back(db: Database) -> None:
    settings = _settings()

    def step(session: Session, new: Sequence[StoredMention]) -> None:
        if any(item.mention.external_id == "3" for item in new):
            raise RuntimeError("rule engine broke")

    pages = [Page([_tweet(1)], {"a": 1}), Page([_tweet(3)], {"a": 2})]
    result = Ingestor(db, settings, scorer=None, source_factory=Scripted(pages).factory,
                      page_steps=[step]).poll_source(settings.sources[0])
    assert result.state == "failed"
    assert set(stored(db, "x")) == {"1"}
    assert sources(db)[settings.sources[0].key].cursor == {"a": 1}
    assert _counts(db)["hourly"] == 1


def test_the_next_page_is_fetched_while_one_is_stored(db: Database) -> None:
    settings = _settings()
    script = Scripted([Page([_tweet(1)], {"a": 1}), Page([_tweet(2)], {"a": 2})])
    overlapped: list[bool] = []

    def step(session: Session, new: Sequence[StoredMention]) -> None:
        if new[0].mention.external_id == "1":
            # Still inside page 1's transaction: page 2 is being fetched meanwhile.
            overlapped.append(script.fetching[1].wait(timeout=10))

    result = Ingestor(db, settings, scorer=None, source_factory=script.factory,
                      page_steps=[step]).poll_source(settings.sources[0])
    assert overlapped == [True]
    assert result.new == 2
    assert script.closed.is_set()


def test_a_stopped_poll_stores_no_page_fetched_ahead(db: Database) -> None:
    settings = _settings()
    script = Scripted([Page([_tweet(i)], {"n": i}) for i in range(1, 6)])
    stop = threading.Event()

    def step(session: Session, new: Sequence[StoredMention]) -> None:
        stop.set()  # asked to stop while page 1 is stored

    result = Ingestor(db, settings, scorer=None, source_factory=script.factory,
                      should_stop=stop.is_set, page_steps=[step]).poll_source(
        settings.sources[0])
    assert result.ok
    assert result.pages == 1
    assert set(stored(db, "x")) == {"1"}
    assert sources(db)[settings.sources[0].key].cursor == {"n": 1}
    assert script.closed.is_set()  # the generator was closed, nothing runs on
    assert len(script.fetched) <= 2  # the page in hand and at most one fetched ahead


def test_read_ahead_raises_a_fetch_error_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("malformed page 3")

    got: list[int] = []

    def drain() -> None:
        with ReadAhead(pages()) as ahead:
            got.extend(ahead)

    with pytest.raises(ValueError, match="malformed page 3"):
        drain()
    assert got == [1, 2]


@pytest.mark.parametrize("depth", [1, 4])
def test_read_ahead_raises_a_fetch_error_after_the_items_before_it_at_any_depth(
        depth: int) -> None:
    def items() -> Iterator[int]:
        yield from range(10)
        raise ValueError("malformed page 11")

    got: list[int] = []
    with pytest.raises(ValueError, match="malformed page 11"), ReadAhead(  # noqa: PT012
            items(), depth=depth) as ahead:
        for item in ahead:
            got.append(item)
    assert got == list(range(10))


@pytest.mark.parametrize("depth", [1, 3])
def test_read_ahead_fetches_at_most_depth_items_ahead_of_the_caller(depth: int) -> None:
    fetched: list[int] = []
    closed_in: list[str] = []

    def items() -> Iterator[int]:
        try:
            for n in range(50):
                fetched.append(n)
                yield n
        finally:
            closed_in.append(threading.current_thread().name)

    def settled(expected: int) -> int:
        """How many items are fetched once `expected` are (10 s at most) and the thread
        has then fetched nothing more for a while."""
        deadline = time.monotonic() + 10
        while len(fetched) < expected and time.monotonic() < deadline:
            time.sleep(0.005)
        seen = -1
        while seen != len(fetched):
            seen = len(fetched)
            time.sleep(0.1)
        return seen

    before = threading.active_count()
    with ReadAhead(items(), name="ahead-test", depth=depth) as ahead:
        for taken, _ in enumerate(ahead, start=1):
            # fetched beyond the items taken: never more than depth, and it does go that far
            assert settled(taken + depth) == taken + depth
            if taken == 5:
                break
    assert settled(5 + depth) == 5 + depth  # the caller left: nothing more was fetched
    assert closed_in == ["ahead-test"]  # the generator was closed in its own thread
    assert threading.active_count() == before


def test_a_deep_read_ahead_ends_promptly_when_the_caller_leaves() -> None:
    release = threading.Event()

    def items() -> Iterator[int]:
        yield from range(3)
        release.wait(10)  # a slow request in flight
        yield 3

    start = time.monotonic()
    with ReadAhead(items(), depth=8) as ahead:
        assert next(iter(ahead)) == 0
        threading.Timer(0.2, release.set).start()  # the request in flight ends
    assert time.monotonic() - start < 2.0
