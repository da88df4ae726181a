"""PostgreSQL server CPU of one carewatch poll, statement by statement.

    .venv/bin/python benchmarks/pg_statements.py [--count 20000] [--top 25]

Why: on the two-core machine the server is a fourth CPU-bound process of a poll (see
listen_cpu.py's `server_cpu`), and pg_stat_statements needs a server restart to load. Here
each statement the poll sends through psycopg is charged what its backend spent on the CPU
while it ran: /proc/<backend pid>/schedstat (nanoseconds; the server must be on this host)
read before and after the call, which waits for the server's answer. Reads sent together
in pipeline mode are charged together, as one entry, when the pipeline ends. Triggers and
foreign-key checks are part of their statement; a COMMIT is its own entry.

Same sandbox data and Ingestor wiring as listen_throughput.py (`run_carewatch`, scoring on).
The timing wrappers cost the listener CPU of their own, so its rate is not reported here:
compare server CPU only, between runs of this script (the machine is shared: alternate).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import listen_throughput as lt

#: {statement (whitespace folded, cut): [server nanoseconds, calls]}
SPENT: dict[str, list[int]] = defaultdict(lambda: [0, 0])
KEY_CHARS = 100


def _cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def _key(query: Any) -> str:
    return " ".join(str(query).split())[:KEY_CHARS]


#: Charging only within the poll: not the migrations before it nor the count after it.
_POLLING = [False]


def _charge(key: str, pid: int, started: int) -> None:
    if not _POLLING[0]:
        return
    spent = SPENT[key]
    spent[0] += _cpu_ns(pid) - started
    spent[1] += 1


def _timed(call: Callable[..., Any], label: str) -> Callable[..., Any]:
    """`call` (a psycopg Cursor method) charging its backend's CPU to its statement; in a
    pipeline only noted, for `_timed_pipeline` to charge."""
    def wrapper(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        conn = cursor.connection
        if conn._pipeline is not None:
            _PIPELINED.setdefault(id(conn), []).append(_key(query))
            return call(cursor, query, *args, **kwargs)
        pid = conn.info.backend_pid
        started = _cpu_ns(pid)
        try:
            return call(cursor, query, *args, **kwargs)
        finally:
            _charge(label + _key(query), pid, started)
    return wrapper


_PIPELINED: dict[int, list[str]] = {}


def _timed_pipeline(pipeline: Callable[..., Any]) -> Callable[..., Any]:
    @contextmanager
    def wrapper(conn: Any) -> Iterator[Any]:
        pid = conn.info.backend_pid
        started = _cpu_ns(pid)
        outer = conn._pipeline is None
        with pipeline(conn) as p:
            yield p
        if outer:
            keys = _PIPELINED.pop(id(conn), [])
            _charge("PIPELINE[" + " | ".join(k[:40] for k in keys) + "]", pid, started)
    return wrapper


def _timed_commit(commit: Callable[[Any], None]) -> Callable[[Any], None]:
    def wrapper(conn: Any) -> None:
        pid = conn.info.backend_pid
        started = _cpu_ns(pid)
        try:
            commit(conn)
        finally:
            _charge("COMMIT", pid, started)
    return wrapper


def instrument() -> None:
    """Wrap psycopg's execute, executemany, pipeline and commit (this process only)."""
    import psycopg

    psycopg.Cursor.execute = _timed(psycopg.Cursor.execute, "")  # type: ignore[method-assign]
    psycopg.Cursor.executemany = _timed(  # type: ignore[method-assign]
        psycopg.Cursor.executemany, "MANY ")
    psycopg.Connection.pipeline = _timed_pipeline(  # type: ignore[method-assign]
        psycopg.Connection.pipeline)
    psycopg.Connection.commit = _timed_commit(  # type: ignore[method-assign,assignment]
        psycopg.Connection.commit)


def report(top: int) -> None:
    total = sum(ns for ns, _ in SPENT.values())
    print(f"server CPU over the poll's statements: {total / 1e9:.3f}s")
    ranked = sorted(SPENT.items(), key=lambda item: -item[1][0])
    for key, (ns, calls) in ranked[:top]:
        print(f"{ns / 1e9:7.3f}s {ns / total:6.1%} {calls:6d}x {ns / 1e6 / calls:7.3f} ms  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    from carewatch.log import configure_logging

    configure_logging("WARNING")
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=lt._serve, args=(args.count, ready, stop), daemon=True)
    server.start()
    base = ready.get(timeout=600)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            from listener.ingest import Ingestor

            poll = Ingestor.poll_source

            def clocked(ingestor: Ingestor, *a: Any, **kw: Any) -> Any:
                _POLLING[0] = True
                try:
                    return poll(ingestor, *a, **kw)
                finally:
                    _POLLING[0] = False

            Ingestor.poll_source = clocked  # type: ignore[method-assign,assignment]
            instrument()
            n, _ = lt._measure(lt.TempPostgres, tmp,
                               lambda u: lt.run_carewatch(base, u, scoring=True))
            print(f"postgres n={n} server_cpu(all backends)={lt.LAST_CPU.get('server', 0):.2f}s")
            report(args.top)
    finally:
        stop.set()
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    main()
