"""Migration 0021: on PostgreSQL a mention's raw payload and text are compressed with lz4 when
a row is big enough to be compressed, and read back exactly as stored; downgrade goes back
to the server's default. SQLite: the migration does nothing and big rows round-trip too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, select, text

from carewatch.domain import Author, Mention, Platform
from storage.db import Database
from storage.mentions import upsert_mentions
from storage.migrate import alembic_config, is_current, upgrade
from storage.models import Mention as MentionRow

COLUMNS = ("raw", "text")


def _methods(engine: Engine) -> dict[str, str]:
    """{column: its pg_attribute.attcompression ('' is the server's default)}."""
    with engine.connect() as conn:
        return {name: method for name, method in conn.execute(text(
            "SELECT attname, attcompression FROM pg_attribute "
            "WHERE attrelid = 'mentions'::regclass AND attname IN ('raw', 'text')"))}


def _lz4(engine: Engine) -> bool:
    with engine.connect() as conn:
        values = conn.execute(text("SELECT enumvals FROM pg_settings "
                                   "WHERE name = 'default_toast_compression'")).scalar()
    return "lz4" in (values or [])


@pytest.mark.postgres
def test_lz4_on_upgrade_and_default_after_downgrade(postgres_url: str) -> None:
    from storage.db import open_database

    db = open_database(postgres_url)
    try:
        engine = db.engine
        upgrade(engine)
        if not _lz4(engine):
            pytest.skip("this PostgreSQL has no lz4")
        assert _methods(engine) == {c: "l" for c in COLUMNS}
        config = alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0020")
        assert _methods(engine) == {c: "" for c in COLUMNS}
        upgrade(engine)
        assert is_current(engine)
        assert _methods(engine) == {c: "l" for c in COLUMNS}
    finally:
        db.dispose()


def _big_raw(i: int) -> dict[str, Any]:
    """An X payload with link cards and mentions: over the ~2 kB a row is compressed at."""
    return {"id": str(i), "text": f"@acmeair where is my bag? {i}", "lang": "en",
            "entities": {"urls": [{"start": k, "expanded_url": f"https://example.com/{i}/{k}",
                                   "title": f"title {k} " * 8, "description": "d\u00e9j\u00e0 "
                                   * 40} for k in range(6)],
                         "mentions": [{"start": 0, "end": 8, "username": "acmeair",
                                       "id": "1400000000000000001"}]},
            "public_metrics": {"like_count": i, "reply_count": 0}}


def test_big_rows_read_back_exactly(migrated_db: Database) -> None:
    when = datetime(2026, 12, 7, 9, tzinfo=UTC)
    long_text = "the bag never arrived \U0001f44e " * 120
    page = [Mention(platform=Platform.X, external_id=str(i), text=f"{long_text}{i}",
                    created_at=when, author=Author(Platform.X, "42", "ann", "Ann"),
                    thread_id=str(i), raw=_big_raw(i)) for i in range(1, 6)]
    with migrated_db.write() as session:
        ids = upsert_mentions(session, page).inserted_ids
    assert len(ids) == len(page)
    with migrated_db.session() as session:
        stored = {e: (r, t) for e, r, t in session.execute(
            select(MentionRow.external_id, MentionRow.raw, MentionRow.text))}
        assert stored == {m.external_id: (m.raw, m.text) for m in page}
        if migrated_db.dialect == "postgresql" and _lz4(migrated_db.engine):
            methods = set(session.execute(text(
                "SELECT pg_column_compression(raw) FROM mentions")).scalars())
            assert methods == {"lz4"}
