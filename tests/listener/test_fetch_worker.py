"""The fetch worker (listener.fetch_worker) against the sandbox through the real X source:
the same stored scores as polling in-process, and a worker killed mid-poll loses and repeats
no page."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from carewatch.domain import Author, Mention, Page, Platform
from carewatch.settings import Settings, SourceConfig
from listener import ingest
from listener.fetch_worker import (
    EXIT_GRACE_SECONDS,
    FETCH_DEPTH,
    FetchWorker,
    OpenPages,
    WorkerLost,
)
from listener.ingest import Ingestor, StoredMention
from sandbox.server import SandboxServer
from storage.db import Database, open_database
from storage.migrate import upgrade
from tests.listener.helpers import sources, stored

COUNT = 350  # four pages of X search
TEXTS = ["@acmeair my flight {i} was cancelled and nobody can tell me why",
         "@acmeair where is my bag?? landed 3 hours ago, flight {i}",
         "Thanks @acmeair, the crew on {i} was wonderful",
         "@acmeair refund for {i} still not processed after 6 weeks, unacceptable"]


def _fill(sandbox: SandboxServer) -> None:
    world = sandbox.world
    for i in range(COUNT):
        # 30 authors: most write again on the next page (repeat contacts across pages)
        world.add_tweet(TEXTS[i % len(TEXTS)].format(i=i),
                        {"username": f"cust{i % 30}", "followers": 100 * (i % 30)},
                        created_at=world.now() - 3 * 3600 + i)


def _settings(sandbox: SandboxServer) -> Settings:
    return Settings(x_api_url=sandbox.base_url, x_bearer_token="tok-1",
                    sources=[SourceConfig(platform="x", kind="search", query="@acmeair",
                                          backfill_days=1)])


def _scores(db: Database) -> dict[str, tuple[Any, ...]]:
    return {k: (m.sentiment_label, m.sentiment, m.urgency_reasons, m.topic)
            for k, m in stored(db, "x").items()}


def test_pages_from_the_worker_score_as_polled_in_process(migrated_db: Database,
                                                          sandbox: SandboxServer,
                                                          tmp_path: Path) -> None:
    _fill(sandbox)
    settings = _settings(sandbox)
    reference = open_database(f"sqlite:///{tmp_path / 'in-process.db'}")
    upgrade(reference.engine)
    try:
        here = Ingestor(reference, settings, score_worker=False).poll_source(
            settings.sources[0])
        expected = _scores(reference)
    finally:
        reference.dispose()
    result = Ingestor(migrated_db, settings).poll_source(settings.sources[0])
    assert result.ok
    assert here.ok
    assert result.new == here.new == COUNT
    assert result.pages == here.pages > 1
    got = _scores(migrated_db)
    assert got == expected
    assert any("repeat_contact" in (r[2] or "") for r in got.values())
    assert not mp.active_children()


def test_a_killed_fetch_worker_loses_and_repeats_no_page(migrated_db: Database,
                                                         sandbox: SandboxServer,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    # One page ahead and one per transaction, so the worker still holds pages when page
    # 1 is stored (with more, it may have sent all four and ended by then).
    monkeypatch.setattr(ingest, "WORKER_AHEAD", 1)
    monkeypatch.setattr(ingest, "PAGES_PER_COMMIT", 1)
    _fill(sandbox)
    settings = _settings(sandbox)
    killed: list[int] = []

    def kill_worker(session: Session, new: Sequence[StoredMention]) -> None:
        if not killed:  # page 1's transaction: the worker holds the pages after it
            for child in mp.active_children():
                if child.pid is not None:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)

    result = Ingestor(migrated_db, settings, page_steps=[kill_worker]).poll_source(
        settings.sources[0])
    assert killed
    assert result.ok, result.summary()
    assert result.new == COUNT
    rows = stored(migrated_db, "x")
    assert len(rows) == COUNT
    assert all(r.sentiment_label is not None for r in rows.values())
    assert "until_id" not in sources(migrated_db)[settings.sources[0].key].cursor
    assert not mp.active_children()


def test_a_page_sent_as_tuples_arrives_equal() -> None:
    """`_packed` / `_unpacked` (tuples over the pipe instead of pickled dataclasses) keep
    every field, the score and defaults included, and the raw payload as its JSON text;
    anything but a plain Mention goes as it is."""
    import pickle
    from dataclasses import replace
    from datetime import UTC, datetime

    import orjson

    from carewatch.domain import Author, Mention, Platform, Score, SentimentLabel, Visibility
    from listener.fetch_worker import _packed, _unpacked
    from storage.bulk import encoded_json

    full = Mention(platform=Platform.X, external_id="1", text="where is my bag?",
                   created_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
                   author=Author(Platform.X, "7", "ann", "Ann", 12), thread_id="1",
                   parent_id="0", url="https://x.com/ann/status/1", lang="en", like_count=2,
                   reply_count=1, repost_count=3, is_own=False,
                   visibility=Visibility.PRIVATE, is_echo=True,
                   raw={"id": "1", "nested": {"a": [1, 2]}},
                   score=Score(-0.4, SentimentLabel.NEGATIVE, 0.7, ["negative"], "en"),
                   topic="baggage", topic_confidence=0.8)
    bare = Mention(Platform.FACEBOOK, "2", "", datetime(2026, 5, 2, tzinfo=UTC),
                   Author(Platform.FACEBOOK, "unknown"))
    sent = pickle.loads(pickle.dumps(_packed([full, bare])))
    assert all(isinstance(m, tuple) for m in sent)
    got = _unpacked(sent)
    # The raw payload arrives as its JSON text, what the listener stores for the dict.
    assert [m.raw for m in got] == [encoded_json(full.raw), b"{}"]
    assert [orjson.loads(m.raw) for m in got] == [full.raw, {}]  # type: ignore[arg-type]
    assert [replace(m, raw=orjson.loads(m.raw)) for m in got] == [full, bare]  # type: ignore[arg-type]
    # One orjson does not encode as stored goes as it is; one already encoded stays so.
    odd_raw = replace(full, raw={"big": 2**70})
    encoded = replace(full, raw=b'{"id":"1"}')
    assert _unpacked(pickle.loads(pickle.dumps(_packed([odd_raw, encoded])))) == [
        odd_raw, encoded]
    assert _unpacked(pickle.loads(pickle.dumps(_packed([])))) == []

    class Odd(Mention):
        __slots__ = ()

    odd = Odd(Platform.X, "3", "x", datetime(2026, 5, 3, tzinfo=UTC), Author(Platform.X, "8"))
    assert _packed([full, odd]) == [full, odd]
    assert _unpacked(_packed([full, odd])) == [full, odd]


def test_pages_stored_together_commit_or_roll_back_with_their_cursor(
        migrated_db: Database, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Long enough a wait that on SQLite all four pages go into one transaction; on
    # PostgreSQL each page still has its own.
    monkeypatch.setattr(ingest, "BATCH_WAIT_SECONDS", 10.0)
    _fill(sandbox)
    settings = _settings(sandbox)
    key = settings.sources[0].key
    steps: list[int] = []

    def fail_on_page_3(session: Session, new: Sequence[StoredMention]) -> None:
        steps.append(len(new))
        if len(steps) == 3:
            raise RuntimeError("the listener fails while storing page 3")

    first = Ingestor(migrated_db, settings, page_steps=[fail_on_page_3]).poll_source(
        settings.sources[0])
    assert not first.ok
    assert len(steps) == 3
    kept = len(stored(migrated_db, "x"))
    source = sources(migrated_db)[key]
    if migrated_db.dialect == "sqlite":  # pages 1 and 2 rolled back with page 3
        assert (first.new, first.pages, kept) == (0, 0, 0)
        assert source.cursor_version == 0
        assert not source.cursor
    else:
        assert (first.new, first.pages, kept) == (200, 2, 200)
        assert source.cursor_version == 2
    assert source.items_total == kept

    second = Ingestor(migrated_db, settings).poll_source(settings.sources[0])
    assert second.ok, second.summary()
    assert first.new + second.new == COUNT
    rows = stored(migrated_db, "x")
    assert len(rows) == COUNT
    assert all(r.sentiment_label is not None for r in rows.values())
    source = sources(migrated_db)[key]
    assert source.cursor_version == 4  # one step per page, however they were committed
    assert source.items_total == COUNT
    assert "until_id" not in source.cursor


def test_a_page_scores_as_its_mentions_one_by_one(monkeypatch: pytest.MonkeyPatch,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    """`_score_page` scores the page at once (`Scorer.levels_many`, the batch care model once
    `warm_up_worker` ran): each mention exactly as `Scorer.levels` scores it alone; own posts
    and mentions already scored get None, and so does a text whose scoring raises (logged),
    alone: the page's other mentions keep their scores."""
    from datetime import UTC, datetime, timedelta

    from carewatch.domain import Author, Mention, Platform, Score, SentimentLabel
    from listener.fetch_worker import _LEVELS, _score_page, warm_up_worker
    from listener.scoring import Scorer

    scorer = Scorer()
    warm_up_worker(scorer)
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    texts = [*TEXTS, "가방이 어디 있나요?", "¿Dónde está mi maleta?", "", "😡", "BREAKS"]
    page = [Mention(Platform.X, str(i), texts[i % len(texts)].format(i=i),
                    now - timedelta(minutes=7 * i), Author(Platform.X, str(i % 9),
                                                           followers=None if i % 5 else 40 * i),
                    lang=("en", None, "und")[i % 3], like_count=i % 4, reply_count=i % 2,
                    repost_count=i % 3, is_own=i % 17 == 0, is_echo=i % 11 == 0,
                    score=Score(0.1, SentimentLabel.POSITIVE, 0.0, [], "en") if i % 23 == 0
                    else None)
            for i in range(120)]
    counts = scorer.rules.matcher.counts

    def counts_or_fail(text: str, *args: Any) -> Any:
        if text == "BREAKS":
            raise ValueError("odd text")
        return counts(text, *args)

    monkeypatch.setattr(scorer.rules.matcher, "counts", counts_or_fail)
    got = _score_page(scorer, page, now)
    for m, scored in zip(page, got, strict=True):
        if m.is_own or m.score is not None or m.text == "BREAKS":
            assert scored is None
            continue
        assert scored == scorer.levels(
            m.text, followers=m.author.followers,
            engagement=m.like_count + m.reply_count + m.repost_count,
            waiting_minutes=(now - m.created_at).total_seconds() / 60, lang=m.lang,
            echo=m.is_echo, repeat_contacts=_LEVELS), m.text
    # On stderr as configured; on stdout when an earlier test left structlog's default
    # (print) logger in place: either way the failure is reported.
    shown = capfd.readouterr()
    assert "scoring_failed" in shown.err + shown.out


