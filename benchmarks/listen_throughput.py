"""Listener throughput: mentions per second from the sandbox into SQLite and PostgreSQL.

    .venv/bin/python benchmarks/listen_throughput.py [--count 20000] [--no-postgres]
        [--no-sqlite] [--repeat 3] [--no-scoring-run] [--profile OUT.prof]

The sandbox runs in its own process (so it does not share our GIL) with its rate limits
raised, holding `--count` X mentions of the brand from the last two days. Each measurement
starts from an empty database and reads the same data through X recent search:

- carewatch: the Ingestor exactly as `carewatch listen --once` wires it (alert engine and
  the returning-customer routing hook included), polling the source under its lease:
  tweepy client, retry policy, mapping, scoring, one transaction per page with the
  exactly-once upserts of authors, customers, threads, mentions, the hourly pre-aggregates
  and the cursor, then alerts and routing after each commit. With and without scoring.
  Only process start-up (imports, config) is left out, as it is for the naive loop.
- naive: `tweepy.Paginator` over the same search → a pandas DataFrame → plain VADER
  (`vaderSentiment`'s compound per text) → `DataFrame.to_sql`.

Both load their models before the clock starts. Each measurement is repeated `--repeat`
times, interleaved, and the median rate is reported with the carewatch/naive ratio per
database (each ratio from the same run). `--profile` writes a cProfile of one carewatch run
(on PostgreSQL, or on SQLite with `--no-postgres`).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PG_ADMIN_URL = os.environ.get("CAREWATCH_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
QUERY = '@acmeair OR "acme air" -is:retweet'
TEXTS = [
    "@acmeair my flight {n} was cancelled and nobody at the gate can tell me why",
    "@acmeair where is my bag?? landed 3 hours ago, flight {n}",
    "Thanks @acmeair, the crew on {n} was wonderful \u2708\ufe0f",
    "@acmeair how do I change my seat on booking {n}?",
    "acme air lost my stroller again. worst airline. #{n}",
    "@acmeair refund for {n} still not processed after 6 weeks, this is unacceptable",
    "@acmeair the lounge wifi is down, any ETA? {n}",
    "Great landing in the storm today, acme air pilots rock {n} \U0001f44f",
]


# ---------------------------------------------------------------- sandbox process
def _serve(count: int, ready: Any, stop: Any) -> None:
    from sandbox.server import SandboxServer
    from sandbox.world import World

    world = World()
    world.set_limits({"search": 1_000_000, "mentions": 1_000_000, "graph": 1_000_000})
    rng = random.Random(42)
    now = world.now()
    for i in range(count):
        world.add_tweet(rng.choice(TEXTS).format(n=i),
                        {"username": f"cust{rng.randrange(2000)}",
                         "followers": rng.choice([12, 150, 900, 4000, 25000])},
                        created_at=now - 2 * 86400 + i * (2 * 86400 - 600) / max(1, count),
                        likes=rng.randrange(5))
    with SandboxServer(world=world) as server:
        ready.put(server.base_url)
        stop.wait()


# ---------------------------------------------------------------- databases
class TempPostgres:
    """A throwaway database on the local server, dropped afterwards."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.name = f"cw_bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.url = make_url(PG_ADMIN_URL).set(database=self.name).render_as_string(
            hide_password=False)

    def __enter__(self) -> str:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self.url

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": self.name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
        self.admin.dispose()


def _settings(base_url: str, database_url: str) -> Any:
    from carewatch.settings import Settings, SourceConfig

    return Settings(database_url=database_url, x_api_url=base_url, graph_api_url=base_url,
                    x_bearer_token="bench-token", fb_page_token="bench-token",
                    # The data spans two days: a backfill from there stays inside X's 7-day
                    # search window however long a loaded machine takes over 100k items.
                    sources=[SourceConfig(platform="x", kind="search", query=QUERY,
                                          backfill_days=3)])


# ---------------------------------------------------------------- measurements
#: CPU seconds of the last clocked span of `run_carewatch` or `run_naive`: "own" (this
#: process, every thread) and "workers" (child processes reaped within it, e.g. the
#: listener's fetch worker); on a local PostgreSQL also "server" (its backends serving the
#: run's database: `_server_cpu`). Read by listen_cpu.py.
LAST_CPU: dict[str, float] = {}


