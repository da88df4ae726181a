"""The listener's per-page storage transaction alone: `upsert_mentions` (authors, customers,
threads, mentions, hourly pre-aggregates) page after page, against a plain executemany of
the same rows, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/store_throughput.py [--count 20000] [--page 100]
        [--no-postgres] [--no-sqlite] [--repeat 1] [--profile OUT.prof]

`record_public_brand_answers`, which the Ingestor runs on each page right after the
upsert, is in the timed transaction too. The pages look like the sandbox's X search pages
(`benchmarks/listen_throughput.py`): a new conversation per item, 2,000 authors, scored,
X's JSON payload as `raw`. Each page is one write transaction, as the Ingestor stores it
(`relax_commit_durability` included); the score-side reads the Ingestor runs before it
(`stored_external_ids`, `recent_contacts`) are timed on their own. The baseline writes the
same values, one transaction per page, with a plain DBAPI executemany into a table without
indexes: the floor a naive loop pays. Rates are reported per fifth of the run, so a
slowdown as the tables grow shows.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.listen_throughput import TEXTS, TempPostgres  # noqa: E402
from carewatch import domain  # noqa: E402
from storage.brand_answers import record_public_brand_answers  # noqa: E402
from storage.customers import recent_contacts  # noqa: E402
from storage.db import Database, open_database, relax_commit_durability  # noqa: E402
from storage.mentions import stored_external_ids, upsert_mentions  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

LABELS = (domain.SentimentLabel.NEGATIVE, domain.SentimentLabel.NEUTRAL,
          domain.SentimentLabel.POSITIVE)


def make_pages(count: int, page_size: int) -> list[list[domain.Mention]]:
    """X search pages, newest first (as the sandbox serves a backfill)."""
    rng = random.Random(42)
    now = datetime.now(UTC).replace(microsecond=0)
    items = []
    for i in range(count):
        tweet_id = str(1_800_000_000_000_000_000 + i)
        user = rng.randrange(2000)
        created = now - timedelta(seconds=2 * 86400 - i * (2 * 86400 - 600) / count)
        text = rng.choice(TEXTS).format(n=i)
        followers = (12, 150, 900, 4000, 25000)[user % 5]  # an account's reach is its own
        likes = rng.randrange(5)
        raw = {"id": tweet_id, "text": text, "author_id": str(10_000 + user),
               "created_at": created.isoformat().replace("+00:00", ".000Z"),
               "conversation_id": tweet_id, "lang": "en", "edit_history_tweet_ids": [tweet_id],
               "public_metrics": {"like_count": likes, "reply_count": 0, "retweet_count": 0,
                                  "quote_count": 0, "bookmark_count": 0,
                                  "impression_count": 0}}
        sentiment = rng.uniform(-1, 1)
        items.append(domain.Mention(
            platform=domain.Platform.X, external_id=tweet_id, text=text, created_at=created,
            author=domain.Author(domain.Platform.X, str(10_000 + user), f"cust{user}",
                                 f"cust{user}", followers),
            thread_id=tweet_id, url=f"https://x.com/cust{user}/status/{tweet_id}", lang="en",
            like_count=likes, raw=raw,
            score=domain.Score(sentiment, LABELS[0 if sentiment < -0.05 else
                                                 2 if sentiment > 0.05 else 1],
                               rng.random(), ["negative"] if sentiment < 0 else [], "en"),
            topic=rng.choice([None, "baggage", "refunds", "delays"]),
            topic_confidence=0.8))
    items.reverse()
    return [items[i:i + page_size] for i in range(0, len(items), page_size)]


def store_carewatch(db: Database, pages: list[list[domain.Mention]]) -> tuple[list[float],
                                                                               list[float]]:
    """Each page as the Ingestor stores it; returns per-page seconds of the write
    transaction and of the score-side reads."""
    per_page, reads = [], []
    for page in pages:
        started = time.perf_counter()
        with db.session() as session:
            stored_external_ids(session, ((m.platform.value, m.external_id) for m in page))
            recent_contacts(session, {(m.author.platform.value, m.author.external_id)
                                      for m in page})
        middle = time.perf_counter()
        with db.write() as session:
            relax_commit_durability(session)
            outcome = upsert_mentions(session, page, source_key="x:search:bench",
                                      brand_author_ids=set())
            # As the Ingestor does right after the upsert.
            record_public_brand_answers(session, page, outcome.older_threads)
        per_page.append(time.perf_counter() - middle)
        reads.append(middle - started)
        assert len(outcome.inserted_ids) == len(page), "every page is new"
    return per_page, reads


COLUMNS = ("platform", "external_id", "source_key", "thread_id", "author_id", "username",
           "followers", "text", "created_at", "lang", "url", "likes", "raw", "sentiment",
           "sentiment_label", "urgency", "topic")


def _row(m: domain.Mention) -> tuple[Any, ...]:
    assert m.score is not None
    return (m.platform.value, m.external_id, "x:search:bench", m.thread_id,
            m.author.external_id, m.author.handle, m.author.followers, m.text,
            m.created_at.isoformat(), m.lang, m.url, m.like_count, json.dumps(m.raw),
            m.score.sentiment, m.score.sentiment_label.value, m.score.urgency, m.topic)


def store_plain(db: Database, pages: list[list[domain.Mention]]) -> list[float]:
    """The floor: the same values, executemany into a bare table, a transaction per page."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TABLE plain (" + ", ".join(
            f"{c} {'BIGINT' if c in ('followers', 'likes') else 'DOUBLE PRECISION' if c in ('sentiment', 'urgency') else 'TEXT'}"  # noqa: E501
            for c in COLUMNS) + ")")
        raw.commit()
        mark = "?" if db.dialect == "sqlite" else "%s"
        sql = (f"INSERT INTO plain ({', '.join(COLUMNS)}) "
               f"VALUES ({', '.join([mark] * len(COLUMNS))})")
        if db.dialect == "sqlite":
            cursor.execute("BEGIN")  # the engine turns pysqlite's implicit BEGIN off
        per_page = []
        for page in pages:
            started = time.perf_counter()
            cursor.executemany(sql, [_row(m) for m in page])
            raw.commit()
            if db.dialect == "sqlite":
                cursor.execute("BEGIN")
            per_page.append(time.perf_counter() - started)
        if db.dialect == "sqlite":
            raw.commit()
        return per_page
    finally:
        raw.close()


