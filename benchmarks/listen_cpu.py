"""CPU per mention of one carewatch poll, the listener's process apart from its workers.

    .venv/bin/python benchmarks/listen_cpu.py [COUNT] [sqlite|postgres] [RUNS]

Why: on a shared two-core machine wall-clock rates swing with the neighbours' load, while
CPU time does not. The listener's own CPU (`main_cpu`, getrusage of this process: storing,
hooks, and whatever else runs on its threads) is what bounds a poll on a quiet machine;
`children_cpu` is its workers' (scoring; with listener/fetch_worker.py also fetching and
parsing). Same sandbox data and Ingestor wiring as listen_throughput.py; the measured span
includes creating and migrating the database and loading the models.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import listen_throughput as lt


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    from carewatch.log import configure_logging

    configure_logging("WARNING")
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=lt._serve, args=(count, ready, stop), daemon=True)
    server.start()
    base = ready.get(timeout=600)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(runs):
                maker = None if backend == "sqlite" else lt.TempPostgres
                own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
                n, secs = lt._measure(maker, tmp,
                                      lambda u: lt.run_carewatch(base, u, scoring=True))
                own = _cpu(resource.RUSAGE_SELF) - own
                children = _cpu(resource.RUSAGE_CHILDREN) - children
                print(f"{backend} n={n} wall={secs:.2f}s rate={n / secs:.0f}/s "
                      f"main_cpu={own:.2f}s ({own / n * 1e6:.0f}us/m) "
                      f"children_cpu={children:.2f}s load={os.getloadavg()[0]:.1f}", flush=True)
    finally:
        stop.set()
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    main()
