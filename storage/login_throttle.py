"""Failed logins per client, counted in a window of database time.

Why per client and before the account: an account locks after `users.MAX_FAILURES` wrong
passwords, so without a client limit one attacker could lock every admin out by guessing
badly on purpose. A client (the dashboard passes the connection's IP address, else its
browser session) over `CLIENT_MAX_FAILURES` in `CLIENT_WINDOW` is refused before any account
is looked at, so it can lock at most `CLIENT_MAX_FAILURES // MAX_FAILURES` accounts per
window. The window runs on the database's clock, so every dashboard process agrees on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, literal
from sqlalchemy.orm import Session

from storage.models import LoginThrottle, UTCDateTime
from storage.statements import dialect_insert

CLIENT_MAX_FAILURES = 10
CLIENT_WINDOW = timedelta(minutes=15)
_CLIENT_MAX_LENGTH = 200


def _key(client: str) -> str:
    return client[:_CLIENT_MAX_LENGTH]


def client_throttled(session: Session, client: str, now: datetime) -> bool:
    """Whether this client used up its failed logins for the current window."""
    row = session.get(LoginThrottle, _key(client))
    return (row is not None and row.window_start > now - CLIENT_WINDOW
            and row.failures >= CLIENT_MAX_FAILURES)


def count_client_failure(session: Session, client: str, now: datetime) -> int:
    """Add one failed login to the client's window (a new window once the old one ended),
    in one statement so parallel logins never lose a count; returns the count."""
    table = LoginThrottle.__table__
    expired = table.c.window_start <= now - CLIENT_WINDOW
    statement = dialect_insert(session, LoginThrottle).values(
        client=_key(client), failures=1, window_start=now)
    statement = statement.on_conflict_do_update(
        index_elements=["client"],
        set_={"failures": case((expired, 1), else_=table.c.failures + 1),
              "window_start": case((expired, literal(now, UTCDateTime())),
                                     else_=table.c.window_start)},
    ).returning(table.c.failures)
    return int(session.execute(statement).scalar_one())
