"""The database's clock as a SQL expression, so every process judges time by one clock.

Leases and due times written by several processes (on one machine or many) must not depend
on each node's clock: a node whose clock runs ahead would steal leases, one running behind
would never see a source as due. `db_now` is evaluated by the database server. On
PostgreSQL it is `now()` (the transaction's start); on SQLite, `strftime('%f')` gives
millisecond resolution in the same text form the `UTCDateTime` columns store, so the
database compares them as equals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal, literal_column, select, type_coerce
from sqlalchemy.orm import Session

from storage.models import UTCDateTime

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


def db_now(session: Session, plus_seconds: float = 0.0) -> ColumnElement[datetime]:
    """The database's current UTC time, `plus_seconds` later, as a timestamp expression."""
    expr: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        expr = func.now()
        if plus_seconds:
            expr = expr + literal(float(plus_seconds)) * literal_column("INTERVAL '1 second'")
    else:
        # Microseconds padded to six digits, as the UTCDateTime columns hold them.
        expr = func.strftime(_SQLITE_FORMAT, "now", f"{plus_seconds:+.3f} seconds").concat("000")
    return type_coerce(expr, UTCDateTime())


def read_db_now(session: Session) -> datetime:
    """The database's current UTC time, read once (for showing how long a lease has left)."""
    return session.execute(select(db_now(session))).scalar_one()