def _server_cpu(database_url: str) -> dict[int, int]:
    """{backend pid: CPU nanoseconds so far} of the PostgreSQL backends connected to this
    run's database, or {} where that cannot be read (SQLite; a server on another host).

    Why: on the two-core machine the server is a fourth CPU-bound process, and its time
    per page (statements, triggers, foreign-key checks) is invisible to getrusage. Read
    from /proc/<pid>/schedstat (nanoseconds on the CPU; /proc/<pid>/stat counts 10 ms
    ticks), outside the clocked span: the query for the pids runs on its own connection
    to another database, so its backend is not counted."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.startswith("postgresql") or url.host not in {"127.0.0.1",
                                                                        "localhost"}:
        return {}
    import psycopg

    with psycopg.connect(make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(
            hide_password=False), autocommit=True) as conn:
        pids = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (url.database,))]
    out: dict[int, int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                out[pid] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return {}  # not this host's server after all
    return out


def _note_server_cpu(database_url: str, before: dict[int, int]) -> None:
    """LAST_CPU["server"]: the backends' CPU since `before` (a backend started within the
    span counts from its start; one that ended within it is missed), unless unknown."""
    after = _server_cpu(database_url)
    LAST_CPU.pop("server", None)
    if after:
        LAST_CPU["server"] = sum(ns - before.get(pid, 0) for pid, ns in after.items()) / 1e9


def _cpu_now() -> tuple[float, float]:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def _note_cpu(before: tuple[float, float]) -> None:
    after = _cpu_now()
    LAST_CPU.update(own=after[0] - before[0], workers=after[1] - before[1])


def run_carewatch(base_url: str, database_url: str, *, scoring: bool) -> tuple[int, float]:
    from carewatch.cli.jobs import routing_hook
    from carewatch.log import load_now
    from listener.fetch_worker import warm_up_worker
    from listener.ingest import Ingestor, default_alert_engine
    from storage.db import open_database
    from storage.mentions import count_mentions
    from storage.migrate import upgrade

    # Logging is set up before the clock, as the CLI does before a command that works
    # (carewatch/cli/__init__.py): its lazy import (~0.1 s of CPU) is no part of a poll.
    load_now()
    settings = _settings(base_url, database_url)
    db = open_database(database_url)
    upgrade(db.engine)
    kwargs: dict[str, Any] = {} if scoring else {"scorer": None}
    # As `carewatch listen --once` builds it (carewatch/cli/listen.py).
    ingestor = Ingestor(db, settings, alert_engine=default_alert_engine(db, settings),
                        on_new_mentions=routing_hook(db, settings), **kwargs)
    ingestor.prepare()  # as the CLI does at start-up, before its first poll
    if scoring and ingestor.scorer is not None:
        # Load every model outside the clock (VADER, the care model and the language
        # identifier, which only non-English text loads; numpy for the batch care model:
        # once per listener process), as the naive loop loads VADER.
        warm_up_worker(ingestor.scorer)
    server = _server_cpu(database_url)
    cpu, started = _cpu_now(), time.perf_counter()
    result = ingestor.poll_source(settings.sources[0])
    elapsed = time.perf_counter() - started
    _note_cpu(cpu)
    _note_server_cpu(database_url, server)
    with db.session() as session:
        total = count_mentions(session, include_own=True)
    db.dispose()
    if not result.ok or total != result.new:
        raise SystemExit(f"carewatch run failed: {result.summary()} (stored {total})")
    return total, elapsed


def run_naive(base_url: str, database_url: str) -> tuple[int, float]:
    import pandas as pd
    import tweepy
    from sqlalchemy import create_engine
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from carewatch.platforms.x import x_client

    client = x_client(_settings(base_url, database_url))
    engine = create_engine(database_url)
    vader = SentimentIntensityAnalyzer()  # loads its lexicon outside the clock
    server = _server_cpu(database_url)
    cpu, started = _cpu_now(), time.perf_counter()
    rows: list[dict[str, Any]] = []
    users: dict[str, dict[str, Any]] = {}
    for page in tweepy.Paginator(client.search_recent_tweets, QUERY, max_results=100,
                                 tweet_fields=["author_id", "created_at", "conversation_id",
                                               "lang", "public_metrics"],
                                 expansions=["author_id"],
                                 user_fields=["username", "public_metrics"]):
        for user in (page.includes or {}).get("users", []):
            users[str(user.id)] = user.data
        for tweet in page.data or []:
            d = tweet.data
            author = users.get(str(d.get("author_id")), {})
            rows.append({"id": d["id"], "text": d["text"], "author_id": d.get("author_id"),
                         "username": author.get("username"),
                         "followers": (author.get("public_metrics") or {}).get(
                             "followers_count"),
                         "created_at": d.get("created_at"),
                         "conversation_id": d.get("conversation_id"), "lang": d.get("lang"),
                         "likes": (d.get("public_metrics") or {}).get("like_count")})
    frame = pd.DataFrame(rows)
    frame["sentiment"] = [vader.polarity_scores(t)["compound"] for t in frame["text"]]
    frame.to_sql("tweets", engine, if_exists="append", index=False)
    elapsed = time.perf_counter() - started
    _note_cpu(cpu)
    _note_server_cpu(database_url, server)
    engine.dispose()
    return len(frame), elapsed


NAIVE = "naive tweepy->pandas->VADER->to_sql"


def _measure(maker: Any, tmp: str, fn: Any) -> tuple[int, float]:
    """Run `fn` on a fresh database: a SQLite file in `tmp` or a throwaway PostgreSQL one."""
    if maker is None:
        return fn(f"sqlite:///{Path(tmp) / (uuid.uuid4().hex + '.db')}")
    with maker() as url:
        return fn(url)


def _profile(base_url: str, tmp: str, out: str, maker: Any) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    _measure(maker, tmp, lambda u: run_carewatch(base_url, u, scoring=True))
    profiler.disable()
    profiler.dump_stats(out)
    stats = pstats.Stats(out)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="mentions in the sandbox")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each measurement (the median is reported)")
    parser.add_argument("--no-scoring-run", action="store_true",
                        help="skip the carewatch run without scoring")
    parser.add_argument("--profile", metavar="OUT",
                        help="cProfile one carewatch run into OUT and print its top "
                        "(on PostgreSQL; with --no-postgres on SQLite)")
    args = parser.parse_args(argv)

    from carewatch.log import configure_logging

    configure_logging("WARNING")
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.count, ready, stop), daemon=True)
    server.start()
    base_url = ready.get(timeout=600)
    print(f"sandbox at {base_url} with {args.count} X mentions (search, 100 per page)")
    print(f"load before: {os.getloadavg()}", flush=True)
    runs: dict[str, Any] = {
        "carewatch": lambda u: run_carewatch(base_url, u, scoring=True),
        NAIVE: lambda u: run_naive(base_url, u),
    }
    if not args.no_scoring_run:
        runs["carewatch, no scoring"] = lambda u: run_carewatch(base_url, u, scoring=False)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.profile:
                _profile(base_url, tmp, args.profile,
                         None if args.no_postgres else TempPostgres)
                return 0
            backends: list[tuple[str, Any]] = [] if args.no_sqlite else [("SQLite", None)]
            if not args.no_postgres:
                backends.append(("PostgreSQL", TempPostgres))
            for label, maker in backends:
                figures: dict[str, list[float]] = {name: [] for name in runs}
                for attempt in range(1, args.repeat + 1):
                    for name, fn in runs.items():
                        count, seconds = _measure(maker, tmp, fn)
                        rate = count / seconds
                        figures[name].append(rate)
                        print(f"{label:<11} #{attempt} {name:<42} {count:>7} mentions in "
                              f"{seconds:7.2f} s = {rate:8.0f} mentions/s", flush=True)
                results[label] = figures
    finally:
        stop.set()
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    print(f"\nload after: {os.getloadavg()}")
    for label, figures in results.items():
        ratios = [c / n for c, n in zip(figures["carewatch"], figures[NAIVE], strict=True)]
        line = (f"{label}: carewatch {statistics.median(figures['carewatch']):.0f}/s, "
                f"naive {statistics.median(figures[NAIVE]):.0f}/s; carewatch / naive = "
                f"{statistics.median(ratios):.2f} (median of {len(ratios)}: "
                + ", ".join(f"{r:.2f}" for r in ratios) + ")")
        if "carewatch, no scoring" in figures:
            plain = [c / n for c, n in zip(figures["carewatch, no scoring"], figures[NAIVE],
                                           strict=True)]
            line += f"; without scoring {statistics.median(plain):.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
