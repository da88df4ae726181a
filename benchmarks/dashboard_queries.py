"""How fast the dashboard's pages query a big store, against loading the table into pandas.

Fills a temporary SQLite file and/or a temporary PostgreSQL database (its own, dropped after)
with N mentions (bulk `executemany` / `COPY`), their authors and customers, threads, some
replies and the matching HourlyStat rows. Then it prints the median time of exactly the
storage calls the pages make on a render:

- Inbox: the sidebar's options, the queue (`inbox()`: its rows and its capped count) at
  realistic filters (the default open queue, one platform, one status, every status, a
  sentiment/urgency cut, private only, "assigned to me", a text search that matches and one
  that matches nothing), and the opened item (the row, its conversation, its customer panel);
- Trends: the HourlyStat volume (7 and 30 days, all platforms and one; the public/private and
  echo splits are counts in the same rows), per-source totals, top negative terms and
  response times; the Alerts page's SLA board;

and, as the baseline measured in the same run, the naive "read the whole mentions table into
pandas and sort by urgency". About 1 in 30 mentions is private and 1 in 100 an echo, so the
counts and filters for them are exercised.

    .venv/bin/python benchmarks/dashboard_queries.py --sizes 100000,1000000 \\
        --backends sqlite,postgresql [--reuse DIR] [--explain]

`--reuse DIR` keeps the filled stores (SQLite `DIR/dashboard-N.db`, PostgreSQL database
`cw_bench_dash_N`, or `$CAREWATCH_BENCH_PG_PREFIX` + `_N`) and reuses them on the next run
(migrated to the newest schema first), so a 1M-row store is filled once. `--explain` prints
each query's plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from storage.customers import customer_history
from storage.db import Database, open_database
from storage.inbox import InboxFilters, conversation, inbox, mention_row, recent_langs
from storage.mentions import mention_by_ref
from storage.migrate import upgrade
from storage.models import Mention
from storage.search import catch_up_all
from storage.trends import (
    agent_response_stats,
    hourly_volume,
    response_times,
    sla_waiting,
    source_volume,
    top_negative_terms,
)
from storage.users import assignees

PG_ADMIN_URL = os.environ.get("CAREWATCH_BENCH_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PLATFORMS = ("x", "facebook", "instagram")
LABELS = ("negative", "neutral", "positive")
_VOCABULARY = ("flight delayed bag lost refund crew seat gate cancelled help please thanks "
               "great service rude smoke waiting hours app booking upgrade lounge luggage")
WORDS = _VOCABULARY.split()
# Three words in this order: about 1 mention in 1,000, made of trigrams that are everywhere.
RARE = "rude smoke lounge"
# Two words in this order: about 1 mention in 40.
COMMON = "smoke lounge"
SOURCES = {"x": "x:search:bench", "facebook": "facebook:page:1", "instagram": "instagram:media:1"}
DAYS = 60
AUTHORS = 20_000
THREAD_SIZE = 8  # public mentions per thread (per platform)


def _thread_pk(i: int, n: int) -> int:
    """Public mentions come in threads of THREAD_SIZE per platform; a private message sits in
    its author's private conversation (numbered after every public thread)."""
    if i % 30 == 1:
        return _public_threads(n) + 1 + (i % AUTHORS)
    return 1 + (i // (3 * THREAD_SIZE)) * 3 + i % 3


def _public_threads(n: int) -> int:
    return (n // (3 * THREAD_SIZE) + 1) * 3


def _rows(n: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """Mentions over the last DAYS days: most handled (closed/replied), some open; about 1 in
    30 is a private message (Facebook, Instagram) and 1 in 100 an echo (an X retweet)."""
    rnd = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    span = DAYS * 86400
    for i in range(n):
        platform = PLATFORMS[i % 3]
        label = rnd.choices(LABELS, (0.35, 0.45, 0.2))[0]
        sentiment = {"negative": -0.6, "neutral": 0.0, "positive": 0.5}[label]
        created = now - timedelta(seconds=rnd.randrange(span))
        roll = rnd.random()
        status = "new" if roll < 0.08 else "assigned" if roll < 0.12 else \
            "replied" if roll < 0.55 else "closed"
        answered = status in ("replied", "closed")
        first = created + timedelta(minutes=rnd.randrange(2, 240)) if answered else None
        body = " ".join(rnd.choices(WORDS, k=rnd.randrange(6, 20)))
        yield (platform, f"{platform}-{i}", SOURCES[platform], body, created, created,
               "en", label, sentiment, round(rnd.random(), 4),
               "negative" if label == "negative" else "", status,
               f"agent{rnd.randrange(8)}" if status != "new" else None, first, created,
               1 + (i % AUTHORS), "private" if i % 30 == 1 else "public", i % 100 == 0,
               _thread_pk(i, n))


COLUMNS = ("platform, external_id, source_key, text, created_at, fetched_at, lang, "
           "sentiment_label, sentiment, urgency, urgency_reasons, status, assignee, "
           "first_response_at, updated_at, author_pk, visibility, is_echo, thread_pk")


def _customers() -> Iterator[tuple[Any, ...]]:
    """One customer per two authors (one person on two platforms)."""
    return ((f"User {i}", "", "[]", datetime.now(UTC)) for i in range(0, AUTHORS, 2))


def _authors() -> Iterator[tuple[Any, ...]]:
    now = datetime.now(UTC)
    return ((PLATFORMS[i % 3], f"a{i}", f"user{i}", f"User {i}", i * 7, False, now,
             1 + i // 2) for i in range(AUTHORS))


def _threads(n: int) -> Iterator[tuple[Any, ...]]:
    now = datetime.now(UTC)
    for t in range(_public_threads(n)):
        yield (PLATFORMS[t % 3], f"post-{t}", f"post {t} " + " ".join(WORDS[t % 7: t % 7 + 5]),
               "acmeair", True, "public", now)
    for a in range(AUTHORS):
        yield (PLATFORMS[a % 3], f"dm-{a}", None, None, False, "private", now)


def _replies(n: int) -> Iterator[tuple[Any, ...]]:
    """A sent reply to about 1 in 40 answered mentions (mention ids are 1..n in fill order)."""
    for i, row in enumerate(_rows(n)):
        if i % 40 == 3 and row[13] is not None:
            yield (i + 1, "public", "Sorry to hear that, we are on it.", "sent",
                   f"bench-{i}", row[12], row[13], row[13], 1)


AUTHOR_COLUMNS = "platform, external_id, handle, name, followers, is_brand, updated_at, " \
    "customer_id"
THREAD_COLUMNS = "platform, external_id, root_text, root_author, root_is_own, visibility, " \
    "created_at"
REPLY_COLUMNS = "mention_pk, kind, text, state, idempotency_key, agent, queued_at, sent_at, " \
    "attempts"
CUSTOMER_COLUMNS = "display_name, notes, tags, created_at"


def _hourly(rows: list[tuple[Any, ...]]) -> dict[tuple[datetime, str, str, str],
                                                  list[float]]:
    out: dict[tuple[datetime, str, str, str], list[float]] = {}
    for r in rows:
        key = (r[4].replace(minute=0, second=0), r[0], r[7], r[2])
        acc = out.setdefault(key, [0, 0.0, 0, 0])
        acc[0] += 1
        acc[1] += r[8]
        acc[2] += r[16] == "private"
        acc[3] += r[17]
    return out


def _ts(value: Any) -> Any:
    """SQLite stores times as UTC text (what `UTCDateTime` writes)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def _insert_sqlite(cur: Any, table: str, columns: str, rows: Iterator[tuple[Any, ...]]) -> None:
    marks = ",".join("?" * len(columns.split(",")))
    cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                    ([_ts(v) for v in row] for row in rows))


def _fill_sqlite(db: Database, n: int) -> None:
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        _insert_sqlite(cur, "customers", CUSTOMER_COLUMNS, _customers())
        _insert_sqlite(cur, "authors", AUTHOR_COLUMNS, _authors())
        _insert_sqlite(cur, "threads", THREAD_COLUMNS, _threads(n))
        hourly: dict[Any, list[float]] = {}
        _insert_sqlite(cur, "mentions", COLUMNS + ", like_count, reply_count, repost_count, "
                       "is_own, raw", ((*r, 0, 0, 0, 0, "{}") for r in _tracked(n, hourly)))
        _insert_sqlite(cur, "replies", REPLY_COLUMNS, _replies(n))
        _insert_sqlite(cur, "hourly_stats", HOURLY_COLUMNS, _hourly_rows(hourly))
        cur.execute("COMMIT")
    finally:
        raw.close()
    _vacuum(db)


HOURLY_COLUMNS = ("bucket, platform, sentiment_label, source_key, count, sentiment_sum, "
                  "private_count, echo_count")


def _hourly_rows(hourly: dict[Any, list[float]]) -> Iterator[tuple[Any, ...]]:
    return ((k[0], k[1], k[2], k[3], int(v[0]), v[1], int(v[2]), int(v[3]))
            for k, v in hourly.items())


def _tracked(n: int, hourly: dict[Any, list[float]]) -> Iterator[tuple[Any, ...]]:
    """The mention rows, adding each chunk to the hourly pre-aggregates on the way."""
    chunk: list[tuple[Any, ...]] = []
    for row in _rows(n):
        chunk.append(row)
        if len(chunk) == 50_000:
            _merge(hourly, chunk)
            yield from chunk
            chunk = []
    _merge(hourly, chunk)
    yield from chunk


def _copy(cur: Any, table: str, columns: str, rows: Iterator[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _fill_postgres(db: Database, n: int) -> None:
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            _copy(cur, "customers", CUSTOMER_COLUMNS, _customers())
            _copy(cur, "authors", AUTHOR_COLUMNS, _authors())
            _copy(cur, "threads", THREAD_COLUMNS, _threads(n))
            hourly: dict[Any, list[float]] = {}
            _copy(cur, "mentions", COLUMNS + ", like_count, reply_count, repost_count, is_own, "
                  "raw", ((*r, 0, 0, 0, False, "{}") for r in _tracked(n, hourly)))
            _copy(cur, "replies", REPLY_COLUMNS, _replies(n))
            _copy(cur, "hourly_stats", HOURLY_COLUMNS, _hourly_rows(hourly))
            for table in ("customers", "authors", "threads", "mentions", "replies",
                          "hourly_stats"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
        conn.commit()
    finally:
        raw.close()
    _vacuum(db)


def _vacuum(db: Database) -> None:
    """The planner statistics a store in use has: on PostgreSQL fresh ones (autovacuum
    analyzes), on SQLite none, as carewatch never runs ANALYZE there."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
        elif conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
                          ).first():
            conn.execute(text("DELETE FROM sqlite_stat1"))
    db.engine.dispose()  # new connections read the statistics (or their absence) afresh


def _merge(hourly: dict[Any, list[float]], chunk: list[tuple[Any, ...]]) -> None:
    for key, values in _hourly(chunk).items():
        acc = hourly.setdefault(key, [0, 0.0, 0, 0])
        for i, value in enumerate(values):
            acc[i] += value


@contextmanager
def _database(backend: str, n: int, keep: Path | None) -> Iterator[Database]:
    """A store for `n` mentions: temporary, or kept under `keep` for the next run."""
    if backend == "sqlite":
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            db = open_database(f"sqlite:///{keep / f'dashboard-{n}.db'}")
            try:
                yield db
            finally:
                db.dispose()
            return
        with tempfile.TemporaryDirectory(prefix="cw-bench-") as folder:
            db = open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
            try:
                yield db
            finally:
                db.dispose()
        return
    prefix = os.environ.get("CAREWATCH_BENCH_PG_PREFIX", "cw_bench_dash")
    name = f"{prefix}_{n}" if keep is not None else f"cw_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    db = open_database(url)
    try:
        yield db
    finally:
        db.dispose()
        if keep is None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _median(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (ms). On a shared, loaded
    machine the wall time includes waiting for a core; the CPU time does not (nor does it
    count the PostgreSQL server's work)."""
    fn()  # warm caches once, as a dashboard that is in use would be
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times) * 1000, statistics.median(cpu) * 1000


Case = tuple[str, Callable[[Any], Any]]


def cases(db: Database) -> list[Case]:
    """What the Inbox, Trends and Alerts pages call on a render, by name."""
    now = datetime.now(UTC)
    today = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    week = (today - timedelta(days=6), today + timedelta(days=1))  # the page's default
    month = (today - timedelta(days=29), today + timedelta(days=1))
    with db.session() as session:
        opened = inbox(session).rows[0].ref  # the page opens the queue's top item

    def detail(s: Any) -> Any:
        mention = mention_by_ref(s, opened)
        return mention_row(s, mention.id) if mention is not None else None

    def customer(s: Any) -> Any:
        row = detail(s)
        return customer_history(s, row.customer_id)

    def thread(s: Any) -> Any:
        return conversation(s, detail(s).id)

    return [
        ("inbox: sidebar options", lambda s: (assignees(s), recent_langs(s))),
        ("inbox: default (open, top 200 + count)", lambda s: inbox(s)),
        ("inbox: one platform (x)", lambda s: inbox(s, InboxFilters(platforms=["x"]))),
        ("inbox: status closed", lambda s: inbox(s, InboxFilters(statuses=["closed"]))),
        ("inbox: every status", lambda s: inbox(s, InboxFilters(statuses=[]))),
        ("inbox: x, negative, urgency>=0.5", lambda s: inbox(
            s, InboxFilters(platforms=["x"], sentiments=["negative"], min_urgency=0.5))),
        ("inbox: private only", lambda s: inbox(s, InboxFilters(visibility="private"))),
        ("inbox: assigned to me", lambda s: inbox(s, InboxFilters(assignee="agent3"))),
        ("inbox: search 'smoke'", lambda s: inbox(s, InboxFilters(search="smoke"))),
        ("inbox: search, no match", lambda s: inbox(s, InboxFilters(search="volcano"))),
        ("inbox: search rare phrase", lambda s: inbox(s, InboxFilters(search=RARE))),
        ("inbox: search common phrase", lambda s: inbox(s, InboxFilters(search=COMMON))),
        ("inbox: search Korean (no match)", lambda s: inbox(s, InboxFilters(search="수하물"))),
        ("inbox: search 'smoke', every status", lambda s: inbox(
            s, InboxFilters(search="smoke", statuses=[]))),
        ("inbox: search, no match, every status", lambda s: inbox(
            s, InboxFilters(search="volcano", statuses=[]))),
        ("item: row", detail),
        ("item: conversation", thread),
        ("item: customer panel", customer),
        ("trends: volume 7 days", lambda s: hourly_volume(s, *week)),
        ("trends: volume 30 days", lambda s: hourly_volume(s, *month)),
        ("trends: volume 30 days, x", lambda s: hourly_volume(s, *month, ["x"])),
        ("trends: per-source totals 30 days", lambda s: source_volume(s, *month)),
        ("trends: top negative terms 7 days", lambda s: top_negative_terms(s, *week)),
        ("trends: top negative terms 30 days, x", lambda s: top_negative_terms(
            s, *month, ["x"])),
        ("trends: response times 7 days", lambda s: response_times(s, *week)),
        ("trends: response times 30 days, x", lambda s: response_times(s, *month, ["x"])),
        ("alerts: SLA waiting", lambda s: sla_waiting(s)),
        ("alerts: agent response stats", lambda s: agent_response_stats(s)),
    ]


def statements(db: Database, fn: Callable[[Any], Any]) -> list[tuple[str, Any]]:
    """Every statement (with its parameters) that `fn` runs in one session. The plan tests
    (tests/dashboard/test_query_plans.py) use it too, so they check what --explain shows."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
               _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.session() as session:
            fn(session)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def explain(db: Database, label: str, fn: Callable[[Any], Any]) -> None:
    """Print the plan of every statement `fn` runs."""
    seen = statements(db, fn)
    pg = db.engine.dialect.name == "postgresql"
    print(f"\n### {label}")
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if pg else "EXPLAIN QUERY PLAN "
            cur.execute(prefix + statement, parameters)
            lines = [r[0] if pg else f"{'  ' * (r[1] > 0)}{r[3]}" for r in cur.fetchall()]
            print("  " + " ".join(statement.split())[:160])
            for line in lines:
                print(f"      {line}")
    finally:
        raw.close()


def _filled(db: Database, n: int) -> bool:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(Mention)).scalar_one() == n


def bench(backend: str, n: int, runs: int, naive_runs: int, keep: Path | None,
          show_plans: bool) -> list[tuple[str, float, float]]:
    import pandas as pd

    results: list[tuple[str, float, float]] = []
    with _database(backend, n, keep) as db:
        upgrade(db.engine)
        if keep is not None and _filled(db, n):
            _vacuum(db)
            print(f"  reusing {n:,} mentions on {backend}", file=sys.stderr)
        else:
            start = time.perf_counter()
            (_fill_sqlite if backend == "sqlite" else _fill_postgres)(db, n)
            print(f"  filled {n:,} mentions on {backend} in {time.perf_counter() - start:.1f}s",
                  file=sys.stderr)
        # The search indexes are filled after ingest by a listener job; the pages are
        # measured once it has caught up (searches check what is not indexed yet by id).
        start = time.perf_counter()
        with db.write() as session:
            added = catch_up_all(session)
        if added:
            print(f"  indexed {added:,} mentions for search in "
                  f"{time.perf_counter() - start:.1f}s", file=sys.stderr)
            if backend != "sqlite":
                _vacuum(db)  # as autovacuum would, after the search texts table filled

        def run(fn: Callable[[Any], Any]) -> Callable[[], Any]:
            def call() -> Any:
                with db.session() as session:
                    return fn(session)
            return call

        for label, fn in cases(db):
            if show_plans:
                explain(db, label, fn)
            results.append((label, *_median(run(fn), runs)))

        def naive() -> Any:
            with db.engine.connect() as conn:
                frame = pd.read_sql(text("SELECT * FROM mentions"), conn)
            return frame.sort_values(["urgency", "created_at"],
                                     ascending=[False, True]).head(200)

        if naive_runs:
            results.append(("naive: whole table -> pandas -> sort",
                            *_median(naive, naive_runs - 1 or 1)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (median)")
    parser.add_argument("--naive-runs", type=int, default=3, help="0 skips the baseline")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="keep the filled stores (SQLite files in DIR, PostgreSQL "
                             "databases cw_bench_dash_N) and reuse them on the next run")
    parser.add_argument("--explain", action="store_true", help="print every query's plan")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in backends:
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"--backends: unknown backend {backend!r} (sqlite, postgresql)")
    out = io.StringIO()
    for backend in backends:
        for n in sizes:
            results = bench(backend, n, args.runs, args.naive_runs, args.reuse, args.explain)
            print(f"\n{backend}, {n:,} mentions (median of {args.runs}; naive of "
                  f"{args.naive_runs}; load {os.getloadavg()[0]:.2f}):", file=out)
            print(f"  {'':<42} {'wall':>10}    {'cpu':>7}", file=out)
            for label, ms, cpu in results:
                print(f"  {label:<42} {ms:10.1f} ms {cpu:7.1f} ms", file=out)
            if args.naive_runs:
                print(f"  inbox page query is {results[-1][1] / results[1][1]:,.0f}x faster "
                      "than the naive load", file=out)
            print(out.getvalue(), end="", flush=True)
            out.seek(0)
            out.truncate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
