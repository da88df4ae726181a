"""Fixtures for the dashboard tests: a migrated, seeded SQLite store the app is pointed at
through `CAREWATCH_DATABASE_URL` (exactly as `carewatch dashboard` passes it on)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.seed import seed

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")


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