# ------------------------------------------------ the hand-over between worker and listener
FORK = mp.get_context("fork")
BIG = "x" * 100_000  # a page that pickles to more than the pipe holds (64 KiB on Linux)


def _page(n: int) -> Page:
    return Page([Mention(Platform.X, str(n), BIG, datetime(2026, 5, 1, tzinfo=UTC),
                         Author(Platform.X, "7"))], {"n": n})


def _pages(count: int, made: Any, error: Exception | None = None) -> OpenPages:
    """Opens `count` big pages (then raises `error`), counting in `made` those fetched."""
    def open_pages(should_stop: Callable[[], bool]) -> Iterator[Page]:
        for n in range(count):
            with made.get_lock():
                made.value += 1
            yield _page(n)
        if error is not None:
            raise error
    return open_pages


def _settled(made: Any, expected: int = 0) -> int:
    """The worker's count of pages fetched once it has reached `expected` (10 s at most)
    and then fetched nothing more for a while."""
    deadline = time.monotonic() + 10
    while made.value < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    seen = -1
    while seen != made.value:
        seen = made.value
        time.sleep(0.3)
    return seen


def test_the_worker_hands_pages_over_in_order_then_its_error() -> None:
    made = FORK.Value("i", 0)
    got: list[int] = []
    with pytest.raises(ValueError, match="page 41 is malformed"), FetchWorker(  # noqa: PT012
            _pages(40, made, ValueError("page 41 is malformed")), None, lambda: False,
            ahead=16) as worker:
        for page, scored in worker:
            got.append(page.cursor["n"])
            assert page.mentions[0].text == BIG
            assert scored == [None]
            time.sleep(0.01)  # the listener stores: the worker's pages queue up
    assert got == list(range(40))
    assert not FORK.active_children()


