"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.migrate import is_current, upgrade
from storage.models import Base, in_models


@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning")
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_models(migrated_db) -> None:
    """(Expression indexes such as lower(handle) cannot be reflected; autogenerate skips
    them, which the filters above keep quiet. The search index objects, a SQLite virtual
    table and a PostgreSQL operator-class index, are left out by `in_models`.)"""
    assert is_current(migrated_db.engine)
    with migrated_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False,
                                                      "include_object": in_models})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(migrated_db) -> None:
    before, after = upgrade(migrated_db.engine)
    assert before == after
