"""Fixtures every test package shares: temporary databases on SQLite and PostgreSQL.

PostgreSQL tests get a database of their own (created and dropped here), so test runs never
see each other's rows. Where PostgreSQL is unreachable they fail in CI and are skipped with
the reason elsewhere: nothing is skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "CAREWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _pg_unavailable(reason: str) -> None:
    message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the PostgreSQL tests; see scripts/ensure-services.sh)")
    pytest.skip(message)


def create_pg_database() -> str:
    """Create a fresh, empty PostgreSQL database; its URL (skipped, or failed in CI, when
    the server is unreachable). `drop_pg_database` removes it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"cw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _pg_unavailable(str(exc).splitlines()[0])
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop the database at `url`, closing its connections first (also what a test does to
    take a database away under a running process); nothing if it is already gone."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'carewatch.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'carewatch.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def migrated_db(database_url: str) -> Iterator[object]:
    """A `storage.db.Database` at the newest schema, on each backend."""
    from storage.db import open_database
    from storage.migrate import upgrade

    db = open_database(database_url)
    upgrade(db.engine)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clear skip where this checkout has no shared data beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (tests that tune on it need it)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _logging_as_the_session_found_it() -> Iterator[None]:
    """Each test starts from the logging set-up the session began with.

    `carewatch.cli.main` configures carewatch's logging for the whole process (the level
    from CAREWATCH_LOG_LEVEL: the listener tests ask for WARNING), and that stayed for
    every later test in the process. A test that reads an INFO line (the dashboard's
    `login_resumed`) then passed or failed by which tests ran before it, and under
    pytest-xdist each worker runs its own mix of files.
    """
    import structlog

    from carewatch import log

    state = dict(log._STATE)
    config = structlog.get_config()
    try:
        yield
    finally:
        log._STATE.clear()
        log._STATE.update(state)
        structlog.configure(**config)
