"""Several listeners, one database: each source is polled by one listener at a time, at most
once per interval across all of them (so they call the APIs as often as one listener would),
an explicit `--once` respects another's lease, and `carewatch status` shows who polls what.

Listeners here are `Ingestor`s with distinct lease holders in one process (as separate
processes would be), polling the real sandbox through the real clients; the kill -9
takeover with real processes is in test_scaleout_kill.py."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from carewatch.domain import Author, Mention, Page, Platform
from carewatch.settings import Settings, SourceConfig, load_settings
from listener.ingest import Ingestor
from listener.schedule import build_scheduler
from listener.sources import build_source
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Source
from storage.sources import claim_source, release_source
from tests.listener.helpers import expected_x, populate, stored, stored_pairs

Interval = tuple[str, float, float]  # holder, start, end


@dataclass
class PollLog:
    """Wraps the real sources so each poll's holder and time span are recorded."""

    polls: dict[str, list[Interval]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def factory(self, holder: str) -> Callable[..., Any]:
        def build(config: SourceConfig, settings: Settings, **kwargs: Any) -> Any:
            return _Timed(build_source(config, settings, **kwargs), config.key, holder, self)

        return build

    def record(self, key: str, interval: Interval) -> None:
        with self.lock:
            self.polls[key].append(interval)

    def assert_no_overlap(self) -> None:
        for key, spans in self.polls.items():
            spans = sorted(spans, key=lambda s: s[1])
            for (h1, _, end), (h2, start, _) in itertools.pairwise(spans):
                assert start >= end, f"{key}: {h1} and {h2} polled at the same time"


@dataclass
class _Timed:
    source: Any
    key: str
    holder: str
    log: PollLog

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        start = time.monotonic()
        try:
            yield from self.source.poll(cursor)
        finally:
            self.log.record(self.key, (self.holder, start, time.monotonic()))


def api_calls(control: SandboxControl) -> Counter[str]:
    """Requests the listeners made, per platform endpoint (the sandbox's request log)."""
    return Counter(r["path"] for r in control.requests() if not r["path"].startswith("/_"))


def _settings(make_env: Callable[..., dict[str, str]], url: str, every: float) -> Settings:
    env = make_env(url)
    settings = load_settings(env["CAREWATCH_CONFIG"])
    for source in settings.sources:
        source.every = every
    return settings


def _ingestors(db: Database, settings: Settings, log: PollLog, count: int) -> list[Ingestor]:
    return [Ingestor(db, settings, scorer=None, holder=f"host{i}:{100 + i}",
                     source_factory=log.factory(f"host{i}:{100 + i}")) for i in range(count)]


def _concurrently(calls: list[Callable[[], Any]]) -> None:
    threads = [threading.Thread(target=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


def test_three_listeners_make_the_api_calls_of_one(
        database_url: str, sqlite_url: str, sandbox: SandboxServer, control: SandboxControl,
        make_env: Callable[..., dict[str, str]], open_db: Callable[[str], Database]) -> None:
    populate(sandbox.world)
    sandbox.world.seed(80, seed=5, days=1.0)
    settings = _settings(make_env, database_url, every=3600)
    # One listener alone, on a database of its own: the calls it makes.
    alone = open_db(sqlite_url if "postgresql" in database_url else
                    sqlite_url.replace("carewatch.db", "alone.db"))
    upgrade(alone.engine)
    assert all(r.ok for r in Ingestor(alone, settings, scorer=None).poll_all(once=False))
    one_listener = api_calls(control)
    control.clear_requests()
    # Three listeners start together and each tries every source twice.
    db = open_db(database_url)
    upgrade(db.engine)
    log = PollLog()
    ingestors = _ingestors(db, settings, log, 3)
    results: list[Any] = []
    _concurrently([lambda i=i: results.extend(i.poll_all(once=False) + i.poll_all(once=False))
                   for i in ingestors])
    assert api_calls(control) == one_listener
    assert {k: len(v) for k, v in log.polls.items()} == {s.key: 1 for s in settings.sources}
    log.assert_no_overlap()
    assert Counter(r.state for r in results)["ok"] == len(settings.sources)
    assert all(r.ok for r in results)
    assert max(Counter(stored_pairs(db)).values()) == 1
    assert {k: v.text for k, v in stored(db, "x").items()} == expected_x(sandbox.world)


def test_scheduled_listeners_poll_each_source_once_per_interval(
        database_url: str, sandbox: SandboxServer, make_env: Callable[..., dict[str, str]],
        open_db: Callable[[str], Database]) -> None:
    """Three schedulers, each firing every source every second for 5 s: about five polls
    per source in all (one listener's count), never two at once."""
    sandbox.world.seed(30, seed=8, days=1.0)
    every, seconds = 1.0, 5.0
    settings = _settings(make_env, database_url, every=every)
    db = open_db(database_url)
    upgrade(db.engine)
    log = PollLog()
    schedulers = [build_scheduler(i, settings) for i in _ingestors(db, settings, log, 3)]
    for scheduler in schedulers:
        scheduler.start()
    time.sleep(seconds)
    for scheduler in schedulers:
        scheduler.shutdown(wait=True)
    log.assert_no_overlap()
    for source in settings.sources:
        polls = log.polls[source.key]
        # One listener makes seconds/every + 1 polls (one at start); the due time's grace
        # (5 % of the interval) may let a listener in a little early, never twice as often.
        assert seconds / every - 1 <= len(polls) <= seconds / every + 2, (source.key, polls)
        assert len({holder for holder, _, _ in polls}) >= 1


def test_listen_once_waits_for_a_live_lease_then_leaves_the_source_to_it(
        database_url: str, sandbox: SandboxServer, control: SandboxControl,
        make_env: Callable[..., dict[str, str]], open_db: Callable[[str], Database]) -> None:
    sandbox.world.seed(30, seed=4, days=1.0)
    settings = _settings(make_env, database_url, every=60)
    settings.lease_seconds = 1.0
    db = open_db(database_url)
    upgrade(db.engine)
    busy = settings.sources[0]
    with db.write() as session:  # another process is polling it and keeps renewing
        assert claim_source(session, busy.key, busy.platform.value, busy.kind or "",
                            holder="elsewhere:7", lease_seconds=60, every=60, due_only=False)
    started = time.monotonic()
    results = {r.source_key: r for r in Ingestor(db, settings, scorer=None).poll_all()}
    assert time.monotonic() - started >= 1.0  # it waited up to the lease time
    assert results[busy.key].state == "yielded"
    assert results[busy.key].message == "being polled by elsewhere:7"
    assert results[busy.key].ok
    assert all(r.state == "ok" for k, r in results.items() if k != busy.key)
    assert not [r for r in control.requests() if "search" in r["path"]]
    # Once the other process has finished, `--once` polls it.
    with db.write() as session:
        release_source(session, busy.key, "elsewhere:7")
    results = {r.source_key: r for r in Ingestor(db, settings, scorer=None).poll_all()}
    assert results[busy.key].state == "ok"


@pytest.fixture
def stdout_cli(capsys: pytest.CaptureFixture[str],
               monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """`carewatch ...` in-process; returns (exit code, stdout), tables at 200 columns."""
    from carewatch.cli import main

    monkeypatch.setenv("COLUMNS", "200")

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().out

    return run


def test_status_shows_holder_last_poll_next_due_health_and_items(
        database_url: str, sandbox: SandboxServer, make_env: Callable[..., dict[str, str]],
        open_db: Callable[[str], Database], stdout_cli: Callable[..., tuple[int, str]]) -> None:
    populate(sandbox.world)
    env = make_env(database_url)
    settings = load_settings(env["CAREWATCH_CONFIG"])
    db = open_db(database_url)
    upgrade(db.engine)
    code, out = stdout_cli("status", "--json")
    assert code == 0
    never = json.loads(out)
    assert [r["key"] for r in never] == [s.key for s in settings.sources]
    assert {r["health"] for r in never} == {"never polled"}
    assert Ingestor(db, settings, scorer=None).poll_all()
    busy = settings.sources[0]
    with db.write() as session:
        assert claim_source(session, busy.key, busy.platform.value, busy.kind or "",
                            holder="node-b:4242", lease_seconds=300, every=60,
                            due_only=False)
    code, out = stdout_cli("status", "--json")
    assert code == 0
    records = {r["key"]: r for r in json.loads(out)}
    assert set(records) == {s.key for s in settings.sources}
    assert records[busy.key]["holder"] == "node-b:4242"
    assert records[busy.key]["lease_until"].endswith("Z")
    for source in settings.sources:
        record = records[source.key]
        assert record["platform"] == source.platform.value
        assert record["kind"] == (source.kind or "")
        assert record["health"] == "ok"
        assert record["healthy"] is True
        assert record["last_poll"]
        assert record["next_due"]
        if source.key != busy.key:
            assert record["holder"] is None
            assert record["lease_until"] is None
    # Items are counted where they were first stored (two X sources see the same tweets).
    assert sum(r["items"] for r in records.values()) == len(stored_pairs(db))
    code, table = stdout_cli("status")
    assert code == 0
    assert "polled by" in table
    assert "node-b:4242" in table


def test_a_poll_whose_cursor_moved_stops_and_keeps_the_newer_cursor(
        database_url: str, open_db: Callable[[str], Database]) -> None:
    """The lease passed to another process mid-poll (this one stalled past it) and that one
    stored a newer cursor: this poll's next page is refused and rolled back, and it stops."""
    db = open_db(database_url)
    upgrade(db.engine)
    settings = Settings(x_bearer_token="t", sources=[
        SourceConfig(platform="x", kind="mentions", user_id="1")])
    config = settings.sources[0]

    def mention(i: int) -> Mention:
        return Mention(platform=Platform.X, external_id=str(i), text=f"hello {i}",
                       created_at=datetime.now(UTC),
                       author=Author(Platform.X, f"a{i}", handle=f"h{i}"), thread_id=str(i))

    class Overtaken:
        def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
            yield Page([mention(1)], {"since_id": "1"})
            # The next page is read ahead while this one is stored: the other process
            # overtakes once page 1 is stored, before page 2 is.
            deadline = time.monotonic() + 30
            while not stored_pairs(db) and time.monotonic() < deadline:
                time.sleep(0.02)
            with db.write() as session:  # meanwhile, the other process
                session.execute(update(Source).where(Source.key == config.key).values(
                    lease_holder="other:2", cursor={"since_id": "5"},
                    cursor_version=Source.cursor_version + 1))
            yield Page([mention(2)], {"since_id": "2"})
            yield Page([mention(3)], {"since_id": "3"})

    result = Ingestor(db, settings, scorer=None, holder="this:1",
                      source_factory=lambda *_a, **_k: Overtaken()).poll_source(config)
    assert result.state == "yielded"
    assert result.ok
    assert result.new == 1
    with db.session() as session:
        row = session.get(Source, config.key)
        assert row.cursor == {"since_id": "5"}
        assert row.lease_holder == "other:2"  # not released by the overtaken poll
    assert [e for _, e in stored_pairs(db)] == ["1"]
