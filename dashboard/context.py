"""Settings and the database for the running dashboard, shared by every page.

The app reads its configuration exactly like the CLI (`CAREWATCH_CONFIG`,
`CAREWATCH_DATABASE_URL`, ... through `carewatch.settings.load_settings`), so
`carewatch dashboard` needs no `.streamlit/config.toml` and no extra flags to find the store.
One `Database` (engine + pool) per URL is cached for the whole server process.
"""

from __future__ import annotations

import streamlit as st

from carewatch.log import register_secrets
from carewatch.settings import ConfigError, Settings, load_settings
from storage.db import Database, DatabaseError, open_database


class DashboardUnavailable(Exception):
    """The dashboard cannot start: bad configuration or no usable database (one line)."""


@st.cache_resource(show_spinner=False)
def _database(url: str) -> Database:
    from storage.migrate import is_current

    try:
        db = open_database(url)
    except DatabaseError as exc:
        raise DashboardUnavailable(str(exc)) from None
    if not is_current(db.engine):
        db.dispose()
        raise DashboardUnavailable(
            "the database schema is missing or old: run 'carewatch init' first"
        )
    return db


def settings() -> Settings:
    try:
        loaded = load_settings()
    except ConfigError as exc:
        raise DashboardUnavailable(str(exc)) from None
    register_secrets(loaded.platform_secrets())
    return loaded


def database(current: Settings | None = None) -> Database:
    return _database((current or settings()).database_url)
