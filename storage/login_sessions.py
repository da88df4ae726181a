"""Dashboard logins kept across browser reloads: one row per login, keyed by a token's hash.

Why in the database: Streamlit keeps a login only in the browser connection's memory, so a
reload or a page opened by URL starts a new, logged-out session. The login gives the browser
a random token (a cookie); only its sha256 is stored here, so the table alone logs no one
in, and the token itself is never logged. A row lives until the idle timeout passes with no
use (`expires_at` moves with `last_seen_at`), or until log out deletes it. Whether its user
may still log in, and with which role, is for the caller to read from `users` each time.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.models import LoginSession, utcnow
from storage.statements import rowcount

_TOKEN_BYTES = 32
#: Longer values are no token of ours: refused without hashing megabytes.
_TOKEN_MAX_LENGTH = 100


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_login_session(session: Session, user_id: int, idle: timedelta, *,
                         now: datetime | None = None) -> tuple[str, datetime]:
    """A new login for `user_id`: returns the token for the browser (never stored) and when
    the row expires unless used. Rows already expired are removed on the way."""
    now = now or utcnow()
    session.execute(delete(LoginSession).where(LoginSession.expires_at <= now)
                    .execution_options(synchronize_session=False))
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    expires = now + idle
    session.add(LoginSession(token_hash=token_hash(token), user_id=user_id, created_at=now,
                             last_seen_at=now, expires_at=expires))
    session.flush()
    return token, expires


def resume_login_session(session: Session, token: str, idle: timedelta, *,
                         now: datetime | None = None) -> int | None:
    """The user id of the unexpired login this token belongs to, its idle time restarted;
    None for an unknown, malformed or expired token (an expired row is deleted)."""
    if not token or len(token) > _TOKEN_MAX_LENGTH:
        return None
    return touch_login_session(session, token_hash(token), idle, now=now)


def touch_login_session(session: Session, hashed: str, idle: timedelta, *,
                        now: datetime | None = None) -> int | None:
    """Restart the idle time of the login stored under `hashed`; its user id, or None when
    it was logged out or has expired (then it is deleted)."""
    now = now or utcnow()
    row = session.get(LoginSession, hashed)
    if row is None:
        return None
    if row.expires_at <= now:
        session.delete(row)
        return None
    row.last_seen_at = now
    row.expires_at = now + idle
    return row.user_id


def end_login_session(session: Session, hashed: str) -> bool:
    """Log out: delete the login stored under `hashed`; whether there was one."""
    return rowcount(session.execute(delete(LoginSession).where(
        LoginSession.token_hash == hashed).execution_options(synchronize_session=False))) > 0


def end_user_login_sessions(session: Session, user_id: int) -> int:
    """Delete every login of a user (their account is gone or locked); how many."""
    return rowcount(session.execute(delete(LoginSession).where(
        LoginSession.user_id == user_id).execution_options(synchronize_session=False)))
