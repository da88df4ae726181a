"""Users: argon2 hashes, password rules (8 characters at least, a warning under 12), lockout
after 5 failures for 15 minutes counted atomically, the per-client throttle, one refusal
message for unknown, wrong and locked, explicit audited role changes, and the `carewatch
users` commands."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.login_throttle import CLIENT_MAX_FAILURES, CLIENT_WINDOW
from storage.models import AuditEntry, User, utcnow
from storage.users import (
    LOCKOUT,
    MAX_FAILURES,
    REFUSED,
    THROTTLED,
    PasswordRuleError,
    RoleChangeRefused,
    authenticate,
    create_or_update_user,
    find_user,
    unlock,
)


@pytest.fixture
def db(database_url: str):  # type: ignore[no-untyped-def]
    """A migrated store, on SQLite and on PostgreSQL."""
    from storage.db import open_database
    from storage.migrate import upgrade

    database = open_database(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def cli_db(sqlite_url: str):  # type: ignore[no-untyped-def]
    """A migrated SQLite store the CLI is pointed at (the CLI's own tests run on one)."""
    from storage.db import open_database
    from storage.migrate import upgrade

    database = open_database(sqlite_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def _audit(db, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.id)).scalars())


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


@pytest.mark.parametrize("password", ["", "abc", "seven77", "x" * 1025,
                                      "two\nlines!!!!!"])
def test_password_rules(db, password: str) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session, pytest.raises(PasswordRuleError):
        create_or_update_user(session, "ana", "agent", password)


def test_bad_role_and_username(db) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        with pytest.raises(PasswordRuleError, match="unknown role"):
            create_or_update_user(session, "ana", "boss", "long enough!")
        with pytest.raises(PasswordRuleError):
            create_or_update_user(session, "a b", "agent", "long enough!")


def test_lockout_after_five_failures_for_fifteen_minutes(db) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        create_or_update_user(session, "ana", "agent", "correct horse")
    now = utcnow()
    for attempt in range(MAX_FAILURES):
        with db.write() as session:
            result = authenticate(session, "ana", f"wrong-{attempt}", now=now)
            assert not result.ok
    assert result.message == REFUSED  # the lock is not disclosed ...
    assert [e.target for e in _audit(db, "user_locked")] == ["ana"]  # ... but audited
    with db.write() as session:
        locked = authenticate(session, "ana", "correct horse", now=now + timedelta(minutes=14))
        assert not locked.ok
        assert locked.message == REFUSED
    assert [e.target for e in _audit(db, "login_refused_locked")] == ["ana"]
    with db.write() as session:
        assert authenticate(session, "ana", "correct horse", now=now + LOCKOUT
                            + timedelta(seconds=1)).ok
    with db.write() as session:
        user = find_user(session, "ana")
        assert isinstance(user, User)
        assert user.failed_attempts == 0


def test_unknown_wrong_and_locked_get_one_message(db) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        create_or_update_user(session, "ana", "agent", "correct horse")
        user = find_user(session, "ana")
        assert user is not None
        user.locked_until = utcnow() + LOCKOUT
    with db.write() as session:
        messages = {authenticate(session, "nobody", "correct horse").message,
                    authenticate(session, "ana", "correct horse").message,
                    authenticate(session, "ana", "wrong horse!!").message}
    assert messages == {REFUSED}


