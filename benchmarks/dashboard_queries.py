"""How fast the dashboard's pages query a big store, against loading the table into pandas.

Fills a temporary SQLite file and/or a temporary PostgreSQL database (its own, dropped after)
with N mentions (bulk `executemany` / `COPY`) plus the matching HourlyStat rows, then prints
the median time of the Inbox query (default filters, with filters, with a text search), the
Trends queries (HourlyStat volume over 30 days, per-source totals, top negative terms) and,
as the baseline measured in the same run, the naive "read the whole mentions table into
pandas and sort by urgency". About 1 in 30 mentions is private and 1 in 100 an echo, so the
counts and filters for them are exercised.

    .venv/bin/python benchmarks/dashboard_queries.py --sizes 100000,1000000 \\
        --backends sqlite,postgresql
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

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage.db import Database, open_database
from storage.inbox import InboxFilters, inbox
from storage.migrate import upgrade
from storage.trends import hourly_volume, response_times, source_volume, top_negative_terms

PG_ADMIN_URL = os.environ.get("CAREWATCH_BENCH_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PLATFORMS = ("x", "facebook", "instagram")
LABELS = ("negative", "neutral", "positive")
_VOCABULARY = ("flight delayed bag lost refund crew seat gate cancelled help please thanks "
               "great service rude smoke waiting hours app booking upgrade lounge luggage")
WORDS = _VOCABULARY.split()
SOURCES = {"x": "x:search:bench", "facebook": "facebook:page:1", "instagram": "instagram:media:1"}
DAYS = 60
AUTHORS = 20_000


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
               1 + (i % AUTHORS), "private" if i % 30 == 1 else "public", i % 100 == 0)


COLUMNS = ("platform, external_id, source_key, text, created_at, fetched_at, lang, "
           "sentiment_label, sentiment, urgency, urgency_reasons, status, assignee, "
           "first_response_at, updated_at, author_pk, visibility, is_echo")


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


def _fill_sqlite(db: Database, n: int) -> None:
    def ts(value: datetime | None) -> str | None:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if value else None

    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.executemany("INSERT INTO authors (platform, external_id, handle, name, followers, "
                        "is_brand, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
                        [(PLATFORMS[i % 3], f"a{i}", f"user{i}", f"User {i}", i * 7, ts(
                            datetime.now(UTC))) for i in range(AUTHORS)])
        batch: list[tuple[Any, ...]] = []
        hourly: dict[tuple[datetime, str, str, str], list[float]] = {}
        sql = (f"INSERT INTO mentions ({COLUMNS}, like_count, reply_count, repost_count, "
               "is_own, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,0,0,0,'{}')")
        for row in _rows(n):
            batch.append(row)
            if len(batch) == 50_000:
                _flush_sqlite(cur, sql, batch, hourly, ts)
        _flush_sqlite(cur, sql, batch, hourly, ts)
        cur.executemany("INSERT INTO hourly_stats (bucket, platform, sentiment_label, "
                        "source_key, count, sentiment_sum, private_count, echo_count) "
                        "VALUES (?,?,?,?,?,?,?,?)",
                        [(ts(k[0]), k[1], k[2], k[3], int(v[0]), v[1], int(v[2]), int(v[3]))
                         for k, v in hourly.items()])
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
    finally:
        raw.close()


def _flush_sqlite(cur: Any, sql: str, batch: list[tuple[Any, ...]],
                  hourly: dict[Any, list[float]], ts: Callable[[Any], Any]) -> None:
    _merge(hourly, batch)
    cur.executemany(sql, [(*r[:4], ts(r[4]), ts(r[5]), *r[6:13], ts(r[13]), ts(r[14]), *r[15:])
                          for r in batch])
    batch.clear()


def _copy(cur: Any, table: str, columns: str, rows: Iterator[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _fill_postgres(db: Database, n: int) -> None:
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            now = datetime.now(UTC)
            _copy(cur, "authors", "platform, external_id, handle, name, followers, is_brand, "
                  "updated_at", ((PLATFORMS[i % 3], f"a{i}", f"user{i}", f"User {i}", i * 7,
                                  False, now) for i in range(AUTHORS)))
            hourly: dict[Any, list[float]] = {}

            def tracked() -> Iterator[tuple[Any, ...]]:
                chunk: list[tuple[Any, ...]] = []
                for row in _rows(n):
                    chunk.append(row)
                    if len(chunk) == 50_000:
                        _merge(hourly, chunk)
                        yield from chunk
                        chunk = []
                _merge(hourly, chunk)
                yield from chunk

            _copy(cur, "mentions", COLUMNS + ", like_count, reply_count, repost_count, is_own, "
                  "raw", ((*r, 0, 0, 0, False, "{}") for r in tracked()))
            _copy(cur, "hourly_stats", "bucket, platform, sentiment_label, source_key, count, "
                  "sentiment_sum, private_count, echo_count",
                  ((k[0], k[1], k[2], k[3], int(v[0]), v[1], int(v[2]), int(v[3]))
                   for k, v in hourly.items()))
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        conn.autocommit = False
    finally:
        raw.close()


def _merge(hourly: dict[Any, list[float]], chunk: list[tuple[Any, ...]]) -> None:
    for key, values in _hourly(chunk).items():
        acc = hourly.setdefault(key, [0, 0.0, 0, 0])
        for i, value in enumerate(values):
            acc[i] += value


@contextmanager
def _database(backend: str) -> Iterator[Database]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cw-bench-") as folder:
            db = open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
            try:
                yield db
            finally:
                db.dispose()
        return
    name = f"cw_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    db = open_database(url)
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _median(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm caches once, as a dashboard that is in use would be
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench(backend: str, n: int, runs: int, naive_runs: int) -> list[tuple[str, float]]:
    import pandas as pd

    results: list[tuple[str, float]] = []
    with _database(backend) as db:
        upgrade(db.engine)
        start = time.perf_counter()
        (_fill_sqlite if backend == "sqlite" else _fill_postgres)(db, n)
        print(f"  filled {n:,} mentions on {backend} in {time.perf_counter() - start:.1f}s",
              file=sys.stderr)
        now = datetime.now(UTC)
        since = now - timedelta(days=30)

        def run(fn: Callable[[Any], Any]) -> Callable[[], Any]:
            def call() -> Any:
                with db.session() as session:
                    return fn(session)
            return call

        cases: list[tuple[str, Callable[[Any], Any]]] = [
            ("inbox (open, top 200 + count)", lambda s: inbox(s)),
            ("inbox (x, negative, urgency>=0.5)", lambda s: inbox(
                s, InboxFilters(platforms=["x"], sentiments=["negative"],
                                min_urgency=0.5))),
            ("inbox (text search 'smoke')", lambda s: inbox(
                s, InboxFilters(search="smoke"))),
            ("trends: hourly volume 30 days", lambda s: hourly_volume(s, since, now)),
            ("trends: per-source totals 30 days", lambda s: source_volume(s, since,
                                                                          now)),
            ("trends: top negative terms", lambda s: top_negative_terms(s, since, now)),
            ("trends: response times (5k sample)", lambda s: response_times(s, since,
                                                                            now)),
        ]
        for label, fn in cases:
            results.append((label, _median(run(fn), runs)))

        def naive() -> Any:
            with db.engine.connect() as conn:
                frame = pd.read_sql(text("SELECT * FROM mentions"), conn)
            return frame.sort_values(["urgency", "created_at"],
                                     ascending=[False, True]).head(200)

        naive_times = []
        for _ in range(naive_runs):
            start = time.perf_counter()
            naive()
            naive_times.append(time.perf_counter() - start)
        results.append(("naive: whole table -> pandas -> sort",
                         statistics.median(naive_times) * 1000))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (median)")
    parser.add_argument("--naive-runs", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in backends:
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"--backends: unknown backend {backend!r} (sqlite, postgresql)")
    out = io.StringIO()
    for backend in backends:
        for n in sizes:
            results = bench(backend, n, args.runs, args.naive_runs)
            naive = results[-1][1]
            inbox = results[0][1]
            print(f"\n{backend}, {n:,} mentions (median of {args.runs}; naive of "
                  f"{args.naive_runs}):", file=out)
            for label, ms in results:
                print(f"  {label:<40} {ms:10.1f} ms", file=out)
            print(f"  inbox page query is {naive / inbox:,.0f}x faster than the naive load",
                  file=out)
            print(out.getvalue(), end="")
            out.seek(0)
            out.truncate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
