"""Users: argon2 hashes, password rules, lockout after 5 failures for 15 minutes, and the
`carewatch users` commands."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from storage.models import User, utcnow
from storage.users import (
    LOCKOUT,
    MAX_FAILURES,
    PasswordRuleError,
    authenticate,
    create_or_update_user,
    find_user,
    unlock,
)


@pytest.fixture
def db(sqlite_url: str):  # type: ignore[no-untyped-def]
    from storage.db import open_database
    from storage.migrate import upgrade

    database = open_database(sqlite_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def test_password_is_stored_as_argon2_hash(db) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        user, created = create_or_update_user(session, "ana", "agent", "correct horse")
        assert created
        assert user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
    with db.write() as session:
        assert authenticate(session, "ana", "correct horse").ok
        assert authenticate(session, "ANA", "correct horse").ok  # usernames ignore case
        result = authenticate(session, "ana", "wrong password")
        assert not result.ok
        assert result.message == "Wrong username or password."
        unknown = authenticate(session, "nobody", "whatever1")
        assert unknown.message == result.message  # no hint which usernames exist


@pytest.mark.parametrize("password", ["", "abc", "x" * 1025, "two\nlines!!"])
def test_password_rules(db, password: str) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session, pytest.raises(PasswordRuleError):
        create_or_update_user(session, "ana", "agent", password)


def test_bad_role_and_username(db) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        with pytest.raises(PasswordRuleError, match="unknown role"):
            create_or_update_user(session, "ana", "boss", "long enough")
        with pytest.raises(PasswordRuleError):
            create_or_update_user(session, "a b", "agent", "long enough")


def test_lockout_after_five_failures_for_fifteen_minutes(db) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        create_or_update_user(session, "ana", "agent", "correct horse")
    now = utcnow()
    for attempt in range(MAX_FAILURES):
        with db.write() as session:
            result = authenticate(session, "ana", f"wrong-{attempt}", now=now)
            assert not result.ok
    assert "locked" in result.message
    with db.write() as session:
        locked = authenticate(session, "ana", "correct horse", now=now + timedelta(minutes=14))
        assert not locked.ok
        assert "locked" in locked.message
    with db.write() as session:
        assert authenticate(session, "ana", "correct horse", now=now + LOCKOUT
                            + timedelta(seconds=1)).ok
    with db.write() as session:
        user = find_user(session, "ana")
        assert isinstance(user, User)
        assert user.failed_attempts == 0


def test_admin_unlock_and_update_resets(db) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        create_or_update_user(session, "ana", "agent", "correct horse")
    for _ in range(MAX_FAILURES):
        with db.write() as session:
            authenticate(session, "ana", "nope nope")
    with db.write() as session:
        unlock(session, "ana", actor="admin")
    with db.write() as session:
        assert authenticate(session, "ana", "correct horse").ok
    with db.write() as session:
        user, created = create_or_update_user(session, "ana", "manager", "new password!")
        assert not created
        assert user.role == "manager"


def _cli(monkeypatch: pytest.MonkeyPatch, url: str, argv: list[str], stdin: str
         ) -> int:
    from carewatch.cli import main

    monkeypatch.setenv("CAREWATCH_DATABASE_URL", url)
    monkeypatch.delenv("CAREWATCH_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_cli_users_add_and_list(db, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(db.url.split("///")[1].rsplit("/", 1)[0])
    assert _cli(monkeypatch, sqlite_url, ["users", "add", "bo", "--role", "analyst",
                                          "--password-stdin"], "analyst pw 1\nignored\n") == 0
    with db.write() as session:
        assert authenticate(session, "bo", "analyst pw 1").role == "analyst"
    assert _cli(monkeypatch, sqlite_url, ["users", "list"], "") == 0
    assert "bo\tanalyst" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["users", "add", "bo", "--role", "agent", "--password-stdin"], "\n", "password is empty"),
    (["users", "add", "bo", "--role", "agent", "--password-stdin"], "", "password is empty"),
    (["users", "add", "bo", "--role", "boss", "--password-stdin"], "long enough\n",
     "unknown role"),
    (["users", "add", "bo", "--role", "agent"], "long enough\n", "--password-stdin"),
])
def test_cli_users_add_bad_input_exits_2(db, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], argv: list[str],
                                         stdin: str, message: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(db.url.split("///")[1].rsplit("/", 1)[0])
    assert _cli(monkeypatch, sqlite_url, argv, stdin) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    with db.session() as session:
        assert find_user(session, "bo") is None
