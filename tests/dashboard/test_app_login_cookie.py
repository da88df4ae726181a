"""The login kept across reloads, in AppTest (the browser side is test_browser_login.py): a
login stores one row (only the token's hash), a new session with that token as its cookie
resumes the user with their current role, and log out, expiry, a lock or a bad token end it
or refuse it without a traceback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

import dashboard.auth as auth
from storage.login_sessions import token_hash
from storage.models import LoginSession, User, utcnow
from tests.dashboard.test_app import _app, login, nav_pages, titles


def _rows(store: Any) -> list[LoginSession]:
    with store.session() as session:
        return list(session.execute(select(LoginSession)).scalars())


def _with_cookie(monkeypatch: pytest.MonkeyPatch, token: str | None) -> AppTest:
    """A fresh session (a reload) whose browser sent this login cookie."""
    monkeypatch.setattr(auth, "_cookie_token", lambda: token)
    at = _app().run()
    assert not at.exception, at.exception
    return at


def test_a_login_is_stored_as_a_hash_and_resumed(store: Any, monkeypatch: pytest.MonkeyPatch,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    at = login("manager1")
    token = at.session_state[auth.TOKEN_KEY]
    rows = _rows(store)
    assert [r.token_hash for r in rows] == [token_hash(token)]
    assert rows[0].expires_at - rows[0].last_seen_at == auth.IDLE_TIMEOUT
    resumed = _with_cookie(monkeypatch, token)
    assert titles(resumed) == ["Inbox"]
    assert nav_pages(resumed) == ["Inbox", "Alerts", "Trends"]
    with store.write() as session:  # the role is read again: the new one applies
        session.execute(User.__table__.update().where(User.username == "manager1")
                        .values(role="analyst"))
    assert nav_pages(_with_cookie(monkeypatch, token)) == ["Trends"]
    logged = capfd.readouterr()
    assert "login_resumed" in logged.err + logged.out  # logged, without its token
    assert token not in logged.err + logged.out


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 5000, "<script>alert(1)</script>"])
def test_unknown_tokens_show_the_login_form(store: Any, monkeypatch: pytest.MonkeyPatch,
                                            token: str) -> None:
    login("agent1")
    at = _with_cookie(monkeypatch, token)
    assert nav_pages(at) == ["Log in"]
    assert len(_rows(store)) == 1


def test_log_out_deletes_the_row_and_refuses_the_old_cookie(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    at = login("agent1")
    token = at.session_state[auth.TOKEN_KEY]
    monkeypatch.setattr(auth, "_cookie_token", lambda: token)  # the connection still sends it
    next(b for b in at.button if b.label == "Log out").click()
    at.run()
    assert not at.exception, at.exception
    assert nav_pages(at) == ["Log in"]
    assert _rows(store) == []
    assert at.session_state[auth.CLEAR_COOKIE_KEY] is True
    assert nav_pages(_with_cookie(monkeypatch, token)) == ["Log in"]


def test_expired_and_locked_logins_are_refused(store: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    token = login("agent1").session_state[auth.TOKEN_KEY]
    with store.write() as session:
        session.execute(LoginSession.__table__.update()
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert nav_pages(_with_cookie(monkeypatch, token)) == ["Log in"]
    assert _rows(store) == []
    token = login("agent1").session_state[auth.TOKEN_KEY]
    with store.write() as session:
        session.execute(User.__table__.update().where(User.username == "agent1")
                        .values(locked_until=utcnow() + timedelta(hours=1)))
    assert nav_pages(_with_cookie(monkeypatch, token)) == ["Log in"]
    with store.session() as session:
        assert session.execute(select(func.count()).select_from(LoginSession)).scalar_one() == 0
