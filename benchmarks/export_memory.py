"""Peak memory and speed of `export mentions` in every format, against a naive baseline.

Why: the export must stay flat in memory for millions of rows. This fills a temporary SQLite
store with N mentions (bulk insert straight into the tables, not the slow listener path), then
runs each export in its own subprocess and reads that process's peak RSS (getrusage) before
and after, so imports are not counted and formats do not share a heap. The baseline is what
one would write first: `pandas.read_sql(whole table).to_csv(...)`.

    .venv/bin/python benchmarks/export_memory.py [--rows 200000] [--formats csv,parquet]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("flight", "delayed", "again", "lost", "bag", "refund", "gate", "crew", "thanks",
         "great", "awful", "seat", "wifi", "cancelled", "rebook", "luggage", "=", "+", "-", "@",
         '"quoted"', ",", "comma", "\n", "newline", "émoji", "😡", "👍")
BASELINE_SQL = """
SELECT m.platform, m.external_id, m.thread_id, m.parent_id, a.external_id AS author_id,
       COALESCE(a.handle, a.name) AS author_handle, a.followers AS author_followers, m.text,
       m.created_at, m.lang, m.url, m.sentiment, m.sentiment_label, m.urgency,
       m.urgency_reasons, m.status, m.assignee, m.first_response_at, m.visibility,
       '' AS topic
FROM mentions m LEFT JOIN authors a ON a.id = m.author_pk
WHERE m.is_own = 0 AND m.visibility = 'public' ORDER BY m.created_at, m.id
"""


def fill(db_path: Path, rows: int, seed: int = 7) -> float:
    """Create the schema with the real migrations, then bulk-insert `rows` mentions."""
    from storage.db import open_database
    from storage.migrate import upgrade

    db = open_database(f"sqlite:///{db_path}")
    upgrade(db.engine)
    db.dispose()
    rng = random.Random(seed)
    started = time.perf_counter()
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    n_authors = max(1, rows // 20)
    platforms = ("x", "facebook", "instagram")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with con:
        con.executemany(
            "INSERT INTO authors (id, platform, external_id, handle, name, followers, is_brand,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
            ((i, platforms[i % 3], f"a{i}", None if i % 3 == 1 else f"user{i}", f"User {i}",
              None if i % 3 == 1 else rng.randrange(50_000), now)
             for i in range(1, n_authors + 1)),
        )
    base = datetime(2026, 1, 1)

    def mention(i: int) -> tuple[object, ...]:
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(5, 40)))
        created = (base + timedelta(seconds=i * 7 + rng.randrange(5))).strftime(
            "%Y-%m-%d %H:%M:%S.%f")
        sentiment = rng.uniform(-1, 1)
        label = "negative" if sentiment < -0.05 else "positive" if sentiment > 0.05 else "neutral"
        return (platforms[i % 3], f"m{i}", "bench", f"t{i // 10}", None, 1 + i % n_authors,
                text, created, now, "en", f"https://example.test/{i}", 0, 0, 0, 0, "{}",
                sentiment, label, rng.random(), "negative;question" if i % 4 == 0 else "",
                "new", now)

    sql = ("INSERT INTO mentions (platform, external_id, source_key, thread_id, parent_id,"
           " author_pk, text, created_at, fetched_at, lang, url, like_count, reply_count,"
           " repost_count, is_own, raw, sentiment, sentiment_label, urgency, urgency_reasons,"
           " status, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    batch = 20_000
    for start in range(0, rows, batch):
        with con:
            con.executemany(sql, (mention(i) for i in range(start, min(rows, start + batch))))
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - started


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def child(kind: str, db_path: str, out: str) -> None:
    """One measured export in this process; prints a JSON line with the figures."""
    import pandas as pd
    import pyarrow.parquet  # noqa: F401
    import xlsxwriter  # noqa: F401

    from storage.db import open_database
    from storage.export import export_mentions

    db = open_database(f"sqlite:///{db_path}")
    with db.session() as session:  # warm the connection so it is not counted either
        session.connection().exec_driver_sql("SELECT 1")
    before = _peak_kb()
    started = time.perf_counter()
    if kind == "baseline":
        import pandas as pd

        with db.engine.connect() as conn:
            frame = pd.read_sql(BASELINE_SQL, conn.connection.driver_connection)
        frame.to_csv(out, index=False)
        rows = len(frame)
    else:
        rows = export_mentions(db, kind, out)
    seconds = time.perf_counter() - started
    print(json.dumps({"kind": kind, "rows": rows, "seconds": seconds,
                      "peak_growth_kb": _peak_kb() - before, "baseline_kb": before,
                      "bytes": Path(out).stat().st_size}))


def measure(kind: str, db_path: Path, folder: Path) -> dict[str, float]:
    ext = "csv" if kind == "baseline" else kind
    out = folder / f"{kind}.{ext}"
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--db", str(db_path), "--out", str(out)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} export failed:\n{proc.stderr}")
    out.unlink(missing_ok=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--formats", default="csv,jsonl,parquet,xlsx")
    parser.add_argument("--child")
    parser.add_argument("--db")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="cw-export-bench-") as tmp:
        folder = Path(tmp)
        db_path = folder / "bench.db"
        fill_s = fill(db_path, args.rows)
        print(f"filled {args.rows:,} mentions in {fill_s:.1f}s "
              f"({db_path.stat().st_size / 2**20:.0f} MiB SQLite)")
        results = [measure("baseline", db_path, folder)]
        results += [measure(fmt, db_path, folder) for fmt in args.formats.split(",") if fmt]
    base = results[0]
    print(f"{'export':<10}{'rows':>10}{'seconds':>9}{'rows/s':>10}{'peak RSS +MiB':>15}"
          f"{'mem vs naive':>14}{'speed vs naive':>16}{'file MiB':>10}")
    for r in results:
        mem = r["peak_growth_kb"] / 1024
        rate = r["rows"] / r["seconds"] if r["seconds"] else float("inf")
        base_rate = base["rows"] / base["seconds"]
        mem_ratio = r["peak_growth_kb"] / max(base["peak_growth_kb"], 1)
        print(f"{r['kind']:<10}{r['rows']:>10,}{r['seconds']:>9.2f}{rate:>10,.0f}{mem:>15.1f}"
              f"{mem_ratio:>13.2f}x{rate / base_rate:>15.2f}x{r['bytes'] / 2**20:>10.1f}")


if __name__ == "__main__":
    main()
