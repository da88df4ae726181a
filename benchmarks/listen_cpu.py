"""CPU per mention of one carewatch poll, the listener's process apart from its workers.

    .venv/bin/python benchmarks/listen_cpu.py [COUNT] [sqlite|postgres] [RUNS]

Why: on a shared two-core machine wall-clock rates swing with the neighbours' load, while
CPU time does not. The listener's own CPU (`main_cpu`, getrusage of this process: storing,
hooks, and whatever else runs on its threads) is what bounds a poll on a quiet machine;
`children_cpu` is its workers' (scoring; with listener/fetch_worker.py also fetching and
parsing). Same sandbox data, Ingestor wiring and clocked span as listen_throughput.py: the
poll alone, after the database is migrated and the models are loaded. On a local
PostgreSQL, `server_cpu` is the CPU of the server's backends for the run's database over
the same span (the fourth CPU-bound process of a poll on the two-core machine).

The baseline, measured in the same run on the same data: the naive loop of
listen_throughput.py (tweepy -> pandas -> VADER -> to_sql), whose CPU is all its own
process's; the ratio printed is carewatch's total CPU (listener + workers) over it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import listen_throughput as lt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=20_000)
    parser.add_argument("backend", nargs="?", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("runs", nargs="?", type=int, default=1)
    args = parser.parse_args()
    from carewatch.log import configure_logging

    configure_logging("WARNING")
    from listener.scoring import mode

    print(f"scoring {mode()}", flush=True)
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=lt._serve, args=(args.count, ready, stop), daemon=True)
    server.start()
    base = ready.get(timeout=600)
    maker = None if args.backend == "sqlite" else lt.TempPostgres
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                n, secs = lt._measure(maker, tmp,
                                      lambda u: lt.run_carewatch(base, u, scoring=True))
                own, children = lt.LAST_CPU["own"], lt.LAST_CPU["workers"]
                served = _server(lt.LAST_CPU)
                nn, naive_secs = lt._measure(maker, tmp, lambda u: lt.run_naive(base, u))
                naive_cpu = lt.LAST_CPU["own"]
                print(f"{args.backend} n={n} wall={secs:.2f}s rate={n / secs:.0f}/s "
                      f"main_cpu={own:.2f}s ({own / n * 1e6:.0f}us/m) "
                      f"children_cpu={children:.2f}s{served} | naive wall={naive_secs:.2f}s "
                      f"cpu={naive_cpu:.2f}s ({naive_cpu / nn * 1e6:.0f}us/m)"
                      f"{_server(lt.LAST_CPU)} | "
                      f"carewatch/naive CPU {(own + children) / naive_cpu:.2f}x "
                      f"load={os.getloadavg()[0]:.1f}", flush=True)
    finally:
        stop.set()
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


def _server(cpu: dict[str, float]) -> str:
    """The run's PostgreSQL server CPU for the line printed, when it could be read: kept
    out of the ratio, which compares the clients (as it always has)."""
    return f" server_cpu={cpu['server']:.2f}s" if "server" in cpu else ""


if __name__ == "__main__":
    main()
