"""Dashboard users: argon2 password hashes, password rules, lockout after repeated failures.

Why here and not in the dashboard: the CLI (`carewatch users add`) and the dashboard's login
and Settings page share these rules, and both must agree on the lockout state kept in the
`users` table (so it holds across dashboard processes and restarts). A refused login says the
same thing whether the username is unknown, the password wrong or the account locked; the
lock itself is audited. Failures are counted in the database in one statement, so parallel
logins never lose one, and each client is throttled first (`storage.login_throttle`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from carewatch.domain import Role
from storage.db_clock import read_db_now
from storage.login_throttle import client_throttled, count_client_failure
from storage.models import AuditEntry, User, utcnow
from storage.statements import rowcount

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
# NIST 800-63B style: long enough, no composition rules, no truncation. Below
# MIN_PASSWORD_LENGTH (NIST's floor for a chosen password) a password is refused; below
# RECOMMENDED_PASSWORD_LENGTH it is accepted with a warning (`users add` says so, a login
# with it is told to change it). Why not refuse under 12: 8 is the policy most identity
# tools and provisioning scripts already meet, and `users add` failing for them locks a
# team out of its own set-up; the warning still steers people to a passphrase. Accounts set
# before any rule (shorter than 8) keep logging in and are told the same.
MIN_PASSWORD_LENGTH = 8
RECOMMENDED_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
PASSWORD_RULE = (f"at least {MIN_PASSWORD_LENGTH} characters, {RECOMMENDED_PASSWORD_LENGTH} or "
                 "more recommended; a passphrase of a few words works")
REFUSED = "Wrong username or password."
THROTTLED = "Too many failed logins from here; wait 15 minutes and try again."
_USERNAME_MAX = 100

_hasher = PasswordHasher()
# argon2 takes 64 MiB per hash or check: at most this many run at once in one process, so a
# burst of parallel logins queues instead of exhausting memory.
_HASHING = threading.BoundedSemaphore(2)


@contextlib.contextmanager
def _hash_slot() -> Iterator[None]:
    with _HASHING:
        yield


def _verify(password_hash: str, password: str) -> bool:
    with _hash_slot():
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


# Verified against when the user does not exist or is locked, so those refusals cost as long
# as a wrong password and response time does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("carewatch-dummy-password")


class PasswordRuleError(ValueError):
    """A password or username breaks the rules; the message is one line for the user."""


class RoleChangeRefused(PasswordRuleError):
    """Saving an existing user with another role, without asking for the role change."""


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The outcome of a login attempt. `message` is safe to show on the login form."""

    ok: bool
    message: str
    user_id: int | None = None
    username: str | None = None
    role: str | None = None
    #: Logged in with a password shorter than RECOMMENDED_PASSWORD_LENGTH.
    short_password: bool = False


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
            f"the password is shorter than {MIN_PASSWORD_LENGTH} characters ({PASSWORD_RULE})"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRuleError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
    if any(ch in "\r\n\x00" for ch in password):
        raise PasswordRuleError("the password may not contain line breaks or NUL")


def password_advice(password: str) -> str | None:
    """A warning for a password that passes `validate_password` but is shorter than
    recommended, or None. Said where the password is set, so the admin can pick a better one
    before anyone logs in with it."""
    if len(password) < RECOMMENDED_PASSWORD_LENGTH:
        return (f"the password has {len(password)} characters; "
                f"{RECOMMENDED_PASSWORD_LENGTH} or more (a passphrase of a few words) is safer")
    return None


