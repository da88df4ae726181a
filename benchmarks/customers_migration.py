"""Migration 0011 on a large database the old handle/name linking filled.

    .venv/bin/python benchmarks/customers_migration.py [--customers 50000] [DATABASE_URL]

Builds, at revision 0009, `--customers` customers of three authors each (X, Facebook and
Instagram joined by one handle, as the old linking joined them), as many single-author
customers, and the shared "unknown" customer; then times `upgrade head`, which splits every
joined customer (so 2 x `--customers` new customers) and removes the unknown one. Without a
URL it uses a temporary SQLite file. Point it only at a throwaway database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import insert, select, text

from storage.db import Database, open_database
from storage.migrate import alembic_config
from storage.models import Author, Customer


def _upgrade(db: Database, target: str) -> None:
    config = alembic_config(db.engine)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def _old_store(db: Database, n: int) -> int:
    now = datetime.now(UTC)
    with db.write() as session:
        session.execute(insert(Customer), [
            {"id": i + 1, "display_name": f"c{i}", "notes": "n", "tags": [], "created_at": now}
            for i in range(2 * n + 1)])
        if db.engine.dialect.name == "postgresql":  # explicit ids: move the sequence on
            session.execute(text("SELECT setval(pg_get_serial_sequence('customers', 'id'), "
                                 "(SELECT max(id) FROM customers))"))
        rows: list[dict[str, Any]] = [
            {"platform": p, "external_id": f"{p}-{i}", "handle": f"h{i}", "customer_id": i + 1}
            for i in range(n) for p in ("x", "facebook", "instagram")]
        rows += [{"platform": "x", "external_id": f"solo-{i}", "handle": f"s{i}",
                  "customer_id": n + i + 1} for i in range(n)]
        rows.append({"platform": "facebook", "external_id": "unknown", "handle": None,
                     "customer_id": 2 * n + 1})
        session.execute(insert(Author), [{"name": None, "followers": None, "is_brand": False,
                                          "updated_at": now, **r} for r in rows])
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("url", nargs="?")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'customers.db'}"
        db = open_database(url)
        try:
            _upgrade(db, "0010")
            authors = _old_store(db, args.customers)
            started = time.perf_counter()
            _upgrade(db, "head")
            took = time.perf_counter() - started
            with db.session() as session:
                customers = len(session.execute(select(Customer.id)).all())
        finally:
            db.dispose()
    print(f"{db.engine.dialect.name}: {authors:,} authors, {2 * args.customers + 1:,} "
          f"customers before, {customers:,} after: migration 0011 took {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
