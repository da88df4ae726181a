"""Dashboard logins kept across reloads (`storage.login_sessions`, migration 0022), on SQLite
and PostgreSQL: only the token's sha256 is stored, a token resumes its user until the idle
time passes unused, log out and expiry refuse it, and the migration downgrades cleanly."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from alembic import command
from sqlalchemy import inspect, select

from storage.db import Database
from storage.login_sessions import (
    create_login_session,
    end_login_session,
    end_user_login_sessions,
    resume_login_session,
    token_hash,
    touch_login_session,
)
from storage.migrate import alembic_config, is_current, upgrade
from storage.models import LoginSession, utcnow
from storage.users import create_or_update_user

IDLE = timedelta(hours=8)


def _user(db: Database, name: str = "agent1") -> int:
    with db.write() as session:
        user, _ = create_or_update_user(session, name, "agent", "a-long-enough-passphrase")
        return user.id


def test_only_the_hash_is_stored_and_the_token_resumes_its_user(migrated_db: Database) -> None:
    user_id = _user(migrated_db)
    now = utcnow()
    with migrated_db.write() as session:
        token, expires = create_login_session(session, user_id, IDLE, now=now)
    assert len(token) >= 43
    assert expires == now + IDLE
    with migrated_db.session() as session:
        rows = list(session.execute(select(LoginSession)).scalars())
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in {rows[0].token_hash, str(rows[0].user_id)}
    later = now + timedelta(hours=7)
    with migrated_db.write() as session:
        assert resume_login_session(session, token, IDLE, now=later) == user_id
    with migrated_db.session() as session:
        row = session.get(LoginSession, token_hash(token))
        assert row is not None
        assert row.last_seen_at == later
        assert row.expires_at == later + IDLE
        assert row.created_at == now


def test_unknown_tampered_and_expired_tokens_are_refused(migrated_db: Database) -> None:
    user_id = _user(migrated_db)
    now = utcnow()
    with migrated_db.write() as session:
        token, _ = create_login_session(session, user_id, IDLE, now=now)
    with migrated_db.write() as session:
        assert resume_login_session(session, "", IDLE, now=now) is None
        assert resume_login_session(session, token[:-1] + ("A" if token[-1] != "A" else "B"),
                                    IDLE, now=now) is None
        assert resume_login_session(session, "x" * 10_000, IDLE, now=now) is None
        assert resume_login_session(session, token, IDLE, now=now + IDLE) is None
    with migrated_db.session() as session:  # the expired row is gone
        assert session.get(LoginSession, token_hash(token)) is None


def test_log_out_ends_one_login_and_a_user_can_lose_all(migrated_db: Database) -> None:
    ann, ben = _user(migrated_db, "ann"), _user(migrated_db, "ben")
    with migrated_db.write() as session:
        first, _ = create_login_session(session, ann, IDLE)
        second, _ = create_login_session(session, ann, IDLE)
        bens, _ = create_login_session(session, ben, IDLE)
    with migrated_db.write() as session:
        assert end_login_session(session, token_hash(first))
        assert not end_login_session(session, token_hash(first))
    with migrated_db.write() as session:
        assert resume_login_session(session, first, IDLE) is None
        assert touch_login_session(session, token_hash(second), IDLE) == ann
        assert end_user_login_sessions(session, ann) == 1
        assert resume_login_session(session, second, IDLE) is None
        assert resume_login_session(session, bens, IDLE) == ben


def test_expired_rows_are_removed_at_the_next_login(migrated_db: Database) -> None:
    user_id = _user(migrated_db)
    past = utcnow() - 2 * IDLE
    with migrated_db.write() as session:
        old, _ = create_login_session(session, user_id, IDLE, now=past)
        create_login_session(session, user_id, IDLE)
    with migrated_db.session() as session:
        hashes = set(session.execute(select(LoginSession.token_hash)).scalars())
    assert token_hash(old) not in hashes
    assert len(hashes) == 1


def test_0022_downgrade_drops_the_table_and_upgrade_restores_it(migrated_db: Database) -> None:
    engine = migrated_db.engine
    assert "login_sessions" in inspect(engine).get_table_names()
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0021")
    assert "login_sessions" not in inspect(engine).get_table_names()
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    assert "login_sessions" in inspect(engine).get_table_names()