def hash_password(password: str) -> str:
    with _hash_slot():
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
                          *, actor: str = "cli", change_role: bool = False
                          ) -> tuple[User, bool]:
    """Create the user, or set a new password on an existing one (and unlock it).

    An existing user keeps their role unless `change_role` says to change it (then audited
    like `set_role`): a password reset never grants a role by accident. Returns (user, created)."""
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
        if user.role != role_value.value and not change_role:
            raise RoleChangeRefused(
                f"{user.username} already has the role {user.role}; changing it to "
                f"{role_value.value} is a separate, explicit step")
        user.password_hash = hash_password(password)
        user.failed_attempts = 0
        user.locked_until = None
        user.updated_at = now
    session.add(AuditEntry(at=now, actor=actor, action="user_created" if created else
                           "user_updated", target=user.username,
                           details={"role": user.role}))
    if not created and user.role != role_value.value:
        set_role(session, user.username, role_value, actor=actor)
    session.flush()
    return user, created


def set_role(session: Session, username: str, role: str | Role, *, actor: str) -> User:
    """Change a user's role: an audited action of its own, with the old and the new role."""
    user = find_user(session, username)
    if user is None:
        raise PasswordRuleError(f"no user named {username!r}")
    role_value = role if isinstance(role, Role) else parse_role(role)
    old = user.role
    user.role = role_value.value
    user.updated_at = utcnow()
    session.add(AuditEntry(actor=actor, action="user_role", target=user.username,
                           details={"old": old, "new": role_value.value}))
    return user


def set_needs_approval(session: Session, username: str, needed: bool, *, actor: str) -> User:
    """Whether a manager must approve the user's replies before they are sent; audited with
    the old and the new value."""
    user = find_user(session, username)
    if user is None:
        raise PasswordRuleError(f"no user named {username!r}")
    old = bool(user.needs_approval)
    user.needs_approval = needed
    user.updated_at = utcnow()
    session.add(AuditEntry(actor=actor, action="user_needs_approval", target=user.username,
                           details={"old": old, "new": needed}))
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


def _count_failure(session: Session, user: User, now: datetime) -> None:
    """One more failure on the account, counted in the database in one statement (parallel
    logins never lose one); the attempt that reaches `MAX_FAILURES` locks it, once."""
    failures = session.execute(
        update(User).where(User.id == user.id)
        .values(failed_attempts=User.failed_attempts + 1, updated_at=now)
        .returning(User.failed_attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if failures < MAX_FAILURES:
        return
    locked = rowcount(session.execute(
        update(User).where(User.id == user.id, User.failed_attempts >= MAX_FAILURES)
        .values(locked_until=now + LOCKOUT, failed_attempts=0)
        .execution_options(synchronize_session=False)))
    if locked:
        session.add(AuditEntry(at=now, actor=user.username, action="user_locked",
                               target=user.username, details={"failures": int(failures)}))


def authenticate(session: Session, username: str, password: str, *,
                 client: str | None = None, now: datetime | None = None) -> AuthResult:
    """Check a login: throttle the client, then count failures on the account (locked for
    15 minutes after 5), reset on success. Unknown user, wrong password and locked account
    all get `REFUSED`. `now` defaults to the database's clock.

    Run inside a write transaction: the counters are updated in the same one."""
    now = now or read_db_now(session)
    if client is not None and client_throttled(session, client, now):
        return AuthResult(False, THROTTLED)
    refused = AuthResult(False, REFUSED)
    user = find_user(session, username) if username.strip() else None
    if user is None or is_locked(user, now):
        _verify(_DUMMY_HASH, password or "-")
        if user is not None:
            session.add(AuditEntry(at=now, actor=user.username, action="login_refused_locked",
                                   target=user.username, details={}))
    elif _verify(user.password_hash, password):
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.failed_attempts = 0
        user.locked_until = None
        session.add(AuditEntry(at=now, actor=user.username, action="login",
                               target=user.username, details={}))
        return AuthResult(True, "Logged in.", user.id, user.username, user.role,
                          short_password=len(password) < RECOMMENDED_PASSWORD_LENGTH)
    else:
        _count_failure(session, user, now)
    if client is not None:
        count_client_failure(session, client, now)
    return refused


def assignees(session: Session) -> list[str]:
    """Who can be assigned: agents and managers."""
    return list(session.execute(
        select(User.username).where(User.role.in_(("agent", "manager"))).order_by(User.username)
    ).scalars())