def test_parallel_failures_are_all_counted_and_lock_once(db) -> None:  # type: ignore[no-untyped-def]
    """Failures are counted by the database in one statement: parallel wrong passwords
    (each in its own transaction) lose no count, and exactly one of them locks the account."""
    with db.write() as session:
        create_or_update_user(session, "ana", "agent", "correct horse")
    errors: list[BaseException] = []

    def attempt(number: int) -> None:
        try:
            with db.write() as session:
                assert not authenticate(session, "ana", f"wrong guess {number}").ok
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(MAX_FAILURES - 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session() as session:
        user = find_user(session, "ana")
        assert user is not None
        assert user.failed_attempts == MAX_FAILURES - 1
        assert user.locked_until is None
    with db.write() as session:
        authenticate(session, "ana", "one too many")
    with db.session() as session:
        user = find_user(session, "ana")
        assert user is not None
        assert user.locked_until is not None
    assert len(_audit(db, "user_locked")) == 1


def test_a_throttled_client_is_refused_before_any_account_is_counted(db) -> None:  # type: ignore[no-untyped-def]
    """One client guessing at many admins: after CLIENT_MAX_FAILURES it is refused without
    touching the accounts, so it locks at most CLIENT_MAX_FAILURES // MAX_FAILURES of them,
    while the admins still log in from their own clients."""
    admins = [f"admin{n}" for n in range(5)]
    with db.write() as session:
        for name in admins:
            create_or_update_user(session, name, "admin", f"{name} passphrase")
    now = utcnow()
    for _ in range(3):
        for name in admins:
            with db.write() as session:
                result = authenticate(session, name, "guessing wrong", client="ip:203.0.113.9",
                                      now=now)
    assert result.message == THROTTLED
    assert len(_audit(db, "user_locked")) <= CLIENT_MAX_FAILURES // MAX_FAILURES
    with db.session() as session:
        failures = sum(u.failed_attempts for u in session.execute(select(User)).scalars())
    assert failures + MAX_FAILURES * len(_audit(db, "user_locked")) == CLIENT_MAX_FAILURES
    with db.write() as session:
        unlocked = [n for n in admins
                    if authenticate(session, n, f"{n} passphrase", client="ip:198.51.100.7",
                                    now=now).ok]
    assert len(unlocked) >= len(admins) - CLIENT_MAX_FAILURES // MAX_FAILURES
    with db.write() as session:  # even the right password waits out the window ...
        assert authenticate(session, unlocked[0], f"{unlocked[0]} passphrase",
                            client="ip:203.0.113.9", now=now).message == THROTTLED
    with db.write() as session:  # ... which ends on the clock the database keeps
        assert authenticate(session, unlocked[0], f"{unlocked[0]} passphrase",
                            client="ip:203.0.113.9",
                            now=now + CLIENT_WINDOW + timedelta(seconds=1)).ok


def test_login_uses_the_database_clock(db) -> None:  # type: ignore[no-untyped-def]
    from storage.db_clock import read_db_now

    with db.session() as session:
        assert abs(read_db_now(session) - utcnow()) < timedelta(minutes=1)


def test_an_existing_short_password_still_logs_in_and_is_flagged(db) -> None:  # type: ignore[no-untyped-def]
    from storage.users import _hasher

    with db.write() as session:
        create_or_update_user(session, "old", "agent", "a long passphrase")
        user = find_user(session, "old")
        assert user is not None
        user.password_hash = _hasher.hash("short1")  # set before the 12-character rule
    with db.write() as session:
        result = authenticate(session, "old", "short1")
    assert result.ok
    assert result.short_password
    with db.write() as session:
        assert not authenticate(session, "ana", "whatever").short_password


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
        user, created = create_or_update_user(session, "ana", "agent", "new password!")
        assert not created
        assert user.role == "agent"


def test_a_role_changes_only_when_asked_and_is_audited(db) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        create_or_update_user(session, "ana", "agent", "correct horse")
    with db.write() as session, pytest.raises(RoleChangeRefused, match="has the role agent"):
        create_or_update_user(session, "ana", "admin", "correct horse")
    with db.session() as session:
        assert find_user(session, "ana").role == "agent"  # type: ignore[union-attr]
    with db.write() as session:
        create_or_update_user(session, "ana", "manager", "correct horse", actor="root",
                              change_role=True)
    with db.session() as session:
        assert find_user(session, "ana").role == "manager"  # type: ignore[union-attr]
    [entry] = _audit(db, "user_role")
    assert (entry.actor, entry.details) == ("root", {"old": "agent", "new": "manager"})


def _cli(monkeypatch: pytest.MonkeyPatch, url: str, argv: list[str], stdin: str
         ) -> int:
    from carewatch.cli import main

    monkeypatch.setenv("CAREWATCH_DATABASE_URL", url)
    monkeypatch.delenv("CAREWATCH_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_cli_users_add_says_the_password_rule_up_front(
        capsys: pytest.CaptureFixture[str]) -> None:
    from carewatch.cli import main

    assert main(["users", "add", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "at least 8 characters; 12 or more recommended" in help_text


def test_cli_users_add_and_list(cli_db, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(cli_db.url.split("///")[1].rsplit("/", 1)[0])
    assert _cli(monkeypatch, sqlite_url, ["users", "add", "bo", "--role", "analyst",
                                          "--password-stdin"], "analyst pw 1\nignored\n") == 0
    with cli_db.write() as session:
        assert authenticate(session, "bo", "analyst pw 1").role == "analyst"
    assert _cli(monkeypatch, sqlite_url, ["users", "list"], "") == 0
    assert "bo\tanalyst" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["users", "add", "bo", "--role", "agent", "--password-stdin"], "\n", "password is empty"),
    (["users", "add", "bo", "--role", "agent", "--password-stdin"], "", "password is empty"),
    (["users", "add", "bo", "--role", "agent", "--password-stdin"], "seven77\n",
     "shorter than 8 characters"),
    (["users", "add", "bo", "--role", "boss", "--password-stdin"], "long enough!\n",
     "unknown role"),
    (["users", "add", "bo", "--role", "agent"], "long enough!\n", "--password-stdin"),
])
def test_cli_users_add_bad_input_exits_2(cli_db, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], argv: list[str],
                                         stdin: str, message: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(cli_db.url.split("///")[1].rsplit("/", 1)[0])
    assert _cli(monkeypatch, sqlite_url, argv, stdin) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    with cli_db.session() as session:
        assert find_user(session, "bo") is None


def test_cli_role_changes_are_said_and_audited(
        cli_db, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(cli_db.url.split("///")[1].rsplit("/", 1)[0])
    add = ["users", "add", "bo", "--password-stdin", "--role"]
    assert _cli(monkeypatch, sqlite_url, [*add, "agent"], "agent passphrase\n") == 0
    assert _cli(monkeypatch, sqlite_url, ["users", "add", "root", "--role", "admin",
                                          "--password-stdin"], "admin passphrase\n") == 0
    capsys.readouterr()
    assert _cli(monkeypatch, sqlite_url, ["users", "set-role", "bo", "--role", "manager",
                                          "--as", "bo"], "") == 2  # not an admin
    assert _cli(monkeypatch, sqlite_url, ["users", "set-role", "bo", "--role", "manager",
                                          "--as", "root"], "") == 0
    # `users add` creates or updates: a different --role is applied, said and audited.
    assert _cli(monkeypatch, sqlite_url, [*add, "analyst"], "agent passphrase\n") == 0
    assert "role changed from manager to analyst (audited)" in capsys.readouterr().err
    with cli_db.session() as session:
        assert find_user(session, "bo").role == "analyst"  # type: ignore[union-attr]
    assert [(e.actor, e.details) for e in _audit(cli_db, "user_role")] == [
        ("root", {"old": "agent", "new": "manager", "via": "cli --as"}),
        ("cli", {"old": "manager", "new": "analyst"}),
    ]


def test_cli_as_is_recorded_in_the_audit_log(cli_db, sqlite_url: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """`--as NAME` acts under a name without its password: every audit row it writes says
    `via: cli --as`; rows written otherwise do not."""
    from storage.alerts import open_alerts
    from storage.models import Alert

    monkeypatch.chdir(cli_db.url.split("///")[1].rsplit("/", 1)[0])
    with cli_db.write() as session:
        session.add(Alert(kind="spike", severity="high", episode_key="spike:x",
                          summary="Volume spike", mention_ids=[], first_seen=utcnow(),
                          last_seen=utcnow()))
    with cli_db.session() as session:
        [alert] = open_alerts(session)
    assert _cli(monkeypatch, sqlite_url, ["alerts", "ack", str(alert.id), "--as", "maria"],
                "") == 0
    [entry] = _audit(cli_db, "alert.ack")
    assert (entry.actor, entry.details.get("via")) == ("maria", "cli --as")
    with cli_db.write() as session:  # the mark ends with the command
        unlock_target = create_or_update_user(session, "zoe", "agent", "zoe passphrase")[0]
        unlock(session, unlock_target.username, actor="admin")
    assert "via" not in _audit(cli_db, "user_unlock")[0].details


def test_cli_users_add_accepts_8_to_11_characters_with_a_warning(
        cli_db, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """8 characters is the floor: a provisioning script meeting the common 8-character
    policy must not fail, but the admin is told that 12 or more is safer; a login with it
    is flagged so the dashboard asks for a longer one."""
    monkeypatch.chdir(cli_db.url.split("///")[1].rsplit("/", 1)[0])
    assert _cli(monkeypatch, sqlite_url, ["users", "add", "cy", "--role", "agent",
                                          "--password-stdin"], "secret12\n") == 0
    err = capsys.readouterr().err
    assert "user cy added with role agent" in err
    assert "warning: the password has 8 characters; 12 or more" in err
    with cli_db.write() as session:
        result = authenticate(session, "cy", "secret12")
    assert result.ok
    assert result.short_password
    assert _cli(monkeypatch, sqlite_url, ["users", "add", "cy", "--role", "agent",
                                          "--password-stdin"], "a longer passphrase\n") == 0
    assert "warning" not in capsys.readouterr().err
    with cli_db.write() as session:
        assert not authenticate(session, "cy", "a longer passphrase").short_password
