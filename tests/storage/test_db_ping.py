"""PostgreSQL connections are pinged only after sitting idle, and a dead one is replaced."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from storage import db as db_module
from storage.bulk import driver_cursor
from storage.db import open_database

pytestmark = pytest.mark.postgres
# The driver's error, or SQLAlchemy's for the rollback that follows it on the lost line.
LOST = (psycopg.OperationalError, OperationalError)


def _kill_backend(url: str, pid: int) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()


def _backend_pid(db: Any) -> int:
    with db.session() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _count_pings(db: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = db.engine.dialect.do_ping

    def counted(conn: Any) -> bool:
        pings.append(1)
        return bool(real(conn))

    monkeypatch.setattr(db.engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_used_a_moment_ago_is_not_pinged(postgres_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    db = open_database(postgres_url)
    pings = _count_pings(db, monkeypatch)
    try:
        first = _backend_pid(db)
        for _ in range(5):
            assert _backend_pid(db) == first  # the same pooled connection
        assert pings == []
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        _backend_pid(db)
        assert pings == [1]
    finally:
        db.dispose()


def test_an_idle_connection_that_died_is_replaced(postgres_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    db = open_database(postgres_url)
    try:
        dead = _backend_pid(db)
        _kill_backend(postgres_url, dead)
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert _backend_pid(db) != dead  # pinged, found dead, connected anew: no error
    finally:
        db.dispose()


def test_a_connection_that_broke_in_use_is_replaced_at_once(postgres_url: str) -> None:
    db = open_database(postgres_url)
    try:
        dead = _backend_pid(db)
        _kill_backend(postgres_url, dead)
        # Failing on the driver's own cursor (as storage.bulk runs the listener's
        # statements), where SQLAlchemy does not see the error to invalidate the connection.
        with pytest.raises(LOST), db.session() as session, \
                driver_cursor(session) as cursor:
            cursor.execute("SELECT 1")
        assert _backend_pid(db) != dead  # used a moment ago, but broken: not handed out
    finally:
        db.dispose()


def test_an_explicit_pre_ping_is_kept(postgres_url: str) -> None:
    db = open_database(postgres_url, pool_pre_ping=True)
    try:
        dead = _backend_pid(db)
        _kill_backend(postgres_url, dead)
        assert _backend_pid(db) != dead
    finally:
        db.dispose()


