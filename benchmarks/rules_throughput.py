"""What the `[[rules]]` cost per new item, on SQLite: wall time and this process's CPU time.

    .venv/bin/python benchmarks/rules_throughput.py [--items 3000]

Stores `--items` X mentions (a third match a team-assignment rule with a tag and a
priority, a third a canned-reply rule), then routes them all through `RuleEngine.apply`, as
the listener's hook does after each stored page (one transaction per 100 items). CPU time
is the figure to compare between machines; wall time includes waiting for a busy CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from carewatch import domain  # noqa: E402
from carewatch.settings import load_settings  # noqa: E402
from responders.automation import RuleEngine  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.mentions import upsert_mentions  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import CannedReply, User  # noqa: E402

CONFIG = """
[[canned_replies]]
name = "Thanks"
text = "Thanks {handle}!"

[[teams]]
name = "care"
members = ["a", "b"]

[[rules]]
name = "bags to care"
when = { keywords = ["bag*"] }
then = { assign = "care", tag = "bags", priority = "high" }

[[rules]]
name = "thanks"
when = { keywords = ["thanks"] }
then = { reply_canned = "Thanks" }
"""
TEXTS = ("@acmeair my bag is lost", "@acmeair thanks a lot", "@acmeair flight late again")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cw-rules-"))
    config = folder / "carewatch.toml"
    config.write_text(CONFIG, encoding="utf-8")
    settings = load_settings(config)
    db = open_database(f"sqlite:///{folder / 'bench.db'}")
    upgrade(db.engine)
    with db.write() as session:
        session.add_all([User(username=name, role="agent", password_hash="x")
                         for name in ("a", "b")])
        session.add(CannedReply(name="Thanks", text="Thanks {handle}!", topics=[], lang=""))
    now = datetime.now(UTC)
    mentions = [domain.Mention(
        platform=domain.Platform.X, external_id=str(10**18 + i), text=TEXTS[i % 3],
        created_at=now, author=domain.Author(domain.Platform.X, str(i), f"u{i}", "U"),
        thread_id=str(10**18 + i), raw={}) for i in range(args.items)]
    with db.write() as session:
        ids = upsert_mentions(session, mentions, source_key="x:bench").inserted_ids
    wall, cpu = time.perf_counter(), time.process_time()
    routed = RuleEngine(db, settings).apply(ids)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(routed) == args.items
    print(f"rules on {args.items} new items (SQLite): wall {wall:.2f} s "
          f"({args.items / wall:.0f} items/s), CPU {cpu:.2f} s "
          f"({args.items / cpu:.0f} items/s, {1000 * cpu / args.items:.2f} ms per item)")
    db.dispose()


if __name__ == "__main__":
    main()
