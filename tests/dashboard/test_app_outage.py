"""A database that stops answering after the dashboard started (a PostgreSQL restart,
failover or dropped network) is said in one line on the page, never as a traceback with the
SQL: on a page run, and on a click whose callback runs before the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL
from tests.dashboard.seed import TOP_REF, seed
from tests.dashboard.test_app import login

pytestmark = pytest.mark.postgres

SAID = "The database is not answering"


@pytest.fixture
def pg_store(postgres_url: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> str:
    """The seeded dashboard store on PostgreSQL; yields its URL."""
    from storage.db import open_database
    from storage.migrate import upgrade

    config = tmp_path / "carewatch.toml"
    config.write_text('[brand]\nname = "Acme Air"\nhandles = ["acmeair"]\n', encoding="utf-8")
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", postgres_url)
    monkeypatch.setenv("CAREWATCH_CONFIG", str(config))
    db = open_database(postgres_url)
    upgrade(db.engine)
    seed(db)
    db.dispose()
    return postgres_url


def _take_down(url: str) -> None:
    """Drop the database under the running dashboard, its connections first."""
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def _said_once(at: Any) -> str:
    assert not at.exception, at.exception[0].message
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1, errors
    assert SAID in errors[0]
    assert "SELECT" not in errors[0]
    assert "users" not in errors[0]
    return errors[0]


def test_a_page_run_says_the_database_is_gone_in_one_line(pg_store: str) -> None:
    at = login("agent1")
    assert [t.value for t in at.title] == ["Inbox"]
    _take_down(pg_store)
    at.run()
    _said_once(at)


def test_a_click_says_the_database_is_gone_in_one_line(pg_store: str) -> None:
    at = login("agent1")
    at.selectbox(key="cw_open").set_value(TOP_REF).run()
    box = next(t for t in at.text_area if t.label == "Reply")
    box.input("We are on it.").run()
    _take_down(pg_store)
    next(b for b in at.button if b.label == "Queue reply").click().run()
    _said_once(at)
