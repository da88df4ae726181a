"""Migration 0020: ix_mentions_assignee and ix_threads_case_mention_pk hold only rows whose
column is set (every new mention is unassigned, every new thread unlinked), and the reads by
that column still find them through the index, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, select, text, update

from carewatch.domain import Author, Mention, Platform
from storage.db import Database
from storage.mentions import upsert_mentions
from storage.migrate import alembic_config, is_current, upgrade
from storage.models import Mention as MentionRow
from storage.models import Thread

INDEXES = {"ix_mentions_assignee": "assignee", "ix_threads_case_mention_pk": "case_mention_pk"}


def _definition(engine: Engine, index: str) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return str(conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :i"),
                                    {"i": index}).scalar_one())
        return str(conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :i"),
                                {"i": index}).scalar_one())


def _partial(engine: Engine, index: str) -> bool:
    return f"{INDEXES[index]} IS NOT NULL" in _definition(engine, index)


def test_the_indexes_skip_nulls_and_downgrade_restores_them(migrated_db: Database) -> None:
    engine = migrated_db.engine
    assert all(_partial(engine, index) for index in INDEXES)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0019")
    assert not any(_partial(engine, index) for index in INDEXES)
    assert all(INDEXES[index] in _definition(engine, index) for index in INDEXES)
    upgrade(engine)
    assert is_current(engine)
    assert all(_partial(engine, index) for index in INDEXES)


def _plan(db: Database, sql: str, params: dict[str, object]) -> str:
    with db.session() as session:
        if db.dialect == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))
            rows = session.execute(text("EXPLAIN " + sql), params).scalars()
        else:
            rows = (r[-1] for r in session.execute(text("EXPLAIN QUERY PLAN " + sql), params))
        return "\n".join(rows)


@pytest.mark.parametrize(("sql", "index"), [
    ("SELECT id FROM mentions WHERE assignee = :v", "ix_mentions_assignee"),
    ("SELECT id FROM mentions WHERE assignee IN (:v, 'ben')", "ix_mentions_assignee"),
    ("SELECT id FROM threads WHERE case_mention_pk = :n", "ix_threads_case_mention_pk"),
])
def test_reads_by_the_column_use_the_partial_index(migrated_db: Database, sql: str,
                                                   index: str) -> None:
    assert index in _plan(migrated_db, sql, {"v": "ann", "n": 7})


def test_assigned_and_linked_rows_are_found(migrated_db: Database) -> None:
    """Rows stored unassigned and unlinked, then assigned and linked: the reads by those
    columns (through the partial indexes) find exactly them."""
    when = datetime(2026, 12, 1, 9, tzinfo=UTC)
    page = [Mention(platform=Platform.X, external_id=str(i), text=f"t{i}", created_at=when,
                    author=Author(Platform.X, "42", "ann", "Ann"), thread_id=str(i))
            for i in range(1, 4)]
    with migrated_db.write() as session:
        ids = upsert_mentions(session, page).inserted_ids
        session.execute(update(MentionRow).where(MentionRow.id == ids[1])
                        .values(assignee="maria"))
        session.execute(update(Thread).where(Thread.external_id == "3")
                        .values(case_mention_pk=ids[0]))
    with migrated_db.session() as session:
        assert session.execute(select(MentionRow.id).where(
            MentionRow.assignee == "maria")).scalars().all() == [ids[1]]
        assert session.execute(select(MentionRow.id).where(
            MentionRow.assignee.is_(None)).order_by(MentionRow.id)).scalars().all() == [
                ids[0], ids[2]]
        assert session.execute(select(Thread.external_id).where(
            Thread.case_mention_pk == ids[0])).scalars().all() == ["3"]