@pytest.mark.parametrize("ahead", [1, 16])
def test_the_worker_runs_a_bounded_number_of_pages_ahead(ahead: int) -> None:
    made = FORK.Value("i", 0)
    with FetchWorker(_pages(200, made), None, lambda: False, ahead=ahead) as worker:
        pages = iter(worker)
        for received in range(1, 4):
            next(pages)
            # The listener holds its pages; the worker sends `ahead` more, scores one and
            # fetches FETCH_DEPTH, and no further.
            bound = received + ahead + 1 + FETCH_DEPTH
            assert _settled(made, bound) == bound


def test_a_worker_killed_while_a_page_waits_for_the_pipe_raises_worker_lost() -> None:
    made = FORK.Value("i", 0)
    got: list[int] = []
    with pytest.raises(WorkerLost), FetchWorker(  # noqa: PT012
            _pages(200, made), None, lambda: False, ahead=16) as worker:
        for page, _ in worker:
            got.append(page.cursor["n"])
            if len(got) == 1:  # its pipe full, the worker's sender waits for room
                _settled(made, 1 + 16 + 1 + FETCH_DEPTH)
                os.kill(worker._process.pid, signal.SIGKILL)
    assert got == list(range(len(got)))  # what arrived came whole and in order
    assert 1 <= len(got) <= 17
    assert not FORK.active_children()


