"""Webhook latency: from a Meta delivery to the row an agent's inbox reads, against polling.

    .venv/bin/python benchmarks/webhook_latency.py [--events 200] [--burst 50] [--no-postgres]

`carewatch webhooks` runs as users run it (its own process, real uvicorn, `carewatch init`
first) on a temporary SQLite file and, when reachable, a throwaway PostgreSQL database. This
process POSTs `--events` signed Messenger messages one at a time, then a burst of `--burst`
at once from 16 connections, and for each one measures the time from the start of the POST
until the row is visible to another connection (a direct select by platform id; the last
message is also checked through the inbox query). It prints median, p95 and max, and the
same figures for a poll every 60 s and every 15 s, where an item waits for the next poll:
uniformly 0..interval, so median interval/2 and p95 0.95 x interval (plus the poll itself).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from listen_throughput import TempPostgres  # noqa: E402  (a sibling script)

from listener.webhooks.signature import SIGNATURE_HEADER, sign  # noqa: E402

APP_SECRET = "bench-app-secret"
VERIFY_TOKEN = "bench-verify-token"
PAGE_ID = "100000000000001"
POLL_INTERVALS = (60.0, 15.0)
TEXTS = [
    "Hi, my bag didn't arrive on flight {n}, can you help?",
    "I was charged twice for booking {n}, please refund one",
    "Thanks for the upgrade on {n}, lovely crew!",
    "Can I change my seat on booking {n}?",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(mid: str, n: int) -> bytes:
    ms = int(time.time() * 1000)
    customer = str(7200000000000000 + n % 500)
    return json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": ms, "messaging": [{
        "sender": {"id": customer}, "recipient": {"id": PAGE_ID}, "timestamp": ms,
        "message": {"mid": mid, "text": TEXTS[n % len(TEXTS)].format(n=n)}}]}]}).encode()


@contextmanager
def _temp_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'carewatch.db'}"


@contextmanager
def _receiver(database_url: str, folder: Path) -> Iterator[str]:
    """`carewatch init`, then `carewatch webhooks` on a free port until the block ends."""
    config = folder / "carewatch.toml"
    config.write_text('[brand]\nname = "Acme Air"\nhandles = ["acmeair"]\n', encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")},
           "CAREWATCH_CONFIG": str(config), "CAREWATCH_DATABASE_URL": database_url,
           "CAREWATCH_META_APP_SECRET": APP_SECRET,
           "CAREWATCH_META_VERIFY_TOKEN": VERIFY_TOKEN, "CAREWATCH_LOG_LEVEL": "WARNING"}
    carewatch = [sys.executable, "-m", "carewatch"]
    subprocess.run([*carewatch, "init"], env=env, cwd=ROOT, check=True,
                   stderr=subprocess.DEVNULL)
    port = _free_port()
    proc = subprocess.Popen([*carewatch, "webhooks", "--port", str(port)], env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/webhooks/meta"
    try:
        _wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    import requests

    challenge = {"hub.mode": "subscribe", "hub.challenge": "1",
                 "hub.verify_token": VERIFY_TOKEN}
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("carewatch webhooks exited before it answered")
        try:
            if session.get(url, params=challenge, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit("carewatch webhooks did not answer within 90 s")


def _connection(url: str) -> http.client.HTTPConnection:
    """A kept-alive connection that sends each request in one write, as Meta's sender does
    (a client that writes headers and body apart waits out TCP's delayed ACK, ~40 ms, which
    would be measured as the receiver's time)."""
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def _measure(url: str, db: Any, mid: str, n: int, conn: http.client.HTTPConnection) -> float:
    """Seconds from the start of the POST until another connection sees the row."""
    from sqlalchemy import select

    from storage.models import Mention

    raw = _body(mid, n)
    headers = {SIGNATURE_HEADER: sign(APP_SECRET, raw), "Content-Type": "application/json"}
    started = time.perf_counter()
    conn.request("POST", urlsplit(url).path, body=raw, headers=headers)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        raise SystemExit(f"delivery answered {answer.status}")
    query = select(Mention.id).where(Mention.platform == "facebook", Mention.external_id == mid)
    while True:
        with db.session() as s:
            if s.execute(query).first() is not None:
                return time.perf_counter() - started
        time.sleep(0.001)


def _figures(label: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return (f"  {label:<34} n={len(ordered):<4} median {median * 1000:8.1f} ms"
            f"   p95 {p95 * 1000:8.1f} ms   max {ordered[-1] * 1000:8.1f} ms")


def run_backend(name: str, temp_db: Callable[[], AbstractContextManager[str]], events: int,
                burst: int) -> list[float]:
    from storage.db import open_database
    from storage.inbox import InboxFilters, inbox

    print(f"\n{name}")
    with (temp_db() as database_url,
          tempfile.TemporaryDirectory(prefix="cw-bench-") as folder,
          _receiver(database_url, Path(folder)) as url):
        db = open_database(database_url)
        run = uuid.uuid4().hex[:8]
        conn = _connection(url)
        _measure(url, db, f"m_warm_{run}", 0, conn)  # first scoring, first connections
        sequential = [_measure(url, db, f"m_{run}_{i}", i, conn) for i in range(events)]
        print(_figures(f"{events} events, one at a time", sequential))

        def one(i: int) -> float:
            return _measure(url, db, f"m_{run}_b{i}", i, _connection(url))

        with ThreadPoolExecutor(max_workers=16) as pool:
            burst_times = list(pool.map(one, range(burst)))
        print(_figures(f"burst of {burst}, 16 connections", burst_times))
        with db.session() as s:
            listed = {r.external_id for r in inbox(s, InboxFilters(limit=1000)).rows}
        assert f"m_{run}_{events - 1}" in listed, "the last message is not in the inbox"
        db.dispose()
    return sequential


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    backends: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [
        ("SQLite (temporary file)", _temp_sqlite)]
    if not args.no_postgres:
        try:
            with TempPostgres():
                pass
            backends.append(("PostgreSQL (throwaway database)", TempPostgres))
        except Exception as exc:
            print(f"PostgreSQL not reachable, skipped: {str(exc).splitlines()[0]}")
    print("webhook latency: POST start -> row visible to another connection")
    medians = {name: statistics.median(run_backend(name, db, args.events, args.burst))
               for name, db in backends}
    print("\npolling baseline (an item waits for the next poll, uniformly)")
    for interval in POLL_INTERVALS:
        print(f"  poll every {interval:>4.0f} s{'':<20} median {interval / 2 * 1000:8.0f} ms"
              f"   p95 {0.95 * interval * 1000:8.0f} ms   (plus the poll's own time)")
    for name, median in medians.items():
        print(f"  {name}: the webhook is {POLL_INTERVALS[0] / 2 / median:,.0f}x sooner than a "
              f"{POLL_INTERVALS[0]:.0f} s poll at the median")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
