"""The benchmarks' PostgreSQL server CPU: what listen_cpu.py prints as `server_cpu` and
pg_statements.py ranks, read from the backends' /proc/<pid>/schedstat."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import listen_throughput as lt
import pg_statements as ps

# Enough server work to show on the CPU clock, but a fraction of a second.
BUSY = "SELECT sum(i) FROM generate_series(1, 2000000) AS i"


@pytest.fixture
def backend(postgres_url: str) -> Iterator[object]:
    """A psycopg connection to the test database, skipping where its backend's /proc
    entry cannot be read (a server on another host or in another container)."""
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(make_url(postgres_url).set(drivername="postgresql").render_as_string(
            hide_password=False), autocommit=True) as conn:
        if not os.path.exists(f"/proc/{conn.info.backend_pid}/schedstat"):
            pytest.skip("the PostgreSQL server is not on this host")
        yield conn


def test_sqlite_has_no_server_cpu(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert lt._server_cpu(url) == {}
    lt.LAST_CPU["server"] = 1.0
    lt._note_server_cpu(url, {})
    assert "server" not in lt.LAST_CPU


@pytest.mark.postgres
def test_server_cpu_counts_the_databases_backends(postgres_url: str, backend: object) -> None:
    pid = backend.info.backend_pid  # type: ignore[attr-defined]
    before = lt._server_cpu(postgres_url)
    assert pid in before
    backend.execute(BUSY)  # type: ignore[attr-defined]
    lt._note_server_cpu(postgres_url, before)
    assert lt.LAST_CPU["server"] > 0.005
    # Another database's backends are not counted: the admin connection reading the pids
    # is on `postgres`.
    assert set(lt._server_cpu(postgres_url)) == {pid}


@pytest.mark.postgres
def test_statements_are_charged_their_backends_cpu(backend: object) -> None:
    import psycopg

    ps.SPENT.clear()
    execute = ps._timed(psycopg.Cursor.execute, "")
    cursor = backend.cursor()  # type: ignore[attr-defined]
    execute(cursor, "SELECT 1")  # outside a poll: not charged
    assert not ps.SPENT
    ps._POLLING[0] = True
    try:
        execute(cursor, BUSY)
        execute(cursor, "SELECT  1")
        execute(cursor, "SELECT 1")
    finally:
        ps._POLLING[0] = False
    assert ps.SPENT[ps._key(BUSY)][1] == 1
    assert ps.SPENT[ps._key(BUSY)][0] > 5_000_000  # ns
    assert ps.SPENT["SELECT 1"][1] == 2  # whitespace folded: one statement
    ps.SPENT.clear()
