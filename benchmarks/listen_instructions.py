"""Instructions per mention of a listener poll and of the naive loop, counted by callgrind.

    .venv/bin/python benchmarks/listen_instructions.py [--small 2000] [--large 6000] [--cache]

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

`--cache` runs cachegrind instead (`--cache-sim=yes --branch-sim=yes`, about 100x slower)
and prints, per mention and per process, the simulated first-level instruction and data
cache misses, last-level misses and mispredicted branches beside the instructions. Why:
carewatch's processes spend more CPU seconds per instruction than the naive loop (on this
machine ~2.2-2.5x its CPU for ~1.6x its instructions, `listen_cpu.py`), and these events,
which instruction counts cannot show, are where the difference goes: a broader code
footprint misses the 32 KB instruction cache, and interpreted code mispredicts branches.
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


#: cachegrind's events (`--cache`), as its output names them, and what this prints them as.
CACHE_EVENTS = {"Ir": "instructions", "I1mr": "I1 misses", "D1mr": "D1 read misses",
                "D1mw": "D1 write misses", "ILmr": "LL instr misses",
                "DLmr": "LL read misses", "DLmw": "LL write misses",
                "Bcm": "cond. mispredicts", "Bim": "indirect mispredicts"}


def _counted(kind: str, count: int, out: Path, *, cache: bool = False
             ) -> dict[str, dict[str, int]]:
    """Run `_child` under callgrind (or cachegrind with `cache`); per event ("Ir": the
    instructions), the counts of the process ("main") and of its forks together ("forks")."""
    prefix = out / f"{kind}.{count}"
    tool = (["--tool=cachegrind", "--cache-sim=yes", "--branch-sim=yes",
             f"--cachegrind-out-file={prefix}.%p"] if cache else
            ["--tool=callgrind", f"--callgrind-out-file={prefix}.%p"])
    run = subprocess.run(
        ["valgrind", *tool,
         sys.executable, str(Path(__file__).resolve()), "--child", kind, str(count)],
        capture_output=True, text=True, check=False)
    found = re.search(r"stored (\d+) pid (\d+)", run.stdout)
    if run.returncode != 0 or found is None or int(found.group(1)) != count:
        raise SystemExit(f"{kind} run of {count} failed:\n{run.stdout[-2000:]}"
                         f"{run.stderr[-2000:]}")
    pid = found.group(2)
    totals: dict[str, dict[str, int]] = {}
    for path in out.glob(f"{kind}.{count}.*"):
        part = "main" if path.name.endswith(f".{pid}") else "forks"
        for event, value in summary_counts(path).items():
            totals.setdefault(event, {"main": 0, "forks": 0})[part] += value
    return totals


def summary_counts(path: Path) -> dict[str, int]:
    """{event: whole-run count} from a callgrind or cachegrind output file (its `events:`
    line names the columns of its `summary:` line)."""
    text = path.read_text(errors="replace")
    events = re.search(r"^events: (.+)$", text, re.MULTILINE)
    summary = re.search(r"^summary: ([\d ]+)$", text, re.MULTILINE)
    if events is None or summary is None:
        raise SystemExit(f"no summary in {path}")
    return {event: int(value) for event, value in
            zip(events.group(1).split(), summary.group(1).split(), strict=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=6000)
    parser.add_argument("--cache", action="store_true",
                        help="cachegrind: cache misses and mispredicted branches too")
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
        per: dict[str, dict[str, dict[str, float]]] = {}
        for kind in ("carewatch", "naive"):
            small = _counted(kind, args.small, out, cache=args.cache)
            large = _counted(kind, args.large, out, cache=args.cache)
            per[kind] = {event: {part: (large[event][part] - small[event][part]) / extra
                                 for part in ("main", "forks")} for event in large}
    if args.cache:
        _print_cache(per, args.small, args.large)
        return 0
    cw, naive = per["carewatch"]["Ir"], per["naive"]["Ir"]
    total = cw["main"] + cw["forks"]
    print(f"instructions per mention (callgrind, {args.small} -> {args.large} mentions, "
          "SQLite; sandbox and start-up not counted):")
    print(f"  carewatch listener  {cw['main'] / 1e3:8.1f}k")
    print(f"  carewatch worker    {cw['forks'] / 1e3:8.1f}k")
    print(f"  carewatch total     {total / 1e3:8.1f}k")
    print(f"  naive loop          {naive['main'] / 1e3:8.1f}k")
    print(f"  carewatch / naive   {total / naive['main']:8.2f}x")
    return 0


def _print_cache(per: dict[str, dict[str, dict[str, float]]], small: int, large: int) -> None:
    """The `--cache` table: each event per mention for the listener, its fetch worker,
    both, and the naive loop, then each event per 1,000 instructions, where carewatch and
    the naive loop compare like for like."""
    cw, naive = per["carewatch"], per["naive"]
    print(f"per mention (cachegrind, {small} -> {large} mentions, SQLite; sandbox and "
          "start-up not counted):")
    print(f"  {'event':22}{'listener':>11}{'worker':>11}{'carewatch':>11}{'naive':>11}"
          f"{'ratio':>8}   per 1k instr: carewatch / naive")
    cw_ir = cw["Ir"]["main"] + cw["Ir"]["forks"]
    naive_ir = naive["Ir"]["main"]
    for event, label in CACHE_EVENTS.items():
        if event not in cw:
            continue
        mine, theirs = cw[event]["main"] + cw[event]["forks"], naive[event]["main"]
        # Last-level misses are ~0 a mention here (the whole run fits in the LL cache):
        # a ratio of two noise-level differences would mean nothing.
        ratio = f"{mine / theirs:7.2f}x" if min(mine, theirs) >= 10 else "       -"
        dense = (f"{mine / cw_ir * 1e3:8.2f} / {theirs / naive_ir * 1e3:.2f}"
                 if event != "Ir" else "")
        print(f"  {label:22}{cw[event]['main']:11.0f}{cw[event]['forks']:11.0f}{mine:11.0f}"
              f"{theirs:11.0f}{ratio} {dense}")


if __name__ == "__main__":
    sys.exit(main())
