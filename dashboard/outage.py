"""What the dashboard shows when its database stops answering after it started.

At start `context.database()` checks the connection and the page says in one line why it
cannot start. A database that goes away later (a PostgreSQL restart or failover, a dropped
network, SQLite locked past its busy timeout) makes any query raise a driver error; left
alone, Streamlit would print that error's traceback, with its SQL, on the page. Instead the
page run, the inbox's self-refreshing queue and every widget callback go through `shown()`,
which logs the error and shows one line; the next click, refresh or reload tries again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import streamlit as st
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from carewatch.log import get_logger, scrub
from dashboard.components import FLASH_KEY, set_flash
from dashboard.safe import one_line, plain
from storage.db import DatabaseError

log = get_logger(__name__)

#: Errors that mean "the database did not answer, or refused", as opposed to a bug in a page.
FAILURES: tuple[type[Exception], ...] = (DBAPIError, DatabaseError)
#: Of those, the ones where it answered but refused the values (a NUL byte PostgreSQL cannot
#: store, a constraint): the transaction was rolled back, and retrying the same will not help.
REFUSALS: tuple[type[Exception], ...] = (DataError, IntegrityError)


def message(exc: Exception) -> str:
    """One line for the page: what happened and when it is tried again; the driver's first
    line as the reason (never the SQL or its parameters, and secrets scrubbed)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    reason = one_line(scrub(lines[0]) if lines else type(cause).__name__, 200)
    if isinstance(exc, REFUSALS):
        return f"The database refused this ({reason}); nothing was saved."
    return (f"The database is not answering ({reason}); the page tries again on your next "
            "click or reload.")


_depth: ContextVar[int] = ContextVar("cw_outage_depth", default=0)


@contextmanager
def shown(*, flash: bool = False, whole_page: bool = False) -> Iterator[None]:
    """Run a page (or `flash=True`: a widget callback, which runs before the page and must
    leave its message for it) so that a database failure is logged and said in one line.

    Inside another `shown()` (the inbox's queue fragment during a whole-page run) the error
    goes to the outer one, so the page says it once. `whole_page=True` (that fragment
    refreshing by itself) reruns the whole page instead of saying it in place: a fragment
    cannot clear the rest of the page, which would keep a stale item, or an earlier run's
    message beside this one."""
    token = _depth.set(_depth.get() + 1)
    try:
        yield
    except FAILURES as exc:
        if _depth.get() > 1:
            raise
        log.error("dashboard_database_failed", error=one_line(scrub(str(exc)), 500))
        if whole_page:
            st.rerun()
        if flash:
            set_flash("error", message(exc))
        else:
            st.session_state.pop(FLASH_KEY, None)  # this line replaces a callback's
            st.error(plain(message(exc)))
    finally:
        _depth.reset(token)