def test_a_worker_waiting_to_send_ends_by_itself_when_the_listener_stops() -> None:
    made = FORK.Value("i", 0)
    stop = threading.Event()
    before = threading.enumerate()
    start = time.monotonic()
    with FetchWorker(_pages(200, made), None, stop.is_set, ahead=16) as worker:
        for _ in worker:
            _settled(made, 1 + 16 + 1 + FETCH_DEPTH)  # its sender waits for room
            stop.set()
    assert time.monotonic() - start < EXIT_GRACE_SECONDS
    assert worker._process.exitcode == 0  # ended, not killed
    assert threading.enumerate() == before  # the listener's side starts no thread


def test_a_source_error_in_the_worker_is_raised_after_the_pages_before_it(
        migrated_db: Database, sandbox: SandboxServer) -> None:
    _fill(sandbox)
    sandbox.world.set_limits({"search": 2})  # page 3's request is rate limited
    # raised at once (the reset is ~15 minutes away), not waited out
    settings = _settings(sandbox).model_copy(update={"max_rate_limit_wait_seconds": 60})
    result = Ingestor(migrated_db, settings).poll_source(settings.sources[0])
    assert result.state == "rate_limited", result.summary()
    assert (result.new, result.pages) == (200, 2)
    assert len(stored(migrated_db, "x")) == 200
    source = sources(migrated_db)[settings.sources[0].key]
    assert source.items_total == 200
    assert source.cursor_version == 2  # one step per page, however they were committed
    assert source.cursor
    assert not mp.active_children()


