"""The same core export checks on PostgreSQL (its own temporary database, see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storage.db import open_database
from storage.migrate import upgrade
from tests.export.checks import export_and_check
from tests.export.conftest import EXPORTED, fill


@pytest.mark.postgres
def test_postgres_every_format_and_filters(postgres_url: str, tmp_path: Path, cli: Any) -> None:
    db = open_database(postgres_url)
    try:
        upgrade(db.engine)
        fill(db)
        for fmt in ("csv", "jsonl", "xlsx", "parquet"):
            folder = tmp_path / fmt
            folder.mkdir()
            export_and_check(db, fmt, folder)
        folder = tmp_path / "filtered"
        folder.mkdir()
        export_and_check(db, "parquet", folder, since=datetime(2026, 11, 1, 12, tzinfo=UTC),
                         until=datetime(2026, 11, 1, 20, tzinfo=UTC), platform="instagram")
        out = tmp_path / "cli.jsonl"
        code, err = cli(["export", "mentions", "--format", "jsonl", "--out", str(out)],
                        postgres_url)
        assert code == 0, err
        assert err.strip() == f"exported {len(EXPORTED)} mentions to {out}"
    finally:
        db.dispose()
