"""Create or upgrade the schema with Alembic; safe to run any number of times."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SAWarning

from storage.db import SQLITE_TEMP_STORE

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every pending migration; returns (revision before, revision after)."""
    config = alembic_config(engine)
    with engine.connect() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
    with (engine.connect() as connection, _temporary_files_on_disk(connection),
          connection.begin()):
        config.attributes["connection"] = connection
        with warnings.catch_warnings():
            # SQLite batch migrations reflect `authors`, whose index on lower(handle)
            # SQLAlchemy cannot reflect; the index stays (batch mode does not rebuild that
            # table), so the warning only put two lines of noise on `carewatch init`.
            warnings.filterwarnings("ignore", category=SAWarning,
                                    message="Skipped unsupported reflection")
            command.upgrade(config, "head")
    head = ScriptDirectory.from_config(config).get_current_head() or ""
    return before, head


@contextmanager
def _temporary_files_on_disk(connection: Connection) -> Iterator[None]:
    """SQLite: this connection's temporary files on disk while the migrations run.

    Connections keep them in memory (`storage.db`, `SQLITE_TEMP_STORE`) for the listener's
    statement journals, which are small. A migration's are not: one statement that rewrites
    or indexes a whole table journals or sorts a copy of it, ~2 GB at a million mentions,
    which belongs in the temporary directory, not in RAM. Set outside any transaction
    (SQLite refuses the change inside one), on the driver's connection so SQLAlchemy does
    not begin one first, and put back before the connection returns to the pool."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA temp_store=FILE")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA temp_store={SQLITE_TEMP_STORE}")


def is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    config = alembic_config(engine)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current == ScriptDirectory.from_config(config).get_current_head()
