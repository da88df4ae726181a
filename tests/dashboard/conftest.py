"""Fixtures for the dashboard tests: a migrated, seeded SQLite store the app is pointed at
through `CAREWATCH_DATABASE_URL` (exactly as `carewatch dashboard` passes it on)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.seed import seed

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
CHROMIUM = os.environ.get("CAREWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from storage.db import open_database
    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'dash.db'}"
    config = tmp_path / "carewatch.toml"
    config.write_text('[brand]\nname = "Acme Air"\nhandles = ["acmeair"]\n\n'
                      '[[canned_replies]]\nname = "Sorry DM"\n'
                      'text = "Sorry about this! Please send us a DM with your booking."\n',
                      encoding="utf-8")
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", url)
    monkeypatch.setenv("CAREWATCH_CONFIG", str(config))
    monkeypatch.setenv("CAREWATCH_FB_PAGE_TOKEN", "EAAB-super-secret-page-token")
    db = open_database(url)
    upgrade(db.engine)
    seed(db)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def private_store(store: object) -> object:
    """The seeded store with private conversations added (`private_seed.py`)."""
    from tests.dashboard.private_seed import seed_private

    seed_private(store)  # type: ignore[arg-type]
    return store


# Headless Chromium for the browser tests; each browser test module defines `served` (the
# dashboard it starts on its own store), which these fixtures use.
@pytest.fixture(scope="module")
def browser(served: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        assert dialogs == [], f"a script from mention text ran: {dialogs}"
        context.close()


def publish_screenshot(shot: Path, name: str) -> None:
    """Copy a browser test's screenshot over the README's `docs/<name>` only when asked
    (`CAREWATCH_UPDATE_SCREENSHOTS=1`): an ordinary test run leaves the repository as it
    found it, and the shot itself is always in artifacts/screenshots/."""
    if os.environ.get("CAREWATCH_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / name)
