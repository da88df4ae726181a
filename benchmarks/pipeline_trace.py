"""Where a fetch-worker poll loses the overlap of its processes: per-page timestamps of the
listener and the worker, and each process's CPU and run-queue wait, in one run.

    .venv/bin/python benchmarks/pipeline_trace.py [COUNT] [sqlite|postgres] [RUNS]

Why: a poll runs in three busy processes on the two-core machine (the sandbox, the fetch
worker, the listener); its wall time above half their CPU is lost to imperfect overlap, and
wall figures swing with the neighbours' load. The fractions printed here are measured
within one run, so they can be compared between two settings on a busy machine:

- `only listener`: the share of the poll when the listener worked and neither the worker
  (scoring, pickling, mapping) nor a request was under way: one core idle on a quiet
  machine;
- `under 2 busy`: the share when fewer than two of the three worked;
- `listener idle`: the listener waiting for the worker's pages;
- the start (fork, first request, first page received, first stored) and the end (the
  listener storing after the worker's last page).

How: the listener's and the worker's functions are wrapped here before the fork (the
worker inherits the wrappers); the product carries no instrumentation. CPU and run-queue
waits come from /proc/PID/task/TID/schedstat (Linux). Same sandbox data and Ingestor wiring
as listen_throughput.py; the naive loop is not run.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import listen_throughput as lt  # noqa: E402

#: (monotonic time, native thread id, event): CLOCK_MONOTONIC is one clock for every process.
EVENTS: list[tuple[float, int, str]] = []
#: Threads that ended in the worker before it reported: tid -> (cpu ns, run-queue wait ns).
ENDED: dict[int, tuple[int, int]] = {}
STEP = 0.001  # seconds a slot of the overlap count


def _event(name: str) -> None:
    EVENTS.append((time.monotonic(), threading.get_native_id(), name))


def _schedstat(pid: int | str = "self") -> dict[int, tuple[int, int]]:
    """Every live thread's (CPU ns, run-queue wait ns) of process `pid`."""
    out: dict[int, tuple[int, int]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            run, wait, _ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        out[int(tid)] = (int(run), int(wait))
    return out


def _thread_ended() -> None:
    run, wait, _ = Path("/proc/thread-self/schedstat").read_text().split()
    ENDED[threading.get_native_id()] = (int(run), int(wait))


def _around(owner: Any, name: str, before: str, after: str) -> None:
    """Wrap `owner.name` with events `before` and `after`."""
    original = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _event(before)
        try:
            return original(*args, **kwargs)
        finally:
            _event(after)

    setattr(owner, name, wrapped)


def _install(report_dir: Path, marks: dict[str, Any]) -> None:
    import listener.fetch_worker as fw
    import listener.ingest as ing
    import listener.read_ahead as ra
    import listener.sources.x as xs

    _around(xs.XSource, "_fetch", "request", "response")  # request, X's answer, parsing
    _around(ra.ReadAhead, "_hand_over", "mapped", "room")  # mapping done; room to go on
    _around(fw, "_score_page", "score", "scored")
    _around(fw, "_pickled", "pickle", "pickled")
    _around(fw, "_asked", "ask", "asked")  # waiting for the listener to ask for a page
    _around(fw.FetchWorker, "_receive", "receive", "received")
    _around(fw.FetchWorker, "ready", "receive", "received")
    _around(ing.Ingestor, "_store_scored", "store", "stored")
    for owner, name in ((ra.ReadAhead, "_produce"), (fw._Sender, "_run")):
        inner = getattr(owner, name)

        def ending(*args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
            try:
                return _inner(*args, **kwargs)
            finally:
                _thread_ended()

        setattr(owner, name, ending)

    worker = fw._worker

    def traced_worker(*args: Any) -> None:
        EVENTS.clear()
        ENDED.clear()
        _event("worker")
        try:
            worker(*args)
        finally:
            _event("worker_end")
            sched = {**ENDED, **_schedstat()}
            (report_dir / f"{os.getpid()}.json").write_text(
                json.dumps({"events": EVENTS, "sched": sched}))

    fw._worker = traced_worker
    enter = fw.FetchWorker.__enter__

    def traced_enter(self: Any) -> Any:
        _event("fork")
        entered = enter(self)
        marks["worker_pid"] = self._process.pid
        return entered

    fw.FetchWorker.__enter__ = traced_enter  # type: ignore[method-assign]
    poll = ing.Ingestor.poll_source

    def traced_poll(self: Any, config: Any, **kwargs: Any) -> Any:
        marks["listener0"], marks["sandbox0"] = _schedstat(), _schedstat(marks["sandbox"])
        _event("poll")
        try:
            return poll(self, config, **kwargs)
        finally:
            _event("poll_end")
            marks["listener1"], marks["sandbox1"] = _schedstat(), _schedstat(marks["sandbox"])

    ing.Ingestor.poll_source = traced_poll  # type: ignore[method-assign]


def _busy(events: list[tuple[float, int, str]], t0: float, slots: int,
          pairs: dict[str, str]) -> list[bool]:
    """Per slot of STEP seconds: whether some span from a `pairs` key to its value (on the
    same thread) covers it."""
    out = [False] * slots
    open_: dict[tuple[int, str], float] = {}
    ends = {end: start for start, end in pairs.items()}
    for t, tid, name in events:
        if name in pairs:
            open_[(tid, name)] = t
        if name in ends and (tid, ends[name]) in open_:
            start = open_.pop((tid, ends[name]))
            for i in range(int((start - t0) / STEP), min(slots, int((t - t0) / STEP))):
                out[i] = True
    return out


def _report(events: list[tuple[float, int, str]], worker_sched: dict[str, list[int]],
            marks: dict[str, Any]) -> None:
    events.sort()
    t0 = next(t for t, _, n in events if n == "poll")
    wall = next(t for t, _, n in events if n == "poll_end") - t0
    slots = int(wall / STEP) + 1

    def first(name: str) -> float:
        return next(t - t0 for t, _, n in events if n == name)

    def last(name: str) -> float:
        return next(t - t0 for t, _, n in reversed(events) if n == name)

    waiting = _busy(events, t0, slots, {"receive": "received"})
    worker = [a or b for a, b in zip(_busy(events, t0, slots, {"score": "pickled"}),
                                     _busy(events, t0, slots, {"response": "mapped"}),
                                     strict=True)]
    request = _busy(events, t0, slots, {"request": "response"})
    only = sum(not w and not b and not r for w, b, r in zip(waiting, worker, request,
                                                             strict=True))
    under = sum((not w) + b + r < 2 for w, b, r in zip(waiting, worker, request,
                                                        strict=True))
    print(f"  wall {wall:.3f} s: only listener {only / slots:.2f}, under 2 busy "
          f"{under / slots:.2f}, listener idle {sum(waiting) / slots:.2f}, worker waiting "
          f"for the listener {sum(_busy(events, t0, slots, {'ask': 'asked'})) / slots:.2f}")
    print(f"  start: fork {first('fork'):.3f}, first request {first('request'):.3f}, first "
          f"page received {first('received'):.3f}, first stored {first('stored'):.3f} s; end: "
          f"worker's last page {last('pickled'):.3f}, worker ended {last('worker_end'):.3f}, "
          f"last stored {last('stored'):.3f} s")

    def cpu(label: str, before: dict[int, tuple[int, int]],
            after: dict[int, tuple[int, int]]) -> float:
        run = sum(r - before.get(tid, (0, 0))[0] for tid, (r, _) in after.items()) / 1e9
        wait = sum(w - before.get(tid, (0, 0))[1] for tid, (_, w) in after.items()) / 1e9
        print(f"  {label:<8} cpu {run:6.3f} s, run-queue wait {wait:6.3f} s")
        return run

    total = (cpu("listener", marks["listener0"], marks["listener1"])
             + cpu("worker", {}, {int(k): (v[0], v[1]) for k, v in worker_sched.items()})
             + cpu("sandbox", marks["sandbox0"], marks["sandbox1"]))
    print(f"  CPU {total:.3f} s: half of it {total / 2:.3f} s, wall above it "
          f"{wall - total / 2:.3f} s")


@contextlib.contextmanager
def _sandbox(count: int) -> Iterator[tuple[str, int]]:
    """The sandbox in its own process with `count` mentions: (base URL, pid)."""
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=lt._serve, args=(count, ready, stop), daemon=True)
    process.start()
    try:
        yield ready.get(timeout=600), process.pid
    finally:
        stop.set()
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    from carewatch.log import configure_logging

    configure_logging("WARNING")
    maker = None if backend == "sqlite" else lt.TempPostgres
    with _sandbox(count) as (base, pid), tempfile.TemporaryDirectory() as tmp:
        marks: dict[str, Any] = {"sandbox": pid}
        _install(Path(tmp), marks)
        for _ in range(runs):
            EVENTS.clear()
            n, _secs = lt._measure(maker, tmp, lambda u: lt.run_carewatch(base, u, scoring=True))
            report = Path(tmp) / f"{marks['worker_pid']}.json"
            deadline = time.monotonic() + 10
            while not report.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            worker = json.loads(report.read_text())
            print(f"{backend} n={n} load={os.getloadavg()[0]:.1f}", flush=True)
            _report(EVENTS + [tuple(e) for e in worker["events"]],  # type: ignore[misc]
                    worker["sched"], marks)


if __name__ == "__main__":
    main()
