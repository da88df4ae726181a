"""A database that stops answering after the dashboard started (a PostgreSQL restart,
failover or dropped network) is said in one line on the page, never as a traceback with the
SQL: on a page run, on a click whose callback runs before the page (AppTest), and when the
inbox's queue refreshes by itself in an open browser (headless Chromium against a real
`carewatch dashboard`), which is where an agent meets it first."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import create_pg_database, drop_pg_database
from tests.dashboard.seed import PASSWORDS, TOP_REF, seed
from tests.dashboard.test_app import login
from tests.dashboard.test_browser import _login, _require_chromium, running_dashboard

pytestmark = pytest.mark.postgres

SAID = "The database is not answering"


@pytest.fixture
def pg_store(postgres_url: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> str:
    """The seeded dashboard store on PostgreSQL; yields its URL."""
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", postgres_url)
    monkeypatch.setenv("CAREWATCH_CONFIG", str(_seeded(postgres_url, tmp_path)))
    return postgres_url


def _seeded(url: str, folder: Path) -> Path:
    """Migrate and seed the store at `url`; returns the carewatch.toml written in `folder`."""
    from storage.db import open_database
    from storage.migrate import upgrade

    config = folder / "carewatch.toml"
    config.write_text('[brand]\nname = "Acme Air"\nhandles = ["acmeair"]\n', encoding="utf-8")
    db = open_database(url)
    upgrade(db.engine)
    seed(db)
    db.dispose()
    return config


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
    drop_pg_database(pg_store)
    at.run()
    _said_once(at)


def test_a_click_says_the_database_is_gone_in_one_line(pg_store: str) -> None:
    at = login("agent1")
    at.selectbox(key="cw_open").set_value(TOP_REF).run()
    box = next(t for t in at.text_area if t.label == "Reply")
    box.input("We are on it.").run()
    drop_pg_database(pg_store)
    next(b for b in at.button if b.label == "Queue reply").click().run()
    _said_once(at)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real `carewatch dashboard` on a PostgreSQL database of this module's own."""
    _require_chromium()
    url = create_pg_database()
    folder = tmp_path_factory.mktemp("dash-outage")
    env = {**os.environ, "CAREWATCH_DATABASE_URL": url,
           "CAREWATCH_CONFIG": str(_seeded(url, folder))}
    try:
        with running_dashboard(env, folder) as base:
            yield {"url": base, "database": url}
    finally:
        drop_pg_database(url)


@pytest.mark.browser
@pytest.mark.slow
def test_the_refreshing_queue_says_the_database_is_gone_once(served: dict[str, Any],
                                                             page: Any) -> None:
    """Nobody clicks: the queue's own refresh (every few seconds) meets the failure first.
    The whole page then says it once, with no traceback and no stale item beside it."""
    _login(page, served["url"], "agent1", PASSWORDS["agent1"])
    page.get_by_text("Most urgent", exact=True).wait_for()
    drop_pg_database(served["database"])
    said = page.get_by_text(SAID)
    said.first.wait_for(timeout=30_000)
    page.wait_for_timeout(9_000)  # two more refreshes: still said once
    assert said.count() == 1
    body = page.inner_text("body")
    assert "Traceback" not in body
    assert "SELECT" not in body
    assert "Most urgent" not in body
