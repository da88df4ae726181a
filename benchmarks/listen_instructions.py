"""Instructions per mention of a listener poll and of the naive loop, counted by callgrind.

    .venv/bin/python benchmarks/listen_instructions.py [--small 2000] [--large 6000]

Why: on a shared two-core machine the wall-clock ratio of `listen_throughput.py` and even
the CPU seconds of `listen_cpu.py` swing by ±10-20% from run to run, which hides a change
of a few percent. Instruction counts do not move with the neighbours' load: the same code
on the same data counts the same, so a change of 2% shows as 2%.

How: each run executes under `valgrind --tool=callgrind` (about 50x slower) the same poll
as `listen_throughput.py` on SQLite: carewatch (`run_carewatch`: the listener process and
its fetch worker, which callgrind follows across the fork) and the naive loop
(`run_naive`), with the sandbox in its own process, not counted. A forked worker's count
starts from its parent's at the fork, and every process counts its start-up (imports,
migrations, models), so each figure is the difference between a poll of `--large` and one
of `--small` mentions, divided by the difference: the cost of one more mention, start-up
and fork left out. The sandbox's and PostgreSQL's own work are not counted (they are other
processes): for the server's CPU see `listen_cpu.py ... postgres` and `pg_statements.py`.
Takes several minutes; needs valgrind (skips with one line without it).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def _child(kind: str, count: int) -> None:
    """One counted run (under callgrind): serve `count` mentions, poll them once."""
    import listen_throughput as lt

    from carewatch.log import configure_logging

    configure_logging("WARNING")
    ctx = mp.get_context("spawn")  # exec'd: callgrind does not follow it, not counted
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=lt._serve, args=(count, ready, stop), daemon=True)
    server.start()
    base = ready.get(timeout=1800)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/poll.db"
            if kind == "carewatch":
                stored, _ = lt.run_carewatch(base, url, scoring=True)
            else:
                stored, _ = lt.run_naive(base, url)
    finally:
        stop.set()
        server.join(timeout=30)
    print(f"stored {stored} pid {os.getpid()}", flush=True)


def _counted(kind: str, count: int, out: Path) -> dict[str, int]:
    """Run `_child` under callgrind; instructions of the process ("main") and of its forks
    together ("forks")."""
    prefix = out / f"{kind}.{count}"
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}.%p",
         sys.executable, str(Path(__file__).resolve()), "--child", kind, str(count)],
        capture_output=True, text=True, check=False)
    found = re.search(r"stored (\d+) pid (\d+)", run.stdout)
    if run.returncode != 0 or found is None or int(found.group(1)) != count:
        raise SystemExit(f"{kind} run of {count} failed:\n{run.stdout[-2000:]}"
                         f"{run.stderr[-2000:]}")
    pid = found.group(2)
    totals = {"main": 0, "forks": 0}
    for path in out.glob(f"{kind}.{count}.*"):
        text = path.read_text(errors="replace")
        summary = re.search(r"^summary: (\d+)", text, re.MULTILINE)
        if summary is None:
            raise SystemExit(f"no summary in {path}")
        totals["main" if path.name.endswith(f".{pid}") else "forks"] += int(summary.group(1))
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=6000)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("skipped: valgrind is not installed (apt install valgrind)")
        return 0
    if not 0 < args.small < args.large:
        raise SystemExit("--small must be positive and below --large")
    extra = args.large - args.small
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        per: dict[str, dict[str, float]] = {}
        for kind in ("carewatch", "naive"):
            small, large = _counted(kind, args.small, out), _counted(kind, args.large, out)
            per[kind] = {part: (large[part] - small[part]) / extra for part in small}
    cw, naive = per["carewatch"], per["naive"]
    total = cw["main"] + cw["forks"]
    print(f"instructions per mention (callgrind, {args.small} -> {args.large} mentions, "
          "SQLite; sandbox and start-up not counted):")
    print(f"  carewatch listener  {cw['main'] / 1e3:8.1f}k")
    print(f"  carewatch worker    {cw['forks'] / 1e3:8.1f}k")
    print(f"  carewatch total     {total / 1e3:8.1f}k")
    print(f"  naive loop          {naive['main'] / 1e3:8.1f}k")
    print(f"  carewatch / naive   {total / naive['main']:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