def test_a_worker_forked_while_another_thread_imports_its_source_module_polls(
        migrated_db: Database, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listener's responder job imports tweepy on its first send, on its own thread; a
    fetch worker forked in that moment inherited the import lock held by a thread it does not
    have and waited on it forever: that source was never polled again. The listener now
    imports the source's module before forking (waiting for the other import to finish)."""
    import importlib._bootstrap as bootstrap
    import sys

    _fill(sandbox)
    settings = _settings(sandbox)
    name = "listener.sources.x"
    monkeypatch.delitem(sys.modules, name, raising=False)  # imported afresh in this test
    held, release = threading.Event(), threading.Event()

    def importing() -> None:  # another thread, midway through importing the module
        with bootstrap._ModuleLockManager(name):
            held.set()
            release.wait(10)

    other = threading.Thread(target=importing, daemon=True)
    other.start()
    held.wait(5)
    threading.Timer(1.0, release.set).start()
    outcome: list[Any] = []
    stop = threading.Event()
    ingestor = Ingestor(migrated_db, settings, should_stop=stop.is_set)
    poll = threading.Thread(target=lambda: outcome.append(
        ingestor.poll_source(settings.sources[0])), daemon=True)
    poll.start()
    poll.join(30)
    if poll.is_alive():
        stop.set()  # let the stuck poll end with the test
        poll.join(30)
    assert outcome, "the poll never ended"
    assert outcome[0].ok
    assert outcome[0].new == COUNT, "the worker waited on the import lock until stopped"


# ------------------------------------------------ the watchdog on a silent worker
def _stuck_in_the_worker(listener_pid: int) -> None:
    """Block forever, as a worker waiting on a lock that no thread of its own will release
    (a lock another thread of the listener held at the fork), but only in the worker."""
    if os.getpid() != listener_pid:
        stuck = threading.Lock()
        stuck.acquire()
        stuck.acquire()


def test_a_worker_stuck_on_a_lock_is_stopped_after_its_silent_limit() -> None:
    listener_pid = os.getpid()

    def open_pages(should_stop: Callable[[], bool]) -> Iterator[Page]:
        _stuck_in_the_worker(listener_pid)
        yield _page(0)

    start = time.monotonic()
    with pytest.raises(WorkerLost, match="no sign of life"), FetchWorker(
            open_pages, None, lambda: False, silent_limit=1.0) as worker:
        next(iter(worker))
    assert 1.0 <= time.monotonic() - start < EXIT_GRACE_SECONDS
    assert worker._process.exitcode == -signal.SIGKILL
    assert not FORK.active_children()


def test_a_worker_waiting_out_retries_longer_than_its_limit_is_not_taken_for_silent() -> None:
    """Retries and rate-limit waits show a sign of life at every step: a source that waits
    several seconds before its page arrives is left alone with a 1-second limit."""
    import requests

    from carewatch.retry import RetryPolicy, call_with_retry

    failures = iter([requests.ConnectionError("down"), requests.ConnectionError("down")])

    def flaky() -> Page:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return _page(0)

    def open_pages(should_stop: Callable[[], bool]) -> Iterator[Page]:
        # Backoffs of 1-2 s and then 2-4 s: at least 3 s before the page.
        yield call_with_retry(flaky, platform="X",
                              policy=RetryPolicy(max_attempts=3, base_delay=2.0))

    start = time.monotonic()
    with FetchWorker(open_pages, None, lambda: False, silent_limit=1.0) as worker:
        got = [page.cursor["n"] for page, _ in worker]
    assert got == [0]
    assert time.monotonic() - start >= 3.0


def test_a_poll_whose_worker_goes_silent_ends_in_the_listener(
        migrated_db: Database, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    """A source whose worker hangs (here: on a lock, in the worker only) is polled to the end
    in the listener's own process, from the stored cursor, instead of never again."""
    from listener.sources.x import XSource

    monkeypatch.setattr("listener.fetch_worker.SILENCE_MARGIN_SECONDS", 0.5)
    _fill(sandbox)
    settings = _settings(sandbox).model_copy(update={"http_timeout": 1.0})
    listener_pid = os.getpid()
    polled = XSource.poll

    def poll(self: XSource, cursor: dict[str, Any]) -> Iterator[Page]:
        _stuck_in_the_worker(listener_pid)
        yield from polled(self, cursor)

    monkeypatch.setattr(XSource, "poll", poll)
    result = Ingestor(migrated_db, settings).poll_source(settings.sources[0])
    assert result.ok, result.summary()
    assert result.new == COUNT
    assert len(stored(migrated_db, "x")) == COUNT
    assert not mp.active_children()
    shown = capfd.readouterr()
    assert "fetch_worker_silent" in shown.err + shown.out