def _fresh(maker: Any, tmp: str, fn: Callable[[Database], Any]) -> Any:
    def run(url: str) -> Any:
        db = open_database(url)
        upgrade(db.engine)
        try:
            return fn(db)
        finally:
            db.dispose()

    if maker is None:
        return run(f"sqlite:///{Path(tmp) / (uuid.uuid4().hex + '.db')}")
    with maker() as url:
        return run(url)


def _fifths(per_page: list[float], page_size: int) -> str:
    size = max(1, len(per_page) // 5)
    return " ".join(f"{page_size * len(part) / sum(part):6.0f}"
                    for part in (per_page[i:i + size] for i in range(0, len(per_page), size))
                    if part)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", metavar="OUT",
                        help="cProfile the carewatch run of the first backend into OUT")
    args = parser.parse_args(argv)

    from carewatch.log import configure_logging

    configure_logging("WARNING")
    pages = make_pages(args.count, args.page)
    backends: list[tuple[str, Any]] = [] if args.no_sqlite else [("SQLite", None)]
    if not args.no_postgres:
        backends.append(("PostgreSQL", TempPostgres))
    with tempfile.TemporaryDirectory() as tmp:
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            _fresh(backends[0][1], tmp, lambda db: store_carewatch(db, pages))
            profiler.disable()
            profiler.dump_stats(args.profile)
            stats = pstats.Stats(args.profile)
            stats.sort_stats("cumulative").print_stats(35)
            stats.sort_stats("tottime").print_stats(25)
            return 0
        for label, maker in backends:
            ratios = []
            for attempt in range(1, args.repeat + 1):
                cpu = time.process_time()
                mine, reads = _fresh(maker, tmp, lambda db: store_carewatch(db, pages))
                cpu = time.process_time() - cpu  # this process only: all of SQLite's work
                plain = _fresh(maker, tmp, lambda db: store_plain(db, pages))
                rate, floor = args.count / sum(mine), args.count / sum(plain)
                ratios.append(rate / floor)
                print(f"{label:<10} #{attempt} upsert_mentions {rate:7.0f}/s "
                      f"(per fifth: {_fifths(mine, args.page)}), score-side reads "
                      f"{args.count / sum(reads):7.0f}/s (per fifth: "
                      f"{_fifths(reads, args.page)}), {1000 * cpu / len(pages):.1f} ms CPU a page; "
                      f"plain executemany {floor:7.0f}/s "
                      f"(per fifth: {_fifths(plain, args.page)}); ratio {rate / floor:.2f}",
                      flush=True)
            print(f"{label}: upsert_mentions / plain executemany = "
                  f"{statistics.median(ratios):.2f} (median of {len(ratios)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
