"""What each index and foreign key of the ingest tables costs the listener's store path.

    .venv/bin/python benchmarks/index_cost.py [--count 20000] [--repeat 2] [--no-postgres]
        [--no-sqlite] [--only NAME ...]

Why: ingest runs below the naive loop's speed (listen_throughput.py), and the store path's
CPU is mostly the database's own index work (store_throughput.py --profile). Before
trading an index away, one must know what it costs: here the same pages as
store_throughput.py (a new conversation per item, 2,000 authors, scored) are stored, one
write transaction per page, into a fresh database with every index, and again with one
index (or the foreign keys of `mentions`) dropped. Reported per variant: the median CPU of
this process (SQLite works in it) and, on a local PostgreSQL, of the server's backends
(`listen_throughput._server_cpu`), each as a ratio to the full schema measured in the same
run, variants interleaved. What is dropped here is what the inbox, trends, customer and
conversation queries need (dashboard_queries.py): this measures, it does not propose.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.listen_throughput import TempPostgres, _server_cpu  # noqa: E402
from benchmarks.store_throughput import make_pages, store_carewatch  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

TABLES = ("mentions", "threads", "authors")
FOREIGN_KEYS = ("fk_mentions_thread_pk_threads", "fk_mentions_author_pk_authors")
FULL = "(every index)"
NO_FKS = "(mentions' foreign keys)"


def _index_names(url: str) -> list[str]:
    """The secondary indexes of the ingest tables (not primary keys or unique keys). On
    SQLite, SQLAlchemy does not reflect expression indexes (`ix_authors_handle_lower`):
    they are left out there."""
    import warnings

    from sqlalchemy import inspect
    from sqlalchemy.exc import SAWarning

    db = open_database(url)
    try:
        upgrade(db.engine)
        inspector = inspect(db.engine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            return sorted(ix["name"] for table in TABLES for ix in inspector.get_indexes(table)
                          if ix["name"] and not ix.get("unique"))
    finally:
        db.dispose()


def _drop_sql(variant: str, postgres: bool) -> list[str]:
    if variant == FULL:
        return []
    if variant == NO_FKS:
        # SQLite cannot drop a constraint: its checks are turned off per connection instead
        # (`_run`).
        return ([f"ALTER TABLE mentions DROP CONSTRAINT {fk}" for fk in FOREIGN_KEYS]
                if postgres else [])
    return [f"DROP INDEX {variant}"]


def _run(url: str, variant: str, pages: list) -> tuple[float, float | None]:
    """(this process's CPU seconds, the server backends' CPU seconds or None) of storing
    every page into a fresh schema at `url` with `variant` dropped."""
    from sqlalchemy import event, text

    db = open_database(url)
    try:
        upgrade(db.engine)
        statements = _drop_sql(variant, db.dialect == "postgresql")
        if variant == NO_FKS and db.dialect == "sqlite":
            event.listen(db.engine, "connect",
                         lambda conn, _rec: conn.execute("PRAGMA foreign_keys=OFF"))
            db.engine.dispose()
        else:
            with db.engine.begin() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        with db.session() as session:  # the pool's connection, opened outside the clock
            session.execute(text("SELECT 1"))
        server_before = _server_cpu(url)
        started = time.process_time()
        store_carewatch(db, pages)
        own = time.process_time() - started
        after = _server_cpu(url)
        server = (sum(ns - server_before.get(pid, 0) for pid, ns in after.items()) / 1e9
                  if after else None)
        return own, server
    finally:
        db.dispose()


def _measure(backend: str, variants: list[str], pages: list, repeat: int
             ) -> dict[str, list[tuple[float, float | None]]]:
    results: dict[str, list[tuple[float, float | None]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(1, repeat + 1):
            for variant in variants:
                if backend == "SQLite":
                    figures = _run(f"sqlite:///{Path(tmp) / (uuid.uuid4().hex + '.db')}",
                                   variant, pages)
                else:
                    with TempPostgres() as url:
                        figures = _run(url, variant, pages)
                results[variant].append(figures)
                print(f"  {backend} #{attempt} {variant}: own CPU {figures[0]:.3f} s"
                      + ("" if figures[1] is None else f", server CPU {figures[1]:.3f} s"),
                      flush=True)
    return results


def _report(backend: str, results: dict[str, list[tuple[float, float | None]]]) -> None:
    def median(variant: str, at: int) -> float | None:
        values = [r[at] for r in results[variant] if r[at] is not None]
        return statistics.median(values) if values else None

    own_full, server_full = median(FULL, 0) or 0.0, median(FULL, 1)
    print(f"{backend}: CPU with the variant dropped / CPU with every index (median)")
    for variant in results:
        own, server = median(variant, 0) or 0.0, median(variant, 1)
        line = f"  {variant:38s} own {own:7.3f} s ({own / own_full:4.2f})"
        if server is not None and server_full:
            line += f"  server {server:7.3f} s ({server / server_full:4.2f})"
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="items stored per run")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--only", nargs="*", metavar="NAME",
                        help="only these indexes (and the full schema)")
    args = parser.parse_args(argv)
    from carewatch.log import configure_logging

    configure_logging("WARNING")
    pages = make_pages(args.count, 100)
    backends = [] if args.no_sqlite else ["SQLite"]
    if not args.no_postgres:
        backends.append("PostgreSQL")
    for backend in backends:
        if backend == "SQLite":
            with tempfile.TemporaryDirectory() as tmp:
                names = _index_names(f"sqlite:///{Path(tmp) / 'probe.db'}")
        else:
            with TempPostgres() as url:
                names = _index_names(url)
        if args.only:
            names = [n for n in names if n in args.only]
        variants = [FULL, *names, NO_FKS]
        print(f"{backend}: {args.count} items, {len(variants)} variants, {args.repeat} runs each",
              flush=True)
        _report(backend, _measure(backend, variants, pages, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
