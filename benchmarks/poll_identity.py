"""Does a speed change leave what a poll stores as it was? Every row, against a ref.

    .venv/bin/python benchmarks/poll_identity.py [--ref REF] [--count 3000]
        [--backend sqlite|postgresql]

Why: speed work on the listener's fetch path (how tweepy's responses are decoded, how
tweets are mapped and handed over from the fetch worker) must not move a stored value. The
unit tests pin the mapping on samples; this polls one sandbox, holding `--count` X mentions
of every shape the source maps (replies, quotes, retweets, other languages, authors with
and without followers, the brand's own posts, texts with emoji, escapes and long digit
runs), with the code of `--ref` and with this tree's, each into its own database, and
compares every row of every table. `--ref` defaults to where this branch left main (`git
merge-base HEAD main`); its packages are exported with `git archive` and polled by this
interpreter in a fresh process each, as `carewatch listen --once` polls (fetch worker,
scoring, alerts, routing).

Left out of the comparison: the times a row records of its writing (`fetched_at`,
`updated_at`, ...: `CLOCK_COLUMNS`, `CLOCK_TABLE_COLUMNS`). The tweets are all older than
twice the first-response target, so each mention's waiting-time urgency is saturated and
does not depend on when the poll ran.
Exit status 1 and the first differences printed when a row differs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("carewatch", "listener", "storage", "responders", "dashboard", "sandbox")
QUERY = '@acmeair OR "acme air"'
#: Columns that record when a row was written (the clock of the poll), not what was read:
#: any table's, and one table's (table, column); found by comparing two polls of the same
#: code.
CLOCK_COLUMNS = frozenset({"fetched_at", "updated_at"})
CLOCK_TABLE_COLUMNS = frozenset({
    ("alerts", "first_seen"), ("alerts", "last_seen"), ("customers", "created_at"),
    ("threads", "created_at"), ("sources", "connected_at"), ("sources", "last_poll_at"),
    ("sources", "next_due_at"), ("sources", "last_success_at")})
TEXTS = [
    "@acmeair my flight {n} was cancelled and nobody at the gate can tell me why",
    "@acmeair where is my bag?? landed 3 hours ago, flight {n}",
    "Thanks @acmeair, the crew on {n} was wonderful \u2708\ufe0f",
    "acme air lost my stroller again. worst airline. #{n} \"quoted\" \\ back\\slash",
    "@acmeair booking 123456789012345678901234 {n}: refund still missing, -1234567890123456789",
    "@acmeair \u00bfd\u00f3nde est\u00e1 mi maleta? vuelo {n}",
    "@acmeair \u884c\u674e\u306f\u3069\u3053\u3067\u3059\u304b {n} \U0001f621",
    "@acmeair\tthe lounge wifi is down\nany ETA? {n} \u200b",
]
SERVE = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from poll_identity import _poll_into\n"
    "_poll_into(sys.argv[2], sys.argv[3], sys.argv[4])\n"
)


def _serve(count: int, ready: Any, stop: Any) -> None:
    """The sandbox (this tree's), with `count` tweets of many shapes, all older than
    twice the first-response target."""
    from sandbox.server import SandboxServer
    from sandbox.world import World

    world = World()
    world.set_limits({"search": 1_000_000, "mentions": 1_000_000, "graph": 1_000_000})
    rng = random.Random(7)
    now = world.now()
    brand = {"username": "AcmeAir", "followers": 90000}
    ids: list[int] = []
    span = 2 * 86400 - 4 * 3600
    for i in range(count):
        at = now - 2 * 86400 + i * span / max(1, count)
        author: dict[str, Any] = {"username": f"cust{rng.randrange(300)}"}
        if rng.random() < 0.8:
            author["followers"] = rng.choice([0, 12, 150, 900, 4000, 25000])
        text = rng.choice(TEXTS).format(n=i)
        shape = rng.random()
        kwargs: dict[str, Any] = {"created_at": at, "likes": rng.randrange(5),
                                  "lang": rng.choice(["en", "en", "es", "ja", "und"])}
        if ids and shape < 0.15:
            kwargs["in_reply_to"] = rng.choice(ids)
        elif ids and shape < 0.22:
            kwargs["retweet_of"] = rng.choice(ids)
        elif ids and shape < 0.27:
            kwargs["quote_of"] = rng.choice(ids)
        if shape > 0.97:
            author = brand
        ids.append(int(world.add_tweet(text, author, **kwargs).id))
    with SandboxServer(world=world) as server:
        ready.put(server.base_url)
        stop.wait()


def _poll_into(base_url: str, database_url: str, out: str) -> None:
    """One poll of the sandbox into `database_url` as `carewatch listen --once` does it,
    then every table's rows as JSON lines into `out` (in this process: the tree polled is
    the first on sys.path)."""
    from sqlalchemy import MetaData, select

    import listener
    from carewatch.cli.jobs import routing_hook
    from carewatch.log import configure_logging
    from carewatch.settings import Settings, SourceConfig
    from listener.ingest import Ingestor, default_alert_engine
    from storage.db import open_database
    from storage.migrate import upgrade

    configure_logging("WARNING")
    print(f"polling with {Path(listener.__file__).parent}", flush=True)
    settings = Settings(database_url=database_url, x_api_url=base_url, graph_api_url=base_url,
                        x_bearer_token="bench-token", fb_page_token="bench-token",
                        brand={"name": "Acme Air", "handles": ["acmeair"]},
                        sources=[SourceConfig(platform="x", kind="search", query=QUERY,
                                              backfill_days=3)])
    db = open_database(database_url)
    upgrade(db.engine)
    ingestor = Ingestor(db, settings, alert_engine=default_alert_engine(db, settings),
                        on_new_mentions=routing_hook(db, settings))
    result = ingestor.poll_source(settings.sources[0])
    if not result.ok:
        raise SystemExit(f"poll failed: {result.summary()}")
    meta = MetaData()
    meta.reflect(db.engine)
    with db.engine.connect() as conn, open(out, "w") as f:
        virtual: set[str] = set()
        if db.engine.dialect.name == "sqlite":  # FTS tables: their shadow tables compare
            virtual = {name for (name,) in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")}
        for table in sorted(meta.sorted_tables, key=lambda t: t.name):
            if table.name == "alembic_version" or table.name in virtual:
                continue
            columns = [c for c in table.columns if c.name not in CLOCK_COLUMNS
                       and (table.name, c.name) not in CLOCK_TABLE_COLUMNS]
            rows = conn.execute(select(*columns)).all()
            names = [c.name for c in columns]
            lines = sorted(json.dumps([table.name, dict(zip(names, r, strict=True))],
                                      default=str, ensure_ascii=False) for r in rows)
            f.writelines(line + "\n" for line in lines)
    db.dispose()


def _exported(ref: str, dest: Path) -> Path:
    """The importable packages of `ref`, as committed, in `dest` (its scoring then runs in
    pure Python: the same scores, slower)."""
    dest.mkdir()
    present = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", ref],
                             check=True, capture_output=True, text=True).stdout.split()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref,
                              *[p for p in PACKAGES if p in present]],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _database(backend: str, tmp: Path, name: str) -> Any:
    import listen_throughput as lt

    if backend == "sqlite":
        return _Plain(f"sqlite:///{tmp}/{name}.db")
    return lt.TempPostgres()


class _Plain:
    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref")
    parser.add_argument("--ref-tree", type=Path,
                        help="a checkout of the ref to poll with instead of exporting --ref "
                             "(one with its compiled scoring built: `make install`)")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    ref = args.ref or subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
                                     check=True, capture_output=True, text=True).stdout.strip()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.count, ready, stop), daemon=True)
    server.start()
    base_url = ready.get(timeout=600)
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            old_tree = args.ref_tree or _exported(ref, tmp / "ref")
            outs = []
            for name, tree in (("ref", old_tree), ("new", ROOT)):
                out = tmp / f"{name}.jsonl"
                with _database(args.backend, tmp, name) as url:
                    subprocess.run([sys.executable, "-c", SERVE, str(tree), base_url, url,
                                    str(out)], check=True, cwd=ROOT / "benchmarks",
                                   env={"PYTHONPATH": f"{tree}:{ROOT / 'benchmarks'}",
                                        "PATH": "/usr/bin:/bin"})
                outs.append(out.read_text().splitlines())
    finally:
        stop.set()
        server.join(timeout=30)
    ref_rows, new_rows = outs
    tables = sorted({json.loads(line)[0] for line in ref_rows})
    print(f"ref {args.ref_tree or ref[:10]}: {len(ref_rows)} rows in {len(tables)} tables; "
          f"this tree: {len(new_rows)} rows")
    if ref_rows == new_rows:
        print("identical")
        return 0
    only_ref = sorted(set(ref_rows) - set(new_rows))
    only_new = sorted(set(new_rows) - set(ref_rows))
    print(f"{len(only_ref)} rows of the ref and {len(only_new)} of this tree differ")
    differing: dict[tuple[str, str], int] = {}
    for a, b in zip(only_ref, only_new, strict=False):  # sorted alike: paired by key
        (table, old), (_, new) = json.loads(a), json.loads(b)
        for column in old:
            if old[column] != new.get(column):
                differing[table, column] = differing.get((table, column), 0) + 1
    for (table, column), n in sorted(differing.items()):
        print(f"  {table}.{column}: {n} rows")
    for line in only_ref[:3]:
        print("ref only:", line[:600])
    for line in only_new[:3]:
        print("new only:", line[:600])
    return 1


if __name__ == "__main__":
    sys.exit(main())
