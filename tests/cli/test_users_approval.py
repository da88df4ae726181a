"""`carewatch users add ... --needs-approval/--no-needs-approval` and `users set-approval`:
a user's replies wait for a manager; the contract form of `users add` keeps working."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from carewatch.cli import main
from storage.db import Database, open_database
from storage.migrate import upgrade
from storage.models import AuditEntry, User

PASSWORD = "a-long-enough-passphrase\n"


@pytest.fixture
def db(sqlite_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAREWATCH_CONFIG", raising=False)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", sqlite_url)
    store = open_database(sqlite_url)
    upgrade(store.engine)
    yield store
    store.dispose()


def run(monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(argv))


def held(db: Database, name: str) -> bool:
    with db.session() as session:
        return bool(session.execute(select(User.needs_approval).where(
            User.username == name)).scalar_one())


def test_users_add_sets_and_keeps_needs_approval(db: Database, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    add = ("users", "add", "newbie", "--role", "agent", "--password-stdin")
    assert run(monkeypatch, *add, stdin=PASSWORD) == 0  # the contract form
    assert not held(db, "newbie")
    assert run(monkeypatch, *add, "--needs-approval", stdin=PASSWORD) == 0
    assert "replies need a manager's approval" in capsys.readouterr().err
    assert held(db, "newbie")
    assert run(monkeypatch, *add, stdin=PASSWORD) == 0  # a password reset keeps it
    assert held(db, "newbie")
    capsys.readouterr()
    assert run(monkeypatch, "users", "list") == 0
    assert "newbie\tagent\tneeds approval" in capsys.readouterr().out
    assert run(monkeypatch, *add, "--no-needs-approval", stdin=PASSWORD) == 0
    assert not held(db, "newbie")
    with db.session() as session:
        changes = [a.details for a in session.execute(select(AuditEntry).where(
            AuditEntry.action == "user_needs_approval")).scalars()]
    assert [(c["old"], c["new"]) for c in changes] == [(False, True), (True, False)]


def test_set_approval_needs_an_admin_or_manager(db: Database, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for name, role in (("boss", "manager"), ("newbie", "agent")):
        assert run(monkeypatch, "users", "add", name, "--role", role, "--password-stdin",
                   stdin=PASSWORD) == 0
    capsys.readouterr()
    assert run(monkeypatch, "users", "set-approval", "newbie", "--on", "--as", "newbie") == 2
    err = capsys.readouterr().err.strip()
    assert err == "carewatch: error: --as: 'newbie' is not an admin or manager"
    assert run(monkeypatch, "users", "set-approval", "ghost", "--on", "--as", "boss") == 2
    assert "no user named 'ghost'" in capsys.readouterr().err
    assert run(monkeypatch, "users", "set-approval", "newbie", "--on", "--as", "boss") == 0
    assert held(db, "newbie")
    assert run(monkeypatch, "users", "set-approval", "newbie", "--off", "--as", "boss") == 0
    assert not held(db, "newbie")
