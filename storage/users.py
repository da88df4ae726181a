"""Dashboard users: argon2 password hashes, password rules, lockout after repeated failures.

Why here and not in the dashboard: the CLI (`carewatch users add`) and the dashboard's login
and Settings page share these rules, and both must agree on the lockout state kept in the
`users` table (so it holds across dashboard processes and restarts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carewatch.domain import Role
from storage.models import AuditEntry, User, utcnow

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
# Refused below this; the CLI and Settings page warn below RECOMMENDED_PASSWORD_LENGTH.
# Kept low on purpose: an organisation's own password policy decides, not carewatch.
MIN_PASSWORD_LENGTH = 4
RECOMMENDED_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_USERNAME_MAX = 100

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong username costs as long as a
# wrong password and response time does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("carewatch-dummy-password")


class PasswordRuleError(ValueError):
    """A password or username breaks the rules; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The outcome of a login attempt. `message` is safe to show on the login form."""

    ok: bool
    message: str
    user_id: int | None = None
    username: str | None = None
    role: str | None = None


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        known = "|".join(r.value for r in Role)
        raise PasswordRuleError(f"unknown role {value!r} (one of {known})") from None


def validate_username(username: str) -> str:
    name = username.strip()
    if not name:
        raise PasswordRuleError("the username is empty")
    if len(name) > _USERNAME_MAX:
        raise PasswordRuleError(f"the username is longer than {_USERNAME_MAX} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise PasswordRuleError("the username may not contain spaces or control characters")
    return name


def validate_password(password: str) -> None:
    """Length rules (NIST 800-63B style: long enough, no composition rules, no truncation)."""
    if not password:
        raise PasswordRuleError("the password is empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRuleError(
            f"the password is shorter than {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRuleError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
    if any(ch in "\r\n\x00" for ch in password):
        raise PasswordRuleError("the password may not contain line breaks or NUL")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def find_user(session: Session, username: str) -> User | None:
    return session.execute(
        select(User).where(func.lower(User.username) == username.strip().lower())
    ).scalar_one_or_none()


def user_by_exact_name(session: Session, username: str) -> User | None:
    """The user whose name is exactly `username` (case matters), or None.

    Used to learn the role of the name an action is recorded under (the CLI's `--agent`, the
    dashboard's logged-in name) and whether their replies need a manager's approval. Exact,
    like the names stored on replies and assignments; only login (`find_user`) ignores case."""
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def existing_usernames(session: Session, usernames: Iterable[str]) -> set[str]:
    """Which of these names are still users (exact match): work is only routed to agents who
    can still log in to take it."""
    names = set(usernames)
    return set(session.execute(
        select(User.username).where(User.username.in_(names))).scalars())


def create_or_update_user(session: Session, username: str, role: str | Role, password: str,
                          *, actor: str = "cli") -> tuple[User, bool]:
    """Create the user, or set a new role and password on an existing one (and unlock it).

    Returns (user, created)."""
    name = validate_username(username)
    role_value = role if isinstance(role, Role) else parse_role(role)
    validate_password(password)
    now = utcnow()
    user = find_user(session, name)
    created = user is None
    if user is None:
        user = User(username=name, role=role_value.value, password_hash=hash_password(password),
                    needs_approval=False, failed_attempts=0, created_at=now, updated_at=now)
        session.add(user)
    else:
        user.role = role_value.value
        user.password_hash = hash_password(password)
        user.failed_attempts = 0
        user.locked_until = None
        user.updated_at = now
    session.add(AuditEntry(at=now, actor=actor, action="user_created" if created else
                           "user_updated", target=name, details={"role": role_value.value}))
    session.flush()
    return user, created


def set_role(session: Session, username: str, role: str | Role, *, actor: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise PasswordRuleError(f"no user named {username!r}")
    role_value = role if isinstance(role, Role) else parse_role(role)
    user.role = role_value.value
    user.updated_at = utcnow()
    session.add(AuditEntry(actor=actor, action="user_role", target=user.username,
                           details={"role": role_value.value}))
    return user


def unlock(session: Session, username: str, *, actor: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise PasswordRuleError(f"no user named {username!r}")
    user.failed_attempts = 0
    user.locked_until = None
    user.updated_at = utcnow()
    session.add(AuditEntry(actor=actor, action="user_unlock", target=user.username, details={}))
    return user


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.username)).scalars())


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def is_locked(user: User, now: datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or utcnow())


def authenticate(session: Session, username: str, password: str,
                 *, now: datetime | None = None) -> AuthResult:
    """Check a login; count failures, lock for 15 minutes after 5, reset on success.

    Run inside a write transaction: the failure counter is updated in the same one."""
    now = now or utcnow()
    refused = AuthResult(False, "Wrong username or password.")
    user = find_user(session, username) if username.strip() else None
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password or "-")
        return refused
    if is_locked(user, now):
        minutes = max(1, int(((user.locked_until or now) - now).total_seconds() // 60) + 1)
        return AuthResult(False, f"This account is locked after {MAX_FAILURES} failed logins; "
                                 f"try again in {minutes} minutes or ask an admin to unlock it.")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_attempts = (user.failed_attempts or 0) + 1
        if user.failed_attempts >= MAX_FAILURES:
            user.locked_until = now + LOCKOUT
            user.failed_attempts = 0
            session.add(AuditEntry(at=now, actor=user.username, action="user_locked",
                                   target=user.username, details={}))
            return AuthResult(False, f"Wrong username or password. The account is now locked "
                                     f"for {int(LOCKOUT.total_seconds() // 60)} minutes.")
        return refused
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_attempts = 0
    user.locked_until = None
    session.add(AuditEntry(at=now, actor=user.username, action="login", target=user.username,
                           details={}))
    return AuthResult(True, "Logged in.", user.id, user.username, user.role)


def assignees(session: Session) -> list[str]:
    """Who can be assigned: agents and managers."""
    return list(session.execute(
        select(User.username).where(User.role.in_(("agent", "manager"))).order_by(User.username)
    ).scalars())
