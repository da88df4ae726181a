"""API calls per source per hour with one and with three `carewatch listen` processes.

    .venv/bin/python benchmarks/scaleout_calls.py [--seconds 60] [--every 5] [--no-postgres]

Each measurement starts a sandbox (the X and Graph APIs, with a brand's mentions, posts,
comments and media), an empty database and N real `carewatch listen` processes whose four
sources (X search, X mentions, Facebook page, Instagram media) are due every `--every`
seconds. After a warm-up (the first backfill), the sandbox's request log is cleared and the
listeners run for `--seconds`; the calls each source made are scaled to one hour. Several
listeners share the sources through the database (a lease per source, the due time on the
database's clock), so three should make the calls of one: the ratio column shows how close.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from listen_throughput import TempPostgres  # noqa: E402  (a sibling script)

from sandbox.control import SandboxControl  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402
from sandbox.world import BRAND_X_ID  # noqa: E402

PAGE, IG = "100000000000001", "17841400000000001"
WARM_UP_SECONDS = 8.0


#: The four public sources, by the names the figures use.
SOURCE_KEYS = {
    "x search": {"platform": "x", "kind": "search",
                 "query": '@acmeair OR "acme air" -is:retweet'},
    "x mentions": {"platform": "x", "kind": "mentions", "user_id": BRAND_X_ID},
    "facebook page": {"platform": "facebook", "page_id": PAGE},
    "instagram media": {"platform": "instagram", "ig_user_id": IG},
}


def _toml(every: float) -> str:
    """carewatch.toml with the four sources due every `every` seconds (JSON strings are
    TOML strings)."""
    sources = "".join(
        "\n[[sources]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
        + f'every = "{every}s"\n' for keys in SOURCE_KEYS.values())
    return '[brand]\nname = "Acme Air"\nhandles = ["acmeair"]\n' + sources


def source_of(request: dict[str, object]) -> str:
    """Which source made a request: X by endpoint; on the Graph API the page's own objects
    are named after the page (`PAGE_POST/comments`), everything else is Instagram's."""
    path = str(request["path"])
    if request["platform"] == "x":
        return "x search" if path.endswith("/search/recent") else "x mentions"
    return "facebook page" if f"/{PAGE}" in path else "instagram media"


@contextmanager
def _temp_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/carewatch.db"


def _env(folder: Path, base_url: str, database_url: str, every: float) -> dict[str, str]:
    config = folder / "carewatch.toml"
    config.write_text(_toml(every), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    env.update({"CAREWATCH_CONFIG": str(config), "CAREWATCH_DATABASE_URL": database_url,
                "CAREWATCH_X_API_URL": base_url, "CAREWATCH_GRAPH_API_URL": base_url,
                "CAREWATCH_X_BEARER_TOKEN": "bench-token",
                "CAREWATCH_FB_PAGE_TOKEN": "bench-token", "CAREWATCH_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT)})
    return env


def measure(listeners: int, temp_db: Callable[[], AbstractContextManager[str]],
            seconds: float, every: float) -> Counter[str]:
    """Calls per source during `seconds` of `listeners` processes, after the warm-up."""
    cli = [sys.executable, "-c", "from carewatch.cli import run; run()"]
    with SandboxServer() as sandbox, temp_db() as url, \
            tempfile.TemporaryDirectory() as folder:
        sandbox.world.set_limits({"search": 1_000_000, "mentions": 1_000_000,
                                  "graph": 1_000_000})
        sandbox.world.seed(200, seed=11, days=2.0)
        control = SandboxControl(sandbox.base_url)
        env = _env(Path(folder), sandbox.base_url, url, every)
        subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
        procs = [subprocess.Popen([*cli, "listen"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(listeners)]
        try:
            time.sleep(WARM_UP_SECONDS)
            control.clear_requests()
            time.sleep(seconds)
            calls = Counter(source_of(r) for r in control.requests()
                            if not str(r["path"]).startswith("/_"))
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per run")
    parser.add_argument("--every", type=float, default=5.0, help="each source's interval")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    backends: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [
        ("SQLite", _temp_sqlite)]
    if not args.no_postgres:
        try:
            with TempPostgres():
                pass
            backends.append(("PostgreSQL", TempPostgres))
        except Exception as exc:  # no server here: say so and measure SQLite only
            print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
    scale = 3600.0 / args.seconds
    print(f"every = {args.every:g} s, measured {args.seconds:g} s after a "
          f"{WARM_UP_SECONDS:g} s warm-up; calls per source per hour "
          f"(one poll per interval would be {3600 / args.every:.0f} polls/h)")
    for name, temp_db in backends:
        one = measure(1, temp_db, args.seconds, args.every)
        three = measure(3, temp_db, args.seconds, args.every)
        print(f"\n{name}")
        print(f"  {'source':<16} {'1 listener':>12} {'3 listeners':>12} {'3 / 1':>7}")
        for source in SOURCE_KEYS:
            a, b = one[source] * scale, three[source] * scale
            print(f"  {source:<16} {a:>12.0f} {b:>12.0f} {b / a if a else 0:>7.2f}")
        a, b = sum(one.values()) * scale, sum(three.values()) * scale
        print(f"  {'all sources':<16} {a:>12.0f} {b:>12.0f} {b / a if a else 0:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
